"""Runs from run summaries, and their statistics.

The reference publishes a run summary row as runId, lastWritten (epoch ms), dataSetId, records,
size and errors. The SDK's sandbox (and, it seems, Nexla) adds status, started_at and
finished_at. Used when present; without them a run counts as finished at lastWritten,
successful when it reported no errors, and its duration (so p50/p95 and throughput) is
unknown."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from nexla_ops.parsing import api_count, api_time


@dataclass(frozen=True)
class Run:
    run_id: int
    status: str  # SUCCESS | FAILED | RUNNING | whatever else the API says, upper case
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    records: int
    size: int
    errors: int

    @property
    def finished(self) -> bool:
        return self.status != "RUNNING" and self.finished_at is not None

    @property
    def succeeded(self) -> bool:
        return self.finished and self.status == "SUCCESS"

    @property
    def at(self) -> dt.datetime | None:
        """When the run counts: its start, else its completion."""
        return self.started_at or self.finished_at

    @property
    def duration(self) -> float | None:
        if self.finished and self.started_at is not None:
            return max(0.0, (self.finished_at - self.started_at).total_seconds())
        return None


def unreadable(row: dict) -> bool:
    """Whether a run summary row has a figure, status or time we cannot read (it is then
    counted with 0 there, or left out of the days when it has no time at all)."""
    for key in ("errors", "records", "size"):
        value = row.get(key)
        if value is not None and api_count(value) == 0 and value not in (0, 0.0, "0"):
            return True
    status = row.get("status")
    if status is not None and not isinstance(status, str):
        return True
    return all(api_time(row.get(key)) is None
               for key in ("started_at", "finished_at", "lastWritten"))


def run_from_row(row: dict) -> Run:
    errors = api_count(row.get("errors"))
    status = row.get("status")
    status = (status.upper() if isinstance(status, str) else "") or (
        "FAILED" if errors else "SUCCESS")
    finished = api_time(row.get("finished_at"))
    if finished is None and status != "RUNNING":
        finished = api_time(row.get("lastWritten"))
    run_id = row.get("runId") or row.get("run_id")
    return Run(run_id if isinstance(run_id, int) else 0, status, api_time(row.get("started_at")),
               finished, api_count(row.get("records")), api_count(row.get("size")), errors)


def runs_from_rows(rows: list[dict]) -> list[Run]:
    """Runs, oldest first; a run listed twice (a page that shifted) counts once."""
    seen, runs = set(), []
    for row in rows:
        run = run_from_row(row)
        if run.run_id and run.run_id in seen:
            continue
        seen.add(run.run_id)
        runs.append(run)
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(runs, key=lambda r: (r.at or epoch, r.run_id))


class ReachesBack:
    """Called with each page of run summary rows (newest first): True once they hold a run
    before `start` and a success finished before it, all a window and its first day's
    freshness need."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.run_before = self.success_before = False

    def __call__(self, page: list[dict]) -> bool:
        for run in map(run_from_row, page):
            if run.at is not None and run.at < self.start:
                self.run_before = True
                self.success_before = self.success_before or (
                    run.succeeded and run.finished_at < self.start)
        return self.run_before and self.success_before


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or
    below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarize(runs: list[Run]) -> dict:
    """Counts, success rate (of finished runs), duration p50/p95 (seconds) and throughput
    (records per second of run time, over the runs whose duration is known)."""
    finished = [r for r in runs if r.finished]
    timed = [r for r in finished if r.duration is not None]
    run_time = sum(r.duration for r in timed)
    succeeded = sum(r.succeeded for r in finished)
    durations = [r.duration for r in timed]
    return {
        "runs": len(runs), "finished": len(finished), "succeeded": succeeded,
        "failed": len(finished) - succeeded, "running": len(runs) - len(finished),
        "success_rate": round(succeeded / len(finished), 4) if finished else None,
        "duration_p50_s": _rounded(percentile(durations, 50)),
        "duration_p95_s": _rounded(percentile(durations, 95)),
        "throughput_rps": round(sum(r.records for r in timed) / run_time, 2) if run_time else None,
        "durations_known": len(timed),
        "records": sum(r.records for r in runs), "size": sum(r.size for r in runs),
        "errors": sum(r.errors for r in runs),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def in_span(runs: list[Run], lo: dt.datetime, hi: dt.datetime) -> list[Run]:
    return [r for r in runs if r.at is not None and lo <= r.at < hi]
