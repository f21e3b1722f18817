"""async_task.py against the sandbox: tasks of the published types go pending -> running ->
completed|failed, one step per simulated second (wall clock plus control.tick), and do their
effect when they finish (BulkPauseFlows pauses the flows). A failing task is a real failure: an
argument names a flow or credential that does not exist, or a credential the remote rejects."""

from __future__ import annotations

import time

import pytest

import nexla_ops
from nexla_ops import tasks
from nexla_ops.commands import async_task


def calls(sandbox, method=None, prefix="/async_tasks"):
    return [r for r in sandbox.control.requests()
            if r["path"].startswith(prefix) and (method is None or r["method"] == method)]


def source_status(sandbox, source_id):
    return next(s["status"] for s in sandbox.control.state("data_sources") if s["id"] == source_id)


def started(run_main, *extra):
    result = run_main(async_task, "start", "--type", "BulkPauseFlows", "--arguments",
                      '{"ids": [1001, 1002]}', "--json", *extra)
    assert result.code == 0
    return result.json()["task"]


def test_start_and_wait_until_completed_returns_the_result(sandbox, run_main):
    began = time.monotonic()
    result = run_main(async_task, "start", "--type", "BulkPauseFlows", "--arguments",
                      '{"ids": [1001, 1002]}', "--wait", "--json")
    elapsed = time.monotonic() - began
    doc = result.json()
    assert result.code == 0, result.err
    assert doc["task"]["status"] == "completed" and doc["task"]["type"] == "BulkPauseFlows"
    assert doc["task"]["arguments"] == {"ids": [1001, 1002]} and doc["task"]["stopped_at"]
    assert doc["result"] == {"paused": [1001, 1002]}
    # The task's effect: both flows (their sources) are paused now; 1003 is untouched.
    assert [source_status(sandbox, s) for s in (123, 124, 125)] == ["PAUSED", "PAUSED", "ACTIVE"]
    # One POST, a handful of polls with growing gaps (not a busy loop), then the result.
    assert len(calls(sandbox, "POST")) == 1
    polls = [r for r in calls(sandbox, "GET") if r["path"] == f"/async_tasks/{doc['task']['id']}"]
    assert 2 <= len(polls) <= 8
    assert len(calls(sandbox, "GET", f"/async_tasks/{doc['task']['id']}/result")) == 1
    assert elapsed < 6


def test_failed_task_exits_1_with_the_tasks_error(sandbox, run_main):
    task = started(run_main, "--arguments", '{"ids": [1001, 99999]}')  # flow 99999: no such flow
    assert task["status"] == "pending"
    sandbox.control.tick(5)
    result = run_main(async_task, "wait", "--id", task["id"])
    assert result.code == 1
    assert "status: failed" in result.out
    assert "flows/99999 not found" in result.out
    assert "flows/99999 not found" in result.err
    assert source_status(sandbox, 123) == "ACTIVE"  # a failed task changed nothing


def test_a_credential_the_remote_rejects_fails_the_probe_task(sandbox, run_main):
    before = {c["id"]: c["verified_status"] for c in sandbox.control.state("data_credentials")}
    result = run_main(async_task, "start", "--type", "CallProbe", "--arguments", '{"id": 13}',
                      "--wait", "--json")
    assert result.code == 1
    task = result.json()["task"]
    assert task["status"] == "failed" and "Invalid credentials" in task["error"]
    assert result.json()["result"] is None
    ok = run_main(async_task, "start", "--type", "CallProbe", "--arguments", '{"id": 11}',
                  "--wait", "--json")
    assert ok.code == 0 and ok.json()["result"]["status"] == "ok"
    verified = {c["id"]: c["verified_status"] for c in sandbox.control.state("data_credentials")}
    assert verified[11] == "VERIFIED" and verified[13] == before[13] != "VERIFIED"


def test_get_audit_logs_returns_the_resources_audit_log(sandbox, run_main, sdk_client):
    sdk_client.sources.update(123, {"description": "audited"})
    result = run_main(async_task, "start", "--type", "GetAuditLogs", "--arguments",
                      '{"resource_type": "data_sources", "resource_id": 123}', "--wait", "--json")
    assert result.code == 0, result.err
    doc = result.json()["result"]
    assert (doc["resource_type"], doc["resource_id"]) == ("data_sources", 123)
    assert doc["audit_log"] == sdk_client.request("GET", "/data_sources/123/audit_log")
    assert [e["event"] for e in doc["audit_log"]] == ["update", "create"]
    missing = run_main(async_task, "start", "--type", "GetAuditLogs", "--arguments",
                       '{"resource_type": "data_sources", "resource_id": 99999}', "--wait")
    assert missing.code == 1 and "data_sources/99999 not found" in missing.err


def test_unknown_type_exits_1_with_the_servers_types_and_creates_nothing(sandbox, run_main):
    result = run_main(async_task, "start", "--type", "ExportFlows", "--arguments", "{}")
    assert result.code == 1
    assert "refused task type 'ExportFlows'" in result.err
    assert "BulkPauseFlows" in result.err and "GetAuditLogs" in result.err
    as_json = run_main(async_task, "start", "--type", "ExportFlows", "--json")
    assert as_json.code == 1
    error = as_json.json()["error"]
    assert error["status"] == 400 and "BulkPauseFlows" in error["detail"]["allowed_types"]
    assert calls(sandbox, "POST") == [] and sandbox.control.state("async_tasks") == []


def test_types_lists_the_servers_task_types(run_main):
    result = run_main(async_task, "types", "--json")
    assert result.code == 0
    assert result.json()["types"] == [
        "BulkDeleteNotifications", "BulkMarkAsReadNotifications", "BulkPauseFlows",
        "CallProbe", "ChownUserResources", "DeactivateUser", "GetAuditLogs"]
    text = run_main(async_task, "types")
    assert text.code == 0 and text.out.splitlines()[2] == "BulkPauseFlows"


def test_wait_timeout_exits_6_and_prints_the_task_id(run_main):
    task = started(run_main)
    began = time.monotonic()
    result = run_main(async_task, "wait", "--id", task["id"], "--wait-timeout", "0.4", "--json")
    assert result.code == 6
    assert time.monotonic() - began < 2
    assert result.json()["task"]["id"] == task["id"]
    assert f"wait --id {task['id']}" in result.err


def test_wait_for_a_task_that_finished_meanwhile(sandbox, run_main):
    task = started(run_main)
    sandbox.control.tick(5)  # simulated time: the task is done, the first poll sees it
    result = run_main(async_task, "wait", "--id", task["id"])
    assert result.code == 0
    assert "status: completed" in result.out and "result:" in result.out
    polls = [r for r in calls(sandbox, "GET") if r["path"] == f"/async_tasks/{task['id']}"]
    assert len(polls) == 1


def test_status_and_result_commands(sandbox, run_main):
    task = started(run_main)
    result = run_main(async_task, "status", "--id", task["id"], "--json")
    assert result.code == 0 and result.json()["task"]["status"] == "pending"
    result = run_main(async_task, "result", "--id", task["id"])
    assert result.code == 6 and "no result yet" in result.err
    sandbox.control.tick(5)
    result = run_main(async_task, "result", "--id", task["id"], "--json")
    assert result.code == 0 and result.json()["result"] == {"paused": [1001, 1002]}


def test_unknown_task_exits_5(run_main):
    result = run_main(async_task, "status", "--id", 999999)
    assert result.code == 5
    assert "not found" in result.err


def test_lost_start_response_creates_one_task(sandbox, run_main):
    sandbox.control.add_fault(method="POST", path=r"^/async_tasks$", action="commit_then_fail",
                              fail_with="drop", times=1)
    task = started(run_main)
    assert [str(t["id"]) for t in sandbox.control.state("async_tasks")
            if t.get("type") == "BulkPauseFlows"] == [task["id"]]
    assert isinstance(task["id"], str)  # printed as the API sends it (the reference: a string)
    assert len(calls(sandbox, "POST")) == 1
    # The look-up after the lost answer compared against the tasks listed before the POST.
    assert len(calls(sandbox, "GET", "/async_tasks/of_type/BulkPauseFlows")) == 2


def test_dry_run_sends_nothing(sandbox, run_main):
    args = '{"resource_type": "data_sinks", "resource_id": 301}'
    result = run_main(async_task, "start", "--type", "GetAuditLogs", "--arguments", args,
                      "--priority", "3", "--dry-run", "--json")
    assert result.code == 0
    assert result.json()["would_send"] == {"POST /async_tasks": {
        "type": "GetAuditLogs", "arguments": {"resource_type": "data_sinks", "resource_id": 301},
        "priority": 3}}
    # only reads: the token and the server's task types, which the preview checks
    assert [(r["method"], r["path"]) for r in sandbox.control.requests()] == [
        ("POST", "/token"), ("GET", "/async_tasks/types")]


def test_a_dry_run_of_a_type_the_server_does_not_offer_fails_as_the_run_would(sandbox,
                                                                              run_main):
    result = run_main(async_task, "start", "--type", "MadeUpType", "--dry-run", "--json")
    assert result.code == 1
    assert "BulkPauseFlows" in result.json()["error"]["detail"]["allowed_types"]
    assert not [r for r in sandbox.control.requests() if r["path"] == "/async_tasks"]


def test_types_reports_an_unreachable_server_as_transient_and_a_bad_key_as_auth(run_main,
                                                                                run_script):
    assert run_main(async_task, "types", "--api-url", "http://127.0.0.1:9/nexla-api",
                    "--max-attempts", "1", "--json").code == 6
    bad_key = run_script("async_task", "types", "--json",
                         env={"NEXLA_SERVICE_KEY": "not-a-real-key"})
    assert bad_key.code == 4 and bad_key.json()["ok"] is False


@pytest.mark.parametrize("argv, field", [
    (["start", "--type", "BulkPauseFlows", "--arguments", "{oops"], "--arguments"),
    (["start", "--type", "BulkPauseFlows", "--arguments", "[1, 2]"], "--arguments"),
    (["start", "--type", "Export Flows/x"], "--type"),
    (["wait", "--id", "5", "--wait-timeout", "soon"], "--wait-timeout"),
    (["status", "--id", "0"], "--id"),
])
def test_bad_input_exits_2_before_any_request(sandbox, run_main, argv, field):
    result = run_main(async_task, *argv)
    assert result.code == 2
    assert field in result.err and result.out == ""
    assert sandbox.control.requests() == []


def test_wait_for_task_is_importable(api_env):
    ctx = nexla_ops.Context()
    try:
        task = ctx.call(ctx.client.async_tasks.create,
                        {"type": "BulkPauseFlows", "arguments": {"ids": [1003]}}, idempotent=False)
        api_env.control.tick(5)
        done = tasks.wait_for_task(ctx, task.id, timeout=5)
        assert tasks.task_state(done) == "succeeded"
        with pytest.raises(tasks.TaskTimeout) as caught:
            fresh = ctx.call(ctx.client.async_tasks.create,
                             {"type": "CallProbe", "arguments": {"id": 11}}, idempotent=False)
            tasks.wait_for_task(ctx, fresh.id, timeout=0.1)
        assert caught.value.exit_code == 6 and str(caught.value.task["id"]) == str(fresh.id)
    finally:
        ctx.close()


def test_subprocess_exit_codes(run_script, sandbox, sdk_client):
    first = sdk_client.async_tasks.create({"type": "BulkPauseFlows", "arguments": {"ids": [1001]}})
    second = sdk_client.async_tasks.create({"type": "CallProbe", "arguments": {"id": 99999}})
    sandbox.control.tick(5)
    ok = run_script("async_task", "wait", "--id", first.id, "--json")
    assert ok.code == 0 and ok.json()["result"] == {"paused": [1001]}
    failed = run_script("async_task", "wait", "--id", second.id)
    assert failed.code == 1 and "data_credentials/99999 not found" in failed.err
    timeout = run_script("async_task", "start", "--type", "BulkPauseFlows", "--arguments",
                         '{"ids": [1003]}', "--wait", "--wait-timeout", "0.2")
    assert timeout.code == 6
    assert "Traceback" not in ok.err + failed.err + timeout.err
