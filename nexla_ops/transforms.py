"""Validating a transform the way Nexla runs it: a temporary derived nexset (always deleted),
its samples against the parent's, schema and record diffs, pass-through and dropped-record
checks; run(args, ctx) is what the validate-transform command calls."""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from typing import Any

import nexla_ops
from nexla_ops import stopping
from nexla_ops.stopping import Terminated

TEMP_PREFIX = "nexla-ops-validate-"
TEMP_TAG = "nexla-ops-validate"
DEFAULT_SAMPLES = 20
MAX_SAMPLES = 500
# Keys in a sample's nexlaMetaData that identify which input record an output came from.
ORIGIN_KEYS = ("sourceKey", "sourceOffset")
JSON_TYPES = ("null", "boolean", "integer", "number", "string", "object", "array")


# ---------------------------------------------------------------- input

def load_transform_spec(path: str) -> dict:
    """The transform file as {"version": .., "operations": [...]}; BadInput names the problem."""
    data = nexla_ops.load_structured_file(path)
    where = "--transform-file"
    if isinstance(data, dict) and isinstance(data.get("transform"), dict):
        data = data["transform"]  # a nexset export: {"transform": {...}}
    if isinstance(data, list):
        data = {"version": 1, "operations": data}
    elif isinstance(data, dict) and "operations" not in data and isinstance(data.get("code"),
                                                                           list):
        data = {"version": 1, "operations": data["code"]}  # a reusable transform's export
    if not isinstance(data, dict) or not isinstance(data.get("operations"), list):
        raise nexla_ops.BadInput(f"{where}: expected {{\"version\": 1, \"operations\": "
                                 "[...]}, a list of operations, or an object with \"code\"")
    if not data["operations"]:
        raise nexla_ops.BadInput(f"{where}: operations: expected at least one operation")
    for i, op in enumerate(data["operations"]):
        if not isinstance(op, dict) or not isinstance(op.get("operation"), str) \
                or not op["operation"].strip():
            raise nexla_ops.BadInput(f"{where}: operations[{i}].operation: expected a "
                                     "non-empty string")
        if "spec" in op and not isinstance(op["spec"], (dict, list)):
            raise nexla_ops.BadInput(f"{where}: operations[{i}].spec: expected an object")
    return {"version": data.get("version", 1), "operations": data["operations"]}


def parse_expect_fields(text: str | None) -> list[str]:
    if text is None:
        return []
    fields = [f.strip() for f in text.split(",")]
    if not all(fields):
        raise nexla_ops.BadInput("--expect-fields: expected comma-separated field names "
                                 "(dotted paths for nested fields), e.g. order_id,customer.id")
    return list(dict.fromkeys(fields))


def load_expect_schema(path: str | None) -> dict[str, set[str]]:
    """--expect-schema: a JSON schema with properties, or {"field": "type" | [types]}."""
    if path is None:
        return {}
    data = nexla_ops.load_structured_file(path)
    if isinstance(data, dict) and isinstance(data.get("properties"), dict):
        return {k: set(v.split("|")) for k, v in flatten_schema(data).items()}
    if isinstance(data, dict) and data:
        expected: dict[str, set[str]] = {}
        for field, kind in data.items():
            kinds = kind if isinstance(kind, list) else [kind]
            if not kinds or not all(isinstance(k, str) and k in (*JSON_TYPES, "any")
                                    for k in kinds):
                raise nexla_ops.BadInput(f"--expect-schema: {field}: expected a JSON type "
                                         f"({', '.join(JSON_TYPES)}, any) or a list of them")
            expected[str(field)] = set(kinds)
        return expected
    raise nexla_ops.BadInput("--expect-schema: expected a JSON schema with \"properties\" or a "
                             "non-empty {\"field\": \"type\"} mapping")


# ---------------------------------------------------------------- diffs (pure functions)

def _schema_type(node: Any) -> str:
    kind = node.get("type") if isinstance(node, dict) else None
    if isinstance(kind, list):
        return "|".join(sorted(str(k) for k in kind)) or "any"
    return str(kind) if kind else "any"


def flatten_schema(schema: Any, prefix: str = "") -> dict[str, str]:
    """JSON-schema-like output_schema -> {"a": "object", "a.b": "integer", "c[]": "string"}."""
    fields: dict[str, str] = {}
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return fields
    for name, node in props.items():
        path = f"{prefix}{name}"
        fields[path] = _schema_type(node)
        if isinstance(node, dict):
            fields.update(flatten_schema(node, path + "."))
            items = node.get("items")
            if isinstance(items, dict) and isinstance(items.get("properties"), dict):
                fields.update(flatten_schema(items, path + "[]."))
    return fields


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


def flatten_record(record: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1]} -> {"a": {...}, "a.b": 1, "c": [1]} (lists are leaves)."""
    out: dict[str, Any] = {}
    if not isinstance(record, dict):
        return out
    for key, value in record.items():
        path = f"{prefix}{key}"
        out[path] = value
        if isinstance(value, dict):
            out.update(flatten_record(value, path + "."))
    return out


def infer_schema(records: list[dict]) -> dict[str, str]:
    """Field -> type(s) seen in the records; null only when nothing else was seen."""
    seen: dict[str, set[str]] = {}
    for record in records:
        for path, value in flatten_record(record).items():
            seen.setdefault(path, set()).add(json_type(value))
    result = {}
    for path, kinds in seen.items():
        if len(kinds) > 1:
            kinds.discard("null")
        if kinds == {"integer", "number"}:
            kinds = {"number"}
        result[path] = "|".join(sorted(kinds))
    return result


def schema_diff(before: dict[str, str], after: dict[str, str]) -> dict[str, list]:
    return {
        "added": [{"field": f, "type": after[f]} for f in after if f not in before],
        "removed": [{"field": f, "type": before[f]} for f in before if f not in after],
        "changed": [{"field": f, "from": before[f], "to": after[f]}
                    for f in after if f in before and before[f] != after[f]],
    }


def record_diff(before: dict, after: dict, *, show_values: bool) -> dict:
    """Leaf-level difference of one input record and its output record."""
    old, new = flatten_record(before), flatten_record(after)
    leaves_old = {k: v for k, v in old.items() if not isinstance(v, dict) or not v}
    leaves_new = {k: v for k, v in new.items() if not isinstance(v, dict) or not v}
    changed = [k for k in leaves_new if k in leaves_old and leaves_old[k] != leaves_new[k]]
    diff: dict[str, Any] = {
        "added": [k for k in leaves_new if k not in old],
        "removed": [k for k in leaves_old if k not in new],
        "changed": changed,
    }
    if show_values:
        diff["values"] = {k: {"from": leaves_old.get(k), "to": leaves_new.get(k)}
                          for k in (*diff["added"], *diff["removed"], *changed)}
    return diff


def origin_of(meta: Any) -> tuple | None:
    """Which input record a sample came from, if Nexla's metadata says (sourceKey/Offset)."""
    if not isinstance(meta, dict) or meta.get("sourceOffset") is None:
        return None
    return tuple(str(meta.get(k)) for k in ORIGIN_KEYS)


def is_error_sample(meta: Any) -> bool:
    """An error record among the samples (include_metadata=True): the input that failed."""
    return isinstance(meta, dict) and bool(meta.get("errorRecord") or meta.get("error"))


def pair_samples(inputs: list[tuple[dict, Any]], outputs: list[tuple[dict, Any]],
                 errors: list[tuple[dict, Any]]) -> dict:
    """Match output records to the input records they came from.

    1. By origin metadata (sourceKey/sourceOffset) when every sample carries it.
    2. Otherwise: an error sample holds the input record that failed, so those inputs are the
       dropped ones; the rest map in order onto the outputs (a transform keeps record order).
    3. If outputs are still missing, no sound pairing exists: the per-record diff is skipped.
    """
    in_keys = [origin_of(m) for _, m in inputs]
    out_keys = [origin_of(m) for _, m in outputs]
    if inputs and outputs and all(in_keys) and all(out_keys):
        by_origin = {k: rec for (rec, _), k in zip(outputs, out_keys, strict=True)}
        pairs = [(i, rec, by_origin[k])
                 for i, ((rec, _), k) in enumerate(zip(inputs, in_keys, strict=True))
                 if k in by_origin]
        dropped = [i for i, k in enumerate(in_keys) if k not in by_origin]
        return {"pairing": "origin", "pairs": pairs, "dropped": dropped}
    failed = [rec for rec, _ in errors]
    dropped = []
    for i, (rec, _) in enumerate(inputs):
        if rec in failed:
            failed.remove(rec)
            dropped.append(i)
    kept = [i for i in range(len(inputs)) if i not in dropped]
    if len(outputs) >= len(kept):
        return {"pairing": "position", "dropped": dropped,
                "pairs": [(i, inputs[i][0], outputs[n][0]) for n, i in enumerate(kept)]}
    # More inputs than outputs and errors explain: some went missing, we cannot tell which.
    unexplained = len(kept) - len(outputs)
    return {"pairing": "none", "pairs": [], "dropped": dropped,
            "unexplained_missing": unexplained}


def type_ok(expected: set[str], actual: str) -> bool:
    if "any" in expected:
        return True
    allowed = set(expected) | ({"integer"} if "number" in expected else set())
    return set(actual.split("|")) - {"null"} <= allowed


def check_expectations(fields: list[str], schema: dict[str, set[str]],
                       out_schema: dict[str, str]) -> dict:
    missing = [f for f in [*fields, *schema]
               if f not in out_schema and not any(p.startswith(f + ".") for p in out_schema)]
    mismatched = [{"field": f, "expected": "|".join(sorted(kinds)), "actual": out_schema[f]}
                  for f, kinds in schema.items()
                  if f in out_schema and not type_ok(kinds, out_schema[f])]
    return {"fields": fields, "schema": {f: "|".join(sorted(k)) for f, k in schema.items()},
            "missing": list(dict.fromkeys(missing)), "type_mismatches": mismatched}


def evaluate(inputs: list[tuple[dict, Any]], samples: list[tuple[dict, Any]],
             in_schema: dict | None, out_schema: dict | None, *, expect_fields: list[str],
             expect_schema: dict[str, set[str]], show_values: bool) -> dict:
    """The verdict from samples and schemas alone (no API calls): used by run(), testable.

    inputs: the parent's samples; samples: the transformed nexset's, error records included.
    """
    reasons: list[str] = []
    warnings: list[str] = []
    outputs = [s for s in samples if not is_error_sample(s[1])]
    errors = [s for s in samples if is_error_sample(s[1])]
    in_records = [r for r, _ in inputs]
    out_records = [r for r, _ in outputs]
    if in_schema and out_schema and flatten_schema(in_schema) and flatten_schema(out_schema):
        schema_source = "output_schema"
        before, after = flatten_schema(in_schema), flatten_schema(out_schema)
    else:
        schema_source = "samples"
        before, after = infer_schema(in_records), infer_schema(out_records)
    paired = pair_samples(inputs, outputs, errors)
    records = []
    unchanged = 0
    for index, old, new in paired["pairs"]:
        diff = record_diff(old, new, show_values=show_values)
        if diff["added"] or diff["removed"] or diff["changed"]:
            records.append({"index": index, **diff})
        else:
            unchanged += 1
    passthrough = bool(in_records) and out_records == in_records
    dropped = paired["dropped"]
    missing = paired.get("unexplained_missing", 0)

    if not in_records:
        reasons.append("the parent nexset has no sample records, so there is nothing to "
                       "validate against")
    elif passthrough:
        reasons.append(f"silent pass-through: all {len(in_records)} output records equal the "
                       "input records. Nexla passes records through unchanged when a "
                       "transform fails as a whole (e.g. an unknown operation or a bad spec)")
    if dropped or missing:
        reasons.append(f"{len(dropped) + missing} of {len(in_records)} sample records produced "
                       "no output (dropped to errors)")
    if in_records and not out_records:
        reasons.append("the transform produced no output records")
    expectations = check_expectations(expect_fields, expect_schema, after)
    for field in expectations["missing"]:
        reasons.append(f"expected field {field!r} is missing from the output")
    for item in expectations["type_mismatches"]:
        reasons.append(f"field {item['field']!r} has type {item['actual']}, expected "
                       f"{item['expected']}")
    diff = schema_diff(before, after)
    if diff["changed"]:
        warnings.append("type changed: " + ", ".join(f"{c['field']} {c['from']} -> {c['to']}"
                                                      for c in diff["changed"]))
    if diff["removed"]:
        warnings.append("removed: " + ", ".join(c["field"] for c in diff["removed"]))
    if paired["pairing"] == "none":
        warnings.append("records were dropped and the samples carry no origin metadata, so "
                        "outputs cannot be matched to inputs; per-record diff skipped")
    return {
        "ok": not reasons, "verdict": "fail" if reasons else "pass", "reasons": reasons,
        "warnings": warnings,
        "samples": {"input": len(in_records), "output": len(out_records),
                    "dropped": len(dropped) + missing, "dropped_indexes": dropped,
                    "pairing": paired["pairing"]},
        "errors": [{"error": (m or {}).get("error")} for _, m in errors],
        "passthrough": passthrough,
        "schema": {"source": schema_source, **diff},
        "records": records, "records_changed": len(records), "records_unchanged": unchanged,
        "expectations": expectations,
    }


# ---------------------------------------------------------------- API steps

def read_samples(ctx: nexla_ops.Context, nexset_id: int, count: int) -> list[tuple[dict, Any]]:
    """[(record, nexla metadata or None)] — metadata, when present, tells an output's origin."""
    samples = ctx.call(ctx.client.nexsets.get_samples, nexset_id, count=count,
                       include_metadata=True, live=False,
                       what=f"GET /data_sets/{nexset_id}/samples")
    if not isinstance(samples, list):
        raise nexla_ops.ApiError(f"GET /data_sets/{nexset_id}/samples: expected a list of "
                                 "sample records")
    return [(dict(s.raw_message), s.nexla_metadata) for s in samples]


def find_temp_nexset(ctx: nexla_ops.Context, name: str) -> dict | None:
    found = next((n for n in ctx.paginate(ctx.client.nexsets.list, what="GET /data_sets")
                  if getattr(n, "name", None) == name), None)
    return nexla_ops.to_jsonable(found) if found is not None else None


def create_temp_nexset(ctx: nexla_ops.Context, body: dict) -> dict:
    from nexla_sdk.models.nexsets.requests import NexsetCreate

    created = ctx.create_once(lambda: find_temp_nexset(ctx, body["name"]),
                              lambda: ctx.client.nexsets.create(NexsetCreate(**body)),
                              what="POST /data_sets (temporary nexset)")
    return nexla_ops.to_jsonable(created)


def delete_temp_nexset(ctx: nexla_ops.Context, nexset: dict) -> None:
    nexset_id = nexset["id"]
    if str(nexset.get("status") or "").upper() == "ACTIVE":
        # Nexla refuses to delete an active resource (409); the temp nexset inherits its
        # parent's status and has no destinations, so pausing it changes nothing else.
        ctx.request("PUT", f"/data_sets/{nexset_id}/pause")
    # NotFound: a retried DELETE whose first answer was lost; it is gone, which is the goal.
    with contextlib.suppress(nexla_ops.NotFound):
        ctx.call(ctx.client.nexsets.delete, nexset_id, what=f"DELETE /data_sets/{nexset_id}")


def wait_for_output(ctx: nexla_ops.Context, temp_id: int, count: int, expect_any: bool,
                    settle: float) -> list[tuple[dict, Any]]:
    """Samples of the temporary nexset; while empty (Nexla may still be computing them) poll
    for up to `settle` seconds."""
    deadline = time.monotonic() + settle
    delay = 0.2
    while True:
        outputs = read_samples(ctx, temp_id, count)
        if outputs or not expect_any or time.monotonic() + delay > deadline:
            return outputs
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def temp_body(args: argparse.Namespace, spec: dict | None) -> dict:
    body: dict[str, Any] = {
        "name": TEMP_PREFIX + uuid.uuid4().hex[:12],
        "parent_data_set_id": args.nexset,
        "description": "Temporary nexset created by validate_transform.py to test a "
                       "transform; safe to delete.",
        "tags": [TEMP_TAG],
    }
    if spec is not None:
        body.update(has_custom_transform=True, transform=spec)
    else:
        body.update(has_custom_transform=False, transform_id=args.transform_id)
    return body


def validate(ctx: nexla_ops.Context, args: argparse.Namespace, spec: dict | None,
             expect_fields: list[str], expect_schema: dict[str, set[str]]) -> dict:
    """Run the whole check; the temporary nexset is deleted whatever happens (unless --keep)."""
    parent = nexla_ops.to_jsonable(ctx.call(ctx.client.nexsets.get, args.nexset,
                                            what=f"GET /data_sets/{args.nexset}"))
    if args.transform_id is not None:  # fail early (exit 5) on a wrong id
        ctx.call(ctx.client.transforms.get, args.transform_id,
                 what=f"GET /transforms/{args.transform_id}")
    # A derived parent's samples can include its own error records: they are not inputs.
    inputs = [s for s in read_samples(ctx, args.nexset, args.samples)
              if not is_error_sample(s[1])]
    body = temp_body(args, spec)
    temp: dict | None = None
    report: dict[str, Any]
    cleanup: dict[str, Any] = {"name": body["name"], "id": None, "deleted": False,
                               "kept": bool(args.keep)}
    if not inputs:  # nothing to test with: do not create anything
        return {"nexset_id": args.nexset, "ok": False, "verdict": "fail",
                "reasons": [f"nexset {args.nexset} has no sample records, so there is nothing "
                            "to validate the transform against"],
                "warnings": [], "temp_nexset": cleanup}
    try:
        try:
            temp = create_temp_nexset(ctx, body)
        except nexla_ops.ApiError as exc:
            if exc.status not in (400, 422):
                raise
            # Nexla rejected the transform outright: that is a failed validation, not a crash.
            return {"ok": False, "verdict": "fail", "nexset_id": args.nexset,
                    "reasons": [f"Nexla rejected the transform: {exc.message}"],
                    "warnings": [], "temp_nexset": cleanup}
        cleanup["id"] = temp["id"]
        outputs = wait_for_output(ctx, temp["id"], args.samples, bool(inputs), args.settle)
        temp_now = nexla_ops.to_jsonable(ctx.call(ctx.client.nexsets.get, temp["id"],
                                                  what=f"GET /data_sets/{temp['id']}"))
        temp["status"] = temp_now.get("status", temp.get("status"))
        report = evaluate(inputs, outputs, parent.get("output_schema"),
                          temp_now.get("output_schema"), expect_fields=expect_fields,
                          expect_schema=expect_schema, show_values=args.show_values)
    except Terminated:
        if temp is not None or args.keep:
            raise
        # SIGTERM while creating: the create may land all the same, now or in a moment
        with stopping.cleanup(), contextlib.suppress(nexla_ops.OpsError):
            temp = find_temp_nexset(ctx, body["name"])
        if temp is None:
            raise nexla_ops.Partial(
                f"terminated (SIGTERM) while creating the temporary nexset {body['name']}; "
                "it may still appear: delete it if it does (list_resources.py --type nexsets "
                f"--name {body['name']})", leftovers=[{"name": body["name"]}]) from None
        cleanup["id"] = temp["id"]
        raise
    finally:
        if temp is not None and not args.keep:
            try:
                with stopping.cleanup():  # SIGTERM waits for the deletion
                    delete_temp_nexset(ctx, temp)
                cleanup["deleted"] = True
            except nexla_ops.OpsError as exc:
                cleanup["error"] = exc.message
                ctx.warn("could not delete temporary nexset %s (%s): %s", temp["id"],
                         body["name"], exc.message)
    return {"nexset_id": args.nexset, **report, "temp_nexset": cleanup}


# ---------------------------------------------------------------- CLI

def render_text(doc: dict) -> str:
    lines = [f"{doc['verdict'].upper()}: transform on nexset {doc['nexset_id']}"]
    lines += [f"  reason: {r}" for r in doc["reasons"]]
    lines += [f"  warning: {w}" for w in doc.get("warnings", [])]
    if "samples" in doc:
        s = doc["samples"]
        lines.append(f"samples: {s['input']} in, {s['output']} out, {s['dropped']} dropped "
                     f"(matched by {s['pairing']})")
        schema = doc["schema"]
        lines.append(f"schema ({schema['source']}):")
        lines += [f"  + {c['field']} ({c['type']})" for c in schema["added"]]
        lines += [f"  - {c['field']} ({c['type']})" for c in schema["removed"]]
        lines += [f"  ~ {c['field']} ({c['from']} -> {c['to']})" for c in schema["changed"]]
        if not any(schema[k] for k in ("added", "removed", "changed")):
            lines.append("  (no change)")
        lines.append(f"records: {doc['records_changed']} changed, {doc['records_unchanged']} "
                     "unchanged")
        groups: dict[str, list[int]] = {}  # records with the same change are listed once
        for rec in doc["records"]:
            parts = [f"{sign}{','.join(rec[key])}" for sign, key in
                     (("+", "added"), ("-", "removed"), ("~", "changed")) if rec[key]]
            groups.setdefault(" ".join(parts), []).append(rec["index"])
        for change, indexes in groups.items():
            lines.append(f"  #{','.join(map(str, indexes))}: {change}")
        for err in doc.get("errors", []):
            lines.append(f"  error: {err['error']}")
    temp = doc["temp_nexset"]
    if temp.get("id") is not None:
        state = "kept" if temp["kept"] else "deleted" if temp["deleted"] else "NOT deleted"
        lines.append(f"temporary nexset {temp['id']} ({temp['name']}): {state}")
    return "\n".join(lines)


def run(args: argparse.Namespace, ctx: nexla_ops.Context) -> int:
    # Everything the user gave is checked before the first request.
    if (args.transform_file is None) == (args.transform_id is None):
        raise nexla_ops.BadInput("--transform-file/--transform-id: give exactly one")
    if args.nexset <= 0:
        raise nexla_ops.BadInput("--nexset: expected a positive nexset id")
    if args.transform_id is not None and args.transform_id <= 0:
        raise nexla_ops.BadInput("--transform-id: expected a positive transform id")
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise nexla_ops.BadInput(f"--samples: expected 1..{MAX_SAMPLES}")
    if args.settle < 0:
        raise nexla_ops.BadInput("--settle: expected seconds >= 0")
    spec = load_transform_spec(args.transform_file) if args.transform_file else None
    expect_fields = parse_expect_fields(args.expect_fields)
    expect_schema = load_expect_schema(args.expect_schema)

    if args.dry_run:
        parent = ctx.call(ctx.client.nexsets.get, args.nexset,
                          what=f"GET /data_sets/{args.nexset}")
        body = temp_body(args, spec)
        ctx.out({"dry_run": True, "parent": {"id": args.nexset,
                                             "name": getattr(parent, "name", None)},
                 "would_create": {"POST /data_sets": body},
                 "then": ("read its samples and output_schema, compare with the parent's, "
                          + ("keep it (--keep)" if args.keep else "delete it"))},
                "json" if args.json else "text")
        return nexla_ops.EXIT_OK

    doc = validate(ctx, args, spec, expect_fields, expect_schema)
    ctx.out(doc if args.json else render_text(doc), "json" if args.json else "text")
    temp = doc["temp_nexset"]
    if temp.get("id") is not None and not temp["kept"] and not temp["deleted"]:
        raise nexla_ops.Partial(f"temporary nexset {temp['id']} ({temp['name']}) could not be "
                                "deleted; delete it by hand", leftovers=[temp])
    return nexla_ops.EXIT_OK if doc["ok"] else nexla_ops.EXIT_FAILED
