"""Per-day totals over the window: records, records written, bytes (the API's `size`) and
errors, one row for every day (zero when the API reports none)."""

from __future__ import annotations

import datetime as dt

from nexla_ops.parsing import api_count

from . import fetch
from .runs import Run, in_span
from .window import DAY, Window, day_start

COLUMNS = ("date", "records", "records_written", "size", "errors", "runs", "failed_runs")


def _by_day(rows: list[dict], window: Window) -> dict[str, dict]:
    """Rows keyed by their `time` (a date, or a date-time whose date is taken)."""
    wanted = {day.isoformat() for day in window.days}
    out: dict[str, dict] = {}
    for row in rows:
        day = str(row.get("time") or "")[:10]
        if day in wanted:
            total = out.setdefault(day, {"records": 0, "size": 0, "errors": 0})
            for key in total:
                total[key] += api_count(row.get(key))
    return out


def empty_days(window: Window) -> list[dict]:
    return [{"date": day.isoformat(), "records": 0, "records_written": None, "size": 0,
             "errors": 0, "runs": None, "failed_runs": None} for day in window.days]


def resource_days(ctx, target: fetch.Target, window: Window) -> list[dict]:
    """A flow: records and bytes read from its source's daily metrics, records written and
    errors summed over its destinations'. A resource: its own figures."""
    days = empty_days(window)
    if target.kind == "resource":
        found = _by_day(fetch.daily_metrics(ctx, target.resource_type, target.id, window), window)
        for row in days:
            row.update(found.get(row["date"], {}))
        return days
    if target.source_id is not None:
        read = _by_day(fetch.daily_metrics(ctx, "data_sources", target.source_id, window), window)
        for row in days:
            got = read.get(row["date"], {})
            row.update(records=got.get("records", 0), size=got.get("size", 0))
    written = [_by_day(fetch.daily_metrics(ctx, "data_sinks", sink, window), window)
               for sink in target.sink_ids]
    for row in days:
        row["records_written"] = sum(w.get(row["date"], {}).get("records", 0) for w in written)
        row["errors"] = sum(w.get(row["date"], {}).get("errors", 0) for w in written)
    return days


def account_days(ctx, target: fetch.Target, window: Window) -> list[dict]:
    """The org's or user's account metrics, asked one day at a time; no errors (the published
    answer has none)."""
    days = empty_days(window)
    for row, day in zip(days, window.days, strict=True):
        if day_start(day) > window.now:
            continue
        ctx.progress(f"account metrics: {day}")
        row.update(fetch.account_metrics(ctx, target, day), errors=None)
    return days


def add_run_counts(days: list[dict], runs: list[Run]) -> None:
    for row in days:
        lo = day_start(dt.date.fromisoformat(row["date"]))
        mine = in_span(runs, lo, lo + DAY)
        row["runs"] = len(mine)
        row["failed_runs"] = sum(r.finished and not r.succeeded for r in mine)


def totals(days: list[dict]) -> dict:
    out = {}
    for key in ("records", "records_written", "size", "errors", "runs", "failed_runs"):
        values = [row[key] for row in days if row.get(key) is not None]
        out[key] = sum(values) if values else None
    return out
