"""deploy_flow --destroy against the sandbox over HTTP: a backup first, only tagged objects
deleted (children first), refusals that write nothing, saved destroy plans, and a fault on
every write of a destroy ending complete or at exit 7 with a list that a re-run finishes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import deploy_flow
from conftest import CANARY, SCRIPTS, _script_env
from test_deploy_helpers import FAST, FULL, assert_complete_full, snapshot, writes

pytest_plugins = ["test_deploy_helpers"]  # the deploy fixture

TAG = "nexla-ops:deployment=orders-full"
KINDS = ("data_credentials", "data_sources", "data_sets", "data_sinks")
FAULTS = {
    "status500": {"action": "status", "status": 500},
    "drop": {"action": "drop"},
    "commit_then_fail": {"action": "commit_then_fail", "fail_with": 502},
    # on every retry too: that write fails for good, and the destroy stops there
    "status500_for_good": {"action": "status", "status": 500, "times": 50},
}


def tagged(sandbox) -> dict[str, list[int]]:
    return {kind: sorted(o["id"] for o in sandbox.control.state(kind) if TAG in (o.get("tags") or []))
            for kind in KINDS}


def untagged(sandbox) -> dict[str, set[int]]:
    """Objects without our tag, less the nexset Nexla detected for our source (it goes with
    the source)."""
    sources = set(tagged(sandbox)["data_sources"])
    return {kind: {o["id"] for o in sandbox.control.state(kind)
                   if TAG not in (o.get("tags") or []) and not (
                       kind == "data_sets" and o.get("data_source_id") in sources)}
            for kind in KINDS}


@pytest.fixture
def deployed(deploy, sandbox):
    """FULL applied; the sandbox state before it."""
    before = snapshot(sandbox)
    run = deploy(FULL)
    assert run.code == 0, run.err
    assert_complete_full(sandbox, before)
    return before


def test_destroy_needs_yes_or_a_plan_and_sends_nothing(deploy, deployed, sandbox):
    seen = len(sandbox.control.requests())
    run = deploy(FULL, "--destroy")
    assert run.code == 2 and "--yes" in run.err
    assert run.json()["ok"] is False
    assert sandbox.control.requests()[seen:] == []
    for flags in (["--destroy", "--yes", "--prune"], ["--destroy", "--yes", "--adopt"],
                  ["--yes"], ["--backup", "b.yaml"]):
        assert deploy(FULL, *flags).code == 2, flags
    assert sandbox.control.requests()[seen:] == []


def test_destroy_backs_up_first_then_deletes_only_tagged_children_first(
        deploy, deployed, sandbox, sdk_client, private_state_dir):
    # look-alikes without our tag: a destination of the same name on another flow's nexset,
    # and the seed's credential the deployment uses (it refers to it by name)
    twin = sdk_client.request("POST", "/data_sinks", json={
        "name": "orders-full-archive", "sink_type": "s3", "data_credentials_id": 11,
        "data_set_id": 223, "sink_config": {"path": "ui/"}})
    keep = untagged(sandbox)
    ours = tagged(sandbox)
    plan = deploy(FULL, "--destroy", "--plan", "--detailed-exitcode")
    assert plan.code == 8, plan.err
    assert writes(plan) == [] and plan.json()["status"] == "planned"

    run = deploy(FULL, "--destroy", "--yes")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["ok"] is True and doc["status"] == "destroyed" and doc["leftovers"] == []
    # the backup is a deploy_flow config of the flow, written before the first write
    backup = doc["backup"]
    assert doc["backup_kind"] == "config" and backup.startswith(str(private_state_dir))
    assert backup in run.err
    assert (os.stat(backup).st_mode & 0o777) == 0o600
    text = Path(backup).read_text()
    restored = yaml.safe_load(text)
    assert restored["name"] == "orders-full" and restored["activate"] is True
    assert sorted(d["name"] for d in restored["destinations"]) == [
        "orders-full-archive", "orders-full-warehouse"]
    first_write = next(r for r in run.requests if r["method"] != "GET"
                       and not r["path"].startswith("/token"))
    assert os.stat(backup).st_mtime <= first_write["ts"] + 0.01
    assert "pg-secret-value" not in text
    # paused, then destinations, the derived nexset, the source (its detected nexset with it),
    # and the credential this deployment created
    shapes = [(m, re.sub(r"/\d+", "/ID", p)) for m, p in writes(run)]
    assert shapes == [("PUT", "/flows/ID/pause"), ("DELETE", "/data_sinks/ID"),
                      ("DELETE", "/data_sinks/ID"), ("DELETE", "/data_sets/ID"),
                      ("DELETE", "/data_sources/ID"), ("DELETE", "/data_sets/ID"),
                      ("DELETE", "/data_credentials/ID")]
    assert all(not ids for ids in tagged(sandbox).values())
    assert {k: keep[k] <= untagged(sandbox)[k] for k in KINDS} == dict.fromkeys(KINDS, True)
    assert twin["id"] in {s["id"] for s in sandbox.control.state("data_sinks")}
    assert sum(len(ids) for ids in ours.values()) == 5  # cred, source, derived, two sinks

    # a re-run has nothing to do; the backup restores the deployment as it was
    again = deploy(FULL, "--destroy", "--yes")
    assert again.code == 0 and again.json()["status"] == "unchanged" and writes(again) == []
    sdk_client.request("DELETE", f"/data_sinks/{twin['id']}")  # it would block the name
    before = snapshot(sandbox)
    back = deploy(FULL)  # the credential went too, and only FULL holds its secret
    assert back.code == 0, back.err
    assert deploy(backup, "--plan", "--detailed-exitcode").code == 0
    assert_complete_full(sandbox, before)


def test_destroy_refuses_when_an_untagged_object_hangs_off_ours(deploy, deployed, sandbox,
                                                                sdk_client):
    derived = next(n for n in sandbox.control.state("data_sets")
                   if n["name"] == "orders-full-clean")
    ui = sdk_client.request("POST", "/data_sinks", json={
        "name": "added-in-the-ui", "sink_type": "s3", "data_credentials_id": 11,
        "data_set_id": derived["id"], "sink_config": {"path": "ui/"}})
    ours = tagged(sandbox)
    for flags in (["--plan"], ["--yes"]):
        run = deploy(FULL, "--destroy", *flags)
        assert run.code == 1, run.err
        doc = run.json()
        assert "added-in-the-ui" in doc["error"] and "nothing was deleted" in doc["error"]
        assert doc["foreign"][0]["id"] == ui["id"]
        assert writes(run) == [] and "backup" not in doc
    assert tagged(sandbox) == ours


def test_saved_destroy_plan_is_applied_exactly_or_refused_after_a_change(
        deploy, deployed, sandbox, sdk_client, run_main, script_cwd):
    saved = script_cwd / "destroy.plan.json"

    def apply_saved():
        seen = len(sandbox.control.requests())
        res = run_main(deploy_flow, "--apply", saved, "--json", *FAST)
        res.requests = sandbox.control.requests()[seen:]
        return res

    plan = deploy(FULL, "--destroy", "--plan", "--out", saved)
    assert plan.code == 0, plan.err
    assert json.loads(saved.read_text())["options"] == {"destroy": True}
    sink = next(s for s in sandbox.control.state("data_sinks")
                if s["name"] == "orders-full-archive")
    sdk_client.request("PUT", f"/data_sinks/{sink['id']}", json={"name": "renamed-in-the-ui"})
    res = apply_saved()
    assert res.code == 1 and "state changed since plan" in res.json()["error"], res.out
    assert writes(res) == []
    # planned again (the rename is part of what it read), it applies without --yes
    assert deploy(FULL, "--destroy", "--plan", "--out", saved).code == 0
    res = apply_saved()
    assert res.code == 0, res.err
    assert res.json()["status"] == "destroyed"
    assert all(not ids for ids in tagged(sandbox).values())


def test_destroy_output_never_holds_a_secret(deploy, deployed, sandbox, script_cwd):
    out = script_cwd / "result.json"
    run = deploy(FULL, "--destroy", "--yes", "--output", out, json_flag=False)
    assert run.code == 0, run.err
    backup = Path(json.loads(out.read_text())["backup"])
    for text in (run.out, run.err, out.read_text(), backup.read_text()):
        assert "pg-secret-value" not in text and CANARY not in text


# -- the fault matrix ------------------------------------------------------------------------------

DESTROY_WRITES = 7  # pause, two destinations, derived nexset, source, detected nexset, credential
_recorded: list[tuple[str, str]] = []


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("k", range(DESTROY_WRITES))
def test_a_fault_on_each_destroy_write_ends_complete_or_at_7_and_a_rerun_finishes(
        deploy, sandbox, k, fault):
    keep = untagged(sandbox)
    assert deploy(FULL).code == 0
    if not _recorded:  # a clean destroy, recorded once (ids are deterministic after a reset)
        clean = deploy(FULL, "--destroy", "--yes")
        assert clean.code == 0, clean.err
        _recorded.extend(writes(clean))
        assert len(_recorded) == DESTROY_WRITES
        sandbox.control.reset("demo")
        keep = untagged(sandbox)
        assert deploy(FULL).code == 0
    method, path = _recorded[k]
    rule = sandbox.control.add_fault(**{"method": method, "path": "^" + re.escape(path) + "$",
                                        "times": 1, **FAULTS[fault]})
    run = deploy(FULL, "--destroy", "--yes")
    hits = {r["id"]: r for r in sandbox.control.faults()}[rule["id"]]["hits"]
    assert hits >= 1, f"the fault never fired on {method} {path}"
    sandbox.control.clear_faults()
    doc = run.json()
    assert doc["backup"], doc
    still_ours = {(kind, i) for kind, ids in tagged(sandbox).items() for i in ids}
    if run.code == 0:
        assert doc["status"] == "destroyed" and doc["leftovers"] == [] and not still_ours
    else:
        if run.code == 7:  # some of it went: what is left is listed
            assert doc["status"] == "partial" and doc["leftovers"], doc
            assert still_ours <= {(i["type"], i["id"]) for i in doc["leftovers"]}
        else:  # it failed on the pause or the first delete: nothing was deleted
            assert run.code in (1, 6) and doc["status"] == "failed", (run.code, doc)
            assert "nothing was deleted" in doc["error"] and doc["destroyed"] == []
        again = deploy(FULL, "--destroy", "--yes")
        assert again.code == 0, again.err
        assert again.json()["status"] == "destroyed"
    assert all(not ids for ids in tagged(sandbox).values())
    now = untagged(sandbox)
    assert all(keep[kind] <= now[kind] for kind in KINDS)


# -- two hosts -------------------------------------------------------------------------------------


def test_two_hosts_destroying_at_once_both_finish_and_converge(deploy, deployed, sandbox,
                                                               script_cwd, tmp_path):
    """Two processes that share no lock (separate state directories, as on two hosts): each
    finds the other's deletes already done (404 is done) and both end destroyed."""
    config = script_cwd / "full.json"
    config.write_text(json.dumps(FULL))
    keep = untagged(sandbox)
    procs = []
    for host in ("a", "b"):
        env = _script_env(sandbox, {"XDG_STATE_HOME": str(tmp_path / f"host-{host}"),
                                    "DEPLOY_TEST_PG_PASSWORD": "pg-secret-value"})
        procs.append(subprocess.Popen(
            [sys.executable, str(SCRIPTS / "deploy_flow.py"), "--config", str(config),
             "--destroy", "--yes", "--json", *FAST], cwd=str(script_cwd), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p, *p.communicate(timeout=90)) for p in procs]
    for proc, out, err in results:
        assert proc.returncode == 0, err
        assert json.loads(out)["status"] in ("destroyed", "unchanged"), out
        assert "Traceback" not in err
    assert all(not ids for ids in tagged(sandbox).values())
    assert all(keep[kind] <= untagged(sandbox)[kind] for kind in KINDS)
