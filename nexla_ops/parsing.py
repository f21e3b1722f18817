"""User input and API values into Python values: ids, durations, times (strict, for flags) and
API timestamps (lenient: None when unreadable)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .errors import BadInput
from .redact import one_line, redact_text

MAX_ID_DIGITS = 19  # ids are 64-bit integers; a longer string is not an id

# Longest value a seconds flag takes (about 3 years): beyond it sleeps and thread timeouts
# overflow, and no real wait is that long.
MAX_SECONDS = 1e8
MAX_COUNT = 1_000_000  # the most any count flag (attempts, window, batch size) needs


def parse_id(value: Any, field: str) -> int:
    """A positive integer id from a flag or a file ('123' or 123); BadInput naming the field."""
    text = "" if value is None or isinstance(value, bool) else str(value).strip()
    if (not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS
            or int(text) <= 0):
        raise BadInput(f"{field}: expected a positive integer id, got "
                       f"{one_line(redact_text(str(value)), 40)!r}")
    return int(text)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")


def parse_duration(text: str | float | int, *, field: str = "duration") -> float:
    """'90' or '90s' -> 90.0; '30m', '2h', '1d', '1w', '1h30m' -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        parts = _DURATION_PART.findall(raw)
        if (not raw or "".join(n + u for n, u in parts) != raw.replace(" ", "")
                or (len(parts) > 1 and not all(u for _, u in parts))):  # "1h30": 30 what?
            raise BadInput(f"{field}: expected a duration like 90, 30s, 15m, 2h or 1d; "
                           f"got {one_line(redact_text(str(text)), 40)!r}")
        seconds = sum(float(n) * _DURATION_UNITS[u or "s"] for n, u in parts)
    if seconds < 0:
        raise BadInput(f"{field}: must not be negative")
    if seconds > MAX_SECONDS:
        raise BadInput(f"{field}: at most {MAX_SECONDS:.0f} seconds")
    return seconds


def number_flag(kind: type = float, minimum: float = 0, *, above: bool = False,
                maximum: float | None = None):
    """An argparse type: a finite int or float, written plainly (no padding, no '1_000'),
    >= minimum (> minimum with above=True) and <= maximum (MAX_SECONDS for floats,
    MAX_COUNT for ints). --lock-wait 0 means "don't wait"; --timeout must be above 0."""
    import argparse
    import math

    top = maximum if maximum is not None else MAX_COUNT if kind is int else MAX_SECONDS

    def parse(text: str):
        try:
            value = kind(text) if text == text.strip() and "_" not in text \
                and len(text) <= 40 else None
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            what = "a whole number" if kind is int else "a finite number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text[:40]!r}")
        if value < minimum or (above and value == minimum) or value > top:
            low = f"{'>' if above else '>='} {minimum:g}"
            raise argparse.ArgumentTypeError(f"expected a value {low} and <= {top:g}, "
                                             f"got {text[:40]!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def id_flag(text: str) -> int:
    """An argparse type for a resource id (parse_id's rules)."""
    import argparse

    try:
        return parse_id(text, "id")
    except BadInput:
        raise argparse.ArgumentTypeError(f"expected a positive integer id, got "
                                         f"{one_line(redact_text(text), 40)!r}") from None


def parse_time(text: str, *, field: str = "time", now: Any = None):
    """ISO-8601 ('2024-05-01T10:00:00Z', '2024-05-01'), a relative age ('30m', '2h', '1d' ago)
    or epoch seconds/milliseconds -> timezone-aware UTC datetime."""
    now = now or dt.datetime.now(dt.timezone.utc)
    raw = str(text).strip()
    if re.fullmatch(r"(\d+(\.\d+)?[smhdw])+", raw.lower()):
        return now - dt.timedelta(seconds=parse_duration(raw, field=field))
    if re.fullmatch(r"\d{9,}", raw):  # epoch; 12+ digits are milliseconds (Nexla log times)
        seconds = int(raw) / 1000 if len(raw) >= 12 else int(raw)
        try:
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise BadInput(f"{field}: {one_line(raw, 40)} is past any date (epoch seconds, "
                           "or milliseconds with 12 or more digits)") from None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(f"{field}: expected ISO-8601 (2024-05-01T10:00:00Z) or a relative "
                       f"age like 30m, 2h, 1d; got {one_line(raw, 40)!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


_NUMBER_TEXT = re.compile(r"\s*-?\d+(\.\d+)?\s*")


def api_count(value: Any) -> int:
    """A count as the API sends it (an int, a whole float, or digits) -> int; 0 when absent or
    unreadable, so one garbled figure does not end a report."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value) <= 30:
        return int(value)
    return 0


def api_id(value: Any) -> int | None:
    """An id as the API sends it -> a positive int; None when absent or not an id (a float,
    a bool, a list): such an id names nothing to ask the API about."""
    return value if type(value) is int and value > 0 else None


def api_time(value: Any):
    """A timestamp as the API sends it (ISO-8601, or epoch seconds or milliseconds, as a number
    or digits) -> timezone-aware UTC datetime; None when absent or unreadable."""
    if type(value) is str and len(value) >= 20 and value[-1] == "Z" and value[4] == "-":
        # The API's own form (2024-05-01T10:00:00.123Z), read without the general path's
        # number test and replaces: a health check reads two per run of every flow.
        # (an offset string, not .replace(tzinfo=...), which costs several times the parse)
        try:
            return dt.datetime.fromisoformat(value[:-1] + "+00:00")
        except ValueError:  # also "...+02:00Z", which names two offsets
            return None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        value = float(value)
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= 1e11 else value  # 12+ digits: epoch ms
        try:
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        # (fromisoformat reads a "Z" suffix only from Python 3.11)
        moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")
                                           .replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)
