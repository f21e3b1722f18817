"""Account-level metrics handlers: a user's or an org's account metrics, a user's daily metrics
and 24-hour dashboard, and the flow status metrics SDK 1.0.8 calls. Every figure is a sum of the
same per-run, per-resource counts that /{type}/{id}/metrics reports.

Access: a user's figures need that user (owner role on the user) or an admin of the user's org;
an org's need its admin — `need="admin"` on the users/orgs doc (see BaseDomain.roles)."""

from __future__ import annotations

from ...ctx import Ctx
from ...domain import ApiError, iso
from .models import add_counts, zero_counts
from .responses import window

_USER_RESOURCE_KIND = {"SOURCE": "data_sources", "SINK": "data_sinks"}


def _target_user(c: Ctx) -> dict:
    return c.dom.get("users", c.args["id"], c.user, need="admin")


def _target_org(c: Ctx) -> dict:
    return c.dom.get("orgs", c.args["id"], c.user, need="admin")


def _span(c: Ctx, lo: float, hi: float | None) -> dict:
    return {"start_time": iso(lo), "end_time": iso(hi if hi is not None else c.dom.now())}


def _account_reply(c: Ctx, sources: list[dict]) -> dict:
    """Records and size the sources ingested in the window: a record that a source, its
    nexsets and its destinations all handle counts once."""
    lo, hi = window(c)
    total = zero_counts()
    for day in c.dom.daily_totals([("data_sources", s) for s in sources], lo, hi):
        add_counts(total, day)
    return {"status": 200, "metrics": [{"data": {"records": total["records"],
                                                 "size": total["size"]}, **_span(c, lo, hi)}]}


def _owned(c: Ctx, kind: str, user: dict) -> list[dict]:
    org_id = c.qint("org_id", user["org_id"])
    return [d for d in c.store.find(kind, "owner_id", user["id"])
            if d.get("org_id", org_id) == org_id]


def user_account_metrics(c: Ctx):
    return _account_reply(c, _owned(c, "data_sources", _target_user(c)))


def org_account_metrics(c: Ctx):
    org = _target_org(c)
    sources = [d for d in c.store.iter_all("data_sources") if d.get("org_id") == org["id"]]
    return _account_reply(c, sources)


def user_daily_metrics(c: Ctx):
    user = _target_user(c)
    value = c.query.get("resource_type")
    kind = _USER_RESOURCE_KIND.get(value or "")
    if kind is None:
        raise ApiError(400, f"resource_type: required, SOURCE or SINK; got {value!r}")
    c.qint("aggregate")  # documented as 1 (daily totals); daily is all the sandbox reports
    lo, hi = window(c)
    return {"status": 200,
            "metrics": c.dom.daily_totals([(kind, d) for d in _owned(c, kind, user)], lo, hi)}


def user_dashboard(c: Ctx):
    user = _target_user(c)
    now = c.dom.now()
    lo = now - 86400
    metrics = c.dom.dashboard(c.dom.roots_with_role(user, c.access_role()), lo, None)
    return {"status": 200, "metrics": {**metrics, **_span(c, lo, now)}}


def _flow_status(c: Ctx, root: dict, lo: float) -> dict:
    runs = c.dom.runs_in(root, lo, None)
    statuses = [c.dom.run_status(r) for r in runs]
    _, src = c.dom.node_resource(root)
    entry = {"flow_id": root["id"], "origin_node_id": root["id"],
             "data_source_id": root.get("data_source_id"),
             "status": src.get("status") if src else None, "run_count": len(runs),
             **{f"{s.lower()}_count": statuses.count(s) for s in ("SUCCESS", "FAILED", "RUNNING")},
             "last_run_id": runs[0]["id"] if runs else None,
             "last_run_status": statuses[0] if runs else None, **zero_counts()}
    for run in runs:
        add_counts(entry, run)
    return entry


def _status_reply(c: Ctx, user: dict) -> dict:
    """Not in the reference: one entry per flow the user holds `access_role` on (default
    owner), its run counts by status since `from` (all runs without it), paged."""
    lo, _ = window(c, required=False)
    roots = c.dom.roots_with_role(user, c.access_role())
    page, size = c.paging()
    chunk = roots[(page - 1) * size: page * size]
    return {"status": 200, "metrics": {
        "data": [_flow_status(c, root, lo) for root in chunk],
        "meta": {"currentPage": page, "pageCount": max(1, -(-len(roots) // size)),
                 "totalCount": len(roots)}}}


def user_status_metrics(c: Ctx):
    return _status_reply(c, _target_user(c))


def org_status_metrics(c: Ctx):
    """The org's flows as its owner sees them (SDK 1.0.8: the default `owner` scopes to the
    org's owner; `collaborator` widens to the whole org)."""
    org = _target_org(c)
    owner = c.dom.user(org.get("owner_id")) or c.user
    return _status_reply(c, owner)
