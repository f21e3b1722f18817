"""Is the new nexset fit to replace the old one? Its samples and output_schema against the old
one's: at least one sample, no error records, no breaking schema change unless allowed (a
removed, renamed or retyped field breaks a destination mapped to the old shape), and the
expected fields and types (as validate_transform checks them)."""

from __future__ import annotations

from typing import Any

from nexla_ops.contracts.changes import classify
from nexla_ops.contracts.fields import schema_fields
from nexla_ops.transforms import check_expectations, flatten_schema, is_error_sample


def verdict(old_samples: list[tuple[dict, Any]], new_samples: list[tuple[dict, Any]],
            old_schema: Any, new_schema: Any, *, expect_fields: list[str],
            expect_schema: dict[str, set[str]], allow_breaking: bool) -> dict:
    """The validation report from samples and schemas alone (no API calls)."""
    reasons: list[str] = []
    warnings: list[str] = []
    old_records = [r for r, m in old_samples if not is_error_sample(m)]
    new_records = [r for r, m in new_samples if not is_error_sample(m)]
    errors = [m for _, m in new_samples if is_error_sample(m)]
    if not new_records:
        reasons.append("the new nexset has no sample records")
    if errors:
        reasons.append(f"the new nexset's samples hold {len(errors)} error record(s)")
    before, after = schema_fields(old_schema), schema_fields(new_schema)
    if not after:
        reasons.append("the new nexset has no output_schema to compare")
    changes = classify(before, after) if after else []
    breaking = [c for c in changes if c.breaking]
    if breaking and not allow_breaking:
        reasons.append(f"{len(breaking)} breaking schema change(s) (pass --allow-breaking if "
                       "every destination is ready for them): "
                       + "; ".join(c.describe() for c in breaking))
    elif breaking:
        warnings.append(f"{len(breaking)} breaking schema change(s) allowed by "
                        "--allow-breaking")
    if old_records and new_records == old_records and not changes:
        warnings.append("the new nexset's samples equal the old one's: nothing changes")
    expectations = check_expectations(expect_fields, expect_schema, flatten_schema(new_schema))
    reasons += [f"expected field {f!r} is missing from the new nexset"
                for f in expectations["missing"]]
    reasons += [f"field {m['field']!r} has type {m['actual']}, expected {m['expected']}"
                for m in expectations["type_mismatches"]]
    return {"ok": not reasons, "verdict": "fail" if reasons else "pass", "reasons": reasons,
            "warnings": warnings,
            "samples": {"old": len(old_records), "new": len(new_records), "errors": len(errors)},
            "changes": [c.to_doc() for c in changes],
            "breaking": len(breaking), "expectations": expectations}
