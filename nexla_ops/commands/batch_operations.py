"""Apply one change to many Nexla flows or resources: safely, resumably, shardable.

Operations: pause, activate, delete (pauses first), tag, untag, update (a JSON patch of an
allow-listed set of fields), copy. Targets come from --ids, --ids-from FILE, or the same filters
list_resources.py uses (every page is walked). Each item is read before it is written, so a
re-run only changes what is not changed yet (an existing copy, found by copied_from_id, counts
as done). With --checkpoint FILE every item's intent and outcome go to a fsynced JSONL journal;
after a crash (even kill -9) --resume finishes the run with every item applied exactly once:
items whose write may have been in flight are re-read and only written if the change is not
there yet (a copy made after the intent was recorded is found by copied_from_id).
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.batch import OPERATIONS, UPDATABLE
from nexla_ops.commands import list_resources
from nexla_ops.parsing import number_flag

EXAMPLES = """examples:
  # what would pausing every ACTIVE flow whose name contains "orders" do? (no writes)
  python scripts/batch_operations.py pause --type flows --name orders --status ACTIVE --dry-run

  # pause them, journaled; after a crash the same command with --resume finishes the job
  python scripts/batch_operations.py pause --type flows --name orders --status ACTIVE \\
      --checkpoint pause-orders.jsonl
  python scripts/batch_operations.py pause --type flows --name orders --status ACTIVE \\
      --checkpoint pause-orders.jsonl --resume

  # tag sources listed in a file (ids, or list_resources.py --format jsonl output)
  python scripts/batch_operations.py tag --type sources --ids-from ids.txt --tag-list pii,finance

  # patch allowed fields of two destinations
  python scripts/batch_operations.py update --type destinations --ids 301,302 \\
      --patch '{"description": "nightly warehouse load"}'

  # three cron hosts share the work: each runs its own shard with its own checkpoint
  python scripts/batch_operations.py delete --type sources --has-tag retired --shard 0/3 \\
      --checkpoint delete-0.jsonl --resume

exit codes: 0 all items done; 1 the operation failed; 2 bad input (nothing sent);
  3 configuration; 4 auth (also when every item was refused with 401/403: nothing changed);
  5 not found; 6 transient; 7 some items failed (listed on stderr and in --json; fix the
  cause and re-run with --checkpoint FILE --resume).
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "batch_operations.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("operation", help="one of: " + ", ".join(OPERATIONS))
    parser.add_argument("--type", required=True, dest="kind",
                        help="flows, sources, nexsets, destinations, credentials, lookups, ... "
                             "(singular and API names also work)")
    sel = parser.add_argument_group("targets (ids and/or the filters of list_resources.py)")
    sel.add_argument("--ids", action="append", dest="ids", metavar="ID[,ID...]",
                     help="these ids (same as --id); repeatable")
    sel.add_argument("--ids-from", metavar="FILE",
                     help="ids from FILE ('-' = stdin): one id a line, a JSON array, or "
                          "list_resources.py --format jsonl output")
    list_resources.add_filter_args(sel, tag_flags=("--has-tag", "--tag"))
    sel.add_argument("--all", action="store_true",
                     help="every resource of the type (required when no id or filter is given)")
    sel.add_argument("--shard", metavar="I/N",
                     help="only targets in shard I of N (0 <= I < N, e.g. a k8s "
                          "JOB_COMPLETION_INDEX), split by a stable hash of the id")
    change = parser.add_argument_group("the change")
    change.add_argument("--tag-list", "--tags", dest="tags", metavar="TAG[,TAG...]",
                        action=nexla_ops.renamed(argparse._StoreAction, "--tag-list"),
                        help="tag/untag: comma-separated tags to add or remove (flows: on "
                             "their origin resource, where list_resources.py reads a flow's "
                             "tags; --tags is the deprecated spelling)")
    change.add_argument("--patch", metavar="JSON|@FILE",
                        help="update: JSON object of fields to set; allowed: " + "; ".join(
                            f"{k}: {','.join(v)}" for k, v in UPDATABLE.items()))
    change.add_argument("--reuse-credentials", action="store_true",
                        help="copy: the copy reuses the original's credentials")
    change.add_argument("--copy-access-controls", action="store_true",
                        help="copy: copy the sharing settings too")
    change.add_argument("--extra-copy", action="store_true",
                        help="copy: copy even items that already have a copy (by default an "
                             "existing copy, found by copied_from_id, counts as done)")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--dry-run", action="store_true",
                           help="list each target and the change; write nothing")
    run_group.add_argument("--concurrency", type=number_flag(int, 1, maximum=64), default=4,
                           metavar="N",
                           help="items in flight at once (default 4)")
    run_group.add_argument("--checkpoint", metavar="FILE",
                           help="JSONL journal of each item's intent and outcome (fsynced)")
    run_group.add_argument("--resume", action="store_true",
                           help="continue the run recorded in --checkpoint (targets come from "
                                "the journal; in-doubt items are re-read before any write); "
                                "starts a new run if FILE does not exist yet")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.batch import runner  # the engine loads only when a run starts

    return runner.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
