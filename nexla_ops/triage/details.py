"""More about a failing flow, two reads each: its runs in the window (the source's run summary, as
the bulk listing holds only the latest few) and its ERROR log lines there, grouped by shape."""

from __future__ import annotations

from datetime import datetime

import nexla_ops
from nexla_ops.health.observe import run_from_metric
from nexla_ops.logs import summarise

from .answers import log_lines, run_rows

RUN_PAGE = 100
LOG_LINES = 200  # the newest ERROR lines read per failing flow
MAX_GROUPS = 5


def runs_in_window(api, source_id: int, since: datetime) -> tuple[list, bool]:
    """The source's runs started in the window, newest first, and whether all were read (one
    page of RUN_PAGE; a busier flow is summarised from its newest RUN_PAGE)."""
    path = f"/data_sources/{source_id}/metrics/run_summary"
    rows, _ = run_rows(api.get(path, {"page": 1, "size": RUN_PAGE}), f"GET {path}")
    runs = [run_from_metric(row) for row in rows]
    runs.sort(key=lambda r: (r.when or since, r.run_id), reverse=True)
    kept = [r for r in runs if r.when is not None and r.when >= since]
    return kept, len(kept) < len(runs) or len(runs) < RUN_PAGE


def error_groups(api, flow_id: int, since: datetime, now: datetime, names: dict) -> list[dict]:
    """The flow's newest ERROR lines in the window, grouped by message shape (numbers, ids and
    quoted values masked). Run-summary lines ("Run N finished ...") only restate the cause, so
    they are dropped when a line names one."""
    path = f"/flows/{flow_id}/logs"
    body = api.get(path, {"from": int(since.timestamp()), "to": int(now.timestamp()),
                          "severity": "ERROR", "page": 1, "per_page": LOG_LINES})
    lines = log_lines(body, f"GET {path}")
    causes = [line for line in lines if str(line.get("log_type") or "").upper() != "SUMMARY"]
    redacted = [{**line, "message": nexla_ops.redact_text(line["message"])}
                for line in causes or lines]
    groups = []
    for group in summarise(redacted, first_line=True)[:MAX_GROUPS]:
        first = group.pop("first_line")
        kind = _resource_kind(first.get("resource_type"))
        groups.append({**group, "pattern": nexla_ops.one_line(group["pattern"], 300),
                       "example": nexla_ops.one_line(group["example"], 300),
                       "resource": {"type": kind, "id": first.get("resource_id"),
                                    "name": names.get((kind, first.get("resource_id")), "")}})
    return groups


LOG_RESOURCE_KINDS = {"SOURCE": "data_sources", "DATASET": "data_sets", "DATA_SET": "data_sets",
                      "SINK": "data_sinks", "DESTINATION": "data_sinks"}


def _resource_kind(value) -> str | None:
    text = str(value or "").upper()
    return LOG_RESOURCE_KINDS.get(text, text.lower() or None)


def failing_since(runs: list):
    """When the current run of failures began: the oldest failed run after the newest success
    (runs newest first); None when the newest finished run succeeded."""
    since = None
    for run in runs:
        if not run.finished:
            continue
        if run.status == "FAILED" or run.errors:
            since = run.started_at or run.when
        else:
            break
    return since


def enrich(api, finding, evidence, since: datetime, now: datetime) -> None:
    """Per-flow reads for a flow whose runs failed; counts from the full window replace the bulk
    listing's latest-runs estimate. A read that fails leaves the flow with what the listing
    showed and the reason in details["unavailable"]: one flow must not end the triage."""
    try:
        _enrich(api, finding, evidence, since, now)
    except nexla_ops.OpsError as exc:
        finding.details["unavailable"] = nexla_ops.one_line(exc.message, 300)


def _enrich(api, finding, evidence, since: datetime, now: datetime) -> None:
    flow = finding.flow
    if flow.source_id is not None:  # an id (observe.flows_from_page reads only real ones)
        runs, complete = runs_in_window(api, flow.source_id, since)
        if runs:
            failed = [r for r in runs if r.status == "FAILED" or (r.finished and r.errors)]
            finding.failed_runs = failed or finding.failed_runs
            finding.runs_in_window = len(runs)
            finding.errors = sum(r.errors for r in failed)
            finding.records_affected = sum(r.records for r in failed)
        finding.details["window_complete"] = complete
        finding.details["failing_since"] = failing_since(runs or flow.runs)
    finding.details["error_groups"] = error_groups(api, flow.flow_id, since, now,
                                                   evidence.resource_names)
