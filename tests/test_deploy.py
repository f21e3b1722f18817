"""deploy_flow against the sandbox over HTTP: plan, apply, idempotency, updates, rollback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CANARY, _script_env
from test_deploy_helpers import (
    FULL,
    FULL_WRITES,
    MINIMAL,
    assert_complete_full,
    assert_nothing_new,
    config,
    new_objects,
    shape,
    snapshot,
    writes,
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "deploy_flow.py"

pytest_plugins = ["test_deploy_helpers"]  # the deploy fixture


def test_minimal_seed_shape_applies_and_wires_an_int_nexset_id(deploy, sandbox):
    before = snapshot(sandbox)
    run = deploy(MINIMAL)
    assert run.code == 0, run.err
    res = run.json()
    assert res["status"] == "applied"
    new = new_objects(sandbox, before)
    (source,) = new["data_sources"]
    (detected,) = new["data_sets"]
    (sink,) = new["data_sinks"]
    assert new["data_credentials"] == []  # it used the demo credentials 11 and 12
    assert detected["data_source_id"] == source["id"]
    assert sink["data_set_id"] == detected["id"] and isinstance(sink["data_set_id"], int)
    assert sink["data_credentials_id"] == 12 and source["data_credentials_id"] == 11
    assert source["status"] == sink["status"] == "ACTIVE"
    assert res["source_id"] == source["id"]
    assert res["nexset_ids"] == [detected["id"]]
    assert res["destination_ids"] == [sink["id"]]
    assert res["flow_id"] == source["flow_node_id"]
    assert res["leftovers"] == [] and res["duration_s"] > 0
    # the default deployment name is the source's name
    assert "nexla-ops:deployment=orders-min-s3" in source["tags"]
    # probes before writes, then exactly these writes
    probes = [r["path"] for r in run.requests if r["path"].endswith("/probe")]
    assert probes == ["/data_credentials/11/probe", "/data_credentials/12/probe"]
    first_write = next(i for i, r in enumerate(run.requests)
                       if r["method"] != "GET" and r["path"] != "/token")
    assert all(i < first_write for i, r in enumerate(run.requests) if r["path"].endswith("/probe"))
    assert [(m, shape(p)) for m, p in writes(run)] == [
        ("POST", "/data_sources"), ("POST", "/data_sinks"), ("PUT", "/flows/ID/activate")]
    # the destination is created on the nexset's id (an int), not on a nexset object
    (sink_post,) = [r for r in run.requests if r["method"] == "POST" and r["path"] == "/data_sinks"]
    assert sink_post["body"]["data_set_id"] == detected["id"]


def test_full_apply_then_reapply_makes_zero_writes(deploy, sandbox):
    before = snapshot(sandbox)
    first = deploy(FULL)
    assert first.code == 0, first.err
    assert [(m, shape(p)) for m, p in writes(first)] == FULL_WRITES
    new = assert_complete_full(sandbox, before)
    res = first.json()
    derived = next(n for n in new["data_sets"] if n["name"] == "orders-full-clean")
    assert res["nexset_ids"][1] == derived["id"]
    assert sorted(res["destination_ids"]) == sorted(s["id"] for s in new["data_sinks"])
    # the transform is really applied on the derived nexset
    second = deploy(FULL)
    assert second.code == 0, second.err
    assert second.json()["status"] == "unchanged"
    assert writes(second) == []
    assert {a["action"] for a in second.json()["actions"]} == {"unchanged"}
    assert second.json()["source_id"] == res["source_id"]
    assert second.json()["flow_id"] == res["flow_id"]
    assert_complete_full(sandbox, before)


def test_plan_makes_no_writes_and_lists_creates(deploy, sandbox):
    run = deploy(FULL, "--plan")
    assert run.code == 0, run.err
    assert writes(run) == []
    assert {r["method"] for r in run.requests} <= {"GET", "POST"}  # POST only for /token
    res = run.json()
    assert res["status"] == "planned"
    actions = {(a["resource_type"], a["name"]): a["action"] for a in res["actions"]}
    assert actions == {
        ("data_credentials", "orders-full-pg"): "create",
        ("data_credentials", "orders-s3-cred"): "unchanged",
        ("data_sources", "orders-full-s3"): "create",
        ("data_sets", "orders-full-clean"): "create",
        ("data_sinks", "orders-full-warehouse"): "create",
        ("data_sinks", "orders-full-archive"): "create",
        ("flows", "orders-full-s3"): "create",
    }
    assert any(r["path"] == "/data_credentials/11/probe" for r in run.requests)
    text = deploy(FULL, "--plan", json_flag=False)
    assert text.code == 0 and "+ create" in text.out and "orders-full-warehouse" in text.out


def test_plan_after_apply_shows_updates_without_writing(deploy, sandbox):
    assert deploy(FULL).code == 0
    changed = config(FULL, **{"destinations.0.sink_config": {"table": "orders_v2"},
                              "source.description": "nightly"})
    run = deploy(changed, "--plan")
    assert run.code == 0 and writes(run) == []
    by_name = {a["name"]: a for a in run.json()["actions"] if a["resource_type"] != "flows"}
    assert by_name["orders-full-warehouse"]["action"] == "update"
    assert by_name["orders-full-warehouse"]["changes"] == {
        "sink_config.table": {"from": "orders_full", "to": "orders_v2"}}
    assert by_name["orders-full-s3"]["changes"] == {"description": {"from": None, "to": "nightly"}}
    for name in ("orders-full-archive", "orders-full-clean", "orders-full-pg"):
        assert by_name[name]["action"] == "unchanged"
    (flow,) = [a for a in run.json()["actions"] if a["resource_type"] == "flows"]
    assert flow["action"] == "update" and flow["changes"]["paused_during_apply"] is True


def test_update_changes_only_what_changed(deploy, sandbox):
    assert deploy(FULL).code == 0
    before = snapshot(sandbox)

    # A structural change: the flow is paused, one destination updated, the flow re-activated.
    changed = config(FULL, **{"destinations.0.sink_config": {"table": "orders_v2"}})
    run = deploy(changed)
    assert run.code == 0, run.err
    assert run.json()["status"] == "applied"
    sink_id = next(i for i, s in before["data_sinks"].items() if s["name"] == "orders-full-warehouse")
    flow_id = run.json()["flow_id"]
    assert writes(run) == [("PUT", f"/flows/{flow_id}/pause"), ("PUT", f"/data_sinks/{sink_id}"),
                          ("PUT", f"/flows/{flow_id}/activate")]
    (put,) = [r for r in run.requests if r["method"] == "PUT" and "/data_sinks/" in r["path"]]
    assert put["body"] == {"sink_config": {"table": "orders_v2"}}  # only the changed field
    after = snapshot(sandbox)
    assert after["data_sinks"][sink_id]["sink_config"] == {"table": "orders_v2"}
    for kind in ("data_credentials", "data_sources", "data_sets", "data_sinks"):
        assert set(after[kind]) == set(before[kind])  # nothing created or deleted
    source = next(s for s in after["data_sources"].values() if s["name"] == "orders-full-s3")
    assert source["status"] == "ACTIVE"

    # A cosmetic change: no pause, a single PUT.
    described = config(changed, **{"source.description": "nightly orders"})
    run = deploy(described)
    assert run.code == 0, run.err
    assert writes(run) == [("PUT", f"/data_sources/{source['id']}")]
    assert [r["body"] for r in run.requests if r["method"] == "PUT"] == [
        {"description": "nightly orders"}]
    assert snapshot(sandbox)["data_sources"][source["id"]]["description"] == "nightly orders"

    # A transform change updates the derived nexset in place. This one drops amount and
    # country, a schema break for the destinations: refused and rolled back unless allowed.
    ops = [{"operation": "shift", "spec": {"order_id": "id"}}]
    breaking = config(described, **{"nexset.transform": {"version": 1, "operations": ops}})
    run = deploy(breaking)
    assert run.code == 1 and run.json()["status"] == "rolled_back", run.err
    assert "schema break for the destinations: amount, country" in run.json()["error"]
    transformed = config(breaking, **{"nexset.allow_schema_change": True})
    run = deploy(transformed)
    assert run.code == 0, run.err
    derived_id = run.json()["nexset_ids"][1]
    assert ("PUT", f"/data_sets/{derived_id}") in writes(run)
    assert [w for w in writes(run) if w[0] == "POST" or w[0] == "DELETE"] == []
    assert snapshot(sandbox)["data_sets"][derived_id]["transform"]["operations"] == ops

    assert writes(deploy(transformed)) == []


def test_activate_false_leaves_the_flow_paused_and_pausing_is_an_update(deploy, sandbox):
    run = deploy(config(MINIMAL, activate=False))
    assert run.code == 0, run.err
    assert not any(p.endswith("/activate") for _, p in writes(run))
    src = snapshot(sandbox)["data_sources"][run.json()["source_id"]]
    assert src["status"] != "ACTIVE"
    assert writes(deploy(config(MINIMAL, activate=False))) == []
    run = deploy(MINIMAL)
    assert writes(run) == [("PUT", f"/flows/{run.json()['flow_id']}/activate")]
    run = deploy(config(MINIMAL, activate=False))
    assert writes(run) == [("PUT", f"/flows/{run.json()['flow_id']}/pause")]


def test_broken_credential_creates_nothing(deploy, sandbox):
    before = snapshot(sandbox)
    cfg = config(MINIMAL, credential_id=13, **{"source.data_credentials_id": 13})
    run = deploy(cfg)
    assert run.code == 1
    assert run.json()["status"] == "failed"
    assert "credential 13 failed its probe" in run.json()["error"]
    assert writes(run) == []
    assert_nothing_new(sandbox, before)
    plan = deploy(cfg, "--plan")
    assert plan.code == 1 and writes(plan) == []


def test_missing_credential_id_is_not_found(deploy, sandbox):
    run = deploy(config(MINIMAL, credential_id=999999))
    assert run.code == 5 and "credential 999999 not found" in run.json()["error"]
    assert writes(run) == []


def test_discovery_timeout_rolls_back(deploy, sandbox):
    before = snapshot(sandbox)
    sandbox.control.configure(discovery_delay=30)
    try:
        run = deploy(FULL, "--wait-timeout", "0.5")
    finally:
        sandbox.control.configure(discovery_delay=0.3)
    assert run.code == 1, run.err
    res = run.json()
    assert res["status"] == "rolled_back"
    assert "no nexset detected within 0.5s" in res["error"]
    assert res["leftovers"] == []
    assert_nothing_new(sandbox, before)
    deleted = [(a["resource_type"], a["name"]) for a in res["actions"] if a["action"] == "delete"]
    assert deleted == [("data_sources", "orders-full-s3"), ("data_credentials", "orders-full-pg")]
    # and the next apply converges
    assert deploy(FULL).code == 0
    assert_complete_full(sandbox, before)


def test_rollback_failure_exits_7_with_leftovers(deploy, sandbox):
    before = snapshot(sandbox)
    sandbox.control.configure(discovery_delay=30)
    sandbox.control.add_fault(method="DELETE", path=r"^/data_sources/\d+$", action="status",
                              status=500, times=100)
    try:
        run = deploy(MINIMAL, "--wait-timeout", "0.3")
    finally:
        sandbox.control.configure(discovery_delay=0.3)
        sandbox.control.clear_faults()
    assert run.code == 7, run.err
    res = run.json()
    assert res["status"] == "partial"
    (source,) = new_objects(sandbox, before)["data_sources"]
    assert res["leftovers"] == [{"type": "data_sources", "id": source["id"],
                                 "name": "orders-min-s3"}]
    assert "LEFT OVER" not in run.out  # --json: one JSON document only
    # A person (or the next apply) can take it from there: the leftover is ours, so re-used.
    sandbox.control.tick(30)  # its discovery was scheduled with the 30 s delay
    again = deploy(MINIMAL)
    assert again.code == 0, again.err
    assert again.json()["source_id"] == source["id"]


def test_pre_existing_objects_survive_a_failed_apply(deploy, sandbox):
    assert deploy(FULL).code == 0
    before = snapshot(sandbox)
    changed = config(FULL, **{"destinations.0.sink_config": {"table": "orders_v2"}})
    changed["destinations"].append({"name": "orders-full-extra", "sink_type": "s3",
                                    "data_credentials_id": 11, "sink_config": {"path": "x/"}})
    sandbox.control.add_fault(method="POST", path=r"^/data_sinks$", action="status", status=500,
                              times=1)
    run = deploy(changed)
    assert run.code == 1, run.err
    assert run.json()["status"] == "rolled_back"
    after = snapshot(sandbox)
    for kind in before:
        assert set(after[kind]) == set(before[kind]), kind
    # the in-place update was restored, the paused flow re-activated, seeds untouched
    for kind in ("data_credentials", "data_sources", "data_sets", "data_sinks"):
        for obj_id, obj in before[kind].items():
            for key in ("name", "status", "sink_config", "source_config", "data_set_id", "tags"):
                assert after[kind][obj_id].get(key) == obj.get(key), (kind, obj_id, key)
    restored = [a for a in run.json()["actions"] if a.get("rollback")]
    assert [a["action"] for a in restored] == ["restore", "activate"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_rolls_back(sandbox, tmp_path, sig):
    before = snapshot(sandbox)
    (tmp_path / "cfg.json").write_text(json.dumps(MINIMAL))
    sandbox.control.configure(discovery_delay=60)
    env = _script_env(sandbox, {})  # conftest's subprocess environment
    try:
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--config", "cfg.json", "--json", "--wait-timeout", "50"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not new_objects(sandbox, before)["data_sources"]:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        sandbox.control.configure(discovery_delay=0.3)
    assert proc.returncode == 1, err
    res = json.loads(out)
    assert res["status"] == "rolled_back" and sig.name in res["error"]
    assert "Traceback" not in err
    assert_nothing_new(sandbox, before)


def test_failure_after_activation_pauses_then_deletes(deploy, sandbox):
    before = snapshot(sandbox)
    # the flow gets activated, but never reads back as ACTIVE: roll back a live flow
    sandbox.control.add_fault(method="GET", path=r"^/flows/\d+$", action="status", status=503,
                              times=100)
    run = deploy(FULL)
    sandbox.control.clear_faults()
    assert run.code == 6, run.err  # transient: rolled back cleanly, safe to re-run
    assert run.json()["status"] == "rolled_back" and run.json()["leftovers"] == []
    undo = [(a["action"], a["resource_type"]) for a in run.json()["actions"] if a.get("rollback")]
    assert undo == [("pause", "flows"), ("delete", "data_sinks"), ("delete", "data_sinks"),
                    ("delete", "data_sets"), ("delete", "data_sources"),
                    ("delete", "data_credentials")]
    assert_nothing_new(sandbox, before)


def test_parallel_double_apply_gives_one_deployment(sandbox, tmp_path, private_state_dir):
    before = snapshot(sandbox)
    (tmp_path / "cfg.json").write_text(json.dumps(FULL))
    env = _script_env(sandbox, {"DEPLOY_TEST_PG_PASSWORD": "pw-value"})
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), "--config", "cfg.json", "--json"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["status"] for r in results) == ["applied", "unchanged"]
    assert_complete_full(sandbox, before)
    locks = list((private_state_dir / "locks").glob("deploy-orders-full-*.lock"))
    assert len(locks) == 1 and not (tmp_path / ".nexla-ops").exists()


def test_applies_from_two_directories_share_the_lock(sandbox, tmp_path):
    """One user, two working directories: the lock is keyed by target, not by cwd."""
    before = snapshot(sandbox)
    env = _script_env(sandbox, {"DEPLOY_TEST_PG_PASSWORD": "pw-value"})
    procs = []
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        (tmp_path / where / "cfg.json").write_text(json.dumps(FULL))
        procs.append(subprocess.Popen([sys.executable, str(SCRIPT), "--config", "cfg.json",
                                       "--json"], cwd=tmp_path / where, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert sorted(r["status"] for r in results) == ["applied", "unchanged"]
    assert_complete_full(sandbox, before)


@pytest.mark.parametrize("round_", range(3))
def test_applies_from_two_hosts_converge_on_one_of_each_object(sandbox, tmp_path, round_):
    """Different cwd and different HOME (no shared lock), started at once: both may create,
    and the twin check leaves exactly one of each object."""
    before = snapshot(sandbox)
    procs = []
    for where in ("host-a", "host-b"):
        home = tmp_path / where
        home.mkdir()
        (home / "cfg.json").write_text(json.dumps(FULL))
        env = _script_env(sandbox, {"DEPLOY_TEST_PG_PASSWORD": "pw-value", "HOME": str(home),
                                    "XDG_STATE_HOME": str(home / "state")})
        procs.append(subprocess.Popen([sys.executable, str(SCRIPT), "--config", "cfg.json",
                                       "--json"], cwd=home, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outcomes = [p.communicate(timeout=90) for p in procs]
    for proc, (_out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
    assert_complete_full(sandbox, before)


def test_create_lost_after_commit_is_not_duplicated(deploy, sandbox):
    before = snapshot(sandbox)
    sandbox.control.add_fault(method="POST", path=r"^/data_sources$", action="commit_then_fail",
                              fail_with="drop", times=1)
    run = deploy(FULL)
    assert run.code == 0, run.err
    assert [m for m, p in writes(run) if p == "/data_sources"] == ["POST"]
    assert_complete_full(sandbox, before)


def test_name_clash_with_a_foreign_object_is_refused_unless_adopted(deploy, sandbox):
    # demo source 123 "orders-s3" is not ours: a deployment reusing the name must not touch it
    cfg = config(MINIMAL, **{"source.name": "orders-s3"})
    run = deploy(cfg)
    assert run.code == 1 and writes(run) == []
    assert "already exists (id 123)" in run.json()["error"] and "--adopt" in run.json()["error"]
    plan = deploy(cfg, "--plan", "--adopt")
    assert plan.code == 0, plan.err
    src = next(a for a in plan.json()["actions"] if a["resource_type"] == "data_sources")
    assert src["action"] == "update" and src["id"] == 123 and "tags" in src["changes"]


def test_secrets_never_printed(run_script, sandbox, script_cwd):
    cfg = config(FULL)
    (script_cwd / "cfg.json").write_text(json.dumps(cfg))
    env = {"DEPLOY_TEST_PG_PASSWORD": CANARY}
    for args in (("--plan",), ("--json", "--output", "out.json", "--verbose"), ("--verbose",)):
        res = run_script("deploy_flow", "--config", "cfg.json", *args, env=env)
        assert res.code == 0, res.err
        assert CANARY not in res.out + res.err
    assert CANARY not in (script_cwd / "out.json").read_text()
    stored = [c for c in sandbox.control.state("data_credentials") if c["name"] == "orders-full-pg"]
    assert len(stored) == 1  # the secret did reach the API (and only there)


def test_output_file_is_written_atomically_with_the_result(deploy, script_cwd):
    run = deploy(MINIMAL, "--output", "result.json")
    assert run.code == 0
    assert json.loads((script_cwd / "result.json").read_text())["status"] == "applied"
    run = deploy(MINIMAL, "--output", "result.json", json_flag=False)
    assert json.loads((script_cwd / "result.json").read_text())["status"] == "unchanged"
    assert "unchanged" in run.out and not run.out.lstrip().startswith("{")
    assert [p.name for p in script_cwd.iterdir() if p.name.startswith(".result")] == []


@pytest.mark.parametrize("flag", ["--plan", "--dry-run"])
def test_dry_run_is_an_alias(deploy, flag):
    run = deploy(MINIMAL, flag)
    assert run.code == 0 and run.json()["status"] == "planned" and writes(run) == []


def test_type_change_is_a_replace_that_needs_allow_replace(deploy, sandbox):
    assert deploy(MINIMAL).code == 0
    before = snapshot(sandbox)
    old_sink = next(s for s in before["data_sinks"].values() if s["name"] == "orders-min-warehouse")
    changed = config(MINIMAL, **{"destination.sink_type": "s3", "destination.data_credentials_id": 11,
                                 "destination.sink_config": {"path": "b/"}})
    plan = deploy(changed, "--plan")
    (step,) = [a for a in plan.json()["actions"] if a["resource_type"] == "data_sinks"]
    assert step["action"] == "replace" and step["changes"]["sink_type"] == {
        "from": "postgres", "to": "s3"}
    refused = deploy(changed)
    assert refused.code == 1 and "--allow-replace" in refused.json()["error"]
    assert writes(refused) == []
    run = deploy(changed, "--allow-replace")
    assert run.code == 0, run.err
    assert [(m, shape(p)) for m, p in writes(run)] == [
        ("PUT", "/flows/ID/pause"), ("DELETE", "/data_sinks/ID"), ("POST", "/data_sinks"),
        ("PUT", "/flows/ID/activate")]
    after = snapshot(sandbox)
    assert old_sink["id"] not in after["data_sinks"]
    (new_sink,) = [s for s in after["data_sinks"].values() if s["name"] == "orders-min-warehouse"]
    assert new_sink["sink_type"] == "s3" and new_sink["status"] == "ACTIVE"
    assert writes(deploy(changed)) == []


def _with_transform(operations, **nexset):
    cfg = json.loads(json.dumps(FULL))
    cfg["nexset"]["transform"] = {"version": 1, "operations": operations}
    cfg["nexset"].update(nexset)
    return cfg


def test_apply_validates_the_transform_before_activation(deploy, sandbox):
    before = snapshot(sandbox)
    run = deploy(_with_transform([{"operation": "no-such-operation", "spec": {}}]))
    assert run.code == 1, run.err
    doc = run.json()
    assert doc["status"] == "rolled_back" and "pass-through" in doc["error"]
    assert not any(r["method"] == "PUT" and r["path"].endswith("/activate")
                   for r in run.requests)  # never activated
    assert_nothing_new(sandbox, before)


def test_transform_validation_can_be_turned_off(deploy, sandbox):
    run = deploy(_with_transform([{"operation": "no-such-operation", "spec": {}}],
                                 validate_transform=False))
    assert run.code == 0, run.err


def test_a_good_transform_is_validated_and_applied(deploy, sandbox):
    run = deploy(FULL)
    assert run.code == 0, run.err
    assert [a["changes"] for a in run.json()["actions"] if a["action"] == "validate"] == [
        {"verdict": "pass"}]
