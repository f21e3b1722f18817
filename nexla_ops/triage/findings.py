"""Which flows are broken in the window, and in what order to look at them.

A flow is listed when, in the window, one of its latest runs failed or reported errors, a node of
it is in an error state, a credential it uses failed verification, or (active flows only) its last
successful run is older than --stale-after. Paused flows are someone's choice and are skipped
unless a node of theirs is in an error state; a flow whose status is unreadable is judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# How urgent a finding is: failing now beats failed earlier in the window beats gone quiet.
FAILING, INTERMITTENT, STALE = 3, 2, 1
SEVERITY_NAMES = {FAILING: "failing", INTERMITTENT: "intermittent", STALE: "stale"}


@dataclass
class Finding:
    flow: object  # health.model.Flow
    severity: int
    problems: list[dict] = field(default_factory=list)  # {"kind", "message"}
    failed_runs: list = field(default_factory=list)  # health.model.Run, newest first
    runs_in_window: int = 0
    errors: int = 0
    records_affected: int = 0
    last_success: datetime | None = None
    stale_seconds: float = 0.0
    destinations: int = 0
    credentials: list = field(default_factory=list)  # evidence.Credential the flow uses
    notifications: list = field(default_factory=list)
    details: dict = field(default_factory=dict)  # filled by details.enrich for failing flows
    latest_failed: bool = False

    def all_problems(self) -> list[dict]:
        """The problems, the failed runs first (counted now: details.enrich may recount them)."""
        if not self.failed_runs:
            return self.problems
        latest = " (the latest one too)" if self.latest_failed else ""
        return [{"kind": "failed_runs", "message": (
            f"{len(self.failed_runs)} of {self.runs_in_window} runs in the window failed"
            f"{latest}: {self.errors} errors over {self.records_affected} records")},
            *self.problems]

    @property
    def failing_run(self):
        return self.failed_runs[0] if self.failed_runs else None

    @property
    def impact(self) -> tuple:
        """The ranking key, most urgent first when sorted in reverse."""
        return (self.severity, self.errors, self.records_affected, self.stale_seconds,
                self.destinations, -self.flow.flow_id)


def _in_window(run, since: datetime) -> bool:
    return run.when is not None and run.when >= since


# Statuses of flows that are not meant to run: someone paused them, or they never started.
NOT_RUNNING = {"PAUSED", "INIT", "STOPPED", "DISABLED"}


def judge(flow, evidence, since: datetime, now: datetime, stale_after: float) -> Finding | None:
    # A status we cannot read is judged as running: skipping it would hide a broken flow.
    active = flow.status not in NOT_RUNNING
    runs = [r for r in flow.runs if _in_window(r, since)]
    failed = [r for r in runs if r.status == "FAILED" or (r.finished and r.errors)]
    finished = [r for r in flow.runs if r.finished]
    last_success = next((r.when for r in flow.runs if r.status == "SUCCESS" and not r.errors),
                        None)
    credentials = [evidence.credentials[c] for c in sorted(flow.credential_ids)
                   if c in evidence.credentials]
    finding = Finding(flow, 0, failed_runs=failed, runs_in_window=len(runs),
                      errors=sum(r.errors for r in failed),
                      records_affected=sum(r.records for r in failed),
                      last_success=last_success,
                      destinations=len(evidence.sinks_of.get(flow.flow_id, [])),
                      credentials=credentials)
    severity = 0
    for node, status in flow.bad_nodes:
        finding.problems.append({"kind": "error_state", "message": f"{node} is {status}"})
        severity = FAILING
    if not active and not flow.bad_nodes:
        return None
    if failed:
        finding.latest_failed = bool(finished) and finished[0] in failed
        severity = max(severity, FAILING if finding.latest_failed else INTERMITTENT)
    for cred in credentials:
        if cred.state == "failed":
            how = f"probe failed: {cred.probe}" if cred.probe else (
                f"verified_status {cred.verified_status}")
            finding.problems.append({"kind": "credential", "message": (
                f"credential {cred.id} ({cred.name}) {how}")})
            severity = max(severity, FAILING if failed else INTERMITTENT)
    age = (now - last_success).total_seconds() if last_success else None
    if active and flow.runs and (age is None or age > stale_after):
        finding.stale_seconds = age if age is not None else 0.0
        finding.problems.append({"kind": "stale", "message": (
            "no successful run among its latest runs" if age is None else
            f"last successful run {_age(age)} ago")})
        severity = max(severity, STALE)
    by_resource = evidence.notifications_by_resource()
    finding.notifications = sorted((n for key in flow.resources for n in by_resource.get(key, ())),
                                   key=lambda n: n["id"] if isinstance(n["id"], int) else 0)
    errors_notified = [n for n in finding.notifications if n["level"] == "ERROR"]
    if errors_notified and active:
        finding.problems.append({"kind": "notification", "message": (
            f"{len(errors_notified)} ERROR notification(s) in the window")})
        severity = max(severity, INTERMITTENT)
    if not severity:
        return None
    finding.severity = severity
    return finding


def _age(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f}d" if hours >= 48 else f"{hours:.1f}h"


def rank(evidence, since: datetime, now: datetime, stale_after: float) -> list[Finding]:
    found = (judge(flow, evidence, since, now, stale_after) for flow in evidence.flows)
    return sorted((f for f in found if f is not None), key=lambda f: f.impact, reverse=True)
