"""SIGTERM ends a command through its cleanup (nexla_ops.stopping): one JSON document, exit 143,
nothing new sent from any thread, and cleanups that still go out: a rotation rolls back, a
temporary nexset is deleted. Real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import SCRIPTS, _script_env
from test_day2_rotate import assert_untouched, credential_of, flow_statuses


def _start(sandbox, cwd, script, *argv):
    sandbox.control.clear_requests()  # _wait_for_request watches this run's requests only
    return subprocess.Popen([sys.executable, str(SCRIPTS / f"{script}.py"), *argv],
                            cwd=str(cwd), env=_script_env(sandbox, None), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_request(sandbox, method, pattern, timeout=20.0):
    import re

    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if any(r["method"] == method and re.search(pattern, r["path"])
               for r in sandbox.control.requests()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {method} {pattern} within {timeout}s")


def _term(proc):
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_a_rotation_cut_off_by_sigterm_rolls_back(sandbox, script_cwd, sdk_client):
    new = sdk_client.request("POST", "/data_credentials", json={
        "name": "orders-s3-cred-next", "credentials_type": "s3",
        "credentials": {"access_key_id": "AKIA", "secret_key": "next"}})["id"]
    before = credential_of(sandbox), flow_statuses(sandbox)
    sandbox.control.clear_requests()
    # the first credential switch hangs: SIGTERM lands mid-rotation
    sandbox.control.add_fault(method="PUT", path=r"^/data_(sources|sinks)/\d+$",
                              action="delay", delay_ms=3000, times=1)
    proc = _start(sandbox, script_cwd, "rotate_credential", "--old", "11", "--new", str(new),
                  "--json")
    # the log holds answered requests: once the flow's pause is answered, the switch is next
    _wait_for_request(sandbox, "PUT", r"^/flows/\d+/pause$")
    time.sleep(1.0)
    code, out, err = _term(proc)
    assert code == 1, err  # rolled back
    doc = json.loads(out)
    assert doc["result"] == "rolled back" and "SIGTERM" in doc["error"]
    assert_untouched(sandbox, *before)


def test_a_validation_cut_off_by_sigterm_deletes_its_temporary_nexset(sandbox, script_cwd):
    from conftest import ROOT

    sandbox.control.add_fault(method="POST", path=r"^/data_sets$", action="delay",
                              delay_ms=3000, times=1)  # SIGTERM while the create is in flight
    proc = _start(sandbox, script_cwd, "validate_transform", "--nexset", "123",
                  "--transform-file", str(ROOT / "examples" / "transforms" / "clean.json"),
                  "--json")
    # the log holds answered requests: the parent's samples come just before the create
    _wait_for_request(sandbox, "GET", r"^/data_sets/123/samples$")
    time.sleep(1.0)
    code, out, _ = _term(proc)
    time.sleep(3.0)  # past the delayed create
    left = [n["name"] for n in sandbox.control.state("data_sets")
            if n["name"].startswith("nexla-ops-validate-")]
    doc = json.loads(out)
    if left:  # it landed after the look-up: a person is told its name
        assert code == 7 and doc["error"]["kind"] == "partial"
        assert left[0] in doc["error"]["message"]
    else:
        assert code == 143 and doc["error"]["kind"] == "terminated"


def test_worker_threads_stop_at_once(sandbox, script_cwd):
    sandbox.control.reset("empty")
    sandbox.control.populate("flows", 8, runs=3, fail_rate=1.0)
    # every per-flow read is slow: four workers sit in them when SIGTERM comes
    sandbox.control.add_fault(method="GET", path=r"/metrics/run_summary$", action="delay",
                              delay_ms=4000, times=100)
    proc = _start(sandbox, script_cwd, "triage", "--json", "--timeout", "10")
    _wait_for_request(sandbox, "GET", r"/metrics/run_summary$")
    sent = time.monotonic()
    code, out, _ = _term(proc)
    assert code == 143 and json.loads(out)["ok"] is False
    assert time.monotonic() - sent < 3  # not the 4 s read, nor retries after it
