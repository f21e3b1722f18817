"""A nexset's saved shape: the baseline file a schema check compares the live schema with.

A baseline is JSON, written atomically, and says it is ours (``"nexla_ops":
"nexset-schema-baseline"``): --save replaces only a file that parses as our baseline of the
same nexset, never someone else's.
It keeps the fields as read (path -> type and nullability) and the output_schema they came
from, so a later version can re-read the original.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nexla_ops

from .fields import MAX_FIELDS, FieldType, schema_fields

MARKER = "nexset-schema-baseline"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class Baseline:
    nexset_id: int
    name: str
    saved_at: str
    fields: dict  # path -> FieldType, in the schema's order


def file_in(directory: str, nexset_id: int) -> str:
    """The baseline file of one nexset under --baseline-dir."""
    return os.path.join(directory, f"nexset-{nexset_id}.schema.json")


def check_directory(directory: str) -> None:
    """--baseline-dir must be a directory, or not exist yet (--save creates it)."""
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise nexla_ops.BadInput(f"--baseline-dir {directory}: expected a directory")


def read(path: str, field: str) -> Baseline | None:
    """The baseline in `path` (None when there is none); BadInput naming `field` (the flag) for
    a file that is not a readable baseline of ours."""
    from nexla_ops.files import parse_json, read_input_text

    if not os.path.lexists(path):
        return None
    where = f"{field} {path}"
    try:
        doc = parse_json(read_input_text(path), where)
    except nexla_ops.BadInput as exc:  # the file's own problem, said with the flag
        if exc.message.startswith(field):
            raise
        raise nexla_ops.BadInput(f"{field}: {exc.message}") from None
    if not isinstance(doc, dict) or doc.get("nexla_ops") != MARKER:
        raise nexla_ops.BadInput(f"{where}: not a nexset schema baseline (expected the "
                                 f"\"nexla_ops\": \"{MARKER}\" marker --save writes)")
    if doc.get("format") != FORMAT:
        raise nexla_ops.BadInput(f"{where}: format: expected {FORMAT}, got {doc.get('format')!r}")
    nexset_id = doc.get("nexset_id")
    if isinstance(nexset_id, bool) or not isinstance(nexset_id, int) or nexset_id <= 0:
        raise nexla_ops.BadInput(f"{where}: nexset_id: expected a positive integer")
    fields = doc.get("fields")
    if not isinstance(fields, dict) or len(fields) > MAX_FIELDS:
        raise nexla_ops.BadInput(f"{where}: fields: expected an object of at most {MAX_FIELDS} "
                                 "fields")
    parsed = {}
    for path_name, value in fields.items():
        if not path_name or not path_name.isprintable():
            raise nexla_ops.BadInput(f"{where}: fields: expected printable field names, got "
                                     f"{nexla_ops.one_line(repr(path_name), 60)}")
        parsed[path_name] = FieldType.from_doc(value, f"{where}: fields.{path_name}")
    name = doc.get("name")
    return Baseline(nexset_id, name if isinstance(name, str) else "",
                    str(doc.get("saved_at") or ""), parsed)


def check_writable(path: str, field: str, nexset_id: int | None) -> None:
    """--save may write `path`: nothing there, or a regular file holding our baseline of the
    same nexset (None: of any); its directory exists or can be made. BadInput otherwise,
    before anything is sent."""
    parent = os.path.dirname(path) or "."
    while not os.path.lexists(parent) and os.path.dirname(parent) not in ("", parent):
        parent = os.path.dirname(parent)
    if os.path.lexists(parent) and not os.path.isdir(parent):
        raise nexla_ops.BadInput(f"{field} {path}: {parent} is not a directory")
    if not os.path.lexists(path):
        return
    refusal = f"{field} {path}: exists and is not a nexset schema baseline --save wrote; " \
              "refusing to replace it"
    if os.path.islink(path) or not os.path.isfile(path):
        raise nexla_ops.BadInput(refusal)
    try:
        saved = read(path, field)
    except nexla_ops.BadInput:
        raise nexla_ops.BadInput(refusal) from None
    if nexset_id is not None and saved.nexset_id != nexset_id:
        raise nexla_ops.BadInput(f"{field} {path}: holds nexset {saved.nexset_id}'s baseline, "
                                 f"not nexset {nexset_id}'s; refusing to replace it")


def write(path: str, field: str, nexset_id: int, name: str, output_schema: Any,
          saved_at: str) -> Baseline:
    """Save the live schema as the baseline in `path`, replacing only this nexset's baseline
    of ours: anything else there is refused (check_writable), never overwritten."""
    check_writable(path, field, nexset_id)  # again: the file may have changed since prepare
    fields = schema_fields(output_schema)
    doc = {"nexla_ops": MARKER, "format": FORMAT, "nexset_id": nexset_id, "name": name,
           "saved_at": saved_at, "fields": {p: t.to_doc() for p, t in fields.items()},
           "output_schema": output_schema if isinstance(output_schema, dict) else None}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nexla_ops.write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return Baseline(nexset_id, name, saved_at, fields)
