"""One report document: the target, its daily totals, its runs' statistics and, with an SLA
file, per-day attainment. Only GETs are sent."""

from __future__ import annotations

from nexla_ops.parsing import api_count

from . import daily, fetch, runs, sla
from .window import Window


def resolve(ctx, args) -> fetch.Target:
    if args.flow is not None:
        return fetch.flow_target(ctx, args.flow)
    if args.resource_id is not None:
        return fetch.resource_target(ctx, args.resource_type, args.resource_id)
    # --org / --user without an id (0): the caller's own
    if args.user is not None:
        return fetch.account_target(ctx, "user", args.user or None)
    return fetch.account_target(ctx, "org", args.org or None)


def flow_runs(ctx, resource_type: str, resource_id: int, window: Window,
              notes: list[str]) -> tuple[list[runs.Run], bool]:
    """The runs of the flow holding the resource, back to before the window's start, and
    whether that is its whole history (no run before the window: it began inside it)."""
    reaches = runs.ReachesBack(window.start)
    rows, complete = fetch.run_rows(ctx, resource_type, resource_id, reaches)
    if not complete:
        notes.append(f"{resource_type}/{resource_id}: run history stopped after "
                     f"{len(rows)} runs; older runs are not counted")
    garbled = sum(runs.unreadable(row) for row in rows)
    if garbled:
        notes.append(f"{resource_type}/{resource_id}: {garbled} run summary row(s) had a "
                     "figure, status or time that could not be read (counted as 0, or left "
                     "out of the days when no time could be read)")
    found = runs.runs_from_rows(rows)
    if found and not any(r.started_at for r in found):
        notes.append("run summaries carry no started_at (the reference publishes only runId, "
                     "lastWritten, dataSetId, records, size, errors): durations, p50/p95 and "
                     "throughput are unknown; runs are placed by lastWritten")
    return found, complete and not reaches.run_before


def _run_source(target: fetch.Target) -> tuple[str, int] | None:
    if target.kind == "resource":
        return target.resource_type, target.id
    if target.source_id is not None:
        return "data_sources", target.source_id
    if target.sink_ids:
        return "data_sinks", target.sink_ids[0]
    return None


def _dashboard_summary(board: dict) -> dict:
    """The dashboard's last 24 hours, per group: resources by status, and summed counts."""
    out = {}
    for group in ("sources", "datasets", "sinks"):
        found = board.get(group)
        entries = [e for e in found.values() if isinstance(e, dict)] \
            if isinstance(found, dict) else []
        statuses: dict[str, int] = {}
        for entry in entries:
            key = str(entry.get("status") or "UNKNOWN").upper()
            statuses[key] = statuses.get(key, 0) + 1
        out[group] = {"resources": len(entries), "by_status": statuses,
                      **{key: sum(api_count(e.get(key)) for e in entries)
                         for key in ("records", "size", "errors")}}
    return {"start_time": board.get("start_time"), "end_time": board.get("end_time"), **out}


def collect(ctx, args, window: Window, sla_config: sla.SlaConfig | None) -> dict:
    target = resolve(ctx, args)
    notes: list[str] = []
    doc: dict = {"ok": True, "target": target.describe(), "window": window.describe()}
    flow_runs_found: list[runs.Run] | None = None
    whole = False
    if target.kind in ("flow", "resource"):
        days = daily.resource_days(ctx, target, window)
        where = _run_source(target)
        if where is not None:
            flow_runs_found, whole = flow_runs(ctx, *where, window, notes)
            daily.add_run_counts(days, flow_runs_found)
            in_window = runs.in_span(flow_runs_found, window.start, window.end)
            doc["runs"] = runs.summarize(in_window)
    else:
        days = daily.account_days(ctx, target, window)
        notes.append("account metrics publish records and size only: errors are not reported "
                     "for an org or a user")
        doc["last_24h"] = _dashboard_summary(fetch.dashboard(ctx))
    doc["daily"] = days
    doc["totals"] = daily.totals(days)
    if sla_config is not None:
        doc["sla"] = _sla(ctx, target, flow_runs_found, whole, window, sla_config, notes)
    doc["notes"] = notes
    return doc


def _lifetime(target, found, whole: bool, notes: list[str]) -> sla.Lifetime:
    if target.status == "PAUSED":
        notes.append(f"SLA: flow {target.flow_id} is paused; days without its runs count as "
                     "missed (Nexla does not publish when it was paused): leave it out of the "
                     "SLA file to stop judging it")
    return sla.Lifetime.of(found or [], whole)


def _sla(ctx, target, found, whole, window, config: sla.SlaConfig, notes: list[str]) -> dict:
    results = []
    if target.flow_id is not None:
        targets = config.for_flow(target.flow_id)
        results.append(sla.attainment(target.flow_id, target.name, found or [], targets, window,
                                      _lifetime(target, found, whole, notes)))
    else:
        if not config.flows:
            notes.append("SLA: the file lists no flows; an org or user report judges only the "
                         "flows it lists")
        for flow_id, targets in config.flows.items():
            flow = fetch.flow_target(ctx, flow_id)
            where = _run_source(flow)
            flow_found, whole = flow_runs(ctx, *where, window, notes) if where else ([], True)
            results.append(sla.attainment(flow.id, flow.name, flow_found, targets, window,
                                          _lifetime(flow, flow_found, whole, notes)))
    return {"flows": results}
