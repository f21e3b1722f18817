"""async_task.py against the sandbox: tasks go pending -> running -> completed|failed, one step
per simulated second (wall clock plus control.tick)."""

from __future__ import annotations

import json
import time

import pytest

import async_task
import nexla_ops


@pytest.fixture
def api(sandbox, monkeypatch, tmp_path):
    """In-process runs of main() against the sandbox, from an empty working directory."""
    monkeypatch.delenv("NEXLA_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("NEXLA_API_URL", sandbox.url)
    monkeypatch.setenv("NEXLA_SERVICE_KEY", sandbox.service_key)
    monkeypatch.chdir(tmp_path)
    return sandbox


def run(capsys, *argv):
    code = async_task.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def calls(sandbox, method=None, prefix="/async_tasks"):
    return [r for r in sandbox.control.requests()
            if r["path"].startswith(prefix) and (method is None or r["method"] == method)]


def started(capsys, *extra):
    code, out, _ = run(capsys, "start", "--type", "ExportFlows", "--arguments", '{"ids": [1, 2]}',
                       "--json", *extra)
    assert code == 0
    return json.loads(out)["task"]


def test_start_and_wait_until_completed_returns_the_result(api, capsys):
    began = time.monotonic()
    code, out, err = run(capsys, "start", "--type", "ExportFlows", "--arguments",
                         '{"ids": [1001, 1002]}', "--wait", "--json")
    elapsed = time.monotonic() - began
    doc = json.loads(out)
    assert code == 0, err
    assert doc["task"]["status"] == "completed"
    assert doc["result"]["processed"] == 2
    assert doc["result"]["arguments"] == {"ids": [1001, 1002]}
    # One POST, a handful of polls with growing gaps (not a busy loop), then the result.
    assert len(calls(api, "POST")) == 1
    polls = [r for r in calls(api, "GET") if r["path"] == f"/async_tasks/{doc['task']['id']}"]
    assert 2 <= len(polls) <= 8
    assert len(calls(api, "GET", f"/async_tasks/{doc['task']['id']}/result")) == 1
    assert elapsed < 6


def test_failed_task_exits_1_with_the_tasks_error(api, capsys):
    task = started(capsys, "--arguments", '{"fail": true}')
    assert task["status"] == "pending"
    api.control.tick(5)
    code, out, err = run(capsys, "wait", "--id", task["id"])
    assert code == 1
    assert "status: failed" in out
    assert "simulated failure requested" in out and "simulated failure requested" in err


def test_wait_timeout_exits_6_and_prints_the_task_id(api, capsys):
    task = started(capsys)
    began = time.monotonic()
    code, out, err = run(capsys, "wait", "--id", task["id"], "--wait-timeout", "0.4", "--json")
    assert code == 6
    assert time.monotonic() - began < 2
    assert json.loads(out)["task"]["id"] == task["id"]
    assert f"wait --id {task['id']}" in err


def test_wait_for_a_task_that_finished_meanwhile(api, capsys):
    task = started(capsys)
    api.control.tick(5)  # simulated time: the task is done, the first poll sees it
    code, out, _ = run(capsys, "wait", "--id", task["id"])
    assert code == 0
    assert "status: completed" in out and "result:" in out
    polls = [r for r in calls(api, "GET") if r["path"] == f"/async_tasks/{task['id']}"]
    assert len(polls) == 1


def test_status_and_result_commands(api, capsys):
    task = started(capsys)
    code, out, _ = run(capsys, "status", "--id", task["id"], "--json")
    assert code == 0 and json.loads(out)["task"]["status"] == "pending"
    code, out, err = run(capsys, "result", "--id", task["id"])
    assert code == 6 and "no result yet" in err
    api.control.tick(5)
    code, out, _ = run(capsys, "result", "--id", task["id"], "--json")
    assert code == 0 and json.loads(out)["result"]["processed"] == 2


def test_unknown_task_exits_5(api, capsys):
    code, _, err = run(capsys, "status", "--id", 999999)
    assert code == 5
    assert "not found" in err


def test_lost_start_response_creates_one_task(api, capsys):
    api.control.add_fault(method="POST", path=r"^/async_tasks$", action="commit_then_fail",
                          fail_with="drop", times=1)
    task = started(capsys)
    assert [t["id"] for t in api.control.state("async_tasks")
            if t.get("type") == "ExportFlows"] == [task["id"]]
    assert len(calls(api, "POST")) == 1
    # The look-up after the lost answer compared against the tasks listed before the POST.
    assert len(calls(api, "GET", "/async_tasks/of_type/ExportFlows")) == 2


def test_dry_run_sends_nothing(api, capsys):
    code, out, _ = run(capsys, "start", "--type", "ExportFlows", "--arguments", '{"ids": [7]}',
                       "--priority", "3", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out)["would_send"] == {
        "POST /async_tasks": {"type": "ExportFlows", "arguments": {"ids": [7]}, "priority": 3}}
    assert api.control.requests() == []


@pytest.mark.parametrize("argv, field", [
    (["start", "--type", "ExportFlows", "--arguments", "{oops"], "--arguments"),
    (["start", "--type", "ExportFlows", "--arguments", "[1, 2]"], "--arguments"),
    (["start", "--type", "Export Flows/x"], "--type"),
    (["wait", "--id", "5", "--wait-timeout", "soon"], "--wait-timeout"),
    (["status", "--id", "0"], "--id"),
])
def test_bad_input_exits_2_before_any_request(api, capsys, argv, field):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert field in err and out == ""
    assert api.control.requests() == []


def test_wait_for_task_is_importable(api):
    ctx = nexla_ops.Context()
    try:
        task = ctx.call(ctx.client.async_tasks.create,
                        {"type": "ExportFlows", "arguments": {"ids": [3]}}, idempotent=False)
        api.control.tick(5)
        done = async_task.wait_for_task(ctx, task.id, timeout=5)
        assert async_task.task_state(done) == "succeeded"
        with pytest.raises(async_task.TaskTimeout) as caught:
            fresh = ctx.call(ctx.client.async_tasks.create,
                             {"type": "ExportFlows", "arguments": {}}, idempotent=False)
            async_task.wait_for_task(ctx, fresh.id, timeout=0.1)
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
