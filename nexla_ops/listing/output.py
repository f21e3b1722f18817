"""Writing records as text, JSON, JSONL or CSV (nexla_ops.files.open_output gives the stream)."""

from __future__ import annotations

import csv
import json

import nexla_ops

from .rows import Item

# --------------------------------------------------------------------------- output


def record_of(item: Item, *, full: bool = False, fields=None) -> dict:
    """One output record: the summary row, or the whole object; redacted, JSON-safe."""
    if full:
        record = dict(item.obj)
        for key in ("id", "name", "status", "updated_at"):
            record.setdefault(key, item.row.get(key))
        record.setdefault("type", item.row["type"])
        if fields:
            record = {name: _dig(record, name) for name in fields}
        return nexla_ops.redact(nexla_ops.to_jsonable(record))
    # Summary rows are built from decoded JSON under our own (non-secret) key names, so only
    # their values need scrubbing; the full key-by-key redact() would dominate a 10,000-row
    # listing's client time.
    row = item.row if not fields else {name: item.row.get(name) for name in fields}
    return {
        key: nexla_ops.redact_text(value) if isinstance(value, str)
        else nexla_ops.redact(value) if isinstance(value, (list, dict))
        else value
        for key, value in row.items()
    }


def _dig(record, dotted: str):
    value = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(text: str) -> str:
    """Text for a CSV cell: one a spreadsheet would run as a formula gets a leading '."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value) -> str:
    """A CSV cell. Text from the API that a spreadsheet would run as a formula gets a leading
    ' (numbers stay numbers: -5 is a value, not a formula)."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, list) and not any(isinstance(v, (list, dict)) for v in value):
        text = ";".join(str(v) for v in value)
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    return formula_safe(text)


def write_records(records, stream, fmt: str, columns) -> int:
    """Write records; jsonl and csv stream one record at a time, text and json collect."""
    count = 0
    if fmt == "jsonl":
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        header = list(columns) if columns else None
        if header:
            writer.writerow(header)
        for record in records:
            if header is None:  # --full without --fields: the first object's keys
                header = list(record)
                writer.writerow(header)
            writer.writerow([_cell(record.get(column)) for column in header])
            count += 1
    elif fmt == "json":
        collected = list(records)
        count = len(collected)
        stream.write(json.dumps(collected, indent=2, ensure_ascii=False) + "\n")
    else:
        collected = list(records)
        count = len(collected)
        stream.write(nexla_ops.format_table(collected, list(columns)) + "\n")
    return count
