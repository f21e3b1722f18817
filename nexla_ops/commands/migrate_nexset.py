"""Move destinations from a nexset to a new derived one (a schema migration), with roll-back.

1. Plan: read the old nexset, the new one's name (found by name first, so a re-run creates
   nothing twice; a nexset of that name not made from this transform is refused) or the
   --adopt'ed nexset, and every destination reading the old nexset (all
   pages; or --destination). --plan (or --dry-run) shows every write and stops; with --out
   FILE the plan is saved (0600, sha256) for --apply FILE later, refused if the state moved.
2. Create the new derived nexset with --transform-file (beside the old one: same parent), or
   adopt an existing one, and validate it on samples against the old one: at least one
   sample, no error records, no breaking schema change (removed, renamed, retyped fields)
   unless --allow-breaking, and --expect-fields/--expect-schema. A failed validation deletes
   the nexset it created and changes nothing else (exit 1).
3. Per destination: pause it if ACTIVE, PUT its data_set_id, re-activate it if it was ACTIVE,
   and read it back (new nexset, original status).
4. On any failure every destination switched so far is pointed back with its original status
   and the created nexset deleted (exit 1); if restoring fails, what is left is listed (exit 7).

Verifying a run: Nexla publishes no call that starts a flow run, so none is started; what is
verified is each destination's read-back and the new nexset's samples.

With --checkpoint FILE the run is journaled (fsynced JSONL, the journal deploy_flow and
rotate_credential keep); after a crash the same command with --resume carries on from the
recorded plan (the flags must be the same), and every step re-reads state first, so nothing
is created, paused or switched twice.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag, number_flag

EXAMPLES = """examples:
  # what would happen (every write listed; nothing sent)
  python scripts/migrate_nexset.py --nexset 223 --transform-file orders-v2.json --plan

  # migrate, journaled; after a crash re-run the same command with --resume
  python scripts/migrate_nexset.py --nexset 223 --transform-file orders-v2.json \\
      --allow-breaking --checkpoint migrate-223.jsonl
  python scripts/migrate_nexset.py --nexset 223 --transform-file orders-v2.json \\
      --allow-breaking --checkpoint migrate-223.jsonl --resume

  # review a saved plan, apply exactly it later (refused if the state moved)
  python scripts/migrate_nexset.py --nexset 223 --transform-file orders-v2.json \\
      --allow-breaking --plan --out plan.json
  python scripts/migrate_nexset.py --apply plan.json --json

exit codes: 0 migrated (or planned); 1 validation failed, or the migration failed and was
  rolled back; 2 bad input; 3 configuration; 4 auth; 5 nexset or destination not found;
  6 transient; 7 needs a person: restoring failed (leftovers listed).
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "migrate_nexset.py", description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nexset", type=id_flag, metavar="ID",
                        help="the nexset the destinations read now (required unless --apply)")
    parser.add_argument("--transform-file", metavar="FILE",
                        help="the new nexset's transform (JSON or YAML), or:")
    parser.add_argument("--adopt", type=id_flag, metavar="ID",
                        help="an existing nexset to move the destinations to, as it is")
    parser.add_argument("--name", metavar="NAME",
                        help="the new nexset's name (default: the old name + '-v2')")
    parser.add_argument("--destination", type=id_flag, action="append", metavar="ID",
                        help="only this destination (repeatable; default: every destination "
                             "reading --nexset)")
    parser.add_argument("--samples", type=number_flag(int, 1), default=20, metavar="N",
                        help="sample records to compare (default 20)")
    parser.add_argument("--expect-fields", metavar="A,B",
                        help="fields the new nexset must have (dotted paths for nested ones)")
    parser.add_argument("--expect-schema", metavar="FILE",
                        help="types to require: a JSON schema or {\"field\": \"type\"}")
    parser.add_argument("--allow-breaking", action="store_true",
                        help="accept removed, renamed or retyped fields")
    parser.add_argument("--verify-timeout", type=number_flag(float, 0, maximum=3600),
                        default=10.0, metavar="S",
                        help="how long to wait for the new nexset's samples (default 10)")
    parser.add_argument("--plan", "--dry-run", dest="plan", action="store_true",
                        help="show every write; send none")
    parser.add_argument("--out", metavar="FILE", help="with --plan: save the plan to FILE")
    parser.add_argument("--apply", metavar="FILE",
                        help="apply a plan saved with --plan --out (refused if the state "
                             "changed since)")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="JSONL journal of every step (fsynced), for --resume")
    parser.add_argument("--resume", action="store_true",
                        help="continue the migration recorded in --checkpoint")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.migration import apply

    return apply.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
