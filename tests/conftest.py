"""Shared fixtures: one real sandbox server per test session, reset before each test.

Every test reaches the sandbox over real HTTP on 127.0.0.1; nothing here mocks `requests`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"

# A value that must never appear in any output or file; tests plant it as a secret.
CANARY = "canary-SECRET-7f3a9c"


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path, monkeypatch):
    """Each test's own per-user state directory (locks), inherited by the scripts it runs."""
    monkeypatch.delenv("NEXLA_OPS_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return tmp_path / "xdg-state" / "nexla-ops"


@pytest.fixture(scope="session")
def sandbox_server():
    from nexla_sandbox import start_sandbox

    with start_sandbox(seed="demo", discovery_delay=0.3) as sb:
        yield sb


@pytest.fixture
def sandbox(sandbox_server):
    """The session's sandbox, reseeded with the demo data, no faults, empty request log."""
    sandbox_server.control.reset("demo")
    return sandbox_server


@pytest.fixture(scope="session")
def canary_server():
    """A second sandbox whose admin key IS the canary: any leak of the key is a leak of it."""
    from nexla_sandbox import start_sandbox

    with start_sandbox(seed="demo", service_key=CANARY) as sb:
        yield sb


@pytest.fixture
def canary_sandbox(canary_server):
    """The canary sandbox, reseeded with the demo data, no faults, empty request log."""
    canary_server.control.reset("demo")
    return canary_server


@pytest.fixture
def sdk_client(sandbox):
    """The unmodified SDK with its defaults, pointed at the sandbox."""
    from nexla_sdk import NexlaClient

    return NexlaClient(service_key=sandbox.service_key, base_url=sandbox.url)


@dataclass
class ScriptResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)

    def jsonl(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def _script_env(sandbox, overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if sandbox is not None:
        env["NEXLA_API_URL"] = sandbox.url
        env["NEXLA_SERVICE_KEY"] = sandbox.service_key
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture
def script_cwd(tmp_path):
    """The working directory scripts run in (audit logs, state files land here)."""
    return tmp_path


@pytest.fixture
def run_script(request, script_cwd):
    """Run `python scripts/<name>.py *args` as a real subprocess against the sandbox.

    The sandbox is only started when the test asks for it (directly or through this fixture),
    so tests of pure argument handling stay fast.
    """

    def run(name, *args, env=None, cwd=None, timeout=60, input=None, sandbox=True):
        sb = request.getfixturevalue("sandbox") if sandbox else None
        proc = subprocess.run(
            [sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)],
            cwd=str(cwd or script_cwd),
            env=_script_env(sb, env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return ScriptResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def api_env(sandbox, monkeypatch, script_cwd):
    """In-process script environment: only the sandbox's NEXLA_* variables, cwd = script_cwd."""
    for name in [k for k in os.environ if k.startswith("NEXLA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NEXLA_API_URL", sandbox.url)
    monkeypatch.setenv("NEXLA_SERVICE_KEY", sandbox.service_key)
    monkeypatch.chdir(script_cwd)
    return sandbox


@pytest.fixture
def run_main(api_env, monkeypatch, capsys):
    """Call a script module's main(argv) in-process against the sandbox (faster than run_script).

    `key` runs as another user, e.g. run_main(manage_access, ..., key=sandbox.service_keys["operator"]).
    """

    def run(module, *argv, key=None):
        monkeypatch.setenv("NEXLA_SERVICE_KEY", key or api_env.service_key)
        capsys.readouterr()
        code = module.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return ScriptResult(code, out, err)

    return run


HANG_SECONDS = 20


@pytest.fixture
def hc(api_env, capsys):
    """health_check.main in-process against the sandbox, in a thread: a hang (a FIFO opened
    for reading, say) fails the test instead of stalling the suite; a crash or a traceback
    fails it too."""
    from nexla_ops.commands import health_check

    def run(*argv) -> ScriptResult:
        capsys.readouterr()
        outcome: dict = {}

        def target():
            try:
                outcome["code"] = health_check.main([str(a) for a in argv])
            except BaseException as exc:  # a crash must show up as one, not as a lost thread
                outcome["crash"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(HANG_SECONDS)
        assert not thread.is_alive(), f"health_check {argv} still running after {HANG_SECONDS}s"
        out, err = capsys.readouterr()
        assert "crash" not in outcome and "Traceback" not in err, (argv, outcome, err)
        return ScriptResult(outcome["code"], out, err)

    return run


@pytest.fixture
def spawn_script(sandbox, script_cwd):
    """Start `python scripts/<name>.py *args` in the background against the sandbox, for tests
    that kill it mid-run. Output is discarded (nothing reads it, so a full pipe cannot stall the
    script); a process the test left running is killed at teardown."""
    started = []

    def spawn(name, *args, env=None, cwd=None):
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)],
            cwd=str(cwd or script_cwd),
            env=_script_env(sandbox, env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def wait_for(predicate, what, timeout=30.0):
    """Poll `predicate` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def kill9(proc):
    """SIGKILL a spawned script and reap it; it must die by the signal, not have finished."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def kill9_while_held(sandbox, proc, fault, what):
    """kill -9 `proc` while the sandbox holds its request in the "delay" `fault` (the rule
    add_fault returned), then wait until the server has served that request: a write whose
    client died still commits, as it would on Nexla."""

    def held():
        return any(f["id"] == fault["id"] and f["hits"] for f in sandbox.control.faults())

    def served():
        return any(e["method"] == fault["method"] and re.search(fault["path"], e["path"])
                   and e.get("fault") == "delay" for e in sandbox.control.requests())

    wait_for(held, f"{what} on the wire")
    kill9(proc)
    wait_for(served, f"{what} to commit")


def write_requests(sandbox):
    """The sandbox's logged requests that can change state: everything but reads and the token
    fetch/logout (POSTs that change no resource)."""
    return [e for e in sandbox.control.requests()
            if e["method"] not in ("GET", "HEAD", "OPTIONS") and not e["path"].startswith("/token")]


def writes(sandbox):
    """(method, path) of every state-changing request the sandbox saw, in order."""
    return [(e["method"], e["path"]) for e in write_requests(sandbox)]
