"""Move every source and destination from one credential to another, flow by flow, with rollback.

1. Probe the new credential; if the probe fails, stop (exit 1) and change nothing.
2. Find every source and destination using the old credential (all pages).
3. --plan (or --dry-run) shows them grouped by flow, and stops.
4. Apply, one flow at a time: pause it, switch its resources' data_credentials_id, re-activate
   it if it was active, and verify it is ACTIVE again on the new credential.
5. If any step fails, everything switched so far is switched back (exit 1), or, if switching back
   fails too, the leftovers are listed (exit 7).
6. --retire-old then deletes the old credential, refusing while anything still uses it.

With --checkpoint FILE the run is journaled (fsynced JSONL); after a crash the same command with
--resume carries on: the plan, including each flow's original status, comes from the journal,
and every step re-reads state first, so nothing is paused, switched or activated twice.
"""

from __future__ import annotations

import argparse

import nexla_ops

EXAMPLES = """examples:
  # who uses credential 11, and would credential 15 work? (no writes)
  python scripts/rotate_credential.py --old 11 --new 15 --plan

  # rotate, journaled; re-run the same command with --resume after a crash
  python scripts/rotate_credential.py --old 11 --new 15 --checkpoint rotate-11.jsonl
  python scripts/rotate_credential.py --old 11 --new 15 --checkpoint rotate-11.jsonl --resume

  # rotate and delete the old credential once nothing uses it
  python scripts/rotate_credential.py --old 11 --new 15 --retire-old --json

exit codes: 0 rotated (or planned); 1 probe failed or the rotation failed and was rolled back;
  2 bad input; 3 configuration; 4 auth; 5 a credential was not found; 6 transient;
  7 needs a person: rolling back failed, or --retire-old refused (leftovers listed).
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "rotate_credential.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--old", required=True, metavar="ID", help="credential in use now")
    parser.add_argument("--new", required=True, metavar="ID", help="credential to switch to")
    parser.add_argument("--plan", "--dry-run", dest="plan", action="store_true",
                        help="probe and show the affected sources/destinations; write nothing")
    parser.add_argument("--retire-old", action="store_true",
                        help="after success delete the old credential (refused while in use)")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="JSONL journal of every step (fsynced), for --resume")
    parser.add_argument("--resume", action="store_true",
                        help="continue the rotation recorded in --checkpoint")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops import rotation

    return rotation.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
