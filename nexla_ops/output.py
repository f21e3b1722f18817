"""Data to stdout: JSON-safe conversion, one redacted JSON document, JSONL, or a text table."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from .redact import REDACTED, escape_text, one_line, redact, redact_text


def to_jsonable(obj: Any) -> Any:
    """Convert pydantic models, datetimes (ISO-8601), enums, sets, paths... to JSON-safe data."""
    import datetime as dt
    import enum

    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((to_jsonable(v) for v in obj), key=repr)
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if hasattr(obj, "get_secret_value"):
        return REDACTED
    if hasattr(obj, "model_dump"):
        try:
            return obj.model_dump(mode="json")
        except Exception:  # exotic extras: fall back to python mode and convert ourselves
            return to_jsonable(obj.model_dump())
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses
        return to_jsonable(dataclasses.asdict(obj))
    return str(obj)


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Redacted, JSON-safe serialisation (one document)."""
    return json.dumps(redact(to_jsonable(obj)), indent=indent, ensure_ascii=False,
                      separators=None if indent else (",", ":"))


def format_table(rows: Iterable[dict], columns: list[str]) -> str:
    """A plain left-aligned text table (header + rows); values are redacted and one-line."""
    cells = [[str(c).upper() for c in columns]]
    for row in rows:
        row = redact(to_jsonable(row))
        cells.append([one_line(escape_text("" if row.get(c) is None else
                                           (json.dumps(row[c]) if isinstance(row[c], (dict, list))
                                            else row[c])), 80) for c in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def emit(obj: Any, fmt: str = "text", stream: Any = None) -> None:
    """Write data to stdout: fmt json (one document), jsonl (one object a line) or text."""
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(dumps(obj) + "\n")
    elif fmt == "jsonl":
        items = obj if isinstance(obj, (list, tuple)) or hasattr(obj, "__next__") else [obj]
        for item in items:
            stream.write(dumps(item, indent=None) + "\n")
    elif isinstance(obj, str):
        stream.write(redact_text(obj).rstrip("\n") + "\n")
    elif isinstance(obj, dict):
        for key, value in redact(to_jsonable(obj)).items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False)
            stream.write(f"{escape_text(key)}: {escape_text(value)}\n")
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(r, dict) for r in obj):
        rows = [to_jsonable(r) for r in obj]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        stream.write(format_table(rows, columns) + "\n")
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            emit(item, "text", stream)
    else:
        stream.write(redact_text(str(to_jsonable(obj))) + "\n")
    stream.flush()
