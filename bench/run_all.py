#!/usr/bin/env python3
"""Every performance target (issue #19's, and triage's and check_nexset's request bounds),
measured in one run and printed as one table.

Each row is a ratio of two figures taken in this run on this machine (so a slow or busy machine
slows both), its target, and whether it is met. The sandbox serves from its own process, with
injected latency where a row says so; the commands run as real subprocesses (wall seconds, peak
RSS from wait4). Below the table, a scaling table: requests, seconds and peak RSS per command
and size.

  python bench/run_all.py            # the full run: 10k flows, 100k sources (some minutes)
  python bench/run_all.py --quick    # smaller sizes (1k flows, 10k sources), same rows
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import rss_mib, run_command, sandbox_process, user_env  # noqa: E402

RTT_S = 0.020  # injected latency per request for the paging rows
PAGE = 100


@dataclass
class Row:
    name: str
    measured: float
    target: float
    detail: str
    higher_is_better: bool = False

    @property
    def met(self) -> bool:
        return self.measured >= self.target if self.higher_is_better else \
            self.measured <= self.target


def pages(n: int) -> int:
    return max(1, math.ceil(n / PAGE))


class Bench:
    def __init__(self):
        self.rows: list[Row] = []
        self.scaling: list[tuple] = []  # (command, size, requests, seconds, rss MiB)

    def add(self, *args, **kw) -> None:
        row = Row(*args, **kw)
        self.rows.append(row)
        print(f"  {row.name}: {row.measured:.2f} (target {row.target:g}) {row.detail}",
              file=sys.stderr)

    def scale(self, command: str, size: int, control, result) -> None:
        self.scaling.append((command, size, len(control.requests()), result.seconds,
                             result.rss_mib))

    # -- health_check --------------------------------------------------------------------
    def health(self, sizes: list[int]) -> None:
        args = ["--all", "--format", "json", "--output", "{tmp}/report.json", "--quiet",
                "--state-file", "{tmp}/state.json"]
        with sandbox_process() as (url, key, control):
            control.configure(latency_ms=RTT_S * 1000)
            # start-up: an empty org (exit 3, UNKNOWN: nothing to check)
            fixed = run_command("health_check", args, url, key, control, ok=(3,))
            have, results = 0, {}
            for size in sizes:
                control.populate("flows", size - have, fail_rate=0.2)
                have = size
                results[size] = run_command("health_check", args, url, key, control,
                                            ok=(0, 1, 2))
                self.scale("health_check --all", size, control, results[size])
            big, small = sizes[-1], sizes[-2]
            # Again, once the sandbox has built (and cached) every page: the client's own
            # cost, where the first run also waits on the sandbox building each page.
            warm = run_command("health_check", args, url, key, control, ok=(0, 1, 2))
            floor = pages(big) * RTT_S
            for label, run in (("first run", results[big]), ("pages cached", warm)):
                above = run.seconds - fixed.seconds
                self.add(f"health_check --all, {big} flows, {RTT_S * 1000:.0f} ms, {label}: "
                         "time above start-up / paging floor", above / floor, 1.0,
                         f"({above:.2f} s above {fixed.seconds:.2f} s start-up; floor "
                         f"{pages(big)} pages x {RTT_S * 1000:.0f} ms = {floor:.2f} s)")
            self.add(f"health_check peak RSS, {big} / {small} flows",
                     results[big].rss_mib / results[small].rss_mib, 1.3,
                     f"({results[big].rss_mib:.0f} / {results[small].rss_mib:.0f} MiB)")

    # -- list_resources ------------------------------------------------------------------
    def listing(self, sizes: list[int]) -> None:
        args = ["--type", "sources", "--limit", "0", "--format", "jsonl", "--output",
                "{tmp}/out.jsonl"]
        with sandbox_process() as (url, key, control):
            control.configure(latency_ms=RTT_S * 1000)
            fixed = run_command("list_resources", args, url, key, control)
            have, results = 0, {}
            for size in sizes:
                control.populate("sources", size - have)
                have = size
                results[size] = run_command("list_resources", args, url, key, control)
                self.scale("list_resources jsonl", size, control, results[size])
            ten_k = sizes[-2] if len(sizes) > 2 else sizes[-1]
            above = results[ten_k].seconds - fixed.seconds
            self.add(f"list_resources jsonl, {ten_k} sources, {RTT_S * 1000:.0f} ms: time above "
                     "start-up / paging floor", above / (pages(ten_k) * RTT_S), 1.0,
                     f"({above:.2f} s above {fixed.seconds:.2f} s start-up)")
            big = sizes[-1]
            self.add(f"list_resources peak RSS, {big} / {ten_k} sources",
                     results[big].rss_mib / results[ten_k].rss_mib, 1.3,
                     f"({results[big].rss_mib:.0f} / {results[ten_k].rss_mib:.0f} MiB)")

    # -- triage --------------------------------------------------------------------------
    def triage(self, flows: int, failing: int = 10) -> None:
        with sandbox_process() as (url, key, control):
            control.populate("flows", flows - failing, runs=5, fail_rate=0.0)
            control.populate("flows", failing, runs=5, fail_rate=1.0, name_prefix="bad")
            control.configure(latency_ms=RTT_S * 1000)
            args = ["--json", "--output", "{tmp}/triage.json", "--quiet"]
            result = run_command("triage", args, url, key, control, ok=(1,))
            self.scale(f"triage ({failing} failing)", flows, control, result)
            sent = len(control.requests())
            # the constant: the token, the page past each listing's end, the notifications
            bound = pages(flows) + 2 * failing + 4
            self.add(f"triage of {flows} flows, {failing} failing: requests / (pages + "
                     f"2 x failing + 4)", sent / bound, 1.0, f"({sent} requests, bound {bound})")

    # -- check_nexset ---------------------------------------------------------------------
    def contracts(self, flows: int) -> None:
        from check_nexset import bound

        with sandbox_process() as (url, key, control), \
                tempfile.TemporaryDirectory() as baselines:
            control.populate("flows", flows, runs=1, fail_rate=0.0)
            nexsets = len(control.state("data_sets"))
            control.configure(latency_ms=RTT_S * 1000)
            args = ["schema", "--all", "--baseline-dir", baselines, "--json", "--output",
                    "{tmp}/report.json", "--quiet", "--timeout", "600"]
            run_command("check_nexset", [*args, "--save"], url, key, control)
            result = run_command("check_nexset", args, url, key, control)
            self.scale("check_nexset schema --all", nexsets, control, result)
            sent, limit = len(control.requests()), bound(nexsets)
            self.add(f"check_nexset schema --all of {nexsets} nexsets: requests / (pages + "
                     "token + 7 read ahead)", sent / limit, 1.0,
                     f"({sent} requests, bound {limit})")

    # -- batch_operations ----------------------------------------------------------------
    def batch(self, count: int = 300, concurrency: int = 16) -> None:
        with sandbox_process() as (url, key, control):
            control.configure(latency_ms=RTT_S * 1000)
            control.populate("sources", count, name_prefix="bench", status="ACTIVE")
            args = ["pause", "--type", "sources", "--name-regex", "^bench-", "--status",
                    "ACTIVE", "--concurrency", str(concurrency), "--json"]
            none = ["pause", "--type", "sources", "--name-regex", "^no-such-", "--json"]
            fixed = run_command("batch_operations", none, url, key, control)
            result = run_command("batch_operations", args, url, key, control)
            self.scale(f"batch_operations pause -c {concurrency}", count, control, result)
            sent = len(control.requests())
            # the small constant: the token, the caller's user, the page past the end
            # and the prefetch window's other slots
            self.add(f"batch pause of {count} by filter: requests / ({count} writes + "
                     f"{pages(count)} pages + 10)", sent / (count + pages(count) + 10), 1.0,
                     f"({sent} requests)")
            floor = (math.ceil(count / concurrency) + pages(count)) * RTT_S
            above = result.seconds - fixed.seconds
            self.add(f"batch pause of {count} at concurrency {concurrency}: time above "
                     "start-up / floor", above / floor, 1.5,
                     f"({above:.2f} s; floor {floor:.2f} s)")
            warned = result.stderr.count("Connection pool is full")
            self.add("batch pause: HTTP pool warnings", warned, 0, "")

    # -- --sandbox start-up and --help ---------------------------------------------------
    def startup(self) -> None:
        self._median([sys.executable, "-m", "compileall", "-q", str(ROOT / "nexla_ops"),
                      str(ROOT / "nexla_sandbox"), str(ROOT / "scripts")], runs=1)  # warm caches
        bare = self._median([sys.executable, "-c", "pass"])
        helps = {script.stem: self._median([sys.executable, str(script), "--help"])
                 for script in sorted((ROOT / "scripts").glob("*.py"))}
        worst = max(helps, key=helps.get)
        self.add("--help of the slowest script / python -c pass", helps[worst] / bare, 4.0,
                 f"({worst}: {helps[worst] * 1000:.0f} ms; bare {bare * 1000:.0f} ms)")
        with tempfile.TemporaryDirectory() as tmp:
            env = user_env(NEXLA_SANDBOX_DIR=tmp)
            cmd = [sys.executable, str(ROOT / "scripts" / "list_resources.py"), "--sandbox",
                   "--type", "credentials", "--limit", "1", "--quiet"]
            subprocess.run(cmd, env=env, check=True, capture_output=True)  # creates the state
            with_sandbox = self._median(cmd, env=env)
        with sandbox_process() as (url, key, control):
            remote_env = user_env(NEXLA_API_URL=url, NEXLA_SERVICE_KEY=key)
            plain = self._median([sys.executable, str(ROOT / "scripts" / "list_resources.py"),
                                  "--type", "credentials", "--limit", "1", "--quiet"],
                                 env=remote_env)
        self.add("--sandbox on existing state: seconds added before the first request",
                 with_sandbox - plain, 0.3,
                 f"({with_sandbox:.2f} s with --sandbox, {plain:.2f} s against a running one)")

    @staticmethod
    def _median(cmd, env=None, runs: int = 5) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(cmd, env=env or user_env(), cwd=ROOT, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    # -- the sandbox itself --------------------------------------------------------------
    def sandbox(self, flows: int) -> None:
        with trivial_app_process() as trivial_url:
            base = _throughput(trivial_url, None, clients=8)
        with sandbox_process() as (url, key, control):
            control.populate("sources", 1000)
            token = _token(url, key)
            ours = _throughput(f"{url}/data_sources?page=1&per_page=1", token, clients=8)
            self.add("sandbox GET throughput, 8 clients: sandbox / trivial app on the same "
                     "server", ours / base, 0.7, f"({ours:.0f} vs {base:.0f} req/s)",
                     higher_is_better=True)
            after_small = _page_after_write(url, token)
            control.populate("sources", 9000)
            after_big = _page_after_write(url, token)
            self.add("sandbox list page right after a write: 10k sources / 1k sources",
                     after_big / after_small, 2.0,
                     f"({after_big * 1000:.1f} vs {after_small * 1000:.1f} ms)")
            control.populate("flows", flows)
            rss = rss_mib(control.pid)
            self.add(f"sandbox memory with {flows} flows (+10k sources), MiB / 300", rss / 300,
                     1.0, f"({rss:.0f} MiB)")

    # -- output --------------------------------------------------------------------------
    def print_tables(self) -> None:
        width = max(len(r.name) for r in self.rows)
        print(f"{'target':<{width}}  {'measured':>9}  {'target':>7}  met  detail")
        for r in self.rows:
            sign = ">=" if r.higher_is_better else "<="
            print(f"{r.name:<{width}}  {r.measured:>9.2f}  {sign}{r.target:>5g}  "
                  f"{'yes' if r.met else 'NO ':<3}  {r.detail}")
        met = sum(r.met for r in self.rows)
        print(f"\n{met} of {len(self.rows)} targets met\n")
        print(f"{'command':<32}{'size':>8}{'requests':>10}{'seconds':>9}{'RSS MiB':>9}")
        for command, size, requests, seconds, rss in self.scaling:
            print(f"{command:<32}{size:>8}{requests:>10}{seconds:>9.2f}{rss:>9.0f}")


# The same server (nexla_sandbox's threaded HTTP/1.1 keep-alive server and werkzeug) with an
# app that answers `[]` at once: what the stack itself costs, in its own process as the sandbox.
TRIVIAL_APP = """
import sys
from nexla_sandbox.domain import Settings
from nexla_sandbox.server import serve

class Trivial:
    settings = Settings()

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"[]"]

server = serve(Trivial(), port=0)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def trivial_app_process():
    proc = subprocess.Popen([sys.executable, "-c", TRIVIAL_APP], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}/x"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _token(url: str, key: str) -> str:
    import requests

    answer = requests.post(f"{url}/token", headers={"Authorization": f"Basic {key}"}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def _throughput(url: str, token: str | None, clients: int, seconds: float = 3.0) -> float:
    """Requests per second over `clients` client processes, each a keep-alive session."""
    code = ("import requests, sys, time\n"
            "s = requests.Session(); h = {'Authorization': 'Bearer ' + sys.argv[2]} "
            "if sys.argv[2] != '-' else {}\n"
            "end = time.monotonic() + float(sys.argv[3]); n = 0\n"
            "while time.monotonic() < end:\n"
            "    s.get(sys.argv[1], headers=h, timeout=30).raise_for_status(); n += 1\n"
            "print(n)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, url, token or "-", str(seconds)],
                              stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    return sum(int(p.communicate(timeout=seconds + 60)[0]) for p in procs) / seconds


def _page_after_write(url: str, token: str, rounds: int = 20) -> float:
    """Median seconds of GET page 1 (100 sources) right after a create."""
    import requests

    session, headers = requests.Session(), {"Authorization": f"Bearer {token}"}
    times = []
    for i in range(rounds):
        session.post(f"{url}/data_sources", headers=headers, timeout=30, json={
            "name": f"after-write-{time.time_ns()}-{i}", "source_type": "s3"}).raise_for_status()
        started = time.perf_counter()
        session.get(f"{url}/data_sources", headers=headers, timeout=30,
                    params={"page": 1, "per_page": 100}).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same rows")
    args = parser.parse_args(argv)
    bench = Bench()
    flows = [100, 1000] if args.quick else [100, 1000, 10000]
    sources = [100, 1000, 10000] if args.quick else [100, 1000, 10000, 100000]
    bench.startup()
    bench.batch()
    bench.listing(sources)
    bench.health(flows)
    bench.triage(flows[1])
    bench.contracts(flows[1])
    bench.sandbox(flows[-1])
    bench.print_tables()
    return 0


if __name__ == "__main__":
    sys.exit(main())
