"""Run, log and metrics handlers of one resource or flow: flow logs (v1, v2, the reference's
/data_flows/... logs), run status, run summaries, daily and flow metrics."""

from __future__ import annotations

import re

from ...ctx import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Ctx
from ...domain import FLOW_KINDS, ApiError, not_found, parse_time
from ..flows.responses import flow_root, resource_root
from .models import add_counts, zero_counts


def _levels(values) -> set | None:
    """Severity filter values → stored levels (the reference says WARNING, lines store WARN)."""
    if not values:
        return None
    return {"WARN" if v.strip().upper() == "WARNING" else v.strip().upper() for v in values}


def _visible_logs(c: Ctx, root: dict, run_id, lo_ms, hi_ms, levels=None) -> list[dict]:
    now_ms = c.dom.now() * 1000
    out = []
    for run in c.dom.flow_runs(root["id"]):
        if run_id is not None and run["id"] != run_id:
            continue
        for entry in run["logs"]:
            ts = entry["timestamp"]
            if ts > now_ms or (lo_ms is not None and ts < lo_ms) or (hi_ms is not None and ts > hi_ms):
                continue
            if levels and entry["level"] not in levels:
                continue
            out.append(entry)
    out.sort(key=lambda e: e["timestamp"], reverse=True)
    return out


def _logs_reply(c: Ctx, entries: list, run_id=None) -> dict:
    page, per_page = c.paging(default=DEFAULT_PAGE_SIZE * 5, cap=MAX_PAGE_SIZE * 10)
    chunk = entries[(page - 1) * per_page: page * per_page]
    return {"status": 200, "message": "Ok", "logs": {
        "data": [c.shaper.log_entry(e) for e in chunk],
        "meta": {"current_page": page, "pages_count": max(1, -(-len(entries) // per_page)),
                 "total_count": len(entries), "org_id": c.user["org_id"], "run_id": run_id}}}


def resource_flow_logs(kind, reference=False):
    """The flow's log lines for a run (`from`/`to` in epoch ms). The reference's
    /data_flows/... path requires `run_id` and `from`; the SDK's /flow/logs path does not."""
    def handler(c: Ctx):
        root = resource_root(c, kind)
        run_id = c.qint("run_id")
        lo, hi = c.qint("from"), c.qint("to")
        if reference:
            for name, value in (("run_id", run_id), ("from", lo)):
                if value is None:
                    raise ApiError(400, f"{name}: required (an integer)")
        return _logs_reply(c, _visible_logs(c, root, run_id, lo, hi), run_id)
    return handler


def _seconds_window_ms(c: Ctx) -> tuple:
    """`from`/`to` given in epoch seconds → millisecond bounds, `to`'s whole second included."""
    lo, hi = c.qint("from"), c.qint("to")
    return (None if lo is None else lo * 1000, None if hi is None else hi * 1000 + 999)


def flow_logs(c: Ctx):
    root = flow_root(c)
    run_id = c.qint("run_id")
    lo_ms, hi_ms = _seconds_window_ms(c)
    severity = c.query.get("severity")
    levels = _levels(severity.split(",") if severity else None)
    return _logs_reply(c, _visible_logs(c, root, run_id, lo_ms, hi_ms, levels), run_id)


def flow_logs_v2(c: Ctx):
    root = flow_root(c)
    f = c.fields(required=False)
    run_ids = f.list("run_ids", of=int)
    severity = f.strings("severity")
    log_type = f.strings("log_type")
    search = f.text("search_string")
    lo_ms, hi_ms = _seconds_window_ms(c)
    size = min(c.qint("size", 100, minimum=1), 1000)
    entries = _visible_logs(c, root, None, lo_ms, hi_ms, _levels(severity))
    if run_ids:
        entries = [e for e in entries if e["run_id"] in run_ids]
    if log_type:
        entries = [e for e in entries if e["log_type"] in log_type]
    if search:
        entries = [e for e in entries if search.lower() in e["message"].lower()]
    if c.query.get("sort") == "asc":
        entries.reverse()
    return {"status": 200, "message": "Ok", "logs": {
        "data": [c.shaper.log_entry(e) for e in entries[:size]],
        "meta": {"total_count": len(entries), "org_id": c.user["org_id"]}}}


def run_status(c: Ctx):
    root = flow_root(c)
    run = c.store.get("runs", c.args["run_id"])
    if run is None or run["flow_id"] != root["id"] or run["started_at"] > c.dom.now():
        raise not_found("runs", c.args["run_id"])
    return {"status": 200, "message": "Ok", "run": c.shaper.run(run), "run_id": run["id"],
            "flow_id": root["id"], "run_status": c.dom.run_status(run)}


def _data_set_for(c: Ctx, kind: str, doc: dict):
    if kind == "data_sets":
        return doc["id"]
    if kind == "data_sinks":
        return doc.get("data_set_id")
    found = c.store.find("data_sets", "data_source_id", doc["id"])
    return found[0]["id"] if found else None


def run_summary(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user)
        root = c.dom.root_of(doc)
        runs = c.dom.flow_runs(root["id"]) if root else []
        if c.query.get("orderby") in ("runId", "lastWritten") and c.query.get("sort") == "asc":
            runs = runs[::-1]
        page, size = c.paging("size")
        chunk = runs[(page - 1) * size: page * size]
        set_id = _data_set_for(c, kind, doc)
        return {"status": 200, "metrics": {
            "data": [c.shaper.run(r, set_id) for r in chunk],
            "meta": {"currentPage": page, "pageCount": max(1, -(-len(runs) // size)),
                     "totalCount": len(runs)}}}
    return handler


_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def window(c: Ctx, required=True) -> tuple:
    """(lo, hi) epoch seconds from `from`/`to` (dates or date-times): runs started at or after
    lo and before hi count; a bare-date `to` takes in its whole day, a date-time `to` ends at
    that instant; no `to` means up to now (hi None)."""
    bounds = []
    for name in ("from", "to"):
        value = c.query.get(name)
        if value is None or value == "":
            if name == "from" and required:
                raise ApiError(400, "from: required (YYYY-MM-DD or an ISO date-time)")
            bounds.append(None)
            continue
        ts = parse_time(value)
        if ts is None:
            raise ApiError(400, f"{name}: expected a date YYYY-MM-DD or an ISO date-time, "
                                f"got {value!r}")
        if name == "to":
            ts += 86400 if _BARE_DATE.fullmatch(value.strip()) else 0.001
        bounds.append(ts)
    lo, hi = bounds
    return (lo if lo is not None else 0.0), hi


def daily_metrics(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user)
        lo, hi = window(c)
        return {"status": 200, "metrics": c.dom.daily_totals([(kind, doc)], lo, hi)}
    return handler


def _run_entry(run: dict) -> dict:
    # Grouped by resource type, so a source and a nexset that share an id never merge.
    entry: dict[str, list] = {group: [] for group in FLOW_KINDS}
    for res in run["resources"]:
        entry[res["resource_type"]].append({"id": res["resource_id"], "metric": {
            key: res[key] for key in ("records", "size", "errors")}})
    return entry


def _aggregate_entry(runs: list[dict]) -> dict:
    totals: dict[str, dict] = {group: {} for group in FLOW_KINDS}
    for run in runs:
        for res in run["resources"]:
            metric = totals[res["resource_type"]].setdefault(res["resource_id"], zero_counts())
            add_counts(metric, res)
    return {group: [{"id": rid, "metric": m} for rid, m in sorted(found.items())]
            for group, found in totals.items()}


def resource_flow_metrics(kind, reference=False):
    """The flow's counts per node over the window. The SDK's /flow/metrics path always keys
    them by run id; the reference's /data_flows/... path does so with `groupby=runId` and
    otherwise answers one aggregate over the window. Runs are paged only when `page` or
    `per_page` is given (else every run in the window, one page)."""
    def handler(c: Ctx):
        root = resource_root(c, kind)
        groupby = c.query.get("groupby")
        if groupby not in (None, "", "runId"):
            raise ApiError(400, f"groupby: expected runId, got {groupby!r}")
        orderby = c.query.get("orderby")
        if orderby not in (None, "", "runId", "created_at"):
            raise ApiError(400, f"orderby: expected runId or created_at, got {orderby!r}")
        lo, hi = window(c)
        runs = c.dom.runs_in(root, lo, hi)
        if reference and not groupby:
            data = _aggregate_entry(runs)
            meta = {"currentPage": 1, "pageCount": 1,
                    "totalCount": sum(len(v) for v in data.values())}
            return {"status": 200, "message": "Ok", "metrics": {"data": data, "meta": meta}}
        page, size = 1, max(len(runs), 1)
        if c.query.get("page") or c.query.get("per_page"):
            page, size = c.paging()
        chunk = runs[(page - 1) * size: page * size]
        return {"status": 200, "message": "Ok", "metrics": {
            "data": {str(run["id"]): _run_entry(run) for run in chunk},
            "meta": {"currentPage": page, "pageCount": max(1, -(-len(runs) // size)),
                     "totalCount": len(runs)}}}
    return handler
