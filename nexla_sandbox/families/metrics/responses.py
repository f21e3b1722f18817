"""Run, log and metrics handlers: flow logs (v1, v2), run status, run summaries, daily and flow metrics."""

from __future__ import annotations

from datetime import datetime, timezone

from ...ctx import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Ctx
from ...domain import ApiError, not_found, parse_time
from ..flows.responses import flow_root, resource_root


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


def resource_flow_logs(kind):
    def handler(c: Ctx):
        root = resource_root(c, kind)
        run_id = c.qint("run_id")
        lo, hi = c.qint("from"), c.qint("to")  # epoch milliseconds on this endpoint
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
    levels = {s.strip().upper() for s in severity.split(",")} if severity else None
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
    entries = _visible_logs(c, root, None, lo_ms, hi_ms,
                            {s.upper() for s in severity} if severity else None)
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


def _date_arg(c: Ctx, name, required=False):
    value = c.query.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"{name}: required (YYYY-MM-DD)")
        return None
    ts = parse_time(value)
    if ts is None:
        raise ApiError(400, f"{name}: expected a date YYYY-MM-DD, got {value!r}")
    return ts


def _runs_in_dates(c: Ctx, root: dict | None) -> list[dict]:
    """The flow's runs started within the `from`..`to` days (`to`'s whole day included)."""
    lo = _date_arg(c, "from", required=True)
    hi = _date_arg(c, "to")
    runs = c.dom.flow_runs(root["id"]) if root else []
    return [r for r in runs if r["started_at"] >= lo and (hi is None or r["started_at"] < hi + 86400)]


def _add_counts(total: dict, res: dict):
    for key in ("records", "size", "errors"):
        total[key] += res[key]


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")


def daily_metrics(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user)
        days: dict[str, dict] = {}
        for run in _runs_in_dates(c, c.dom.root_of(doc)):
            day = days.setdefault(_day(run["started_at"]), {"time": _day(run["started_at"]),
                                                            "records": 0, "size": 0, "errors": 0})
            for res in run["resources"]:
                if res["resource_type"] == kind and res["resource_id"] == doc["id"]:
                    _add_counts(day, res)
        return {"status": 200, "metrics": [days[k] for k in sorted(days)]}
    return handler


# The reference groups each entry's resources into per-type lists, so a source and a nexset that
# share an id never merge (keyed by bare id, source 123 and nexset 123 once double-counted).
_GROUPS = {"data_source": "data_sources", "data_set": "data_sets", "data_sink": "data_sinks"}


def resource_flow_metrics(kind):
    def handler(c: Ctx):
        data: dict[str, dict] = {}
        for run in _runs_in_dates(c, resource_root(c, kind)):
            entry = data.setdefault(str(run["id"]), {group: [] for group in _GROUPS.values()})
            for res in run["resources"]:
                group = _GROUPS.get(str(res["resource_type"]).lower().rstrip("s"),
                                    str(res["resource_type"]))
                entry.setdefault(group, []).append({"id": res["resource_id"], "metric": {
                    key: res[key] for key in ("records", "size", "errors")}})
        return {"status": 200, "message": "Ok", "metrics": {
            "data": data, "meta": {"currentPage": 1, "pageCount": 1, "totalCount": len(data)}}}
    return handler
