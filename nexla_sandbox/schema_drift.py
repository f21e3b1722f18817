"""Upstream schema changes of a source's records (the control API's `schema_change`).

A change is one dict of steps, applied to every record in this order, each step seeing the
result of the one before: rename, retype, add, drop, nullable. parse_change() checks a
change's shape; apply_change() checks it against the records (a rename of a field they do not
have, ...) and returns the changed records. Both raise ChangeError naming the body key. Pure:
no store, no clock.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math

STEPS = ("rename", "retype", "add", "drop", "nullable")
TYPES = ("string", "integer", "number", "boolean")
MAX_NAME = 256  # a field name longer than this is a mistake, not a field


class ChangeError(ValueError):
    """A change that cannot be applied; the message starts with the body key at fault."""


def parse_change(body: dict) -> dict:
    """The change steps of a request body (other keys are the caller's), shape-checked."""
    change = {step: body[step] for step in STEPS if step in body}
    if not change:
        raise ChangeError(f"body: expected at least one of {', '.join(STEPS)}")
    for step in ("rename", "retype", "add"):
        if step in change:
            _names(step, change[step], mapping=True)
    for step in ("drop", "nullable"):
        if step in change:
            _names(step, change[step], mapping=False)
            change[step] = list(dict.fromkeys(change[step]))
    for field, new in change.get("rename", {}).items():
        if not _is_name(new):
            raise ChangeError(f"rename: {field!r}: expected a new name (a non-empty string "
                              f"of up to {MAX_NAME} characters)")
    for field, kind in change.get("retype", {}).items():
        if kind not in TYPES:
            raise ChangeError(f"retype: {field!r}: expected one of {', '.join(TYPES)}")
    for field, value in change.get("add", {}).items():
        try:  # what the store cannot save (NaN, Infinity, too deep) is refused here
            json.dumps(value, allow_nan=False)
        except (ValueError, RecursionError):
            raise ChangeError(f"add: {field!r}: expected a JSON value without NaN or "
                              "Infinity") from None
    return change


def _is_name(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME


def _names(step: str, value, *, mapping: bool):
    if mapping:
        if not isinstance(value, dict) or not value:
            raise ChangeError(f"{step}: expected a non-empty object keyed by field name")
        names = list(value)
    else:
        if not isinstance(value, list) or not value:
            raise ChangeError(f"{step}: expected a non-empty list of field names")
        names = value
    for name in names:
        if not _is_name(name):
            raise ChangeError(f"{step}: expected field names (non-empty strings of up to "
                              f"{MAX_NAME} characters), got {json.dumps(name)[:60]}")


def apply_changes(changes: list[dict], records: list[dict]) -> list[dict]:
    for change in changes:
        records = apply_change(change, records)
    return records


def apply_change(change: dict, records: list[dict]) -> list[dict]:
    """New records with `change` applied (the inputs are not modified)."""
    rename = change.get("rename", {})
    _need_fields("rename", rename, records)
    renamed = [rename.get(name, name) for name in _fields(records)]
    for old, new in rename.items():
        if renamed.count(new) > 1:
            raise ChangeError(f"rename: {old!r}: {new!r} is already a field")
    # A rebuilt dict keeps each field where it was: schema property order follows records.
    records = [{rename.get(k, k): v for k, v in record.items()} for record in records]
    retype = change.get("retype", {})
    _need_fields("retype", retype, records)
    records = [{k: convert(v, retype[k]) if k in retype else v for k, v in record.items()}
               for record in records]
    add = change.get("add", {})
    present = set(_fields(records))
    for name in add:
        if name in present:
            raise ChangeError(f"add: {name!r} is already a field (retype or drop it instead)")
    records = [{**record, **copy.deepcopy(add)} for record in records]
    drop = change.get("drop", [])
    _need_fields("drop", drop, records)
    records = [{k: v for k, v in record.items() if k not in drop} for record in records]
    nullable = change.get("nullable", [])
    _need_fields("nullable", nullable, records)
    # Every other record, from the second: the first keeps its value and so its type.
    return [{k: None if k in nullable and i % 2 else v for k, v in record.items()}
            for i, record in enumerate(records)]


def _fields(records: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for record in records for k in record))


def _need_fields(step: str, names, records: list[dict]):
    present = set(_fields(records))
    for name in names:
        if name not in present:
            raise ChangeError(f"{step}: the source's records have no field {name!r}")


def convert(value, kind: str):
    """`value` as `kind`; null stays null. What does not parse becomes a stable hash of its
    text (a number that was a string keeps telling records apart, as an id would)."""
    if value is None:
        return None
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value
        return str(value) if isinstance(value, (int, float)) else json.dumps(value)
    if kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return bool(value)
    if kind == "integer":
        if isinstance(value, (bool, int)):
            return int(value)
        if isinstance(value, float):
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                number = _finite(value)
                return int(number) if number is not None else _hash(value)
        return _hash(json.dumps(value))
    # number
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range
            return float(_hash(str(value)))
    if isinstance(value, str):
        number = _finite(value)
        return number if number is not None else float(_hash(value))
    return float(_hash(json.dumps(value)))


def _finite(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16)
