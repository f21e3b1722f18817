"""The report as text (tables for people), JSON (one document) or CSV (one row per day)."""

from __future__ import annotations

import csv
import io

from nexla_ops.errors import BadInput
from nexla_ops.files import check_output_path
from nexla_ops.listing.output import formula_safe
from nexla_ops.output import dumps, format_table
from nexla_ops.redact import escape_text, one_line

from .daily import COLUMNS

RUN_FIELDS = ("runs", "finished", "succeeded", "failed", "running", "success_rate",
              "duration_p50_s", "duration_p95_s", "throughput_rps", "durations_known")
SLA_DAY_FIELDS = ("date", "runs", "success_rate", "duration_p95_s", "max_gap_s",
                  "freshness_met", "success_rate_met", "duration_met", "met")
SLA_TEXT_FIELDS = tuple("max_gap" if f == "max_gap_s" else f for f in SLA_DAY_FIELDS)
SLA_CSV_FIELDS = ("sla_met", "max_gap_s", "success_rate", "duration_p95_s")


def title(doc: dict) -> str:
    target = doc["target"]
    name = f" {one_line(escape_text(target['name']), 80)}" if target.get("name") else ""
    kind = target.get("resource_type") or target["kind"]
    window = doc["window"]
    return f"{kind} {target['id']}{name}: {window['from']} .. {window['to']} (UTC)"


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m" if seconds >= 60 else f"{seconds:.0f}s"


def targets_text(targets: dict) -> str:
    """"freshness 8.0h, success rate 0.95, duration p95 2m" (unset targets left out)."""
    parts = []
    if targets.get("freshness_s") is not None:
        parts.append(f"freshness {human_seconds(targets['freshness_s'])}")
    if targets.get("success_rate") is not None:
        parts.append(f"success rate {targets['success_rate']:g}")
    if targets.get("duration_p95_s") is not None:
        parts.append(f"duration p95 {human_seconds(targets['duration_p95_s'])}")
    return ", ".join(parts) or "none"


def _mark(value) -> str:
    return "-" if value is None else "yes" if value else "NO"


def text(doc: dict) -> str:
    parts = [title(doc), "", format_table(doc["daily"], list(COLUMNS)), "",
             "totals: " + ", ".join(f"{k} {v}" for k, v in doc["totals"].items()
                                    if v is not None)]
    if doc.get("runs"):
        parts += ["", "runs in the window: " + ", ".join(
            f"{key} {doc['runs'][key]}" for key in RUN_FIELDS if doc["runs"][key] is not None)]
    if doc.get("last_24h"):
        board = doc["last_24h"]
        parts += ["", "last 24 hours (dashboard): " + "; ".join(
            f"{group} {board[group]['resources']} ({board[group]['errors']} errors)"
            for group in ("sources", "datasets", "sinks"))]
    for flow in (doc.get("sla") or {}).get("flows", []):
        share = "n/a" if flow["attainment"] is None else f"{flow['attainment']:.1%}"
        parts += ["", f"SLA flow {flow['flow_id']} ({targets_text(flow['targets'])}): "
                  f"{flow['days_met']}/{flow['days_evaluated']} days met ({share}); missed: "
                  f"{', '.join(flow['missed']) or 'none'}",
                  format_table([{**day, "max_gap": human_seconds(day["max_gap_s"]),
                                 **{k: _mark(day[k]) for k in SLA_DAY_FIELDS if k.endswith("met")}}
                                for day in flow["days"]], list(SLA_TEXT_FIELDS))]
    parts += [f"note: {one_line(escape_text(note), 300)}" for note in doc.get("notes") or []]
    return "\n".join(parts) + "\n"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return str(value)
    return formula_safe(str(value))


def csv_text(doc: dict) -> str:
    """One row per day; with exactly one flow judged, its SLA verdict columns too."""
    flows = (doc.get("sla") or {}).get("flows", [])
    verdicts = {d["date"]: d for d in flows[0]["days"]} if len(flows) == 1 else None
    header = list(COLUMNS) + (list(SLA_CSV_FIELDS) if verdicts is not None else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in doc["daily"]:
        cells = [row.get(c) for c in COLUMNS]
        if verdicts is not None:
            day = verdicts.get(row["date"], {})
            cells += [day.get("met"), day.get("max_gap_s"), day.get("success_rate"),
                      day.get("duration_p95_s")]
        writer.writerow([_cell(v) for v in cells])
    return buffer.getvalue()


def render(doc: dict, fmt: str) -> str:
    if fmt == "json":
        return dumps(doc) + "\n"
    if fmt == "csv":
        return csv_text(doc)
    return text(doc)


def check_file_flag(path: str | None, field: str) -> None:
    """BadInput now, before anything is sent, for a --chart/--html path that cannot be used;
    '-' (stdout) is refused: stdout holds the report."""
    if path is None:
        return
    if path == "-":
        raise BadInput(f"{field}: expected a file path (stdout holds the report)")
    check_output_path(path, field)
