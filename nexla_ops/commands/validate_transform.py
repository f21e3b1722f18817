"""Prove a transform does what it claims before it goes live.

Takes a nexset (the parent) and a transform (a file with the operations, or a reusable
transform's id), lets Nexla itself apply the transform to the parent's sample records, and
compares input and output:

* schema diff: fields added, removed, or whose type changed;
* record diff: per sample record, the fields added, removed or changed;
* a silent pass-through: output equal to input. Nexla does not report a transform that fails
  as a whole; it passes the records through unchanged. This is flagged as a failure;
* records dropped to errors: input records with no output record;
* optional expectations: --expect-fields, --expect-schema.

How the transform is run: the SDK (1.0.8) has no dry-run/preview endpoint for transforms, so
the script creates a temporary derived nexset named nexla-ops-validate-<random> (tagged
nexla-ops-validate, no destinations) with the transform, reads its samples and output schema,
then deletes it, also when anything fails (--keep keeps it). No transform logic runs locally.

Exit codes: 0 the transform passes; 1 it fails (reasons listed); 2 bad input; 5 no such nexset
or transform; 6 API unavailable (safe to re-run); 7 passed/failed but the temporary nexset
could not be deleted (its id is printed).
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag, number_flag
from nexla_ops.transforms import DEFAULT_SAMPLES

EXAMPLES = """examples:
  # validate a transform file against nexset 123's samples
  python scripts/validate_transform.py --nexset 123 --transform-file examples/transforms/clean.json
  # validate reusable transform 901, require two output fields, one JSON document out
  python scripts/validate_transform.py --nexset 123 --transform-id 901 \\
      --expect-fields order_id,country --json
  # require exact field types (JSON schema, or a {"field": "type"} mapping)
  python scripts/validate_transform.py --nexset 123 --transform-file examples/transforms/clean.json \\
      --expect-schema examples/transforms/clean-types.json
  # show the plan (temporary nexset to create) without writing anything
  python scripts/validate_transform.py --nexset 123 --transform-file examples/transforms/clean.json --dry-run

transform file (JSON or YAML): {"version": 1, "operations": [{"operation": "shift", "spec":
  {...}}]}, a bare list of operations, or a transform export with "code": [...].

exit codes: 0 pass, 1 fail (reasons listed), 2 bad input, 5 not found, 6 transient,
  7 the temporary nexset could not be deleted (its id is printed)
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "validate_transform.py",
        description="Let Nexla apply a transform to a nexset's sample records and check the "
                    "result: schema and record diff, silent pass-through, dropped records, "
                    "expected fields and types.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nexset", type=id_flag, required=True, metavar="ID",
                        help="the parent nexset whose samples the transform is applied to")
    parser.add_argument("--transform-file", metavar="FILE",
                        help="the transform's operations (JSON or YAML)")
    parser.add_argument("--transform-id", type=id_flag, metavar="ID",
                        help="a reusable transform (GET /transforms/ID)")
    parser.add_argument("--expect-fields", metavar="A,B",
                        help="fields the output must have (dotted paths for nested ones)")
    parser.add_argument("--expect-schema", metavar="FILE",
                        help="output types to require: a JSON schema or {\"field\": \"type\"}")
    parser.add_argument("--samples", type=number_flag(int, 1), default=DEFAULT_SAMPLES, metavar="N",
                        help=f"sample records to test with (default {DEFAULT_SAMPLES})")
    parser.add_argument("--settle", type=number_flag(float, 0), default=5.0, metavar="S",
                        help="how long to wait for the temporary nexset's samples (default 5)")
    parser.add_argument("--show-values", action="store_true",
                        help="include before/after values in the record diff (they may hold "
                             "personal data)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary nexset (its id is printed)")
    parser.add_argument("--dry-run", action="store_true",
                        help="show the temporary nexset that would be created; write nothing")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops import transforms

    return transforms.run(args, ctx)


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
