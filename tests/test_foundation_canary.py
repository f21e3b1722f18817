"""A canary service key never appears in stdout, stderr or any file, whatever happens.

A dedicated sandbox accepts the canary as its admin key (start_sandbox(service_key=...), the
documented seam for this), so the scripts really authenticate with it and really fail with it.
Everything runs with --debug, the most talkative mode.
"""

from __future__ import annotations

import argparse
import logging
import sys

import pytest

import nexla_ops
from conftest import CANARY, SCRIPTS
from test_quickstart import closed_port_url


@pytest.fixture
def run(run_script):
    """conftest's run_script, authenticating with the canary at `url`."""

    def run_canary(script, *args, url):
        return run_script(script, *args, env={"NEXLA_API_URL": url, "NEXLA_SERVICE_KEY": CANARY},
                          sandbox=False)

    return run_canary


def assert_no_canary(proc, directory):
    assert CANARY not in proc.out and CANARY not in proc.err
    for path in directory.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


FAST = ("--debug", "--max-attempts", "2", "--max-wait", "0.05")


def test_quickstart_ok(canary_sandbox, run, tmp_path):
    assert canary_sandbox.service_key == CANARY
    proc = run("nexla_quickstart", "--json", *FAST, url=canary_sandbox.url)
    assert proc.code == 0, proc.err
    assert_no_canary(proc, tmp_path)


@pytest.mark.parametrize("fault,code", [
    ({"method": "GET", "path": "^/users/current$", "action": "status", "status": 503}, 6),
    ({"method": "GET", "path": "^/users/current$", "action": "drop"}, 6),
    ({"method": "POST", "path": "^/token$", "action": "status", "status": 503}, 6),
    ({"method": "GET", "path": "^/data_sources$", "action": "status", "status": 429,
      "retry_after": 1}, 6),
    ({"method": "GET", "path": "^/users/current$", "action": "status", "status": 500,
      "body": {"message": f"server echoed the key {CANARY}"}}, 6),
    ({"method": "GET", "path": "^/data_sinks$", "action": "status", "status": 400,
      "body": {"message": f"bad request with Basic {CANARY}"}}, 1),
    ({"method": "GET", "path": "^/users/current$", "action": "status", "status": 404}, 5),
])
def test_quickstart_failures(canary_sandbox, run, tmp_path, fault, code):
    canary_sandbox.control.add_fault(times=100, **fault)
    proc = run("nexla_quickstart", "--json", *FAST, url=canary_sandbox.url)
    assert proc.code == code, proc.err
    assert_no_canary(proc, tmp_path)


def test_unreachable_and_rejected(canary_sandbox, sandbox, run, tmp_path):
    proc = run("nexla_quickstart", *FAST, url=closed_port_url())
    assert proc.code == 6
    assert_no_canary(proc, tmp_path)
    proc = run("nexla_quickstart", *FAST, url=sandbox.url)  # not its key
    assert proc.code == 4
    assert_no_canary(proc, tmp_path)


def test_retry_helpers_wrapping_a_failing_script(canary_sandbox, run, tmp_path):
    canary_sandbox.control.add_fault(method="GET", path="^/users/current$", action="status", status=503,
                         times=100)
    proc = run("retry_helpers", "--attempts", "2", "--max-wait", "0.05", "--",
               sys.executable, str(SCRIPTS / "nexla_quickstart.py"), *FAST,
               url=canary_sandbox.url)
    assert proc.code == 6
    assert_no_canary(proc, tmp_path)


def test_in_process_policy_scenarios(canary_sandbox, tmp_path, capsys, monkeypatch):
    """Every retry/create/error path of the helper module, with logs and files captured."""
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(api_url=canary_sandbox.url, max_wait=0.05, max_attempts=3, debug=True)
    config = nexla_ops.resolve_config(args, environ={"NEXLA_SERVICE_KEY": CANARY})
    nexla_ops.setup_logging("canary", debug=True)
    ctx = nexla_ops.Context(args, config=config)
    try:
        canary_sandbox.control.add_fault(method="GET", path="^/data_sources/123$", action="status",
                             status=503, times=100)
        with pytest.raises(nexla_ops.Transient) as err:
            ctx.call(ctx.client.sources.get, 123, what="GET /data_sources/123")
        logging.getLogger("nexla_ops").error("%s | %s", err.value.message, err.value.detail)
        canary_sandbox.control.clear_faults()
        canary_sandbox.control.add_fault(method="POST", path="^/data_sources$", action="commit_then_fail",
                             fail_with=502, times=1)
        body = {"name": "canary-once", "source_type": "s3", "data_credentials_id": 11}
        created = ctx.create_once(
            lambda: next((s for s in ctx.paginate("/data_sources")
                          if s["name"] == "canary-once"), None),
            lambda: ctx.client.sources.create(body), what="create source canary-once")
        nexla_ops.append_jsonl(tmp_path / "audit.jsonl", {"created": created, "key": CANARY,
                                                          "config": config})
        nexla_ops.write_atomic(tmp_path / "result.json", nexla_ops.dumps(
            {"config": config, "note": f"used {CANARY}"}))
        ctx.out({"created": created, "user": ctx.current_user()}, "json")
    finally:
        ctx.close()
    captured = capsys.readouterr()
    assert "outcome unknown" in captured.err
    assert CANARY not in captured.out and CANARY not in captured.err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
