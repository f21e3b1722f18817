"""The UTC days a report covers: --from and --to (YYYY-MM-DD, both included)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from nexla_ops.errors import BadInput

DEFAULT_DAYS = 30  # today and the 29 days before it
MAX_DAYS = 366  # the org report asks once per day; a longer window is a mistake
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DAY = dt.timedelta(days=1)


def parse_date(text: str, field: str) -> dt.date:
    raw = str(text)
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadInput(f"{field}: expected a date YYYY-MM-DD, got {raw[:40]!r}") from None


def date_flag(text: str) -> dt.date:
    """argparse type for --from/--to."""
    import argparse

    try:
        return parse_date(text, "date")
    except BadInput:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text[:40]!r}") \
            from None


@dataclass(frozen=True)
class Window:
    first: dt.date
    last: dt.date
    now: dt.datetime  # timezone-aware UTC: today's figures end here

    @property
    def days(self) -> list[dt.date]:
        return [self.first + i * DAY for i in range((self.last - self.first).days + 1)]

    @property
    def start(self) -> dt.datetime:
        return day_start(self.first)

    @property
    def end(self) -> dt.datetime:
        """The window's end: midnight after its last day, or now when that is earlier."""
        return min(day_start(self.last) + DAY, self.now)

    def describe(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "days": len(self.days), "timezone": "UTC", "now": self.now}


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def build_window(first: dt.date | None, last: dt.date | None,
                 now: dt.datetime | None = None) -> Window:
    """Defaults: the last DEFAULT_DAYS days up to today (UTC). BadInput naming the flag for
    from > to, a day after today or more than MAX_DAYS days."""
    now = now or dt.datetime.now(dt.timezone.utc)
    today = now.date()
    last = last or today
    first = first or (last - (DEFAULT_DAYS - 1) * DAY)
    if last > today:
        raise BadInput(f"--to: {last} is after today ({today} UTC)")
    if first > last:
        raise BadInput(f"--from: {first} is after --to {last}")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadInput(f"--from: the window is {(last - first).days + 1} days; at most "
                       f"{MAX_DAYS}")
    return Window(first, last, now)
