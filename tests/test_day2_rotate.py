"""rotate_credential.py against the sandbox: plan, happy path, probe failure, rollback, resume."""

from __future__ import annotations

import argparse
import re
from collections import Counter

import pytest

import nexla_ops
from conftest import CANARY, kill9_while_held, write_requests, writes
from nexla_ops import journal as checkpoint
from nexla_ops import rotation
from nexla_ops.commands import rotate_credential

# Demo seed: credential 11 is used by source 123 (flow 1001, ACTIVE), destination 303 (flow
# 1003, ACTIVE), and source 126 + destination 304 (flow 1004, PAUSED).
USERS_OF_11 = {("data_sources", 123), ("data_sinks", 303), ("data_sources", 126),
               ("data_sinks", 304)}
STATUS_BEFORE = {1001: "ACTIVE", 1003: "ACTIVE", 1004: "PAUSED"}


@pytest.fixture
def new_cred(sdk_client):
    body = sdk_client.request("POST", "/data_credentials", json={
        "name": "orders-s3-cred-2025", "credentials_type": "s3",
        "credentials": {"access_key_id": "AKIAEXAMPLE", "secret_key": CANARY}})
    return body["id"]


def credential_of(sandbox) -> dict:
    return {(kind, obj["id"]): obj.get("data_credentials_id")
            for kind in ("data_sources", "data_sinks") for obj in sandbox.control.state(kind)}


def flow_statuses(sandbox) -> dict:
    sources = {s["id"]: s["status"] for s in sandbox.control.state("data_sources")}
    return {n["id"]: sources.get(n["data_source_id"]) for n in sandbox.control.state("flows")
            if n.get("parent_node_id") is None}


def assert_untouched(sandbox, before_creds, before_status):
    assert credential_of(sandbox) == before_creds
    assert flow_statuses(sandbox) == before_status


def test_plan_shows_every_user_grouped_by_flow_and_writes_nothing(sandbox, run_main, new_cred):
    sandbox.control.clear_requests()
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--plan", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["result"] == "planned" and doc["probe"] == "ok"
    found = {(r["type"], r["id"]) for u in doc["units"] for r in u["resources"]}
    assert found == USERS_OF_11
    assert {u["flow_id"]: u["status_before"] for u in doc["units"]} == STATUS_BEFORE
    assert writes(sandbox) == []


def test_text_plan_says_what_applying_would_do_to_each_flow(sandbox, run_main, new_cred):
    sandbox.control.clear_requests()
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--plan")
    assert result.code == 0, result.err
    header, *lines = result.out.splitlines()
    assert header.split()[-1] == "ACTION"
    actions = {int(line.split()[3]): line.split(None, 5)[5] for line in lines}
    assert actions == {123: "would pause, switch, activate", 303: "would pause, switch, activate",
                       126: "would switch (flow stays PAUSED)",
                       304: "would switch (flow stays PAUSED)"}
    as_json = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--plan", "--json")
    assert {u["flow_id"]: u["action"] for u in as_json.json()["units"]} == {
        1001: "would pause, switch, activate", 1003: "would pause, switch, activate",
        1004: "would switch (flow stays PAUSED)"}
    assert writes(sandbox) == []


def test_users_are_found_on_every_page(sandbox, run_main, new_cred):
    # 120 bulk flows: 125 sources and 124 destinations, more than one page of 100 each; every
    # bulk source and destination uses the one credential populate made for them
    sandbox.control.populate("flows", 120, name_prefix="many", runs=1)
    bulk_cred = max(c["id"] for c in sandbox.control.state("data_credentials")
                    if c["name"] == "many-cred")
    sandbox.control.clear_requests()
    result = run_main(rotate_credential, "--old", bulk_cred, "--new", new_cred, "--plan",
                      "--json")
    assert result.code == 0, result.err
    found = [r for u in result.json()["units"] for r in u["resources"]]
    assert Counter(r["type"] for r in found) == {"data_sources": 120, "data_sinks": 120}
    pages = Counter(e["path"] for e in sandbox.control.requests()
                    if e["path"] in ("/data_sources", "/data_sinks"))
    assert pages == {"/data_sources": 2, "/data_sinks": 2}
    assert writes(sandbox) == []


def test_happy_path_switches_every_user_and_flows_run_again(sandbox, run_main, new_cred):
    before_status = flow_statuses(sandbox)
    sandbox.control.clear_requests()
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["result"] == "rotated"
    creds = credential_of(sandbox)
    assert {key for key, cred in creds.items() if cred == new_cred} == USERS_OF_11
    assert 11 not in creds.values()
    assert flow_statuses(sandbox) == before_status  # paused stays paused, active is active
    sent = Counter((e["method"], e["path"]) for e in write_requests(sandbox) if e["status"] < 300)
    assert sent == Counter({
        ("PUT", "/flows/1001/pause"): 1, ("PUT", "/data_sources/123"): 1,
        ("PUT", "/flows/1001/activate"): 1, ("PUT", "/flows/1003/pause"): 1,
        ("PUT", "/data_sinks/303"): 1, ("PUT", "/flows/1003/activate"): 1,
        ("PUT", "/data_sources/126"): 1, ("PUT", "/data_sinks/304"): 1})
    assert doc["writes"] == 8
    # "verify it runs": the rotated flow produces a new run on the new credential
    runs_before = len([r for r in sandbox.control.state("runs") if r["flow_id"] == 1001])
    sandbox.control.tick(3 * 3600)
    runs_after = [r for r in sandbox.control.state("runs") if r["flow_id"] == 1001]
    assert len(runs_after) > runs_before
    # a re-run finds nothing left to do
    sandbox.control.clear_requests()
    again = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--json")
    assert again.code == 0 and again.json()["units"] == [] and writes(sandbox) == []


def test_probe_failure_exits_1_and_changes_nothing(sandbox, run_script):
    before = credential_of(sandbox), flow_statuses(sandbox)
    sandbox.control.clear_requests()
    result = run_script("rotate_credential", "--old", 11, "--new", 13)  # 13: broken probe
    assert result.code == 1, result.err
    assert "probe" in result.err and "Invalid credentials" in result.err
    assert "Traceback" not in result.err and result.out == ""
    assert writes(sandbox) == []
    assert_untouched(sandbox, *before)


def test_a_probe_refused_for_a_missing_role_is_a_permission_error(sandbox, run_main):
    before = credential_of(sandbox), flow_statuses(sandbox)
    sandbox.control.add_fault(method="GET", path=r"^/data_credentials/12/probe$", action="status",
                              status=403, body={"message": "requires operator, admin or owner "
                                                "role on data_credentials/12; you have: "
                                                "collaborator", "code": 403})
    sandbox.control.clear_requests()
    result = run_main(rotate_credential, "--old", 11, "--new", 12)
    assert result.code == 4, result.err
    assert "permission denied" in result.err and "requires operator" in result.err
    assert writes(sandbox) == []
    assert_untouched(sandbox, *before)


@pytest.mark.parametrize("kth_put", [2, 5, 7])
def test_a_midway_failure_is_rolled_back_to_the_original_credentials(sandbox, run_main,
                                                                     new_cred, kth_put):
    before = credential_of(sandbox), flow_statuses(sandbox)
    sandbox.control.clear_requests()
    sandbox.control.add_fault(method="PUT", path=".", action="status", status=400,
                              skip=kth_put - 1, times=1,
                              body={"message": "data_credentials_id: rejected", "code": 400})
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--json")
    assert result.code == 1, result.err
    doc = result.json()
    assert doc["result"] == "rolled back" and "rejected" in doc["error"]
    assert_untouched(sandbox, *before)
    assert "switching everything back" in result.err


def test_a_failed_rollback_exits_7_and_lists_the_leftovers(sandbox, run_main, new_cred):
    sandbox.control.add_fault(method="PUT", path=r"^/flows/1001/activate$", action="status",
                              status=400, times=5)
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--json")
    assert result.code == 7, result.err
    doc = result.json()
    assert doc["result"] == "rollback failed"
    assert [left["flow_id"] for left in doc["leftovers"]] == [1001]
    assert "NOT restored: flow 1001" in result.err
    # what could be restored was: the source is back on 11; only the re-activation is left
    assert credential_of(sandbox)[("data_sources", 123)] == 11
    assert flow_statuses(sandbox)[1001] == "PAUSED"


def test_retire_old_deletes_it_after_success(sandbox, run_main, new_cred):
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--retire-old", "--json")
    assert result.code == 0, result.err
    assert result.json()["retired_old"] is True
    assert 11 not in {c["id"] for c in sandbox.control.state("data_credentials")}


def test_retire_refuses_while_something_still_uses_it(sandbox, api_env):
    ctx = nexla_ops.Context(argparse.Namespace())
    users = rotation.Rotation(ctx, 12, 11, checkpoint.MemoryJournal()).retire()
    assert {(u["type"], u["id"]) for u in users} == {("data_sources", 124), ("data_sinks", 301),
                                                     ("data_sinks", 302)}
    assert 12 in {c["id"] for c in sandbox.control.state("data_credentials")}


def test_no_secret_reaches_the_output(sandbox, run_script, new_cred):
    result = run_script("rotate_credential", "--old", 11, "--new", new_cred, "--json")
    assert result.code == 0, result.err
    assert CANARY not in result.out + result.err


def test_bad_input_exits_2_before_any_request(run_script):
    for args, field in ((("--old", "x", "--new", 12), "--old"), (("--old", 11, "--new", 11),
                        "--new"), (("--old", 11, "--new", 12, "--resume"), "--resume")):
        result = run_script("rotate_credential", *args, sandbox=False,
                            env={"NEXLA_API_URL": "http://127.0.0.1:9/nexla-api"})
        assert result.code == 2 and field in result.err, result.err


def test_a_bad_credential_id_exits_2_naming_the_flag_before_any_request(sandbox, run_main):
    sandbox.control.clear_requests()
    for bad in ("²", "-3", "abc", "0", " "):
        for argv, flag in ((("--old", bad, "--new", 12), "--old"),
                           (("--old", 11, "--new", bad), "--new")):
            result = run_main(rotate_credential, *argv)
            assert result.code == 2, (argv, result.err)
            assert result.err.startswith(f"rotate_credential.py: error: {flag}: expected a "
                                         "positive integer id"), result.err
    assert sandbox.control.requests() == []


# --------------------------------------------------------------------------- kill -9 + resume


@pytest.mark.slow
@pytest.mark.parametrize(("method", "in_flight"), [
    ("PUT", r"^/data_sources/123$"), ("PUT", r"^/flows/1003/activate$"),
    ("DELETE", r"^/data_credentials/11$")])
def test_kill_mid_rotation_then_resume_writes_each_step_once(sandbox, run_main, spawn_script,
                                                             new_cred, tmp_path, method,
                                                             in_flight):
    journal = tmp_path / "rotate.jsonl"
    before_status = flow_statuses(sandbox)
    sandbox.control.clear_requests()
    fault = sandbox.control.add_fault(method=method, path=in_flight, action="delay",
                                      delay_ms=1200)
    proc = spawn_script("rotate_credential", "--old", 11, "--new", new_cred,
                        "--checkpoint", journal, "--retire-old")
    kill9_while_held(sandbox, proc, fault, "the delayed write")
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--checkpoint", journal,
                      "--resume", "--retire-old", "--json")
    assert result.code == 0, result.err
    assert result.json()["result"] == "rotated" and result.json()["retired_old"] is True
    sent = Counter(writes(sandbox))
    assert set(sent.values()) == {1}, sent  # no pause, switch, activation or delete twice
    assert len(sent) == 9 and sent[("DELETE", "/data_credentials/11")] == 1
    assert {k for k, c in credential_of(sandbox).items() if c == new_cred} == USERS_OF_11
    assert flow_statuses(sandbox) == before_status
    assert re.search(r'"event": "finish"', journal.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_resume_with_a_now_failing_probe_switches_back_what_was_switched(
        sandbox, sdk_client, run_main, spawn_script, new_cred, tmp_path):
    journal = tmp_path / "rotate.jsonl"
    before = credential_of(sandbox), flow_statuses(sandbox)
    fault = sandbox.control.add_fault(method="PUT", path=r"^/flows/1003/pause$", action="delay",
                                      delay_ms=1000)
    proc = spawn_script("rotate_credential", "--old", 11, "--new", new_cred,
                        "--checkpoint", journal)
    kill9_while_held(sandbox, proc, fault, "flow 1003's pause")
    assert credential_of(sandbox)[("data_sources", 123)] == new_cred  # flow 1001 was done
    # meanwhile someone revoked the new credential's secret
    sdk_client.request("PUT", f"/data_credentials/{new_cred}",
                       json={"credentials": {"secret_key": "wrong-secret"}})
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--checkpoint", journal,
                      "--resume", "--json")
    assert result.code == 1, result.err
    assert result.json()["result"] == "rolled back"
    assert_untouched(sandbox, *before)


def test_plan_with_retire_old_shows_the_delete_first(sandbox, run_main, new_cred):
    sandbox.control.clear_requests()
    doc = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--plan", "--retire-old",
                   "--json").json()
    first, *rest = doc["planned_writes"]
    assert (first["method"], first["path"]) == ("DELETE", "/data_credentials/11")
    assert ("PUT", "/flows/1001/pause") in {(w["method"], w["path"]) for w in rest}
    text = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--plan", "--retire-old")
    assert text.out.splitlines()[0].startswith("would DELETE /data_credentials/11")
    assert writes(sandbox) == []


def _fail_rollback(sandbox, run_main, new_cred, *extra):
    sandbox.control.add_fault(method="PUT", path=r"^/flows/1001/activate$", action="status",
                              status=400, times=2)
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--json", *extra)
    assert result.code == 7 and flow_statuses(sandbox)[1001] == "PAUSED", result.err
    sandbox.control.clear_faults()


def test_resume_finishes_a_failed_rollback(sandbox, run_main, new_cred, tmp_path):
    journal = tmp_path / "rotate.ckpt"
    _fail_rollback(sandbox, run_main, new_cred, "--checkpoint", journal)
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--checkpoint", journal,
                      "--resume", "--json")
    assert result.code == 1 and result.json()["result"] == "rolled back", result.err
    assert flow_statuses(sandbox)[1001] == "ACTIVE"
    assert credential_of(sandbox)[("data_sources", 123)] == 11


def test_a_fresh_run_reactivates_what_a_failed_run_left_paused(sandbox, run_main, new_cred):
    _fail_rollback(sandbox, run_main, new_cred)  # no checkpoint: only the state dir knows
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--json")
    assert result.code == 0 and result.json()["result"] == "rotated", result.err
    assert flow_statuses(sandbox)[1001] == "ACTIVE"
    assert credential_of(sandbox)[("data_sources", 123)] == new_cred
    assert "paused by an earlier rotation" in result.err


def test_no_run_exits_0_while_a_flow_it_paused_stays_paused(sandbox, run_main, new_cred):
    _fail_rollback(sandbox, run_main, new_cred)
    # the old credential is now unused by 1001's source, so a rotation of another credential
    # must still notice flow 1001 and fail loudly when it cannot re-activate it
    sandbox.control.add_fault(method="PUT", path=r"^/flows/1001/activate$", action="status",
                              status=400, times=10)
    result = run_main(rotate_credential, "--old", 11, "--new", new_cred, "--json")
    sandbox.control.clear_faults()
    assert result.code != 0 and flow_statuses(sandbox)[1001] == "PAUSED", result.err
