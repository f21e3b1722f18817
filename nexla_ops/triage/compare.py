"""One flow's last successful run set against its last failed run: the figures side by side, the
schema difference between their sample records, and the log lines only the failed run has."""

from __future__ import annotations

from datetime import datetime, timezone

import nexla_ops
from nexla_ops.flows import whole_flow
from nexla_ops.health.observe import flows_from_page, objects, run_from_metric
from nexla_ops.logs import iso, normalise_message
from nexla_ops.transforms import infer_schema, schema_diff

from .answers import log_lines, run_rows

RUN_PAGE = 100
MAX_RUN_PAGES = 5  # how far back a last success or failure is looked for
LOG_PAGE = 500
SAMPLE_COUNT = 100
MAX_UNIQUE_LINES = 20
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def _is_failed(run) -> bool:
    return run.status == "FAILED" or (run.finished and run.errors > 0)


def find_runs(api, source_id: int) -> tuple[dict | None, dict | None]:
    """(last success, last failure) as run-summary rows, looked for newest first."""
    found: dict[str, dict] = {}
    path = f"/data_sources/{source_id}/metrics/run_summary"
    for page in range(1, MAX_RUN_PAGES + 1):
        rows, meta = run_rows(api.get(path, {"page": page, "size": RUN_PAGE}), f"GET {path}")
        runs = sorted(((run_from_metric(r), r) for r in rows),
                      key=lambda pair: (pair[0].when or _EPOCH, pair[0].run_id), reverse=True)
        for run, row in runs:
            if run.finished:
                found.setdefault("failure" if _is_failed(run) else "success", row)
        last_page = len(rows) < RUN_PAGE or page >= _whole(meta.get("pageCount"), page)
        if len(found) == 2 or last_page:
            break
    return found.get("success"), found.get("failure")


def _whole(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def run_figures(row: dict | None) -> dict | None:
    if row is None:
        return None
    run = run_from_metric(row)
    duration = ((run.finished_at - run.started_at).total_seconds()
                if run.finished_at and run.started_at else None)
    size = row.get("size")
    return {"run_id": run.run_id, "status": run.status, "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at), "records": run.records,
            "bytes": size if isinstance(size, int) and not isinstance(size, bool) else None,
            "errors": run.errors,
            "duration_s": round(duration, 1) if duration is not None else None}


def _log_patterns(api, flow_id: int, run_id: int) -> dict[str, dict]:
    """pattern -> {level, example, count, resource} over the run's log lines (one page)."""
    path = f"/flows/{flow_id}/logs"
    body = api.get(path, {"run_id": run_id, "page": 1, "per_page": LOG_PAGE})
    patterns: dict[str, dict] = {}
    for line in log_lines(body, f"GET {path}"):
        if line["run_id"] not in (None, run_id):
            continue
        message = nexla_ops.redact_text(str(line["message"]))
        # The run's own id is in its summary lines: without it both runs' lines compare equal.
        pattern = normalise_message(message.replace(str(run_id), "RUN"))
        entry = patterns.setdefault(pattern, {
            "level": line["level"], "example": nexla_ops.one_line(message, 300), "count": 0,
            "resource": f"{line.get('resource_type') or '-'}/{line.get('resource_id') or '-'}"})
        entry["count"] += 1
    return patterns


def unique_lines(api, flow_id: int, success: dict | None, failure: dict) -> list[dict]:
    failed = _log_patterns(api, flow_id, run_from_metric(failure).run_id)
    good = _log_patterns(api, flow_id, run_from_metric(success).run_id) if success else {}
    order = {"FATAL": 0, "CRITICAL": 0, "ERROR": 1, "WARN": 2}
    only = [entry for pattern, entry in failed.items() if pattern not in good]
    only.sort(key=lambda e: (order.get(e["level"] or "", 3), -e["count"], e["example"]))
    return only[:MAX_UNIQUE_LINES]


# -------------------------------------------------------------------- the samples' schemas

def schema_difference(api, nexset_ids: list[int], success: dict | None,
                      failure: dict) -> list[dict]:
    """Per nexset, the schema of the failed run's sample records against the successful one's:
    fields added, removed and changed (as validate_transform reports a transform's). Nexla serves a nexset's latest samples, tagged with their run id only with
    include_metadata: a run with no samples there is reported as unavailable, not guessed."""
    runs = {"success": run_from_metric(success).run_id if success else None,
            "failure": run_from_metric(failure).run_id}
    out = []
    for nexset_id in nexset_ids:
        body = api.get(f"/data_sets/{nexset_id}/samples",
                       {"count": SAMPLE_COUNT, "include_metadata": 1})
        records: dict[str, list] = {"success": [], "failure": []}
        for item in objects(body):
            meta = item.get("nexlaMetaData")
            if not isinstance(meta, dict) or meta.get("errorRecord"):
                continue
            for side, run_id in runs.items():
                if run_id is not None and meta.get("runId") == run_id:
                    records[side].append(item.get("rawMessage"))
        entry: dict = {"nexset_id": nexset_id}
        missing = [side for side in runs if runs[side] is not None and not records[side]]
        if missing or runs["success"] is None:
            entry["unavailable"] = (
                "no successful run to compare" if runs["success"] is None else
                f"the nexset's latest {SAMPLE_COUNT} samples hold no records of the "
                f"{' or '.join(missing)} run")
        else:
            # validate_transform's schema vocabulary: added/removed/changed, success -> failure
            entry.update(schema_diff(infer_schema(records["success"]),
                                     infer_schema(records["failure"])))
        out.append(entry)
    return out


# -------------------------------------------------------------------- the whole comparison

def compare_flow(api, flow_id: int) -> dict:
    body = whole_flow(api.get, flow_id, {"include_run_metrics": 1})
    if not isinstance(body, dict) or not isinstance(body.get("flows"), list):
        raise nexla_ops.ApiError(f"GET /flows/{flow_id}: unexpected response shape (expected "
                                 "an object with a 'flows' list)")
    flows = flows_from_page(body)
    if not flows:
        raise nexla_ops.NotFound(f"flow {flow_id}: not found (no readable flow in the answer)")
    flow = flows[0]
    if flow.source_id is None:
        raise nexla_ops.NotFound(f"flow {flow_id}: has no source, so no runs to compare")
    success, failure = find_runs(api, flow.source_id)
    result = {"flow_id": flow.flow_id, "name": nexla_ops.one_line(flow.name, 120),
              "status": flow.status, "last_success": run_figures(success),
              "last_failure": run_figures(failure), "latest_failed": False, "gaps": []}
    if failure is None:
        result["note"] = (f"no failed run among the source's latest "
                          f"{RUN_PAGE * MAX_RUN_PAGES} runs")
        return result
    newest = max((r for r in (success, failure) if r is not None),
                 key=lambda r: run_from_metric(r).when or _EPOCH)
    result["latest_failed"] = newest is failure
    # Each half of the comparison stands alone: one unreadable part is said, not fatal.
    gaps = []
    try:
        result["unique_log_lines"] = unique_lines(api, flow.flow_id, success, failure)
    except nexla_ops.OpsError as exc:
        result["unique_log_lines"] = None
        gaps.append(f"log lines unavailable: {nexla_ops.one_line(exc.message, 300)}")
    nexsets = sorted(rid for kind, rid in flow.resources if kind == "data_sets")
    try:
        result["schema_difference"] = schema_difference(api, nexsets, success, failure)
    except nexla_ops.OpsError as exc:
        result["schema_difference"] = []
        gaps.append(f"samples unavailable: {nexla_ops.one_line(exc.message, 300)}")
    result["gaps"] = gaps
    return result
