"""Check nexsets against their data contracts, for cron, Nagios, Prometheus and chat alerts.

schema:  compare each nexset's live output_schema with a saved baseline and classify every
         change: an added field is additive (WARNING); a removed or renamed field, a changed
         type or a changed nullability is breaking (CRITICAL). --save records the baseline.
quality: evaluate a rules file (YAML or JSON, one nexset per file) on the nexset's samples:
         not_null, type, unique, range, regex, allowed, max_age and min_count.

Exit codes follow Nagios, for cron: 0 as expected, 1 additive change (WARNING), 2 breaking
change or failing rule (CRITICAL), 3 unknown (not checked: no baseline, unreadable, out of
time). Bad input (a malformed rules or baseline file, a bad flag) is also 2, with one line on
stderr naming the field and nothing sent.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag, number_flag

EXAMPLES = """examples:
  # snapshot nexset 223's schema, then check it from cron (exit 2 on a breaking change)
  python scripts/check_nexset.py schema --nexset 223 --baseline orders-clean.schema.json --save
  python scripts/check_nexset.py schema --nexset 223 --baseline orders-clean.schema.json

  # every nexset, one baseline file each in a directory; Nagios status line
  python scripts/check_nexset.py schema --all --baseline-dir baselines --save
  python scripts/check_nexset.py schema --all --baseline-dir baselines --format nagios

  # data-quality rules on 100 samples; the rules file's JSON Schema
  python scripts/check_nexset.py quality --rules orders.rules.yaml --samples 100
  python scripts/check_nexset.py quality --print-schema

exit codes (Nagios): 0 OK; 1 WARNING (additive change); 2 CRITICAL (breaking change, failing
  rule) or bad input; 3 UNKNOWN (not checked).
"""


def _output_args(parser: argparse.ArgumentParser) -> None:
    from nexla_ops.health.flags import duration_arg, webhook_url_arg

    out = parser.add_argument_group("output, alerts and time")
    out.add_argument("--format", choices=("text", "json", "nagios", "prometheus"), default="text",
                     help="text (default): a line per nexset and a summary; json; nagios: one "
                          "status line with perfdata; prometheus: textfile-collector metrics")
    out.add_argument("--json", dest="format", action="store_const", const="json",
                     help="same as --format json")
    out.add_argument("--output", metavar="FILE",
                     help="write the report to FILE atomically instead of stdout")
    out.add_argument("--alert-webhook", metavar="URL", type=webhook_url_arg,
                     help="POST a Slack-compatible JSON message when a nexset's state changes "
                          "(health_check's alerts: de-duplicated, re-alerted, one recovery)")
    out.add_argument("--state-file", metavar="PATH",
                     help="alert state between runs (default: one file per API URL and check in "
                          "the per-user state directory)")
    out.add_argument("--realert-after", type=duration_arg, default=4 * 3600.0, metavar="DURATION",
                     help="repeat an alert for a nexset still failing after this long (default 4h)")
    # As health_check's: the whole run's budget (NEXLA_TIMEOUT still sets each request's).
    out.add_argument("--timeout", dest="check_timeout", type=number_flag(float, 0, above=True),
                     default=60.0, metavar="S",
                     help="total seconds for the whole check; nexsets unchecked by then are "
                          "UNKNOWN (default 60)")
    out.add_argument("--concurrency", type=number_flag(int, 1, maximum=64), default=8,
                     metavar="N", help="requests in flight at once (1-64, default 8)")
    nexla_ops.add_common_args(parser, json_flag=False, timeout_flag=False)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "check_nexset.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="check", required=True, metavar="{schema,quality}")
    schema = sub.add_parser("schema", help="live output_schema against a saved baseline",
                            description=__doc__, epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    which = schema.add_argument_group("which nexsets and baselines")
    which.add_argument("--nexset", action="append", type=id_flag, metavar="ID",
                       help="this nexset (repeatable; with --baseline, exactly one)")
    which.add_argument("--all", action="store_true", help="every nexset this key can see")
    which.add_argument("--baseline", metavar="FILE",
                       help="the baseline file of the one --nexset")
    which.add_argument("--baseline-dir", metavar="DIR",
                       help="one baseline file per nexset in DIR (nexset-<id>.schema.json)")
    which.add_argument("--save", action="store_true",
                       help="record the live schema as the baseline (creates or replaces it) "
                            "and report OK")
    which.add_argument("--save-new", action="store_true",
                       help="save a baseline for each nexset that has none (a new nexset under "
                            "--all), and compare the rest: a cron run that adopts new nexsets")
    _output_args(schema)

    quality = sub.add_parser("quality", help="rules evaluated on a nexset's samples",
                             description=__doc__, epilog=EXAMPLES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    rules = quality.add_argument_group("rules and samples")
    rules.add_argument("--rules", action="append", metavar="FILE",
                       help="rules file (YAML or JSON) naming its nexset (repeatable)")
    rules.add_argument("--samples", type=number_flag(int, 1, maximum=500), default=50,
                       metavar="N", help="samples to read per nexset (1-500, default 50)")
    rules.add_argument("--print-schema", action="store_true",
                       help="print the rules file's JSON Schema and exit")
    _output_args(quality)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.contracts import runner

    return runner.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    from nexla_ops.health.model import NAGIOS_KINDS

    # A check that cannot run is UNKNOWN (3), whatever stopped it; bad input stays 2, as in
    # every script (CRITICAL to Nagios: the check itself is broken, and stderr says why).
    kinds = {**NAGIOS_KINDS, 2: "bad_input", 130: "interrupted", 143: "terminated"}
    return nexla_ops.main_wrapper(run, build_parser(prog), argv, failure_kinds=kinds)
