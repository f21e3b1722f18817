"""Ids to call the operator endpoints with, found by listing: the first item of each list.

Read-only: every call is a GET. An id that cannot be found (an empty list, a 404) is left
out, and the endpoints that need it are reported as "not found" (nothing to test with)."""

from __future__ import annotations

import logging
import string
from datetime import datetime, timedelta, timezone

from nexla_ops.errors import AuthError, NotFound, OpsError, Transient

logger = logging.getLogger(__name__)

SINCE_DAYS = 7  # the window metrics and logs are asked for
# id name -> list path; the first item's "id"
LISTS = {"source": "/data_sources", "nexset": "/data_sets", "sink": "/data_sinks",
         "credential": "/data_credentials", "project": "/projects", "team": "/teams",
         "task": "/async_tasks"}


def _first(items) -> dict | None:
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return None


def _get(ctx, path: str, params: dict | None = None, label: str | None = None):
    """The body, or None when the list is not there (404) or refused (403); auth failures of
    the key itself and transient failures stop the run. Messages name `label` (the path
    template: ids are values too)."""
    label = label or path
    try:
        return ctx.request("GET", path, params=params, what=f"GET {label}")
    except (NotFound, AuthError) as exc:
        if isinstance(exc, AuthError) and exc.status != 403:
            raise
        logger.info("discovery: GET %s answered %s; its endpoints are skipped", label,
                    exc.status or "an error")
    except Transient:
        raise
    except OpsError as exc:
        logger.info("discovery: GET %s failed (%s); its endpoints are skipped", label,
                    exc.status or "error")
    return None


def discover(ctx) -> dict[str, object]:
    """id name -> id (or task type, run id, window start), for those found."""
    since = datetime.now(timezone.utc) - timedelta(days=SINCE_DAYS)
    ids: dict[str, object] = {"since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "since_ms": int(since.timestamp() * 1000)}
    me = ctx.current_user()
    if isinstance(me, dict):
        if me.get("id") is not None:
            ids["user"] = me["id"]
        org = me.get("org_id")
        if org is None and isinstance(me.get("org"), dict):
            org = me["org"].get("id")
        if org is not None:
            ids["org"] = org
    for name, path in LISTS.items():
        item = _first(_get(ctx, path, {"page": 1, "per_page": 1}))
        if item and item.get("id") is not None:
            ids[name] = item["id"]
            if name == "task" and item.get("type"):
                ids["task_type"] = item["type"]
    flows = _get(ctx, "/flows", {"flows_only": 1, "page": 1, "per_page": 1})
    item = _first(flows.get("flows") if isinstance(flows, dict) else flows)
    if item and item.get("id") is not None:
        ids["flow"] = item["id"]
    if "source" in ids:  # a run to read the logs of: the newest in the source's run summary
        summary = _get(ctx, f"/data_sources/{ids['source']}/metrics/run_summary",
                       {"page": 1, "size": 1}, "/data_sources/{source}/metrics/run_summary")
        metrics = summary.get("metrics") if isinstance(summary, dict) else None
        run = _first(metrics.get("data") if isinstance(metrics, dict) else None)
        if run and (run.get("runId") or run.get("run_id")) is not None:
            ids["run"] = run.get("runId") or run.get("run_id")
    if "task_type" not in ids:
        types = _get(ctx, "/async_tasks/types")
        if isinstance(types, list) and types and isinstance(types[0], str):
            ids["task_type"] = types[0]
    return ids


def needed(*templates) -> list[str]:
    """The id names templates need: "/data_sources/{source}/flow" -> ["source"]."""
    return [name for text in templates if isinstance(text, str)
            for _, name, _, _ in string.Formatter().parse(text) if name]


def fill(template, ids: dict):
    return template.format(**ids) if isinstance(template, str) else template
