"""The nexla-ops retry policy for your own code, a circuit breaker, and a re-run wrapper.

In Python (scripts/ on sys.path)::

    from retry_helpers import CircuitBreaker, call_with_retries, make_client, with_retries

    client = make_client()                       # NEXLA_* settings; SDK retries off
    breaker = CircuitBreaker(failure_threshold=5, cooldown=30)

    @with_retries(attempts=5, max_wait=10, breaker=breaker)
    def get_source(source_id):
        return client.sources.get(source_id)

    created = call_with_retries(client.sources.create, body, idempotent=False)

Defaults: 5 attempts, waits capped at 30 s, 300 s per call (override per call or decorator).

Creates (POST) are never blindly re-sent: a create whose answer was lost raises
UnknownOutcome; look the object up before trying again (nexla_ops.Context.create_once does).
Keep the SDK's own HTTP retries off (make_client does), or attempts multiply.

As a CLI it re-runs a command while it exits 6 (transient), with the same backoff, and exits
with the command's last exit code.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import number_flag

EXAMPLES = """examples:
  python scripts/retry_helpers.py --describe
  python scripts/retry_helpers.py --describe --json
  python scripts/retry_helpers.py --attempts 4 --max-wait 20 -- \\
      python scripts/list_resources.py --type flows --json
  python scripts/retry_helpers.py -- python scripts/deploy_flow.py --config deploy.yaml

(health_check.py uses Nagios exit codes, never 6: do not wrap it.)

The command is re-run only while it exits 6 (transient, safe to re-run); any other exit code
is returned at once. Settings also come from NEXLA_MAX_ATTEMPTS, NEXLA_MAX_WAIT and
NEXLA_DEADLINE (environment or .env).
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "retry_helpers.py",
        description="Re-run a command while it exits 6 (transient), with exponential backoff "
                    "and full jitter; or describe the retry policy the scripts use.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", dest="max_attempts",
                        type=number_flag(int, 1, maximum=100), metavar="N",
                        help="total runs of the command at most (default 5)")
    parser.add_argument("--max-wait", type=number_flag(float, 0), metavar="S",
                        help="longest single wait between runs in seconds (default 30)")
    parser.add_argument("--deadline", type=number_flag(float, 0, above=True), metavar="S",
                        help="stop re-running after this many seconds (default 300)")
    parser.add_argument("--env-file", metavar="PATH", help="read settings from this file")
    parser.add_argument("--describe", action="store_true",
                        help="print the active retry policy and exit")
    parser.add_argument("--json", action="store_true", help="with --describe: JSON output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no retry lines on stderr")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command to run, after --")
    return parser


def run(args, ctx) -> int:
    from nexla_ops import resilience

    return resilience.run(args, ctx)


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
