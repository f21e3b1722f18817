"""A contract check's verdict per nexset, in the health check's Nagios states.

Both checks (schema and quality) give one NexsetResult per nexset: its state and the findings
behind it, each a change or a rule's outcome. A result carries ``flow_id`` (the nexset id),
``name``, ``state`` and ``reason()``: what health.alerts needs to alert on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nexla_ops.health.model import OK, SEVERITY, STATE_NAMES, worst


@dataclass(slots=True)
class Finding:
    state: int  # what this finding alone makes the nexset: OK, WARNING, CRITICAL or UNKNOWN
    message: str  # one line, API text already escaped
    doc: dict  # the finding in JSON output (a change's or a rule's fields)


@dataclass(slots=True)
class NexsetResult:
    nexset_id: int
    name: str
    findings: list = field(default_factory=list)
    note: str = ""  # why the nexset could not be judged, or what was done (baseline saved)
    unknown: bool = False  # not judged: no baseline, unreadable, out of time

    @property
    def flow_id(self) -> int:  # the alert state's key (health.alerts)
        return self.nexset_id

    @property
    def state(self) -> int:
        from nexla_ops.health.model import UNKNOWN

        if self.unknown:
            return UNKNOWN
        return worst(f.state for f in self.findings)

    @property
    def title(self) -> str:
        return f"nexset {self.nexset_id} {self.name}".rstrip()

    def problems(self) -> list:
        return [f for f in self.findings if f.state != OK]

    def reason(self) -> str:
        bad = sorted(self.problems(), key=lambda f: -SEVERITY[f.state])
        text = "; ".join(f.message for f in bad)
        return text or self.note or "as expected"

    def to_doc(self) -> dict:
        return {"nexset_id": self.nexset_id, "name": self.name,
                "state": STATE_NAMES[self.state], "reason": self.reason(),
                "note": self.note or None, "findings": [f.doc for f in self.findings]}
