#!/usr/bin/env python3
"""Benchmark: check_nexset.py schema --all against checking the same nexsets one by one.

For N flows (each with its detected nexset, plus the demo org's six nexsets), at 20 ms
injected latency per request, it measures as real subprocesses
  save      schema --all --baseline-dir DIR --save   (the listing: 100 nexsets a page)
  check     schema --all --baseline-dir DIR          (the same listing; baselines from disk)
  by id     schema --nexset ID ... (every id)         (GET /data_sets/{id} each, 8 at once)
and prints requests (the sandbox's log, token call included), wall seconds, peak RSS, and
the ratios: check / the bound ⌈nexsets/100⌉ + 1 + 7 (target <= 1: the pages, the token, and
at most --concurrency - 1 = 7 pages fetched ahead past the end, as the listing walk's
prefetch allows), and by-id / check requests and seconds.

  python bench/check_nexset.py                 # N = 1000
  python bench/check_nexset.py --flows 200
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import run_command, sandbox_process  # noqa: E402

LATENCY_MS = 20
CONCURRENCY = 8  # check_nexset's default


def bound(nexsets: int) -> int:
    return math.ceil(nexsets / 100) + 1 + (CONCURRENCY - 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows", type=int, default=1000)
    args = parser.parse_args(argv)
    with sandbox_process() as (url, key, control), tempfile.TemporaryDirectory() as baselines:
        control.populate("flows", args.flows, runs=1, fail_rate=0.0)
        ids = sorted(n["id"] for n in control.state("data_sets"))
        control.configure(latency_ms=LATENCY_MS)
        common = ["--baseline-dir", baselines, "--json", "--output", "{tmp}/report.json",
                  "--quiet", "--timeout", "600"]
        rows = []
        for label, extra in (("save", ["--all", "--save"]), ("check", ["--all"]),
                             ("by id", [a for i in ids for a in ("--nexset", str(i))])):
            result = run_command("check_nexset", ["schema", *extra, *common], url, key, control)
            rows.append((label, len(control.requests()), result.seconds, result.rss_mib))
    print(f"\ncheck_nexset schema, {len(ids)} nexsets, {LATENCY_MS} ms per request\n")
    head = f"{'run':<6}  {'requests':>8}  {'seconds':>7}  {'RSS MiB':>7}"
    print(head)
    print("-" * len(head))
    for label, sent, seconds, rss in rows:
        print(f"{label:<6}  {sent:>8}  {seconds:>7.2f}  {rss:>7.0f}")
    (_, check_sent, check_s, _), (_, id_sent, id_s, _) = rows[1], rows[2]
    limit = bound(len(ids))
    print(f"\ncheck requests / bound {limit}: {check_sent / limit:.2f} (target <= 1)")
    print(f"by id / check: {id_sent / check_sent:.1f}x the requests, {id_s / check_s:.1f}x "
          "the seconds")
    return 0 if check_sent <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
