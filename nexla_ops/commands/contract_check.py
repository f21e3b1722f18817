"""Check a Nexla's answers against the published API reference and SDK 1.0.8's models.

Read-only (GETs only, plus POST /token for auth). Discovers ids by listing (the first item of
each list), calls every operator endpoint (nexla_ops/contract/catalogue.py), validates each
answer against our checked-in schema (nexla_ops/contract/schemas/) and SDK 1.0.8's pydantic
model for it, and gives one verdict per endpoint: ok, missing field, type differs, envelope
differs, not found, refused, sdk rejects. Prints paths, field paths and JSON types only,
never a value; --record saves value-free shapes to send us or to replay in tests.
"""

from __future__ import annotations

import argparse

import nexla_ops

EXAMPLES = """examples:
  python scripts/contract_check.py --sandbox
  python scripts/contract_check.py --json > contract.json
  python scripts/contract_check.py --endpoint '*accessors*'
  python scripts/contract_check.py --endpoint /flows --record shapes/
  python scripts/contract_check.py --list

exit codes: 0 every endpoint matches (one without an id to test with is skipped);
  1 something differs; 2 bad input; 3 configuration; 4 auth; 6 transient.
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "contract_check.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--endpoint", metavar="PATTERN",
                        help="only endpoints matching PATTERN: a name as --list prints it, a "
                             "substring of one, or a shell glob over the whole name, which starts "
                             "with 'GET ' (so '*data_sources?page*', not '/data_sources?page*')")
    parser.add_argument("--record", metavar="DIR",
                        help="write each answer's shape (keys and JSON types, no values) to "
                             "DIR, one JSON file per endpoint")
    parser.add_argument("--list", action="store_true",
                        help="list the operator endpoints (those --endpoint selects) and exit; "
                             "no API call")
    nexla_ops.add_common_args(parser, json_flag=True)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.contract import runner

    if args.list:
        print(runner.list_endpoints(args.endpoint))
        return 0
    return runner.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
