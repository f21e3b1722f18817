"""The sandbox's own attack surface, over real HTTP on 127.0.0.1: the control token, the Host
check (DNS rebinding), JSON-only control POSTs, masked secrets, loopback-only binding, private
database files, request-smuggling framing, bad tick/config numbers, the listen backlog and the
one-server-per-database lock."""

from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import CANARY, ROOT
from nexla_sandbox import ControlClient, start_sandbox
from nexla_sandbox.server import build_app, check_bind, serve
from nexla_sandbox.store import DatabaseInUse

SEED_SECRETS = ("s3-secret-demo", "pg-demo-pass")  # seeded credential secrets (seed.py)


def port_of(sb) -> int:
    return sb.server.port


def raw(port: int, data: bytes) -> bytes:
    """Send `data` as is and read until the server closes (or 5 s pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def request_with_host(port: int, path: str, host: str | None, headers=None):
    """One request whose Host header is exactly `host` (None: no Host header at all)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def spawn_cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "nexla_sandbox", "--port", "0", *args],
                            cwd=ROOT, env={**os.environ, **(env or {})}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def startup_lines(proc, until="control token:", timeout=30.0) -> list[str]:
    """stdout up to and including the line starting with `until`; what came if it does not
    within `timeout` seconds (a reader thread, so a silent process cannot hang the test)."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
            if line.startswith(until):
                return

    threading.Thread(target=read, daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    while not (seen and seen[-1].startswith(until)):
        try:
            seen.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
        except queue.Empty:
            break
    return seen


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()


# == 1. control token ===========================================================================
CONTROL_CALLS = [("GET", "/info", None), ("GET", "/state/data_credentials", None),
                 ("GET", "/requests", None), ("POST", "/faults", {"path": "/flows"}),
                 ("POST", "/reset", {"seed": "empty"}), ("DELETE", "/faults", None)]


@pytest.mark.parametrize("method,path,body", CONTROL_CALLS)
def test_control_calls_need_the_token(sandbox, method, path, body):
    url = f"{sandbox.root_url}/_sandbox{path}"
    for headers in ({}, {"X-Sandbox-Token": "wrong"}, {"X-Sandbox-Token": ""},
                    {"Authorization": f"Bearer {sandbox.control_token}"}):
        resp = requests.request(method, url, json=body, headers=headers, timeout=10)
        assert resp.status_code == 401, (headers, resp.text)
        assert resp.json()["code"] == 401
    assert sandbox.control.faults() == []  # nothing happened without the token
    assert len(sandbox.control.state("data_sources")) == 5
    resp = requests.request(method, url, json=body, timeout=10,
                            headers={"X-Sandbox-Token": sandbox.control_token})
    assert resp.status_code == 200, resp.text


def test_start_sandbox_exposes_the_token_and_its_client_sends_it(sandbox):
    assert isinstance(sandbox.control_token, str) and len(sandbox.control_token) >= 32
    assert sandbox.control.info()["seed"]
    with pytest.raises(RuntimeError, match="401"):
        ControlClient(sandbox.root_url).info()
    assert ControlClient(sandbox.root_url, token=sandbox.control_token).faults() == []


def test_each_sandbox_gets_its_own_random_token_unless_one_is_given():
    with start_sandbox(seed="empty") as one, start_sandbox(seed="empty") as two:
        assert one.control_token != two.control_token
    with start_sandbox(seed="empty", control_token="fixed-for-a-script") as sb:
        assert sb.control_token == "fixed-for-a-script"
        assert sb.control.faults() == []


@pytest.mark.parametrize("how", ["random", "env", "flag"])
def test_cli_prints_the_token_after_the_service_keys(how):
    fixed = "scripted-token-0123456789"
    args = ("--control-token", fixed) if how == "flag" else ()
    env = {"NEXLA_SANDBOX_CONTROL_TOKEN": fixed if how == "env" else ""}
    proc = spawn_cli("--seed", "empty", *args, env=env)
    try:
        lines = startup_lines(proc)
        assert lines[0].endswith("/nexla-api")
        assert [line.split(":")[0] for line in lines[1:]] == [
            "service key (admin)", "service key (operator)", "service key (collaborator)",
            "service key (dev)", "control token"]
        token = lines[-1].split(": ", 1)[1]
        assert token == fixed if how != "random" else len(token) >= 32
        root = lines[0].removesuffix("/nexla-api")
        assert ControlClient(root, token=token).faults() == []
        with pytest.raises(RuntimeError, match="401"):
            ControlClient(root).faults()
    finally:
        stop(proc)


# == 2. Host header and JSON-only control POSTs =================================================
BAD_HOSTS = ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
             "localhost.evil.example", "[::2]:{port}", "10.0.0.1:{port}", "127.0.0.1:{port}x",
             "", None]
GOOD_HOSTS = ["127.0.0.1:{port}", "127.0.0.1", "localhost:{port}", "LOCALHOST", "[::1]:{port}",
              "[::1]", "::1"]


@pytest.mark.parametrize("host", BAD_HOSTS)
@pytest.mark.parametrize("path", ["/nexla-api/data_sources", "/_sandbox/info", "/webhook/127",
                                  "/elsewhere"])
def test_foreign_host_headers_are_refused_on_every_path(sandbox, host, path):
    port = port_of(sandbox)
    status, body = request_with_host(port, path, host and host.format(port=port),
                                     {"X-Sandbox-Token": sandbox.control_token})
    assert status == 400 and json.loads(body)["code"] == 400
    assert sandbox.control.requests() == []  # the app never saw it


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_loopback_host_headers_are_served(sandbox, host):
    port = port_of(sandbox)
    status, _ = request_with_host(port, "/_sandbox/info", host.format(port=port),
                                  {"X-Sandbox-Token": sandbox.control_token})
    assert status == 200


def test_two_host_headers_are_refused(sandbox):
    port = port_of(sandbox)
    reply = raw(port, f"GET /nexla-api/flows HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Host: evil.example\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_control_posts_must_be_json(sandbox, content_type):
    headers = {"X-Sandbox-Token": sandbox.control_token}
    if content_type:
        headers["Content-Type"] = content_type
    resp = requests.post(f"{sandbox.root_url}/_sandbox/reset", data='{"seed": "empty"}',
                         headers=headers, timeout=10)
    assert resp.status_code == 415 and resp.json()["code"] == 415
    assert len(sandbox.control.state("data_sources")) == 5  # not reset to the empty seed
    headers["Content-Type"] = "application/json; charset=utf-8"
    resp = requests.post(f"{sandbox.root_url}/_sandbox/reset", data='{"seed": "empty"}',
                         headers=headers, timeout=10)
    assert resp.status_code == 200 and sandbox.control.state("data_sources") == []


# == 3. masked secrets ==========================================================================
def test_info_masks_the_service_keys(sandbox):
    info = sandbox.control.info()
    text = json.dumps(info)
    for key in sandbox.service_keys.values():
        assert key not in text
    assert set(info["service_keys"]) == set(sandbox.service_keys)
    assert all(value.endswith("\u2026") and len(value) <= 5
               for value in info["service_keys"].values())


def test_canary_admin_key_is_masked_in_info(canary_sandbox):
    assert CANARY not in json.dumps(canary_sandbox.control.info())
    assert CANARY not in json.dumps(canary_sandbox.control.state("users"))


def test_state_masks_secrets_and_keeps_the_rest(sandbox, sdk_client):
    sdk_client.credentials.create({"name": "canary-cred", "credentials_type": "postgres",
                                   "credentials": {"host": "db", "password": CANARY,
                                                   "api_key": CANARY}})
    hook_key = sdk_client.request("GET", "/data_sources/127")["api_keys"][0]["api_key"]
    secrets = (CANARY, hook_key, *SEED_SECRETS, *sandbox.service_keys.values())
    for kind in ("data_credentials", "data_sources", "users"):
        text = json.dumps(sandbox.control.state(kind))
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"state/{kind} shows {leaked}"
    creds = {c["name"]: c for c in sandbox.control.state("data_credentials")}
    assert creds["canary-cred"]["credentials_type"] == "postgres"
    assert creds["canary-cred"]["_secret"] == dict.fromkeys(("host", "password", "api_key"),
                                                            "[REDACTED]")  # the keys stay
    assert creds["warehouse-postgres-cred"]["id"] == 12
    # the stored objects themselves are unchanged
    stored = [c for c in sandbox.app.store.all("data_credentials") if c["name"] == "canary-cred"]
    assert stored[0]["_secret"]["password"] == CANARY


# == 4. loopback-only binding ===================================================================
def test_cli_refuses_a_non_loopback_host_without_allow_remote():
    proc = subprocess.run([sys.executable, "-m", "nexla_sandbox", "--host", "0.0.0.0",
                           "--port", "0"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "--allow-remote" in proc.stderr


def test_start_sandbox_refuses_a_non_loopback_host_without_allow_remote():
    for host in ("0.0.0.0", "", "::", "example.com"):
        with pytest.raises(ValueError, match="allow-remote"):
            start_sandbox(host=host, port=0)


def test_allow_remote_warns_on_stderr(capsys):
    # Checked without binding: a test must not listen on a non-loopback interface.
    check_bind("127.0.0.1")
    check_bind("::1")
    check_bind("localhost")
    assert capsys.readouterr().err == ""
    check_bind("0.0.0.0", allow_remote=True)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("warning:")


def test_cli_help_names_the_new_flags():
    out = subprocess.run([sys.executable, "-m", "nexla_sandbox", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30).stdout
    assert "--allow-remote" in out and "--control-token" in out


# == 5. private database files ==================================================================
def test_db_files_are_owner_only(tmp_path):
    old = os.umask(0o022)  # a typical umask: files would be 0644
    try:
        db = tmp_path / "state.db"
        with start_sandbox(db=str(db), seed="demo") as sb:
            sb.control.populate("credentials", 3)  # writes: the WAL and shared-memory files exist
            for name in ("state.db", "state.db-wal", "state.db-shm", "state.db.lock"):
                assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        os.umask(old)


# == 6. request smuggling =======================================================================
def test_content_length_with_transfer_encoding_is_refused(sandbox):
    port = port_of(sandbox)
    smuggled = f"GET /nexla-api/flows HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    body = f"0\r\n\r\n{smuggled}"
    reply = raw(port, (f"POST /nexla-api/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n"
                       "Content-Type: application/json\r\n\r\n" + body).encode())
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert reply.count(b"HTTP/1.1 ") == 1  # the connection closed: nothing smuggled through
    assert b"Connection: close" in reply
    assert sandbox.control.requests() == []


def test_two_content_lengths_are_refused(sandbox):
    port = port_of(sandbox)
    reply = raw(port, (f"POST /nexla-api/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}").encode())
    assert reply.startswith(b"HTTP/1.1 400 ") and reply.count(b"HTTP/1.1 ") == 1


# == 7. tick and config numbers =================================================================
def _control_post(sandbox, path, text):
    return requests.post(f"{sandbox.root_url}/_sandbox{path}", data=text, timeout=10,
                         headers={"X-Sandbox-Token": sandbox.control_token,
                                  "Content-Type": "application/json"})


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "-1", "-0.5",
                                   '"10"', "true", "null", "[1]", "1e12", str(10 ** 400)])
def test_tick_refuses_bad_seconds_with_400(sandbox, value):
    before = sandbox.app.store.meta("clock_offset")
    resp = _control_post(sandbox, "/tick", f'{{"seconds": {value}}}')
    assert resp.status_code == 400 and "seconds" in resp.json()["message"]
    assert sandbox.app.store.meta("clock_offset") == before  # the clock did not move


@pytest.mark.parametrize("key", ["latency_ms", "discovery_delay"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400", "-1", str(10 ** 400)])
def test_config_refuses_non_finite_values_with_400(sandbox, key, value):
    before = sandbox.control.configure()
    resp = _control_post(sandbox, "/config", f'{{"discovery_delay": 1, "{key}": {value}}}')
    assert resp.status_code == 400 and key in resp.json()["message"]
    assert sandbox.control.configure() == before  # nothing applied, not even the valid field


def test_good_tick_and_config_still_work(sandbox):
    assert sandbox.control.tick(3600.5)["runs_created"] >= 1
    assert sandbox.control.configure(latency_ms=0, discovery_delay=0.3) == {
        "latency_ms": 0.0, "discovery_delay": 0.3, "max_per_page": None}


# == 8. listen backlog ==========================================================================
def test_a_burst_of_connections_is_queued_not_refused():
    """While the server accepts nothing, 64 connections still complete their handshake: the
    kernel queues them (socketserver's default backlog of 5 drops the 7th's SYN)."""
    app = build_app(seed="empty")
    server = serve(app, "127.0.0.1", 0)  # listening, never accepting
    socks = []
    try:
        for _ in range(64):
            socks.append(socket.create_connection(("127.0.0.1", server.port), timeout=0.5))
    finally:
        for sock in socks:
            sock.close()
        server.server_close()
        app.store.close()


# == 9. one server per database =================================================================
def test_second_cli_on_the_same_db_exits_3_naming_the_first(tmp_path):
    db = tmp_path / "state.db"
    first = spawn_cli("--db", str(db))
    try:
        assert startup_lines(first, until="http://")  # serving: the db lock is held
        second = subprocess.run([sys.executable, "-m", "nexla_sandbox", "--port", "0",
                                 "--db", str(db)], cwd=ROOT, capture_output=True, text=True,
                                timeout=30)
        assert second.returncode == 3 and second.stdout == ""
        assert second.stderr.splitlines() == [
            f"another sandbox is serving {db} (pid {first.pid})"]
        with pytest.raises(DatabaseInUse, match=f"pid {first.pid}"):
            start_sandbox(db=str(db))
    finally:
        stop(first)
    third = spawn_cli("--db", str(db))  # the lock went with the first process
    try:
        assert startup_lines(third, until="http://")
    finally:
        stop(third)


def test_in_process_sandboxes_lock_the_db_until_closed(tmp_path):
    db = str(tmp_path / "state.db")
    with start_sandbox(db=db):
        with pytest.raises(DatabaseInUse, match=rf"another sandbox is serving .* \(pid {os.getpid()}\)"):
            start_sandbox(db=db)
        with start_sandbox(), start_sandbox():  # in memory: no lock, any number
            pass
    with start_sandbox(db=db) as sb:  # closed: free again
        assert sb.control.faults() == []


def test_a_failed_start_releases_the_db_lock(tmp_path):
    db = str(tmp_path / "state.db")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            start_sandbox(db=db, port=busy.getsockname()[1])
    with start_sandbox(db=db) as sb:
        assert sb.control.faults() == []
