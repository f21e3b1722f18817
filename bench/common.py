"""What the benchmarks share: a sandbox in its own process, and a command run as a real
subprocess with its wall time and its own peak RSS."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def user_env(**settings: str) -> dict:
    """The environment a command runs in: ours without NEXLA_* settings (plus `settings`), and
    with bytecode caching on, as an installed tool runs (some shells set
    PYTHONDONTWRITEBYTECODE, which makes every start-up compile every module)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEXLA_") and k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **settings}


@contextlib.contextmanager
def sandbox_process():
    """`python -m nexla_sandbox` on a free loopback port; yields (api_url, service_key, control),
    the control client carrying the server's `pid` (for its memory)."""
    from nexla_sandbox.control import ControlClient

    proc = subprocess.Popen(
        [sys.executable, "-m", "nexla_sandbox", "--port", "0", "--seed", "empty"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        key = token = None
        for _ in range(10):
            line = proc.stdout.readline()
            if line.startswith("service key (admin):"):
                key = line.split(":", 1)[1].strip()
            elif line.startswith("control token:"):
                token = line.split(":", 1)[1].strip()
                break
        if not url.startswith("http://127.0.0.1:") or not key or not token:
            raise SystemExit("the sandbox did not start")
        # populating 10k flows takes the sandbox longer than the client's usual 30 s
        control = ControlClient(url.rsplit("/nexla-api", 1)[0], token=token, timeout=900)
        control.pid = proc.pid
        yield url, key, control
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# Linux carries a process's peak RSS across fork+exec, so a child of this (by then large)
# bench process would report at least the bench's own size. A tiny launcher forks the real run
# and reports that child's rusage, which then is the script's own peak. argv[1] is the file the
# child's stderr goes to.
LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    err = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(err, 2)
    os.execv(sys.executable, [sys.executable] + sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}),
      file=sys.stderr)
"""


def rss_mib(pid: int) -> float:
    """A live process's resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Run:
    seconds: float
    rss_mib: float
    code: int
    stdout_lines: int
    stderr: str


def run_command(script: str, args: list[str], url: str, key: str, control,
                ok: tuple[int, ...] = (0,)) -> Run:
    """Run scripts/<script>.py with `args` ("{tmp}" is a fresh directory) against the API at
    `url`, the sandbox's request log cleared first; SystemExit unless its exit code is in `ok`."""
    env = user_env(NEXLA_API_URL=url, NEXLA_SERVICE_KEY=key)
    with tempfile.TemporaryDirectory() as tmp:
        env["NEXLA_OPS_STATE_DIR"] = f"{tmp}/state"
        argv = [a.replace("{tmp}", tmp) for a in args]
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        control.clear_requests()
        with open(out_path, "w") as out:
            started = time.perf_counter()
            launcher = subprocess.run(
                [sys.executable, "-c", LAUNCHER, str(err_path),
                 str(ROOT / "scripts" / f"{script}.py"), *argv],
                cwd=tmp, env=env, stdout=out, stderr=subprocess.PIPE, text=True, check=True)
            seconds = time.perf_counter() - started
        result = json.loads(launcher.stderr.strip().splitlines()[-1])
        stderr = err_path.read_text(errors="replace")
        if result["code"] not in ok:
            raise SystemExit(f"{script} {' '.join(args)} exited {result['code']}: {stderr[-500:]}")
        with open(out_path) as fh:
            lines = sum(1 for _ in fh)
    return Run(seconds, result["maxrss_kib"] / 1024.0, result["code"], lines, stderr)
