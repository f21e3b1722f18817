"""Triage as JSON for agents and as text for people (API text escaped onto one line)."""

from __future__ import annotations

from nexla_ops.logs import iso
from nexla_ops.redact import escape_text, one_line

from .findings import SEVERITY_NAMES


def finding_document(finding, rank: int, steps: list[dict]) -> dict:
    flow = finding.flow
    run = finding.failing_run
    return {
        "rank": rank, "flow_id": flow.flow_id, "name": one_line(flow.name, 120),
        "status": flow.status, "severity": SEVERITY_NAMES[finding.severity],
        "problems": finding.all_problems(),
        "impact": {"errors": finding.errors, "records_affected": finding.records_affected,
                   "failed_runs": len(finding.failed_runs),
                   "runs_in_window": finding.runs_in_window,
                   "stale_seconds": round(finding.stale_seconds),
                   "destinations": finding.destinations},
        "last_success": iso(finding.last_success),
        "failing_since": iso(finding.details.get("failing_since")),
        "runs_read_whole_window": finding.details.get("window_complete"),
        "details_unavailable": finding.details.get("unavailable"),
        "failing_run": None if run is None else {
            "run_id": run.run_id, "status": run.status, "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at), "records": run.records, "errors": run.errors},
        "error_groups": [{**g, "first_seen": g["first_seen"], "last_seen": g["last_seen"]}
                         for g in finding.details.get("error_groups", [])],
        "credentials": [{"id": c.id, "name": c.name, "state": c.state,
                         "verified_status": c.verified_status or None,
                         "verified_at": iso(c.verified_at), "probe": c.probe or None}
                        for c in finding.credentials],
        "notifications": [{**n, "created_at": iso(n["created_at"]),
                           "resource": {"type": n["resource"][0], "id": n["resource"][1]}}
                          for n in finding.notifications],
        "next_steps": steps,
    }


def summary_line(doc: dict) -> str:
    counts = doc["counts"]
    window = doc["window"]["label"]
    if not doc["broken"]:
        return (f"triage: nothing broken in the last {window} across {doc['flows_checked']} "
                f"flows ({doc['api_calls']} requests)")
    parts = ", ".join(f"{counts[name]} {name}" for name in ("failing", "intermittent", "stale")
                      if counts[name])
    return (f"triage: {doc['broken']} of {doc['flows_checked']} flows broken in the last "
            f"{window} ({parts}; {doc['api_calls']} requests)")


def _t(value, limit: int = 300) -> str:
    """API text (names, messages) for one line of the text report: escapes made visible."""
    return one_line(escape_text(value), limit)


def render_text(doc: dict) -> str:
    lines = [summary_line(doc)]
    for item in doc["flows"]:
        lines.append("")
        lines.append(f"{item['rank']}. flow {item['flow_id']} {_t(item['name'])} "
                     f"[{item['severity']}]")
        for problem in item["problems"]:
            lines.append(f"   - {_t(problem['message'])}")
        if item["details_unavailable"]:
            lines.append(f"   details unavailable: {_t(item['details_unavailable'])}")
        run = item["failing_run"]
        if run:
            lines.append(f"   failing run {run['run_id']} started {run['started_at'] or '-'}: "
                         f"{run['records']} records, {run['errors']} errors")
        if item["failing_since"]:
            lines.append(f"   failing since {item['failing_since']}; last success "
                         f"{item['last_success'] or 'not among the runs read'}")
        for group in item["error_groups"]:
            res = group["resource"]
            where = f"{res['type']}/{res['id']}" if res.get("id") else "-"
            lines.append(f"   error x{group['count']} in {group['runs']} run(s) at {where}: "
                         f"{_t(group['example'])}")
        for cred in item["credentials"]:
            if cred["state"] != "verified":
                said = cred["probe"] or cred["verified_status"] or "no status"
                lines.append(f"   credential {cred['id']} {_t(cred['name'], 120)}: "
                             f"{cred['state']} ({_t(said)})")
        for note in item["notifications"]:
            lines.append(f"   notification {note['level']} {note['created_at'] or '-'}: "
                         f"{_t(note['message'])}")
        for step in item["next_steps"]:
            command = f": {_t(step['command'], 400)}" if step["command"] else ""
            lines.append(f"   next: {step['action']}{command}")
    hidden = doc["broken"] - doc["shown"]
    if hidden:
        lines += ["", f"{hidden} more broken flow(s) not shown (--limit {doc['shown']})"]
    if doc["gaps"]:
        lines += [""] + [f"incomplete: {_t(gap)}" for gap in doc["gaps"]]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return "-" if value is None else _t(value, 60)


def render_comparison(doc: dict) -> str:
    good, bad = doc["last_success"], doc["last_failure"]
    lines = [f"flow {doc['flow_id']} {_t(doc['name'])}: last successful run against last "
             "failed run"]
    rows = [("run", "run_id"), ("started", "started_at"), ("finished", "finished_at"),
            ("records", "records"), ("bytes", "bytes"), ("duration (s)", "duration_s"),
            ("errors", "errors")]
    lines.append(f"  {'':<14}{'last success':<28}{'last failure':<28}")
    for label, key in rows:
        lines.append(f"  {label:<14}{_cell((good or {}).get(key)):<28}"
                     f"{_cell((bad or {}).get(key)):<28}")
    if doc.get("note"):
        lines.append(f"  {doc['note']}")
    for entry in doc.get("schema_difference", []):
        head = f"  schema of nexset {entry['nexset_id']}: "
        if "unavailable" in entry:
            lines.append(head + f"unavailable ({_t(entry['unavailable'])})")
            continue
        changes = []
        if entry["removed"]:
            changes.append("missing in the failed run: " + ", ".join(
                _t(f["field"], 80) for f in entry["removed"]))
        if entry["added"]:
            changes.append("new in the failed run: " + ", ".join(
                _t(f["field"], 80) for f in entry["added"]))
        for change in entry["changed"]:
            changes.append(f"{_t(change['field'], 80)} {change['from']} -> {change['to']}")
        lines.append(head + ("; ".join(changes) if changes else "no difference"))
    unique = doc.get("unique_log_lines")
    if unique is not None:
        lines.append(f"  log lines only in the failed run ({len(unique)}):")
        for entry in unique:
            lines.append(f"    {_t(entry['level'] or '-'):<5} {_t(entry['resource'])} "
                         f"x{entry['count']}: {_t(entry['example'])}")
    lines += [f"  incomplete: {_t(gap)}" for gap in doc.get("gaps", [])]
    return "\n".join(lines) + "\n"
