"""Reading the per-flow answers (run summaries, log pages) leniently: the reference marks almost
nothing as required, and one garbled value must not end a triage."""

from __future__ import annotations

import nexla_ops
from nexla_ops.health.observe import objects
from nexla_ops.logs import normalize_line


def run_rows(body, what: str) -> tuple[list[dict], dict]:
    """A run summary page's rows and its meta ({} when absent); ApiError naming `what` when
    the page is not {"metrics": {"data": [...]}} (an unreadable page is not "no runs")."""
    metrics = body.get("metrics") if isinstance(body, dict) else None
    data = metrics.get("data") if isinstance(metrics, dict) else None
    if not isinstance(data, list):
        raise nexla_ops.ApiError(f"{what}: unexpected response shape (expected "
                                 "{'metrics': {'data': [...]}})")
    meta = metrics.get("meta")
    return objects(data), meta if isinstance(meta, dict) else {}


def log_lines(body, what: str) -> list[dict]:
    """A log page's lines, normalised (logs.normalize_line), with a run id only when it is one;
    ApiError naming `what` when the page holds no list of lines."""
    logs = body.get("logs") if isinstance(body, dict) else None
    raw_lines = logs.get("data") if isinstance(logs, dict) else logs
    if not isinstance(raw_lines, list):
        raise nexla_ops.ApiError(f"{what}: unexpected response shape (expected "
                                 "{'logs': {'data': [...]}})")
    lines = []
    for raw in objects(raw_lines):
        line = normalize_line(raw)
        line["run_id"] = nexla_ops.api_id(line["run_id"])
        line["resource_id"] = nexla_ops.api_id(line["resource_id"])
        line["message"] = str(line["message"])
        lines.append(line)
    return lines
