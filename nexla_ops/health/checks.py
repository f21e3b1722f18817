"""The rules: a flow's checks (status, staleness, error rate, stall, stuck, credentials), each
OK/WARNING/CRITICAL, the flow's state as its worst check, and the run's summary."""

from __future__ import annotations

from datetime import datetime

from .model import (
    CRITICAL,
    ERROR_STATUSES,
    OK,
    STATE_NAMES,
    UNKNOWN,
    WARNING,
    Check,
    Flow,
    FlowResult,
    worst,
)
from .settings import Thresholds


def human_age(seconds: float) -> str:
    """'45m', '24h', '30.5h', '3.2d' (no '.0' noise)."""
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    value, unit = (seconds / 3600, "h") if seconds < 72 * 3600 else (seconds / 86400, "d")
    return f"{value:.1f}".removesuffix(".0") + unit


def _graded(value: float, limit: float) -> int:
    """WARNING over `limit`, CRITICAL over twice it (staleness and stuck runs)."""
    if value > 2 * limit:
        return CRITICAL
    if value > limit:
        return WARNING
    return OK


def evaluate(flow: Flow, th: Thresholds, now: datetime, credentials: dict | None = None) -> FlowResult:
    """Classify one flow. `credentials` maps credential id → (state, message) when probed."""
    checks = []
    paused = flow.status == "PAUSED"
    if flow.status == "ACTIVE":
        checks.append(Check("status", OK, "active"))
    elif paused:
        checks.append(Check("status", OK if th.expect_paused else WARNING,
                            "paused (expected)" if th.expect_paused else "flow is paused"))
    elif flow.status in ERROR_STATUSES or "ERROR" in flow.status:
        checks.append(Check("status", CRITICAL, f"flow status is {flow.status}"))
    else:
        checks.append(Check("status", WARNING, f"flow status is {flow.status}"))
    for label, status in flow.bad_nodes:
        checks.append(Check("status", CRITICAL, f"{label} is {status}"))

    result = FlowResult(flow.flow_id, flow.name, flow.status, OK, checks)
    window = flow.runs[: th.window]
    finished = [r for r in window if r.finished]
    successes = [r for r in flow.runs if r.status == "SUCCESS" and r.when]
    result.last_success_at = successes[0].when if successes else None
    if finished:
        result.failed_runs = sum(r.status == "FAILED" for r in finished)
        result.runs_considered = len(finished)
        result.error_rate = result.failed_runs / len(finished)

    # A paused flow is not expected to run: its run history says nothing about its health now.
    if not paused:
        checks.append(staleness_check(flow, th, now, result.last_success_at))
        checks.append(error_rate_check(th, result))
        if th.stall_runs:
            recent = [r for r in flow.runs if r.finished][: th.stall_runs]
            if len(recent) == th.stall_runs and all(r.records == 0 for r in recent):
                checks.append(Check("stall", WARNING, f"no records in the last {th.stall_runs} runs"))
        for run in flow.runs:
            if run.status == "RUNNING" and run.started_at:
                age = (now - run.started_at).total_seconds()
                state = _graded(age, th.stuck_after)
                if state != OK:
                    checks.append(Check("stuck", state, f"run {run.run_id} in progress for {human_age(age)} "
                                                        f"(stuck after {human_age(th.stuck_after)})"))
    for cred_id in sorted(flow.credential_ids) if credentials is not None else ():
        state, message = credentials.get(cred_id, (UNKNOWN, f"credential {cred_id} not probed before the deadline"))
        checks.append(Check("credentials", state, message))
    result.state = worst(c.state for c in checks)
    return result


def staleness_check(flow: Flow, th: Thresholds, now: datetime, last_success: datetime | None) -> Check:
    limit = f"max age {human_age(th.max_age)}"
    if last_success is not None:
        age = (now - last_success).total_seconds()
        return Check("staleness", _graded(age, th.max_age), f"last success {human_age(max(age, 0))} ago ({limit})")
    if flow.created_at is not None and all(run.status == "RUNNING" for run in flow.runs):
        age = (now - flow.created_at).total_seconds()
        if age < th.max_age:  # deployed minutes ago, its first run still going: not a failure
            return Check("staleness", OK, f"pending: new flow (created {human_age(max(age, 0))} "
                                          f"ago), no finished run yet ({limit})", pending=True)
    if not flow.runs:
        return Check("staleness", WARNING, "no runs on record")
    oldest = flow.runs[-1].when
    if flow.history_complete or oldest is None:
        return Check("staleness", CRITICAL, f"no successful run in {len(flow.runs)} runs on record")
    # Older runs were not read (already past twice the limit, or beyond the pages fetched): the
    # last success is at least as old as the oldest run known.
    age = (now - oldest).total_seconds()
    return Check("staleness", _graded(age, th.max_age) or WARNING,
                 f"no successful run in the last {len(flow.runs)} runs (over {human_age(age)}; {limit})")


def error_rate_check(th: Thresholds, result: FlowResult) -> Check:
    if result.error_rate is None:
        return Check("error_rate", OK, "no finished runs in the window")
    rate = result.error_rate
    state = CRITICAL if rate > th.crit_error_rate else WARNING if rate > th.warn_error_rate else OK
    limit = f"crit > {th.crit_error_rate:g}" if state == CRITICAL else f"warn > {th.warn_error_rate:g}"
    return Check("error_rate", state, f"error rate {rate:.2f} ({result.failed_runs}/{result.runs_considered} "
                                      f"runs failed; {limit})")


def needs_history(flow: Flow, th: Thresholds, now: datetime) -> bool:
    """Whether the bulk listing's runs are not enough to judge this flow."""
    if flow.history_complete or flow.status == "PAUSED" or flow.source_id is None:
        return False
    if th.window > len(flow.runs):
        return True
    if any(r.status == "SUCCESS" for r in flow.runs):
        return False
    oldest = flow.runs[-1].when
    # No success among the known runs: only look further back if it could change the verdict.
    return oldest is None or (now - oldest).total_seconds() <= 2 * th.max_age


def needs_created_at(flow: Flow) -> bool:
    """Whether judging this flow needs its creation time, which flows_only pages lack: a flow
    with no finished run may be new (pending) rather than failing (see staleness_check)."""
    return (flow.created_at is None and flow.source_id is not None
            and flow.status != "PAUSED" and all(run.status == "RUNNING" for run in flow.runs))


def unchecked(flow_id, name, reason) -> FlowResult:
    return FlowResult(flow_id, name, "UNKNOWN", UNKNOWN, [Check("deadline", UNKNOWN, reason)])


def summarize(results, started_at: datetime, duration: float, api_calls: int, incomplete: bool) -> dict:
    counts = {name: 0 for name in STATE_NAMES}
    for result in results:
        counts[STATE_NAMES[result.state]] += 1
    overall = worst(r.state for r in results) if results else UNKNOWN
    return {
        "state": STATE_NAMES[overall],
        "exit_code": overall,
        "flows": len(results),
        "counts": counts,
        "complete": not incomplete,
        "checked_at": started_at.isoformat(),
        "duration_seconds": round(duration, 3),
        "api_calls": api_calls,  # not counting the token fetch and retries
    }
