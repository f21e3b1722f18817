"""The health check's data: Nagios states, a flow and its runs, a flow's verdict, and a
credential's verdict (--credentials)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
# A --format json failure document's "kind" (main_wrapper's failure_kinds).
NAGIOS_KINDS = {WARNING: "warning", CRITICAL: "critical", UNKNOWN: "unknown"}
# Worst-first severity for combining states: a CRITICAL flow must not hide behind an UNKNOWN one.
SEVERITY = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}

ERROR_STATUSES = {"ERROR", "FAILED", "SUSPENDED"}


# ---------------------------------------------------------------- flows and runs


@dataclass(slots=True)
class Run:
    run_id: int
    status: str  # SUCCESS | FAILED | RUNNING (upper-cased as received)
    started_at: datetime | None
    finished_at: datetime | None
    records: int
    errors: int

    @property
    def finished(self) -> bool:
        return self.status in ("SUCCESS", "FAILED")

    @property
    def when(self) -> datetime | None:
        return self.finished_at or self.started_at


@dataclass(slots=True)
class Flow:
    flow_id: int
    name: str
    status: str
    project_id: int | None
    source_id: int | None
    resources: set = field(default_factory=set)  # {(type, id)} of every node in the tree
    bad_nodes: list = field(default_factory=list)  # [(node label, status)] in an error state
    tags: set = field(default_factory=set)
    credential_ids: set = field(default_factory=set)
    runs: list = field(default_factory=list)  # newest first
    history_complete: bool = True  # False when older runs may exist beyond `runs`
    created_at: datetime | None = None  # the flow's (its origin source's) creation time


# ---------------------------------------------------------------- evaluation


@dataclass(slots=True)
class Check:
    name: str
    state: int
    message: str
    pending: bool = False  # a new flow whose first run has not finished: OK, not yet judged


@dataclass(slots=True)
class FlowResult:
    flow_id: int
    name: str
    status: str
    state: int
    checks: list
    last_success_at: datetime | None = None
    error_rate: float | None = None
    runs_considered: int = 0
    failed_runs: int = 0

    @property
    def title(self):
        """'1002 customers-postgres', or just the resource label when no flow holds it."""
        return self.name if self.flow_id is None else f"{self.flow_id} {self.name}"

    def problems(self):
        return [c for c in self.checks if c.state != OK]

    def reason(self):
        bad = sorted(self.problems(), key=lambda c: -SEVERITY[c.state])
        return "; ".join(c.message for c in bad) or "; ".join(c.message for c in self.checks)


def worst(states) -> int:
    return max(states, key=lambda s: SEVERITY[s], default=OK)


# ---------------------------------------------------------------- credentials (--credentials)


@dataclass(slots=True)
class CredentialResult:
    """One credential the chosen flows use, judged once however many flows use it.

    `state` is the credential's own verdict; `counted` is False when only paused flows use it,
    so the verdict is reported but left out of the overall state. `flows` is
    [credentials.FlowUse]; `message` is the whole sentence (it names the credential and the
    flows)."""

    cred_id: int
    name: str
    state: int
    counted: bool
    message: str
    flows: list
    verified_status: str | None = None
    verified_at: str | None = None
    expires_at: datetime | None = None
    source: str = "listing"  # where the verdict came from: "listing" or "probe"

    @property
    def title(self):
        return f"credential {self.cred_id}{f' ({self.name})' if self.name else ''}"
