"""health_check.py against the sandbox over real HTTP: classification, exit codes, formats,
alert dedupe through a loopback webhook, the cron lock, the time budget, and request counts."""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

import health_check
from conftest import CANARY, SCRIPTS
from nexla_ops import health

SEED_STATES = {1001: "OK", 1002: "CRITICAL", 1003: "WARNING", 1004: "WARNING", 1005: "OK"}


@pytest.fixture
def hc(run_main):
    """health_check.main in-process (conftest's run_main): (exit code, stdout, stderr), with
    stdout parsed when the format is JSON."""

    def run(*argv):
        result = run_main(health_check, *argv)
        as_json = "--json" in argv or "json" in argv
        return result.code, result.json() if as_json else result.out, result.err

    return run


def write_config(path, resources):
    path.write_text(json.dumps({"resources": resources}))
    return path


def states(doc):
    return {f["flow_id"]: f["state"] for f in doc["flows"]}


# ------------------------------------------------------------------ classification and codes


def test_seeded_flows_are_classified_and_the_exit_code_is_the_worst(hc, sandbox):
    code, doc, err = hc("--all", "--json")
    assert states(doc) == SEED_STATES
    assert code == 2 and doc["summary"]["state"] == "CRITICAL" and doc["summary"]["exit_code"] == 2
    flows = {f["flow_id"]: f for f in doc["flows"]}
    failing = {c["check"]: c["state"] for c in flows[1002]["checks"]}
    assert failing["error_rate"] == "CRITICAL" and 0.25 < flows[1002]["error_rate"] < 1
    assert {c["check"]: c["state"] for c in flows[1003]["checks"]}["staleness"] == "WARNING"
    assert re.search(r"last success 3\d(\.\d)?h ago", flows[1003]["reason"])
    assert flows[1004]["reason"] == "flow is paused"
    assert flows[1001]["error_rate"] == 0 and flows[1001]["last_success_at"]
    assert doc["summary"]["counts"] == {"OK": 2, "WARNING": 2, "CRITICAL": 1, "UNKNOWN": 0}
    # One token and the bulk pages (the empty second one settles that the short first one was
    # the end, not the server's cap): no per-flow calls for the seed.
    assert [(r["method"], r["path"], r["query"].get("page")) for r in sandbox.control.requests()] == [
        ("POST", "/token", None), ("GET", "/flows", "1"), ("GET", "/flows", "2")]
    assert err == ""


@pytest.mark.parametrize("resources, expected", [
    ([{"type": "data_sources", "id": 123}], 0),
    ([{"type": "flows", "id": 1003}], 1),
    ([{"type": "data_sinks", "id": 302}], 2),
    ([{"type": "data_sources", "id": 123}, {"type": "data_sets", "id": 125}], 1),
    ([{"type": "data_sources", "id": 126}], 1),
    ([{"type": "data_sources", "id": 126, "expect": "paused"}], 0),
    ([{"type": "data_sources", "id": 125, "max_age": "2d"}], 0),
    ([{"type": "data_sources", "id": 124, "crit_error_rate": 0.9, "warn_error_rate": 0.3}], 1),
    ([{"type": "data_sources", "id": 999}], 3),
])
def test_config_selects_flows_by_resource_with_per_resource_settings(hc, tmp_path, resources, expected):
    config = write_config(tmp_path / "monitors.json", resources)
    code, doc, _ = hc("--config", config, "--json")
    assert code == expected, doc
    assert doc["summary"]["exit_code"] == expected


def test_yaml_config_with_defaults(hc, tmp_path):
    config = tmp_path / "monitors.yaml"
    config.write_text("defaults:\n  max_age: 2d\nresources:\n"
                      "  - {type: data_sources, id: 125, name: events}\n"
                      "  - {type: flows, id: 1001, max_age: 1m}\n")
    code, doc, _ = hc("--config", config, "--json")
    assert states(doc) == {1001: "CRITICAL", 1003: "OK"} and code == 2


def test_missing_resource_is_reported_unknown_not_ignored(hc, tmp_path):
    config = write_config(tmp_path / "m.json", [{"type": "data_sources", "id": 123},
                                                {"type": "data_sinks", "id": 999}])
    code, out, _ = hc("--config", config)
    assert code == 3
    assert "UNKNOWN" in out and "data_sinks/999: not found in any flow visible to this key" in out


@pytest.mark.parametrize("fmt", ["nagios", "prometheus", "json"])
def test_missing_resource_in_every_format_and_with_alerts(hc, tmp_path, receiver, fmt):
    config = write_config(tmp_path / "m.json", [{"type": "data_sources", "id": 124},
                                                {"type": "data_sinks", "id": 999}])
    code, out, _ = hc("--config", config, "--format", fmt, "--alert-webhook", receiver.url)
    assert code == 2  # the failing flow outranks the unknown resource
    [post] = receiver.take()
    assert [e["flow_id"] for e in post["events"]] == [1002]
    if fmt == "nagios":
        assert "UNKNOWN data_sinks/999: not found" in out
    elif fmt == "prometheus":
        assert 'flow_id="1002"' in out and "None" not in out
        assert "nexla_health_check_status 2.0" in out
    else:
        assert [f["flow_id"] for f in out["flows"]] == [1002, None]


def test_flag_selection_tag_project_expect_paused_and_threshold_alias(hc):
    code, doc, _ = hc("--project", "61", "--json")
    assert states(doc) == {1001: "OK"} and code == 0
    code, doc, _ = hc("--project", "orders-analytics", "--json")
    assert states(doc) == {1001: "OK"}
    code, doc, _ = hc("--tag", "no-such-tag", "--json")
    assert code == 3 and doc["flows"] == [] and doc["notes"] == ["no flows matched the selection"]
    # "²".isdigit() is True but it is no id (int("²") fails): a project name matching nothing
    code, doc, err = hc("--project", "²", "--json")
    assert code == 3 and doc["flows"] == [] and "internal error" not in err
    code, doc, _ = hc("--all", "--expect-paused", "1004", "--json")
    assert states(doc)[1004] == "OK"
    # --threshold is the seed's name for the warning error rate: 0.4 is above 0.3 but not 0.5.
    code, doc, _ = hc("--all", "--threshold", "0.3", "--crit-error-rate", "0.5", "--json")
    assert states(doc)[1002] == "WARNING"


def test_window_beyond_the_bulk_runs_fetches_history_only_for_flows_that_need_it(hc, sandbox):
    code, doc, _ = hc("--all", "--window", "30", "--json")
    per_flow = sorted(r["path"] for r in sandbox.control.requests() if "run_summary" in r["path"])
    # Active flows only; the paused flow 1004 is not judged on its runs.
    assert per_flow == [f"/data_sources/{s}/metrics/run_summary" for s in (123, 124, 125, 127)]
    flows = {f["flow_id"]: f for f in doc["flows"]}
    assert flows[1002]["runs_considered"] == 30
    assert doc["summary"]["api_calls"] == 2 + 4  # two bulk pages, four histories


def test_probe_credentials_once_each_and_a_rejected_probe_is_critical(hc, sandbox):
    # The reference's answer for an invalid credential: 403 {status, message} (not a role).
    sandbox.control.add_fault(method="GET", path=r"^/data_credentials/12/probe$", action="status",
                              status=403, body={"status": 403, "message": "Invalid credentials"})
    code, doc, _ = hc("--all", "--probe-credentials", "--json")
    probes = sorted(r["path"] for r in sandbox.control.requests() if r["path"].endswith("/probe"))
    assert probes == ["/data_credentials/11/probe", "/data_credentials/12/probe",
                      "/data_credentials/14/probe"]
    flows = {f["flow_id"]: f for f in doc["flows"]}
    assert flows[1001]["state"] == "CRITICAL"  # its destination 301 uses credential 12
    assert "credential 12 (warehouse-postgres-cred) probe failed: Invalid credentials" in flows[1001]["reason"]
    assert flows[1005]["state"] == "OK"  # the webhook flow has no credential


def test_a_probe_refused_for_a_missing_role_is_unknown_not_critical(hc, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/data_credentials/12/probe$", action="status",
                              status=403, body={"message": "requires operator, admin or owner "
                                                "role on data_credentials/12; you have: "
                                                "collaborator", "code": 403})
    code, doc, _ = hc("--all", "--probe-credentials", "--json")
    flows = {f["flow_id"]: f for f in doc["flows"]}
    assert "credential 12 (warehouse-postgres-cred): cannot probe" in flows[1001]["reason"]
    assert "probe failed" not in flows[1001]["reason"]


def test_text_output_is_one_line_per_flow_in_id_order_then_a_summary(hc):
    code, out, _ = hc("--all")
    lines = out.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == ["1001", "1002", "1003", "1004", "1005"]
    assert lines[1].startswith("CRITICAL") and "customers-postgres" in lines[1]
    assert re.fullmatch(r"CRITICAL: 5 flows checked in [\d.]+s: 1 critical, 2 warning, 0 unknown, 2 ok",
                        lines[-1])
    assert "\x1b[" not in out  # no colour when stdout is not a terminal


# ------------------------------------------------------------------ formats


NAGIOS_LINE = re.compile(
    r"NEXLA (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+ \| ok=(\d+) warning=(\d+) critical=(\d+) "
    r"unknown=(\d+) duration=[\d.]+s\n")


def test_json_report_to_output_prints_nothing_even_when_critical(run_main, tmp_path):
    """Cron mails what a job prints: the report in a file, stdout stays empty."""
    report = tmp_path / "report.json"
    result = run_main(health_check, "--all", "--format", "json", "--output", report, "--quiet")
    assert (result.code, result.out) == (2, "")
    assert json.loads(report.read_text())["summary"]["state"] == "CRITICAL"


def test_nagios_line_format(hc):
    code, out, _ = hc("--all", "--format", "nagios")
    match = NAGIOS_LINE.fullmatch(out)
    assert match, out
    assert match.group(1) == "CRITICAL" and code == 2
    assert tuple(int(g) for g in match.groups()[1:]) == (2, 2, 1, 0)
    assert "CRITICAL 1002 customers-postgres: error rate" in out

    code, out, _ = hc("--project", "61", "--format", "nagios")
    assert code == 0 and out.startswith("NEXLA OK - 1 flows: 0 critical, 0 warning, 0 unknown, 1 ok |")


def test_prometheus_textfile_parses_and_is_written_atomically(hc, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    target = tmp_path / "collector" / "nexla.prom"
    target.parent.mkdir()
    target.write_text("stale content\n")
    code, out, _ = hc("--all", "--format", "prometheus", "--output", target)
    assert code == 2 and out == ""
    assert sorted(p.name for p in target.parent.iterdir()) == ["nexla.prom"]  # no temp files left
    families = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    assert set(families) >= {"nexla_flow_up", "nexla_flow_last_success_timestamp_seconds",
                             "nexla_flow_error_rate", "nexla_flow_state",
                             "nexla_health_check_duration_seconds",
                             "nexla_health_check_last_run_timestamp_seconds"}

    def values(name):
        return {tuple(sorted(s.labels.items())): s.value for s in families[name].samples}

    up = {dict(k)["flow_id"]: v for k, v in values("nexla_flow_up").items()}
    assert up == {"1001": 1, "1002": 0, "1003": 0, "1004": 0, "1005": 1}
    current = {(dict(k)["flow_id"], dict(k)["state"]) for k, v in values("nexla_flow_state").items() if v == 1}
    assert current == {(str(fid), state) for fid, state in SEED_STATES.items()}
    assert len(values("nexla_flow_state")) == 5 * 4
    rate = {dict(k)["flow_id"]: v for k, v in values("nexla_flow_error_rate").items()}
    assert 0.25 < rate["1002"] < 1 and rate["1001"] == 0
    last = {dict(k)["flow_id"]: v for k, v in values("nexla_flow_last_success_timestamp_seconds").items()}
    age_hours = (time.time() - last["1003"]) / 3600
    assert 24 < age_hours < 48
    ran_at = families["nexla_health_check_last_run_timestamp_seconds"].samples[0].value
    assert abs(ran_at - time.time()) < 60


# ------------------------------------------------------------------ alerts


class Receiver:
    """A loopback webhook receiver that records every POST body."""

    def __init__(self, status=200):
        self.status = status
        self.posts = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/SECRETPATH"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self):
        posts, self.posts = self.posts, []
        return posts


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def test_alerts_only_on_change_realert_after_and_one_recovery(hc, sandbox, sdk_client, receiver, tmp_path):
    config = write_config(tmp_path / "m.json", [{"type": "data_sources", "id": 123}])
    args = ("--config", config, "--alert-webhook", receiver.url, "--format", "nagios")

    code, _, _ = hc(*args)
    assert code == 0 and receiver.take() == []  # healthy from the start: nothing to say

    sdk_client.flows.pause(1001)
    code, _, _ = hc(*args)
    posts = receiver.take()
    assert code == 1 and len(posts) == 1  # 1. fail: one alert
    [event] = posts[0]["events"]
    assert (event["event"], event["flow_id"], event["state"], event["previous_state"]) == \
        ("alert", 1001, "WARNING", "OK")
    assert "WARNING flow 1001 orders-s3: flow is paused" in posts[0]["text"]
    assert sandbox.service_key not in json.dumps(posts)

    code, _, _ = hc(*args)
    assert code == 1 and receiver.take() == []  # 2. still failing: none

    state_file = default_state(sandbox)
    state = json.loads(state_file.read_text())
    earlier = (datetime.now(timezone.utc) - timedelta(hours=5)).isoformat()
    state["flows"]["1001"]["alerted_at"] = earlier
    state_file.write_text(json.dumps(state))
    code, _, _ = hc(*args)
    posts = receiver.take()
    assert len(posts) == 1 and posts[0]["events"][0]["event"] == "realert"  # 3. realert-after passed
    assert "(still failing)" in posts[0]["text"]

    sdk_client.flows.activate(1001)
    code, _, _ = hc(*args)
    posts = receiver.take()
    assert code == 0 and len(posts) == 1  # 4. healed: one recovery
    assert posts[0]["events"][0]["event"] == "recovery"
    assert "RECOVERED flow 1001 orders-s3 (was WARNING)" in posts[0]["text"]
    assert json.loads(state_file.read_text())["flows"] == {}

    code, _, _ = hc(*args)
    assert receiver.take() == []  # and quiet again
    assert sandbox.service_key not in state_file.read_text()


def test_failing_webhook_is_retried_logged_and_never_changes_the_exit_code(hc, receiver, sandbox,
                                                                          script_cwd):
    receiver.status = 500
    code, out, err = hc("--all", "--alert-webhook", receiver.url, "--format", "nagios")
    assert code == 2 and out.startswith("NEXLA CRITICAL")
    assert len(receiver.take()) == health.WEBHOOK_ATTEMPTS
    assert "alert webhook http://127.0.0.1:" in err and "HTTP 500" in err
    assert "SECRETPATH" not in err  # chat webhook URLs carry their secret in the path
    assert not default_state(sandbox).exists()  # so the alert is due again
    assert not list(script_cwd.glob(".nexla*"))  # nothing in the working directory
    receiver.status = 200
    hc("--all", "--alert-webhook", receiver.url, "--format", "nagios")
    [post] = receiver.take()
    assert sorted(e["flow_id"] for e in post["events"]) == [1002, 1003, 1004]


# ------------------------------------------------------------------ cron safety


def default_state(sandbox) -> Path:
    """Where health_check keeps alert state for this sandbox without --state-file: the test's
    own per-user state directory (conftest's private_state_dir), keyed by the API URL."""
    from nexla_ops.health.alerts import default_state_file

    return Path(default_state_file(sandbox.url))


def test_lock_held_by_another_run_exits_3_at_once_or_waits(hc, sandbox):
    lock = Path(f"{default_state(sandbox)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        started = time.monotonic()
        code, out, err = hc("--all", "--format", "nagios")
        assert code == 3 and time.monotonic() - started < 1
        assert out.startswith("NEXLA UNKNOWN - another check is running")
        assert "another check is running" in err and len(err.strip().splitlines()) == 1
        started = time.monotonic()
        code, _, err = hc("--all", "--lock-wait", "0.5")
        assert code == 3 and 0.5 <= time.monotonic() - started < 2
        threading.Timer(0.3, lambda: fcntl.flock(holder, fcntl.LOCK_UN)).start()
        code, _, _ = hc("--all", "--lock-wait", "5")
        assert code == 2


def sandbox_env(sandbox):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    return {**env, "NEXLA_API_URL": sandbox.url, "NEXLA_SERVICE_KEY": sandbox.service_key}


def lock_is_held(path):
    if not path.exists():
        return False
    with open(path) as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def test_lock_holds_against_a_concurrent_second_run(sandbox, run_script, script_cwd):
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="delay", delay_ms=2500)
    # --lock-wait lets the first run ride out our probing of its lock below.
    first = subprocess.Popen([sys.executable, str(SCRIPTS / "health_check.py"), "--all", "--format", "nagios",
                              "--lock-wait", "5"],
                             cwd=script_cwd, env=sandbox_env(sandbox), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not lock_is_held(Path(f"{default_state(sandbox)}.lock")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        started = time.monotonic()
        second = run_script("health_check", "--all", "--format", "nagios")
        assert second.code == 3 and time.monotonic() - started < 5
        assert "another check is running" in second.err
        assert second.out.startswith("NEXLA UNKNOWN - another check is running (lock ")
        out, _ = first.communicate(timeout=30)
        assert first.returncode == 2 and out.startswith("NEXLA CRITICAL")
    finally:
        if first.poll() is None:
            first.kill()
    assert sum(r["path"] == "/flows" for r in sandbox.control.requests()) == 2  # one run's pages


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_api_down_exits_3_within_the_timeout(run_script):
    started = time.monotonic()
    result = run_script("health_check", "--all", "--timeout", "3", "--format", "nagios",
                        env={"NEXLA_API_URL": f"http://127.0.0.1:{free_port()}/nexla-api"})
    assert result.code == 3 and time.monotonic() - started < 3 + 2.5
    # Retries are logged as they happen; the verdict is one line, also Nagios' status line.
    assert result.err.strip().splitlines()[-1].startswith(
        "health_check.py: error: UNKNOWN: cannot reach http://127.0.0.1:")
    assert result.out.startswith("NEXLA UNKNOWN - cannot reach http://127.0.0.1:")
    assert result.out.count("\n") == 1


def drain_delayed(sandbox, count):
    """Wait for the sandbox to finish serving delayed requests we gave up on, so that they are
    not logged into the next test's request log (the session shares one server)."""
    give_up = time.monotonic() + 10
    while sum(r["fault"] == "delay" for r in sandbox.control.requests()) < count:
        assert time.monotonic() < give_up
        time.sleep(0.1)


def test_api_hanging_exits_3_within_the_timeout(sandbox, run_script):
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="delay", delay_ms=2600,
                              times=10)
    started = time.monotonic()
    result = run_script("health_check", "--all", "--timeout", "2", "--format", "nagios")
    assert result.code == 3 and time.monotonic() - started < 2 + 2.5
    assert "read timeout" in result.err
    drain_delayed(sandbox, 1)


def test_per_flow_calls_past_the_deadline_are_unknown_and_the_run_ends(hc, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/data_sources/12[45]/metrics/run_summary$",
                              action="delay", delay_ms=2200, times=10)
    started = time.monotonic()
    code, doc, _ = hc("--all", "--window", "20", "--timeout", "1.5", "--json")
    assert time.monotonic() - started < 1.5 + 1.5
    result = states(doc)
    assert result[1002] == result[1003] == "UNKNOWN"
    assert result[1001] == result[1005] == "OK" and result[1004] == "WARNING"
    assert code == 1  # the worst known state; UNKNOWN ranks below WARNING
    reasons = {f["flow_id"]: f["reason"] for f in doc["flows"]}
    assert "not checked before the --timeout of 1.5s" in reasons[1002]
    drain_delayed(sandbox, 2)


def test_listing_cut_short_by_the_deadline_keeps_what_was_read_and_says_so(hc, sandbox):
    sandbox.control.populate("flows", 150)
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="delay", delay_ms=2200,
                              skip=1, times=5)
    started = time.monotonic()
    code, doc, _ = hc("--all", "--timeout", "1.5", "--json")
    assert time.monotonic() - started < 1.5 + 1.5
    assert doc["summary"]["flows"] == 100 and not doc["summary"]["complete"]
    [note] = doc["notes"]
    assert note.startswith("flow listing stopped at page 2:")
    assert code == 2 and states(doc)[1002] == "CRITICAL"
    drain_delayed(sandbox, 1)
    sandbox.control.clear_faults()
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="delay", delay_ms=2200,
                              skip=1, times=5)
    code, doc, _ = hc("--all", "--timeout", "1.5", "--json", "--crit-error-rate", "1", "--threshold", "1",
                      "--expect-paused", "1004", "--max-age", "2d")
    assert code == 3 and doc["summary"]["state"] == "UNKNOWN"  # all read flows OK, but not all read
    drain_delayed(sandbox, 2)


def test_a_server_trickling_bytes_cannot_hang_cron(run_script):
    """Per-read HTTP timeouts never fire when a byte arrives every 0.2 s; the watchdog does."""
    import socketserver

    class Trickle(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            try:
                self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Never-Ending: ")
                for _ in range(200):  # one header byte at a time, never the end of the headers
                    self.request.sendall(b"x")
                    time.sleep(0.2)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        # --timeout 2: a loaded machine may spend a second starting Python, before any request
        result = run_script("health_check", "--all", "--timeout", "2", "--format", "nagios",
                            env={"NEXLA_API_URL": f"http://127.0.0.1:{server.server_address[1]}/nexla-api"},
                            timeout=30)
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert result.code == 3 and elapsed < 2 + health.WATCHDOG_GRACE + 5  # not 40 s of bytes
    assert result.out.startswith("NEXLA UNKNOWN - health check still running")
    assert "giving up" in result.err


def test_rejected_key_exits_3_without_leaking_it(run_script):
    result = run_script("health_check", "--all", "--format", "nagios", env={"NEXLA_SERVICE_KEY": CANARY})
    assert result.code == 3 and result.out.startswith("NEXLA UNKNOWN - authentication failed")
    assert "UNKNOWN: authentication failed" in result.err and "NEXLA_SERVICE_KEY" in result.err
    assert CANARY not in result.err + result.out and len(result.err.strip().splitlines()) == 1


def test_missing_key_and_bad_config_exit_3_with_one_line_naming_the_problem(run_script, script_cwd):
    result = run_script("health_check", "--all", env={"NEXLA_SERVICE_KEY": None})
    assert result.code == 3 and "NEXLA_SERVICE_KEY" in result.err
    (script_cwd / "bad.json").write_text(json.dumps({"resources": [{"type": "sources", "id": 1}]}))
    result = run_script("health_check", "--config", "bad.json", sandbox=False)
    assert result.code == 3
    assert result.err.strip() == ("health_check.py: error: UNKNOWN: resources[0].type: expected one of "
                                  "data_sources, data_sets, data_sinks, flows, got 'sources'")
    (script_cwd / "bad.json").write_text('{"resources": [')
    assert run_script("health_check", "--config", "bad.json", sandbox=False).code == 3
    for flags, named in ((["--all", "--window", "0"], "argument --window"),
                         (["--all", "--threshold", "2"], "argument --warn-error-rate/--threshold"),
                         (["--all", "--max-age", "soon"], "argument --max-age"),
                         (["--json"], "choose the flows: --config FILE, --all")):
        result = run_script("health_check", *flags, sandbox=False)
        assert result.code == 3, flags
        # --json asks for the failure document on stdout; text mode keeps stdout empty
        assert (json.loads(result.out)["error"]["kind"] == "unknown" if "--json" in flags
                else result.out == ""), flags
        [line] = result.err.strip().splitlines()
        assert line.startswith(f"health_check.py: error: UNKNOWN: {named}"), line


def test_help_lists_examples_and_the_error_rate_definition(run_script):
    result = run_script("health_check", "--help", sandbox=False)
    assert result.code == 0
    assert "examples:" in result.out and "failed runs / finished runs" in result.out


# ------------------------------------------------------------------ efficiency


def test_all_over_1000_flows_stays_within_the_request_budget(hc, sandbox):
    sandbox.control.populate("flows", 1000, fail_rate=0.2)
    sandbox.control.clear_requests()
    code, doc, _ = hc("--all", "--json")
    requests = sandbox.control.requests()
    assert len(requests) <= math.ceil(1000 / 100) + 10, [r["path"] for r in requests]
    assert doc["summary"]["flows"] == 1005 and doc["summary"]["complete"]
    pages = sorted(int(r["query"]["page"]) for r in requests if r["path"] == "/flows")
    # 11 pages (1005 flows); up to 7 more past the end while 8 are in flight (--concurrency)
    assert pages[:11] == list(range(1, 12)) and len(pages) == len(set(pages)) <= 11 + 7
    assert all(r["query"]["per_page"] == "100" for r in requests if r["path"] == "/flows")
    assert code == 2


def test_json_report_is_one_document_with_a_line_per_flow(run_main):
    raw = run_main(health_check, "--all", "--format", "json").out
    doc = json.loads(raw)
    assert len(doc["flows"]) == 5 and doc["summary"]["flows"] == 5
    flow_lines = [line.rstrip(",") for line in raw.splitlines()
                  if line.startswith('    {"flow_id": ')]
    assert [json.loads(line) for line in flow_lines] == doc["flows"]
    stamps = [f["last_success_at"] for f in doc["flows"] if f["last_success_at"]]
    assert stamps and all("T" in s for s in stamps)  # ISO-8601, as before


def test_all_asks_for_flow_trees_only_unless_tags_or_project_names_need_resources(hc, sandbox):
    def flows_only_values():
        return {r["query"].get("flows_only") for r in sandbox.control.requests()
                if r["path"] == "/flows"}

    sandbox.control.clear_requests()
    code, doc, _ = hc("--all", "--json")
    assert flows_only_values() == {"1"} and states(doc) == SEED_STATES
    sandbox.control.clear_requests()
    hc("--tag", "no-such-tag", "--json")
    assert flows_only_values() == {None}
