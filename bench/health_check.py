#!/usr/bin/env python3
"""Benchmark: health_check.py's bulk listing against a naive per-flow baseline.

For N flows (with run history) at a given injected API latency it measures
  ours      health_check.main(["--all"]): paged GET /flows?include_run_metrics=1 (100 a page)
  baseline  two sequential SDK calls per flow, as Nexla's own skill does:
            flows.get(flow_id) then metrics.get_resource_metrics_by_run("data_sources", id)
and prints requests (from the sandbox's request log, token call included) and wall seconds,
with the baseline/ours ratio. The baseline only fetches; it does not even classify, so the
ratio understates the difference.

  python bench/health_check.py                 # N = 100, 1000 at 0 and 20 ms
  python bench/health_check.py --sizes 100 --latencies 0
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]


def run_ours(sb, workdir: Path, repeats: int) -> tuple[int, float, int]:
    import health_check

    best = None
    for _ in range(repeats):
        sb.control.clear_requests()
        started = time.perf_counter()
        code = health_check.main(["--all", "--format", "json", "--output", str(workdir / "report.json"),
                                  "--quiet", "--state-file", str(workdir / "state.json")])
        elapsed = time.perf_counter() - started
        requests = len(sb.control.requests())
        if code not in (0, 1, 2):
            raise SystemExit(f"health_check exited {code}; see stderr")
        if best is None or elapsed < best[1]:
            best = (requests, elapsed, code)
    return best


def run_baseline(sb, flows: list[tuple[int, int]]) -> tuple[int, float]:
    from nexla_sdk import NexlaClient

    client = NexlaClient(service_key=sb.service_key, base_url=sb.url)
    sb.control.clear_requests()
    started = time.perf_counter()
    for flow_id, source_id in flows:
        client.flows.get(flow_id)
        client.metrics.get_resource_metrics_by_run("data_sources", source_id)
    elapsed = time.perf_counter() - started
    return len(sb.control.requests()), elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 20], help="injected ms per request")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours per cell (best is kept)")
    args = parser.parse_args(argv)

    from nexla_sandbox import start_sandbox

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.chdir(workdir)
        for size in args.sizes:
            with start_sandbox(seed="empty") as sb:
                sb.control.populate("flows", size, fail_rate=0.2)
                roots = [f for f in sb.control.state("flows") if f.get("parent_node_id") is None]
                flows = sorted((f["id"], f["data_source_id"]) for f in roots)
                os.environ.update({"NEXLA_API_URL": sb.url, "NEXLA_SERVICE_KEY": sb.service_key})
                for latency in args.latencies:
                    sb.control.configure(latency_ms=latency)
                    ours_requests, ours_s, code = run_ours(sb, workdir, args.repeats)
                    base_requests, base_s = run_baseline(sb, flows)
                    rows.append((len(flows), latency, ours_requests, ours_s, base_requests, base_s, code))
                    print(f"  N={len(flows)} latency={latency}ms done", file=sys.stderr)

    header = ("flows", "latency", "ours req", "ours s", "baseline req", "baseline s", "speedup")
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    for n, latency, oreq, osec, breq, bsec, _code in rows:
        print(f"{n:>5} | {latency:>4} ms | {oreq:>8} | {osec:>6.2f} | {breq:>12} | {bsec:>10.2f} | "
              f"{bsec / osec:>6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
