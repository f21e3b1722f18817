"""Show the run logs of a Nexla source, nexset or destination: filtered, summarised, followed.

By default it prints the latest run's log lines, asking for exactly that run's window (its real
start to its real end). --list-runs lists recent runs; --summary groups error lines by message
shape; --follow keeps polling for new lines and new runs and never prints a line twice.

Runs come from GET /{type}/{id}/metrics/run_summary (newest first) and lines from
GET /{type}/{id}/flow/logs?run_id&from&to (epoch ms), both read raw: the SDK's logs object is
not JSON-serialisable and its run-summary model adds nothing we use.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.logs import DEFAULT_POLL_SECONDS, DEFAULT_RUN_LIMIT

EXAMPLES = """examples:
  python scripts/get_resource_logs.py --resource-type data_sets --resource-id 123
  python scripts/get_resource_logs.py --resource-type flows --resource-id 1002 --level ERROR
  python scripts/get_resource_logs.py --resource-type sources --resource-id 124 --list-runs --limit 5
  python scripts/get_resource_logs.py --resource-type sources --resource-id 124 --level ERROR --since 1d
  python scripts/get_resource_logs.py --resource-type sources --resource-id 124 --summary --since 1d
  python scripts/get_resource_logs.py --resource-type data_sinks --resource-id 301 --grep timeout --format jsonl
  python scripts/get_resource_logs.py --resource-type sources --resource-id 123 --follow --follow-timeout 600
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "get_resource_logs.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--resource-type", required=True,
        help="sources, nexsets or destinations (or the API's data_sources, data_sets, "
             "data_sinks); flows reads the logs of the flow node's resource (a flow's "
             "origin source)",
    )
    parser.add_argument("--resource-id", required=True, help="the resource's numeric id")
    parser.add_argument("--run-id", help="this run instead of the latest one")
    parser.add_argument(
        "--list-runs", action="store_true",
        help="list recent runs (id, status, start, end, records, errors) instead of lines",
    )
    parser.add_argument(
        "--limit", default=str(DEFAULT_RUN_LIMIT),
        help=f"with --list-runs: at most N runs (default {DEFAULT_RUN_LIMIT}; 0 means all)",
    )
    parser.add_argument("--level", help="ERROR, WARN or INFO: this level and above")
    parser.add_argument(
        "--since",
        help="lines at or after this time: ISO-8601 or an age like 30m, 2h, 1d (spans every "
             "run in the window instead of only the latest)",
    )
    parser.add_argument("--until", help="lines at or before this time (ISO-8601 or an age)")
    parser.add_argument("--grep", help="keep lines whose message contains TEXT (ignores case)")
    parser.add_argument(
        "--summary", action="store_true",
        help="group ERROR lines by message shape: count, first and last seen",
    )
    parser.add_argument(
        "--follow", action="store_true", help="keep polling for new lines and new runs (Ctrl-C stops)"
    )
    parser.add_argument(
        "--follow-timeout", metavar="S", help="with --follow: stop after S seconds (or 10m, 2h)"
    )
    parser.add_argument(
        "--poll-interval", metavar="S", default=str(DEFAULT_POLL_SECONDS),
        help=f"with --follow: seconds between polls (default {DEFAULT_POLL_SECONDS:g})",
    )
    parser.add_argument("--format", default="text", help="text (default), json or jsonl")
    nexla_ops.add_common_args(parser, json_flag=True)
    return parser


def run(args, ctx) -> int:
    from nexla_ops import logs

    return logs.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
