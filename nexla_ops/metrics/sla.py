"""The SLA file and per-day attainment.

File (JSON or YAML), every key optional except the flows' ids:

    defaults: {freshness: 8h, success_rate: 0.95, duration_p95: 2m}
    flows:
      - {id: 1001, freshness: 8h}

A flow's targets are the defaults overridden by its entry. Per UTC day of the window (today up
to now), with the runs whose start (else completion) falls in the day:
- freshness: the longest gap without a new successful completion, taken from the last success
  before the day (or the day's start if there is none) through each success in the day to the
  day's end (or now), must be <= the target: at no moment of the day was the newest delivered
  data older than that;
- success_rate: successes / finished runs must be >= the target (no finished runs: not judged);
- duration_p95: the nearest-rank p95 of the finished runs' durations must be <= the target (no
  known durations: not judged).
A day is met when every target judged that day is met; a day where none is judged is not
evaluated, nor is a day before the flow's first run. Attainment = days met / days evaluated.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from nexla_ops.errors import BadInput, OpsError
from nexla_ops.files import load_structured_file
from nexla_ops.parsing import parse_duration, parse_id

from .runs import Run, in_span, percentile
from .window import DAY, Window, day_start

TARGET_KEYS = ("freshness", "success_rate", "duration_p95")
FLOW_KEYS = {"id", "name", "description", *TARGET_KEYS}


@dataclass(frozen=True)
class Targets:
    freshness: float | None = None  # seconds
    success_rate: float | None = None
    duration_p95: float | None = None  # seconds

    @property
    def empty(self) -> bool:
        return all(getattr(self, key) is None for key in TARGET_KEYS)

    def describe(self) -> dict:
        return {"freshness_s": self.freshness, "success_rate": self.success_rate,
                "duration_p95_s": self.duration_p95}


@dataclass(frozen=True)
class SlaConfig:
    defaults: Targets
    flows: dict[int, Targets]

    def for_flow(self, flow_id: int | None) -> Targets:
        return self.flows.get(flow_id, self.defaults) if flow_id is not None else self.defaults


def _seconds(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadInput(f"{where}: expected a duration like 30m, 8h or 1d, got {value!r:.40}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{where}: expected a finite duration, got {value!r}")
    seconds = parse_duration(value, field=where)
    if seconds <= 0:
        raise BadInput(f"{where}: expected a positive duration, got {value!r:.40}")
    return seconds


def _rate(value, where: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not 0 <= value <= 1):
        raise BadInput(f"{where}: expected a number between 0 and 1, got {value!r:.40}")
    return float(value)


def _targets(entry: dict, base: Targets, where: str, allowed: set) -> Targets:
    if not isinstance(entry, dict):
        raise BadInput(f"{where}: expected an object")
    for key in entry:
        if key not in allowed:
            raise BadInput(f"{where}.{str(key)[:40]}: unknown key (expected "
                           f"{', '.join(sorted(allowed))})")
    values = {key: getattr(base, key) for key in TARGET_KEYS}
    for key in TARGET_KEYS:
        if key in entry:
            parse = _rate if key == "success_rate" else _seconds
            values[key] = parse(entry[key], f"{where}.{key}")
    return Targets(**values)


def load_sla(path: str) -> SlaConfig:
    """BadInput (one line naming the field) for anything but a valid SLA file."""
    try:
        doc = load_structured_file(path)
    except OpsError as exc:
        raise BadInput(f"--sla: {exc.message}") from None
    if not isinstance(doc, dict):
        raise BadInput("--sla: expected an object with 'defaults' and/or 'flows'")
    for key in doc:
        if key not in ("defaults", "flows"):
            raise BadInput(f"--sla: unknown key {str(key)[:40]!r} (expected defaults, flows)")
    defaults = _targets(doc.get("defaults", {}), Targets(), "defaults", set(TARGET_KEYS))
    entries = doc.get("flows", [])
    if not isinstance(entries, list):
        raise BadInput("flows: expected a list of objects like {\"id\": 1001, \"freshness\": "
                       "\"8h\"}")
    flows: dict[int, Targets] = {}
    for index, entry in enumerate(entries):
        where = f"flows[{index}]"
        if not isinstance(entry, dict) or "id" not in entry:
            raise BadInput(f"{where}.id: required (the flow's id)")
        if isinstance(entry["id"], bool) or not isinstance(entry["id"], (int, str)):
            raise BadInput(f"{where}.id: expected a positive integer id")
        flow_id = parse_id(entry["id"], f"{where}.id")
        if flow_id in flows:
            raise BadInput(f"{where}.id: flow {flow_id} is listed twice")
        flows[flow_id] = _targets(entry, defaults, where, FLOW_KEYS)
    if defaults.empty and all(t.empty for t in flows.values()):
        raise BadInput("--sla: no targets (set freshness, success_rate or duration_p95)")
    return SlaConfig(defaults, flows)


def longest_gap(successes: list[dt.datetime], lo: dt.datetime, hi: dt.datetime) -> float:
    """Seconds: the longest stretch in [lo, hi] without a new success, counting from the last
    success before lo (or from lo when there is none). `successes`: completion times, sorted."""
    before = [t for t in successes if t < lo]
    mark = before[-1] if before else lo
    longest = 0.0
    for moment in (t for t in successes if lo <= t <= hi):
        longest = max(longest, (moment - mark).total_seconds())
        mark = moment
    return max(longest, (hi - mark).total_seconds())


@dataclass(frozen=True)
class Lifetime:
    """When a flow could be judged: from its first run, when its whole history was read and
    it began inside the window (None: from the window's start). A paused flow is still judged:
    when it was paused is not published, and a pause after an outage must not erase it."""

    first_run: dt.datetime | None = None

    @classmethod
    def of(cls, runs: list[Run], history_whole: bool) -> Lifetime:
        times = [r.at for r in runs if r.at is not None]
        if not history_whole:
            return cls()
        # never ran: nothing to judge at all
        return cls(min(times) if times else dt.datetime.max.replace(tzinfo=dt.timezone.utc))

    def outside(self, lo: dt.datetime, hi: dt.datetime) -> str | None:
        if self.first_run is not None and hi <= self.first_run:
            return "before the flow's first run"
        return None


def judge_day(day: dt.date, runs: list[Run], successes: list[dt.datetime], targets: Targets,
              window: Window, lifetime: Lifetime = Lifetime()) -> dict:
    lo = day_start(day)
    hi = min(lo + DAY, window.now)
    outside = lifetime.outside(lo, hi)
    if outside:
        return {"date": day.isoformat(), "partial": hi < lo + DAY, "runs": 0, "finished": 0,
                "success_rate": None, "duration_p95_s": None, "max_gap_s": None,
                "freshness_met": None, "success_rate_met": None, "duration_met": None,
                "evaluated": False, "met": None, "not_evaluated": outside}
    if lifetime.first_run is not None and lifetime.first_run > lo:
        lo = lifetime.first_run  # the first run's day counts from that run
    mine = in_span(runs, day_start(day), day_start(day) + DAY)
    finished = [r for r in mine if r.finished]
    durations = [r.duration for r in finished if r.duration is not None]
    rate = sum(r.succeeded for r in finished) / len(finished) if finished else None
    p95 = percentile(durations, 95)
    gap = longest_gap(successes, lo, hi)
    checks = {
        "freshness_met": None if targets.freshness is None else gap <= targets.freshness,
        "success_rate_met": None if targets.success_rate is None or rate is None
        else rate >= targets.success_rate,
        "duration_met": None if targets.duration_p95 is None or p95 is None
        else p95 <= targets.duration_p95,
    }
    judged = [v for v in checks.values() if v is not None]
    return {"date": day.isoformat(), "partial": hi < lo + DAY, "runs": len(mine),
            "finished": len(finished), "success_rate": None if rate is None else round(rate, 4),
            "duration_p95_s": None if p95 is None else round(p95, 3),
            "max_gap_s": round(gap, 3), **checks,
            "evaluated": bool(judged), "met": all(judged) if judged else None}


def attainment(flow_id: int, name: str, runs: list[Run], targets: Targets,
               window: Window, lifetime: Lifetime = Lifetime()) -> dict:
    """One flow's per-day verdicts over the window and its attainment; days outside the flow's
    `lifetime` are listed, not evaluated."""
    successes = sorted(r.finished_at for r in runs if r.succeeded)
    days = [judge_day(day, runs, successes, targets, window, lifetime) for day in window.days
            if day_start(day) <= window.now]
    evaluated = [d for d in days if d["evaluated"]]
    met = [d for d in evaluated if d["met"]]
    return {"flow_id": flow_id, "name": name or None, "targets": targets.describe(),
            "days_evaluated": len(evaluated), "days_met": len(met),
            "attainment": round(len(met) / len(evaluated), 4) if evaluated else None,
            "missed": [d["date"] for d in evaluated if not d["met"]], "days": days}
