"""The bulk reads triage starts from: every flow with its latest runs and credentials (GET /flows,
one page per 100 flows) and the account's notifications in the window. Nothing here is per flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import nexla_ops
from nexla_ops.health.observe import list_flows, objects
from nexla_ops.paging import PageWalk
from nexla_ops.probe import verification

# Notification levels that point at a problem (the reference's enum: DEBUG INFO WARN ERROR
# RECOVERED).
PROBLEM_LEVELS = {"ERROR", "WARN"}


@dataclass
class Credential:
    id: int
    name: str
    verified_status: str  # as received; "" when absent
    verified_at: datetime | None
    probe: str = ""  # with --probe-credentials: "ok", or why the probe failed

    @property
    def state(self) -> str:
        """verified, failed, never (verified) or unknown: the probe's verdict when probed, else
        how the listing's verified_status reads."""
        if self.probe:
            return "verified" if self.probe == "ok" else "failed"
        return verification(self.verified_status)


@dataclass
class Evidence:
    flows: list  # health.model.Flow, each with its latest runs (newest first)
    credentials: dict[int, Credential] = field(default_factory=dict)
    notifications: list[dict] = field(default_factory=list)  # problem-level, in the window
    resource_names: dict = field(default_factory=dict)  # (kind, id) -> name
    unreadable_flows: int = 0  # listed flows without a usable id: not judged
    unreadable_status: int = 0  # flows judged as running because their status was unreadable
    notifications_problem: str = ""  # why the notifications could not be read
    listing_problem: str = ""  # where the flow listing stopped, when a later page failed
    probe_problems: list[str] = field(default_factory=list)  # probes that gave no verdict
    _by_resource: dict | None = None

    def notifications_by_resource(self) -> dict:
        """(kind, id) -> its notifications: one pass, however many flows look theirs up."""
        if self._by_resource is None:
            self._by_resource = {}
            for note in self.notifications:
                self._by_resource.setdefault(note["resource"], []).append(note)
        return self._by_resource
    sinks_of: dict = field(default_factory=dict)  # flow id -> destination ids
    credential_of: dict = field(default_factory=dict)  # (kind, id) -> the credential it uses
    parent_of: dict = field(default_factory=dict)  # nexset id -> the nexset it derives from


def _credential(raw: dict) -> Credential:
    return Credential(int(raw["id"]), nexla_ops.one_line(str(raw.get("name") or ""), 120),
                      nexla_ops.one_line(str(raw.get("verified_status") or ""), 60),
                      nexla_ops.api_time(raw.get("verified_at")))


def read_flows(api, ctx, evidence: Evidence) -> None:
    """Every visible flow (health_check's listing), its resources' names and its credentials;
    a later page that fails leaves the listing incomplete (listing_problem), as there."""

    def take(body: dict, flows: list) -> None:
        for raw in objects(body.get("data_credentials")):
            if nexla_ops.api_id(raw.get("id")):
                evidence.credentials[raw["id"]] = _credential(raw)
        for kind in ("data_sources", "data_sets", "data_sinks"):
            for raw in objects(body.get(kind)):
                rid = nexla_ops.api_id(raw.get("id"))
                if rid is None:
                    continue
                key = (kind, rid)
                evidence.resource_names[key] = nexla_ops.one_line(str(raw.get("name") or ""), 120)
                credential_id = nexla_ops.api_id(raw.get("data_credentials_id"))
                if credential_id:
                    evidence.credential_of[key] = credential_id
                parent = nexla_ops.api_id(raw.get("parent_data_set_id"))
                if parent:
                    evidence.parent_of[rid] = parent
        evidence.unreadable_flows += len(objects(body["flows"])) - len(flows)
        evidence.unreadable_status += sum(flow.status == "UNKNOWN" for flow in flows)

    listing = list_flows(api, ctx, on_body=take)
    evidence.flows = listing.flows
    evidence.listing_problem = listing.problem
    for flow in evidence.flows:
        evidence.sinks_of[flow.flow_id] = sorted(rid for kind, rid in flow.resources
                                                 if kind == "data_sinks")


# The reference's notification resource types, by the resource kinds a flow holds.
NOTIFICATION_KINDS = {"SOURCE": "data_sources", "DATA_SOURCE": "data_sources",
                      "DATASET": "data_sets", "DATA_SET": "data_sets", "SINK": "data_sinks",
                      "DATA_SINK": "data_sinks", "DATA_FLOW": "flows", "FLOW": "flows"}


def read_notifications(api, evidence: Evidence, since: datetime) -> None:
    """The account's WARN and ERROR notifications created in the window (GET /notifications
    takes `from` in epoch seconds)."""

    def fetch_page(page: int) -> list:
        body = api.get("/notifications", {"from": int(since.timestamp()), "page": page,
                                          "per_page": nexla_ops.PAGE_SIZE})
        if not isinstance(body, list):  # the reference's answer is a bare array
            raise nexla_ops.ApiError("GET /notifications: unexpected response shape "
                                     "(expected a list)")
        return body

    walk = PageWalk(fetch_page, what="GET /notifications", per_page=nexla_ops.PAGE_SIZE)
    for raw in (item for page in walk for item in objects(page)):
        level = str(raw.get("level") or "").upper()
        created = nexla_ops.api_time(raw.get("created_at"))
        if level not in PROBLEM_LEVELS or (created is not None and created < since):
            continue
        evidence.notifications.append({
            "id": raw.get("id"), "level": level, "created_at": created,
            "resource": (NOTIFICATION_KINDS.get(str(raw.get("resource_type") or "").upper()),
                         nexla_ops.api_id(raw.get("resource_id"))),
            "message": nexla_ops.one_line(nexla_ops.redact_text(str(raw.get("message") or "")),
                                          300)})


def gather(api, ctx, since: datetime) -> Evidence:
    evidence = Evidence(flows=[])
    read_flows(api, ctx, evidence)
    try:
        read_notifications(api, evidence, since)
    except nexla_ops.OpsError as exc:  # (a key without the role, say): triage goes on
        evidence.notifications_problem = nexla_ops.one_line(exc.message, 300)
    return evidence
