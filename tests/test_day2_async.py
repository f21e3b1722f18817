"""async_task.py against the sandbox: tasks go pending -> running -> completed|failed, one step
per simulated second (wall clock plus control.tick)."""

from __future__ import annotations

import time

import pytest

import nexla_ops
from nexla_ops import tasks
from nexla_ops.commands import async_task


def calls(sandbox, method=None, prefix="/async_tasks"):
    return [r for r in sandbox.control.requests()
            if r["path"].startswith(prefix) and (method is None or r["method"] == method)]


def started(run_main, *extra):
    result = run_main(async_task, "start", "--type", "ExportFlows", "--arguments",
                      '{"ids": [1, 2]}', "--json", *extra)
    assert result.code == 0
    return result.json()["task"]


def test_start_and_wait_until_completed_returns_the_result(sandbox, run_main):
    began = time.monotonic()
    result = run_main(async_task, "start", "--type", "ExportFlows", "--arguments",
                      '{"ids": [1001, 1002]}', "--wait", "--json")
    elapsed = time.monotonic() - began
    doc = result.json()
    assert result.code == 0, result.err
    assert doc["task"]["status"] == "completed"
    assert doc["result"]["processed"] == 2
    assert doc["result"]["arguments"] == {"ids": [1001, 1002]}
    # One POST, a handful of polls with growing gaps (not a busy loop), then the result.
    assert len(calls(sandbox, "POST")) == 1
    polls = [r for r in calls(sandbox, "GET") if r["path"] == f"/async_tasks/{doc['task']['id']}"]
    assert 2 <= len(polls) <= 8
    assert len(calls(sandbox, "GET", f"/async_tasks/{doc['task']['id']}/result")) == 1
    assert elapsed < 6


def test_failed_task_exits_1_with_the_tasks_error(sandbox, run_main):
    task = started(run_main, "--arguments", '{"fail": true}')
    assert task["status"] == "pending"
    sandbox.control.tick(5)
    result = run_main(async_task, "wait", "--id", task["id"])
    assert result.code == 1
    assert "status: failed" in result.out
    assert "simulated failure requested" in result.out
    assert "simulated failure requested" in result.err


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
    assert result.code == 0 and result.json()["result"]["processed"] == 2


def test_unknown_task_exits_5(run_main):
    result = run_main(async_task, "status", "--id", 999999)
    assert result.code == 5
    assert "not found" in result.err


def test_lost_start_response_creates_one_task(sandbox, run_main):
    sandbox.control.add_fault(method="POST", path=r"^/async_tasks$", action="commit_then_fail",
                              fail_with="drop", times=1)
    task = started(run_main)
    assert [t["id"] for t in sandbox.control.state("async_tasks")
            if t.get("type") == "ExportFlows"] == [task["id"]]
    assert len(calls(sandbox, "POST")) == 1
    # The look-up after the lost answer compared against the tasks listed before the POST.
    assert len(calls(sandbox, "GET", "/async_tasks/of_type/ExportFlows")) == 2


def test_dry_run_sends_nothing(sandbox, run_main):
    result = run_main(async_task, "start", "--type", "ExportFlows", "--arguments",
                      '{"ids": [7]}', "--priority", "3", "--dry-run", "--json")
    assert result.code == 0
    assert result.json()["would_send"] == {
        "POST /async_tasks": {"type": "ExportFlows", "arguments": {"ids": [7]}, "priority": 3}}
    assert sandbox.control.requests() == []


@pytest.mark.parametrize("argv, field", [
    (["start", "--type", "ExportFlows", "--arguments", "{oops"], "--arguments"),
    (["start", "--type", "ExportFlows", "--arguments", "[1, 2]"], "--arguments"),
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
                        {"type": "ExportFlows", "arguments": {"ids": [3]}}, idempotent=False)
        api_env.control.tick(5)
        done = tasks.wait_for_task(ctx, task.id, timeout=5)
        assert tasks.task_state(done) == "succeeded"
        with pytest.raises(tasks.TaskTimeout) as caught:
            fresh = ctx.call(ctx.client.async_tasks.create,
                             {"type": "ExportFlows", "arguments": {}}, idempotent=False)
            tasks.wait_for_task(ctx, fresh.id, timeout=0.1)
        assert caught.value.exit_code == 6 and caught.value.task["id"] == fresh.id
    finally:
        ctx.close()


def test_subprocess_exit_codes(run_script, sandbox, sdk_client):
    first = sdk_client.async_tasks.create({"type": "ExportFlows", "arguments": {"ids": [1]}})
    second = sdk_client.async_tasks.create({"type": "FailDemoTask", "arguments": {}})
    sandbox.control.tick(5)
    ok = run_script("async_task", "wait", "--id", first.id, "--json")
    assert ok.code == 0 and ok.json()["result"]["processed"] == 1
    failed = run_script("async_task", "wait", "--id", second.id)
    assert failed.code == 1 and "failed" in failed.err
    timeout = run_script("async_task", "start", "--type", "ExportFlows", "--wait",
                         "--wait-timeout", "0.2")
    assert timeout.code == 6
    assert "Traceback" not in ok.err + failed.err + timeout.err
