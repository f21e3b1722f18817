"""Every API call a report makes: GETs through Reads.get, so the retry policy, error
translation and redaction apply. Paths and parameters as Nexla publishes them (the digest's
"GET /{resource_type}/{resource_id}/metrics" and friends); the answers are read leniently,
since the reference marks almost no field as required."""

from __future__ import annotations

from dataclasses import dataclass, field

from nexla_ops.errors import ApiError
from nexla_ops.flows import whole_flow
from nexla_ops.paging import Page, PageWalk

from .window import Window

RUN_PAGE = 100  # the sandbox's (and Nexla's usual) largest page


class Reads:
    """The Context with its GETs fitted into the run's one time budget (--deadline for the
    whole report, not per call: an org's year is hundreds of calls), through the health
    check's Api, as triage reads too."""

    def __init__(self, ctx, seconds: float):
        from nexla_ops.health.budget import Deadline
        from nexla_ops.health.observe import Api

        self.ctx = ctx
        self.get = Api(ctx, Deadline(seconds)).get

    def current_user(self) -> dict:
        return self.ctx.current_user()

    def progress(self, text: str) -> None:
        self.ctx.progress(text)


MAX_RUN_PAGES = 100  # 10,000 runs: more than a year of hourly runs


@dataclass
class Target:
    """What a report is about: a flow (its source and destinations), one resource, a user or
    an org."""

    kind: str  # flow | resource | user | org
    id: int
    name: str = ""
    resource_type: str = ""  # for kind == resource
    flow_id: int | None = None  # the flow a flow or resource belongs to
    status: str = ""  # the flow's status (ACTIVE, PAUSED, ...)
    source_id: int | None = None
    sink_ids: list[int] = field(default_factory=list)

    def describe(self) -> dict:
        out = {"kind": self.kind, "id": self.id, "name": self.name or None}
        if self.kind == "resource":
            out["resource_type"] = self.resource_type
        if self.flow_id is not None:
            out.update(flow_id=self.flow_id, source_id=self.source_id,
                       destination_ids=self.sink_ids)
        return out


def _walk(node: dict, key: str) -> list[int]:
    found, todo = [], [node]
    while todo:
        current = todo.pop()
        if not isinstance(current, dict):
            continue
        if isinstance(current.get(key), int):
            found.append(current[key])
        todo.extend(current.get("children") or [])
    return sorted(set(found))


def _root(body, what: str) -> dict:
    flows = body.get("flows") if isinstance(body, dict) else None
    if not isinstance(flows, list) or not flows or not isinstance(flows[0], dict):
        raise ApiError(f"{what}: unexpected response shape (expected a non-empty 'flows' list)")
    return flows[0]


def _flow_target(root: dict, kind: str, ident: int, resource_type: str = "") -> Target:
    sources = _walk(root, "data_source_id")
    status = root.get("status")
    return Target(kind, ident, str(root.get("name") or ""), resource_type,
                  flow_id=root.get("origin_node_id") or root.get("id"),
                  status=status.upper() if isinstance(status, str) else "",
                  source_id=sources[0] if sources else None,
                  sink_ids=_walk(root, "data_sink_id"))


def flow_target(ctx, flow_id: int) -> Target:
    """GET /flows/{id}: the whole flow's tree (any node id names its flow)."""
    body = whole_flow(ctx.get, flow_id, {"flows_only": 1})
    root = _root(body, f"GET /flows/{flow_id}")
    target = _flow_target(root, "flow", flow_id)
    target.id = target.flow_id or flow_id
    return target


def resource_target(ctx, resource_type: str, resource_id: int) -> Target:
    """The resource itself (404 for an unknown one), then the flow holding it."""
    body = ctx.get(f"/{resource_type}/{resource_id}")
    name = str(body.get("name") or "") if isinstance(body, dict) else ""
    flow = ctx.get(f"/{resource_type}/{resource_id}/flow", {"flows_only": 1})
    target = _flow_target(_root(flow, f"GET /{resource_type}/{resource_id}/flow"), "resource",
                          resource_id, resource_type)
    target.name = name
    return target


def account_target(ctx, kind: str, ident: int | None) -> Target:
    """--org (default: the caller's org) or --user (default: the caller)."""
    user = ctx.current_user()
    if ident is None:
        ident = user.get("org_id") if kind == "org" else user.get("id")
        if not isinstance(ident, int):
            raise ApiError(f"GET /users/current: no {kind} id in the answer")
    path = f"/{'orgs' if kind == 'org' else 'users'}/{ident}"
    body = ctx.get(path)
    name = (body.get("name") or body.get("full_name")) if isinstance(body, dict) else None
    return Target(kind, ident, str(name or ""))


def daily_metrics(ctx, resource_type: str, resource_id: int, window: Window) -> list[dict]:
    """GET /{type}/{id}/metrics?from&to&aggregate=1: one row per day ({time, records, size,
    errors}), as the SDK's get_resource_daily_metrics asks for it."""
    path = f"/{resource_type}/{resource_id}/metrics"
    body = ctx.get(path, {"from": window.first.isoformat(), "to": window.last.isoformat(),
                          "aggregate": 1})
    rows = body.get("metrics") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise ApiError(f"GET {path}: unexpected response shape (expected 'metrics' as a list)")
    return [row for row in rows if isinstance(row, dict)]


def account_metrics(ctx, target: Target, day) -> dict:
    """GET /{orgs|users}/{id}/flows/account_metrics for one day: records and size (the
    published answer carries no errors)."""
    path = f"/{'orgs' if target.kind == 'org' else 'users'}/{target.id}/flows/account_metrics"
    body = ctx.get(path, {"from": day.isoformat(), "to": day.isoformat()})
    rows = body.get("metrics") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise ApiError(f"GET {path}: unexpected response shape (expected 'metrics' as a list)")
    total = {"records": 0, "size": 0}
    for row in rows:
        data = row.get("data") if isinstance(row, dict) else None
        for key in total:
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] += value
    return total


def dashboard(ctx) -> dict:
    """GET /users/{uid}/flows/dashboard: the caller's last 24 hours by resource."""
    uid = ctx.current_user().get("id")
    body = ctx.get(f"/users/{uid}/flows/dashboard")
    metrics = body.get("metrics") if isinstance(body, dict) else None
    if not isinstance(metrics, dict):
        raise ApiError(f"GET /users/{uid}/flows/dashboard: unexpected response shape "
                       "(expected 'metrics' as an object)")
    return metrics


def run_rows(ctx, resource_type: str, resource_id: int, enough) -> tuple[list[dict], bool]:
    """GET /{type}/{id}/metrics/run_summary, page by page (page, size), until `enough(page)`
    (called with each page's rows) says the history reaches back far enough or the pages end. (rows, complete): complete is
    False when MAX_RUN_PAGES stopped the walk."""
    path = f"/{resource_type}/{resource_id}/metrics/run_summary"

    def fetch_page(page: int) -> Page:
        body = ctx.get(path, {"page": page, "size": RUN_PAGE})
        metrics = body.get("metrics") if isinstance(body, dict) else None
        if not isinstance(metrics, dict):
            raise ApiError(f"GET {path}: unexpected response shape (expected 'metrics' as an "
                           "object)")
        meta = metrics.get("meta") if isinstance(metrics.get("meta"), dict) else {}
        if not isinstance(metrics.get("data"), list):
            raise ApiError(f"GET {path}: unexpected response shape (expected 'metrics.data' "
                           "as a list)")
        data = [row for row in metrics["data"] if isinstance(row, dict)]
        return Page(data, meta.get("pageCount") if isinstance(meta.get("pageCount"), int)
                    else None)

    rows: list[dict] = []
    walk = PageWalk(fetch_page, what=f"GET {path}", per_page=RUN_PAGE,
                    identity=lambda row: row.get("runId") or row.get("run_id"))
    for number, page_rows in enumerate(walk, 1):
        rows.extend(page_rows)
        ctx.progress(f"run summaries: page {number}, {len(rows)} runs")
        if enough(page_rows) or walk.ended:
            return rows, True
        if number >= MAX_RUN_PAGES:
            return rows, False
    return rows, True
