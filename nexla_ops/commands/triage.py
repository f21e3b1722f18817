"""What is broken right now: flows with failed runs, error states, failing credentials or no
recent success in the window, ranked by impact, each with its failing run, its error groups, its
credentials' state, its notifications and the next steps as data.

Read-only: only GETs are sent. The bulk listing costs one request per 100 flows plus the
notifications; only failing flows get per-flow reads (their runs in the window and their error
lines: two requests each).
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag, number_flag

EXAMPLES = """examples:
  # what is broken in the last 24 hours, most urgent first
  python scripts/triage.py --sandbox

  # the same as one JSON document, next steps included (for agents)
  python scripts/triage.py --since 6h --json

  # one flow's last successful run against its last failed run
  python scripts/triage.py --flow 1002

exit codes: 0 nothing broken (or, with --flow, the latest run succeeded); 1 something broken
  (the latest run failed); 2 bad input; 3 configuration; 4 auth; 5 no such flow; 6 transient
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "triage.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--since", default="24h", metavar="AGE",
                        help="the window: runs and notifications this recent (default 24h)")
    parser.add_argument("--stale-after", default="24h", metavar="AGE",
                        help="an active flow whose last success is older is stale (default 24h, "
                             "as health_check --max-age)")
    parser.add_argument("--flow", type=id_flag, metavar="ID",
                        help="compare this flow's last successful and last failed runs instead")
    parser.add_argument("--limit", type=number_flag(int, 0), default=0, metavar="N",
                        help="show and read details of the N most urgent flows only (default "
                             "0: all); the summary still counts every one")
    parser.add_argument("--probe-credentials", action="store_true",
                        help="probe the credentials active flows use (one GET each) instead of "
                             "trusting their verified_status")
    parser.add_argument("--concurrency", type=number_flag(int, 1, maximum=32), default=4,
                        metavar="N", help="per-flow reads in parallel (default 4)")
    parser.add_argument("--output", metavar="FILE",
                        help="write the report here (atomically); the summary line still goes "
                             "to stdout")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.triage import runner

    return runner.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
