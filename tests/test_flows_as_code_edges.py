"""Edges of flows as code found by an adversarial run: files we do not own, objects without
our tag under ones a plan would delete, credential maps that swap, saved plans with odd
fields, backups that must never be overwritten, SIGTERM while planning."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deploy_flow
import export_flow
from conftest import SCRIPTS, _script_env, wait_for
from nexla_ops.deploy.saved import digest_of
from test_deploy_helpers import FAST, FULL, MINIMAL, writes

pytest_plugins = ["test_deploy_helpers"]  # the deploy and cli fixtures


def _write(path, cfg):
    path.write_text(json.dumps(cfg))
    return path


# -- files we do not own ---------------------------------------------------------------------


def test_out_follows_a_symlink_and_never_replaces_a_fifo(cli, script_cwd):
    cfg = _write(script_cwd / "min.json", MINIMAL)
    (script_cwd / "link.json").symlink_to("target.json")
    res = cli(deploy_flow, "--config", cfg, "--plan", "--out", script_cwd / "link.json")
    assert res.code == 0, res.err
    assert (script_cwd / "link.json").is_symlink()
    target = script_cwd / "target.json"
    assert json.loads(target.read_text())["format"] == "nexla-ops saved plan"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    fifo = script_cwd / "plan.fifo"
    os.mkfifo(fifo)
    res = cli(deploy_flow, "--config", cfg, "--plan", "--out", fifo, "--json")
    assert res.code == 1 and "--out: cannot write" in res.json()["error"]  # nobody reads it
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_failed_output_file_after_an_apply_keeps_its_ids_and_exits_7(cli, script_cwd):
    cfg = _write(script_cwd / "min.json", MINIMAL)
    fifo = script_cwd / "result.fifo"
    os.mkfifo(fifo)
    res = cli(deploy_flow, "--config", cfg, "--json", "--output", fifo)
    assert res.code == 7, res.err  # applied, but the result is only on stdout
    doc = res.json()
    assert doc["ok"] is False and doc["status"] == "applied" and doc["source_id"]
    assert "--output: cannot write" in doc["output_error"] and "cannot write" in res.err


# -- untagged objects under what a plan would delete ------------------------------------------------


@pytest.fixture
def full_with_ui_sink(deploy, sandbox, sdk_client):
    assert deploy(FULL).code == 0
    derived = next(n for n in sandbox.control.state("data_sets")
                   if n["name"] == "orders-full-clean")
    ui = sdk_client.request("POST", "/data_sinks", json={
        "name": "ui-added", "sink_type": "s3", "data_credentials_id": 11,
        "data_set_id": derived["id"], "sink_config": {"path": "ui/"}})
    return derived, ui


def test_prune_and_replace_are_refused_when_an_untagged_object_would_go_too(
        deploy, sandbox, full_with_ui_sink):
    _derived, ui = full_with_ui_sink
    no_nexset = copy.deepcopy(FULL)
    del no_nexset["nexset"]
    ftp = copy.deepcopy(FULL)
    ftp["source"]["source_type"] = "ftp"
    for cfg, flags in ((no_nexset, ["--prune"]), (ftp, ["--allow-replace"])):
        for plan in ([], ["--plan"]):
            run = deploy(cfg, *flags, *plan)
            assert run.code == 1, run.err
            error = run.json()["error"]
            assert "ui-added" in error and "nothing was written" in error
            assert writes(run) == []
    assert ui["id"] in {s["id"] for s in sandbox.control.state("data_sinks")}


def test_destroy_checks_children_of_our_nexsets_in_flows_whose_source_is_not_ours(
        deploy, sandbox, sdk_client, full_with_ui_sink):
    source = next(s for s in sandbox.control.state("data_sources")
                  if s["name"] == "orders-full-s3")
    sdk_client.request("PUT", f"/data_sources/{source['id']}", json={"tags": []})
    for flags in (["--plan"], ["--yes"]):
        run = deploy(FULL, "--destroy", *flags)
        assert run.code == 1, run.err
        assert "ui-added" in run.json()["error"] and writes(run) == []


# -- credential maps -------------------------------------------------------------------------


def test_a_credential_map_swap_swaps(cli, sandbox, script_cwd):
    cfg = {"name": "swap", "credentials": [
        {"name": "cred-a", "credentials_type": "s3", "credentials": {"secret_key": "${ENV:A}"}},
        {"name": "cred-b", "credentials_type": "postgres",
         "credentials": {"password": "${ENV:B}"}}],
        "source": {"name": "swap-src", "source_type": "s3", "credential": "cred-a",
                   "source_config": {"path": "p/"}},
        "destinations": [{"name": "swap-dst", "sink_type": "postgres", "credential": "cred-b",
                          "sink_config": {"table": "t"}}]}
    path = _write(script_cwd / "swap.json", cfg)
    (script_cwd / "map.yaml").write_text("cred-a: cred-b\ncred-b: cred-a\n")
    saved = script_cwd / "plan.json"
    res = cli(deploy_flow, "--config", path, "--credential-map", script_cwd / "map.yaml",
              "--plan", "--out", saved)
    assert res.code == 0, res.err
    mapped = json.loads(saved.read_text())["config"]
    types = {c["name"]: c["credentials_type"] for c in mapped["credentials"]}
    assert types == {"cred-b": "s3", "cred-a": "postgres"}
    assert mapped["source"]["credential"] == "cred-b"  # the s3 one, under its new name
    assert mapped["destinations"][0]["credential"] == "cred-a"


@pytest.mark.parametrize("text", ["\u00b2: 12\n",
                                  "orders-s3-cred: 11\norders-s3-cred: 12\n",
                                  f"orders-s3-cred: {10**30}\n"])
def test_odd_credential_maps_are_bad_input(cli, script_cwd, text):
    cfg = {**MINIMAL, "credentials": [{"name": "orders-s3-cred"}],
           "source": {**{k: v for k, v in MINIMAL["source"].items()
                         if k != "data_credentials_id"}, "credential": "orders-s3-cred"}}
    path = _write(script_cwd / "c.json", cfg)
    (script_cwd / "map.yaml").write_text(text, encoding="utf-8")
    res = cli(deploy_flow, "--config", path, "--credential-map", script_cwd / "map.yaml",
              "--plan")
    assert res.code == 2, (text, res.err)
    assert "internal error" not in res.err and res.requests == []


def test_one_map_serves_a_whole_directory(cli, script_cwd):
    folder = script_cwd / "d"
    folder.mkdir()
    both = copy.deepcopy(MINIMAL)
    _write(folder / "a.json", both)
    only_s3 = copy.deepcopy(MINIMAL)
    only_s3["source"]["name"], only_s3["destination"]["name"] = "b-src", "b-dst"
    only_s3["destination"]["data_credentials_id"] = 11
    _write(folder / "b.json", only_s3)
    (script_cwd / "map.yaml").write_text("11: 11\n12: 12\n")
    res = cli(deploy_flow, "--config-dir", folder, "--credential-map",
              script_cwd / "map.yaml", "--plan")
    assert res.code == 0, res.err
    (script_cwd / "map.yaml").write_text("11: 11\n99: 12\n")
    res = cli(deploy_flow, "--config-dir", folder, "--credential-map",
              script_cwd / "map.yaml", "--plan")
    assert res.code == 2 and "99 is used by no file" in res.err


# -- saved plans ---------------------------------------------------------------------------


def _rewrite(path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    body = {k: doc[k] for k in ("api_url", "deployment", "config", "options",
                                "state_fingerprint", "actions")}
    doc["plan_sha256"] = digest_of(body)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("changes, expected", [
    ({"options": {}}, None),  # older or hand-made: missing options are off
    ({"options": {"prune": "no"}}, "true or false"),
    ({"options": {"nuke": True}}, "true or false"),
    ({"version": True}, "version"),
    ({"deployment": "someone-else"}, "its config is"),
])
def test_saved_plan_fields_are_checked(cli, script_cwd, changes, expected):
    cfg = _write(script_cwd / "min.json", MINIMAL)
    saved = script_cwd / "plan.json"
    assert cli(deploy_flow, "--config", cfg, "--plan", "--out", saved).code == 0
    _rewrite(saved, **changes)
    res = cli(deploy_flow, "--apply", saved, "--json")
    if expected is None:
        assert res.code == 0, res.err
        return
    assert res.code == 2, res.err
    assert expected in res.err and writes(res) == []


# -- destroy backups ---------------------------------------------------------------------------


def test_a_rerun_never_overwrites_a_backup_and_backup_files_are_private(
        deploy, sandbox, script_cwd, private_state_dir, monkeypatch):
    cfg = copy.deepcopy(FULL)
    monkeypatch.setenv("ARCHIVE_PATH_SECRET", "archive-path-canary-42")
    cfg["destinations"][1]["sink_config"]["path"] = "${ENV:ARCHIVE_PATH_SECRET}/"
    assert deploy(cfg).code == 0
    sandbox.control.add_fault(method="DELETE", path="^/data_sets/", action="status",
                              status=400, times=1)
    first = deploy(cfg, "--destroy", "--yes")
    assert first.code == 7, first.err
    second = deploy(cfg, "--destroy", "--yes")
    assert second.code == 0, second.err
    paths = [first.json()["backup"], second.json()["backup"]]
    assert paths[0] != paths[1] and all(os.path.exists(p) for p in paths)
    text = Path(paths[0]).read_text()
    assert len(yaml.safe_load(text)["destinations"]) == 2
    assert "archive-path-canary-42" not in text and "${ENV:ARCHIVE_PATH_SECRET}" in text
    assert "credentials deleted with it: orders-full-pg" in text



def test_a_saved_destroy_plan_takes_backup_and_the_file_is_private(deploy, cli, script_cwd):
    assert deploy(FULL).code == 0
    saved = script_cwd / "destroy.json"
    assert deploy(FULL, "--destroy", "--plan", "--out", saved).code == 0
    backup = script_cwd / "mine.yaml"
    res = cli(deploy_flow, "--apply", saved, "--backup", backup, "--json")
    assert res.code == 0, res.err
    assert res.json()["backup"] == str(backup)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert yaml.safe_load(backup.read_text())["name"] == "orders-full"
    plan = script_cwd / "apply.json"
    assert deploy(MINIMAL, "--plan", "--out", plan).code == 0
    res = cli(deploy_flow, "--apply", plan, "--backup", script_cwd / "b.yaml")
    assert res.code == 2 and "not a saved destroy plan" in res.err


def test_export_json_shows_names_and_placeholders_not_masks(cli):
    res = cli(export_flow, "--flow-id", 1001, "--json")
    assert res.code == 0, res.err
    config = res.json()["exported"][0]["config"]
    assert config["source"]["credential"] == "orders-s3-cred"
    assert "[REDACTED]" not in json.dumps(config)


# -- signals ---------------------------------------------------------------------------------


def test_sigterm_while_planning_still_prints_one_json_document(sandbox, script_cwd):
    cfg = _write(script_cwd / "min.json", MINIMAL)
    fault = sandbox.control.add_fault(method="GET", path="^/data_sources$", action="delay",
                                      delay_ms=3000, times=1)
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / "deploy_flow.py"), "--config",
                             str(cfg), "--plan", "--json", *FAST], cwd=str(script_cwd),
                            env=_script_env(sandbox, {}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(f["id"] == fault["id"] and f["hits"]
                         for f in sandbox.control.faults()), "the held request")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    doc = json.loads(out)
    assert doc["ok"] is False and "SIGTERM" in doc["error"]


# -- flags, fuzzed ----------------------------------------------------------------------------

_FLAGS = ["--plan", "--destroy", "--yes", "--prune", "--adopt", "--allow-replace",
          "--detailed-exitcode", "--keep-going", "--apply", "--out", "--backup",
          "--credential-map", "--config-dir", "--config"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=st.lists(st.sampled_from(_FLAGS), unique=True, max_size=6))
def test_fuzzed_flag_combinations_never_crash_and_bad_ones_send_nothing(cli, script_cwd,
                                                                        flags):
    folder = script_cwd / "dir"
    folder.mkdir(exist_ok=True)
    cfg = _write(folder / "min.json", MINIMAL)
    (script_cwd / "map.yaml").write_text("11: 11\n")
    values = {"--apply": script_cwd / "saved.json", "--out": script_cwd / "out",
              "--backup": script_cwd / "backup.yaml", "--credential-map": script_cwd / "map.yaml",
              "--config-dir": folder, "--config": cfg}
    argv = []
    for flag in flags:
        argv += [flag, values[flag]] if flag in values else [flag]
    res = cli(deploy_flow, *argv, "--json")
    assert res.code in (0, 1, 2, 5, 7, 8), (argv, res.code, res.err)
    assert "Traceback" not in res.err and "internal error" not in res.err, (argv, res.err)
    doc = json.loads(res.out)
    assert isinstance(doc, dict) and "ok" in doc
    if res.code == 2:
        assert [r for r in res.requests if not r["path"].startswith("/token")] == [], argv


def test_an_unset_secret_variable_is_not_compared_so_ci_plans_stay_in_sync(
        cli, sandbox, sdk_client, script_cwd, monkeypatch):
    """A plan without the ${ENV:...} secrets (the CI plan job has none) cannot know the
    secret: it says so and does not call it drift. With the variable set, a different value
    is drift, masked."""
    source = sdk_client.request("POST", "/data_sources", json={
        "name": "tokened-api", "source_type": "rest", "data_credentials_id": 14,
        "source_config": {"url": "https://api.example.test/v1", "api_token": "live-token-123"}})
    wait_for(lambda: sdk_client.request("GET", f"/data_sources/{source['id']}",
                                        params={"expand": 1}).get("data_sets"), "discovery")
    path = script_cwd / "tokened.yaml"
    res = cli(export_flow, "--source-id", source["id"], "--output", path)
    assert res.code == 0, res.err
    (var,) = re.findall(r"\$\{ENV:([A-Z0-9_]+)\}", path.read_text())
    monkeypatch.setenv(var, "live-token-123")
    assert cli(deploy_flow, "--config", path, "--adopt").code == 0
    monkeypatch.delenv(var)
    plan = cli(deploy_flow, "--config", path, "--plan", "--detailed-exitcode", "--json")
    assert plan.code == 0, plan.out
    assert f"source.source_config.api_token: not compared ({var} not set)" in plan.err
    monkeypatch.setenv(var, "rotated-token-456")
    plan = cli(deploy_flow, "--config", path, "--plan", "--detailed-exitcode", "--json")
    assert plan.code == 8
    (change,) = plan.json()["drift"]
    assert change["field"] == "source_config.api_token"
    assert "rotated-token-456" not in plan.out + plan.err
