"""List Nexla resources of one type: every page, filtered, streamed.

Walks the list endpoint at Nexla's largest page size until the list ends (nexla_ops.paging:
a page shorter than asked may be the server's cap, so only an empty page or one shorter than
the first ends it) or --limit is met, filters on the client, and writes text, JSON, JSON Lines or CSV. JSON Lines and CSV are
written item by item as pages arrive, so memory stays flat however many resources there are.
Flows are listed one row per flow (root node) with the origin resource, status and node count.

Pages are read raw (ctx.paginate on the API path) rather than through the SDK's typed list():
one record the SDK's strict models reject (contract §23: strict enums, non-nullable lists)
would fail a whole page, --full must show the object as Nexla served it, and validating every
item costs more client time than the paging latency itself.

Importable API (used by batch_operations.py): normalize_type(), add_filter_args(),
parse_filters(), iter_resources().
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.listing.kinds import DEFAULT_LIMIT, KINDS
from nexla_ops.parsing import number_flag

EXAMPLES = """examples:
  python scripts/list_resources.py --type sources --name "orders" --limit 5
  python scripts/list_resources.py --type flows --status ACTIVE
  python scripts/list_resources.py --type data_sets --limit 0 --format jsonl > nexsets.jsonl
  python scripts/list_resources.py --type destinations --format csv --fields id,name,status,connector
  python scripts/list_resources.py --type credentials --id 11 --full --format json
  python scripts/list_resources.py --type attribute_transforms --format json
  python scripts/list_resources.py --type sources --limit 0 --format jsonl --output sources.jsonl

exit codes: 0 listed (also when nothing matched; --id values not found are warned about);
  2 bad input; 3 configuration; 4 auth; 5 none of the --id values exists; 6 transient.
"""


def add_filter_args(parser: argparse.ArgumentParser,
                    tag_flags: tuple[str, ...] = ("--tag",)) -> None:
    """The filter flags, shared with batch_operations.py so both spell them the same
    (batch names the tag filter --has-tag: its --tag-list is the tags it writes)."""
    parser.add_argument("--name", help="case-insensitive substring of the name")
    parser.add_argument(
        "--name-regex", help="regular expression searched in the name (case-insensitive)"
    )
    parser.add_argument(
        "--status", action="append", help="keep this status (ACTIVE, PAUSED, ...); repeatable"
    )
    if tag_flags == ("--tag",):
        parser.add_argument("--tag", action="append",
                            help="keep resources carrying this tag; repeatable (all must match)")
    else:  # batch_operations: the filter is --has-tag, its old spelling --tag still works
        parser.add_argument(*tag_flags, dest="tag", action=nexla_ops.renamed(
            argparse._AppendAction, tag_flags[0]), metavar="TAG",
            help="keep resources carrying this tag; repeatable (all must match; "
                 f"{', '.join(tag_flags[1:])} is the deprecated spelling)")
    parser.add_argument(
        "--id", action="append", dest="ids", metavar="ID", help="only this id (comma list ok); repeatable"
    )
    parser.add_argument("--owner", help="owner id, e-mail or full name (case-insensitive)")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "list_resources.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--type",
        required=True,
        dest="kind",
        metavar="TYPE",
        help="resource type: " + ", ".join(KINDS) + " (singular and API names also work)",
    )
    add_filter_args(parser)
    parser.add_argument(
        "--limit", default=str(DEFAULT_LIMIT),
        help=f"at most N rows (default {DEFAULT_LIMIT}; 0 means all)",
    )
    parser.add_argument("--format", default="text", help="text (default), json, jsonl or csv")
    parser.add_argument(
        "--fields", help="comma-separated columns, e.g. id,name,status (dotted paths with --full)"
    )
    parser.add_argument("--full", action="store_true", help="whole objects (secrets redacted)")
    parser.add_argument("--output", metavar="FILE", help="write FILE atomically instead of stdout")
    parser.add_argument("--concurrency", type=number_flag(int, 1, maximum=64), default=4,
                        metavar="N", help="pages in flight at once once a listing shows more "
                                          "follow (1-64, default 4; order is kept)")
    nexla_ops.add_common_args(parser, json_flag=True)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.listing import runner

    return runner.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
