#!/usr/bin/env python3
"""Benchmark: triage.py's requests and time against a naive per-flow triage ladder.

For N flows of which F fail, at 20 ms injected latency per request, it measures
  ours      scripts/triage.py --json as a subprocess: the bulk flow listing (100 flows a page),
            the notifications, then two reads per failing flow (its runs, its error lines)
  ladder    what a per-flow triage does, as Nexla's own agent CLI's ladder reads it: for every
            flow its status (GET /flows/{id}) and its runs (run summary), then the logs of
            the failing ones; the ladder only fetches, it does not group or rank
and prints requests (the sandbox's log, token call included), wall seconds, and two ratios:
ours / the bound ⌈N/100⌉ + 2·F + 4 (target <= 1), and ladder / ours requests.

  python bench/triage.py                      # N = 1000, F = 0, 10, 50
  python bench/triage.py --flows 100 --failing 5
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import run_command, sandbox_process  # noqa: E402

LATENCY_MS = 20
FIXED = 4  # the token, the empty page that ends the flow walk, the notifications (+ its end)


def bound(flows: int, failing: int) -> int:
    return math.ceil(flows / 100) + 2 * failing + FIXED


def ladder(url: str, key: str, control) -> tuple[int, float]:
    from nexla_sdk import NexlaClient

    client = NexlaClient(service_key=key, base_url=url)
    roots = [f for f in control.state("flows") if f.get("parent_node_id") is None]
    control.clear_requests()
    started = time.perf_counter()
    for flow in roots:
        client.request("GET", f"/flows/{flow['id']}")
        runs = client.request("GET", f"/data_sources/{flow['data_source_id']}/metrics/"
                              "run_summary", params={"page": 1, "size": 100})
        if any(r.get("errors") for r in runs["metrics"]["data"]):
            client.request("GET", f"/flows/{flow['id']}/logs", params={"severity": "ERROR"})
    return len(control.requests()), time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--failing", type=int, nargs="+", default=[0, 10, 50])
    parser.add_argument("--no-ladder", action="store_true", help="skip the per-flow baseline")
    args = parser.parse_args(argv)
    rows = []
    for failing in args.failing:
        with sandbox_process() as (url, key, control):
            control.populate("flows", args.flows - failing, runs=5, fail_rate=0.0)
            if failing:
                control.populate("flows", failing, runs=5, fail_rate=1.0, name_prefix="bad")
            control.configure(latency_ms=LATENCY_MS)
            ours = run_command("triage", ["--json", "--output", "{tmp}/triage.json"], url, key,
                               control, ok=(0, 1))
            sent = len(control.requests())
            base = ladder(url, key, control) if not args.no_ladder else (None, None)
        rows.append((failing, sent, ours.seconds, ours.rss_mib, *base))
    print(f"\ntriage, {args.flows} flows, {LATENCY_MS} ms per request\n")
    head = (f"{'failing':>7}  {'requests':>8}  {'bound':>5}  {'ours/bound':>10}  "
            f"{'seconds':>7}  {'RSS MiB':>7}  {'ladder req':>10}  {'ladder s':>8}  "
            f"{'ladder/ours req':>15}")
    print(head)
    print("-" * len(head))
    for failing, sent, seconds, rss, base_sent, base_s in rows:
        limit = bound(args.flows, failing)
        ladder_cells = ((f"{base_sent:>10}  {base_s:>8.2f}  {base_sent / sent:>15.1f}")
                        if base_sent else f"{'-':>10}  {'-':>8}  {'-':>15}")
        print(f"{failing:>7}  {sent:>8}  {limit:>5}  {sent / limit:>10.2f}  {seconds:>7.2f}  "
              f"{rss:>7.0f}  {ladder_cells}")
    met = all(sent <= bound(args.flows, failing) for failing, sent, *_ in rows)
    print(f"\ntarget ours/bound <= 1: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
