"""Reading the API: the bulk flow listing (GET /flows?include_run_metrics=1), a flow's older
runs, the credential listing (GET /data_credentials), credential probes, and bounded
concurrency for the per-flow calls, all within the run's time budget."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from datetime import datetime, timezone

import nexla_ops
from nexla_ops import probe
from nexla_ops.paging import Page, PageWalk

from .budget import Deadline
from .model import CRITICAL, ERROR_STATUSES, OK, UNKNOWN, Flow, Run
from .settings import Thresholds

# The bulk listing carries at most this many latest runs per flow; a longer --window, or a last
# success older than these runs, needs the flow's own run summary.
BULK_RUNS = 10
HISTORY_PAGE = 100
HISTORY_MAX_PAGES = 5


# ---------------------------------------------------------------- flows and runs


def run_from_metric(item: dict) -> Run:
    """One run from a bulk-listing metrics element or a run_summary row (camelCase there)."""
    get = item.get  # read once per field: this runs for every run of every flow listed
    errors = nexla_ops.api_count(get("errors"))
    status = get("status")
    status = status.upper() if type(status) is str else ""
    if not status:
        # FlowMetrics only guarantees counts and reporting_date; without the status extra, a
        # reported run counts as finished, and failed when it reported errors.
        status = "FAILED" if errors else "SUCCESS"
    finished = nexla_ops.api_time(get("finished_at"))
    if finished is None and status in ("SUCCESS", "FAILED"):
        finished = nexla_ops.api_time(get("reporting_date") or get("lastWritten"))
    return Run(nexla_ops.api_count(get("run_id") or get("runId")), status,
               nexla_ops.api_time(get("started_at")), finished,
               nexla_ops.api_count(get("records")), errors)


def _newest_first(runs):
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(runs, key=lambda r: (r.started_at or r.when or epoch, r.run_id), reverse=True)


# A flow node's resource id fields, by resource kind.
NODE_RESOURCE_KEYS = (("data_sources", "data_source_id"), ("data_sets", "data_set_id"),
                      ("data_sinks", "data_sink_id"))


def objects(value) -> list[dict]:
    """The objects of a list the API sent (anything else in their place is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _by_id(items) -> dict:
    return {nexla_ops.api_id(item.get("id")): item for item in objects(items)}


def flows_from_page(page: dict) -> list[Flow]:
    """Turn one GET /flows page (a FlowResponse object, raw JSON) into Flow records. Values of
    the wrong type are read leniently: a garbled figure counts as 0, a garbled id as none."""
    sources, nexsets, sinks = (_by_id(page.get(kind)) for kind in
                               ("data_sources", "data_sets", "data_sinks"))
    by_type = {"data_sources": sources, "data_sets": nexsets, "data_sinks": sinks}
    runs_by_flow: dict[int, list] = {}
    for item in objects(page.get("metrics")):
        runs_by_flow.setdefault(nexla_ops.api_id(item.get("origin_node_id")), []).append(
            run_from_metric(item))

    flows = []
    for root in objects(page.get("flows")):
        flow_id = nexla_ops.api_id(root.get("id"))
        if flow_id is None:
            continue  # nothing to name it by or ask about
        source_id = nexla_ops.api_id(root.get("data_source_id"))
        source = sources.get(source_id) or {}
        flow = Flow(
            flow_id=flow_id,
            name=nexla_ops.redact(str(root.get("name") or source.get("name") or f"flow-{flow_id}")),
            status=str(root.get("status") or source.get("status") or "UNKNOWN").upper(),
            project_id=root.get("project_id"),
            source_id=source_id,
            created_at=nexla_ops.api_time(source.get("created_at") or root.get("created_at")),
        )
        flow.resources.add(("flows", flow_id))
        stack = [root]
        while stack:
            node = stack.pop()
            children = node.get("children")
            if children:
                stack.extend(objects(children))
            for kind, key in NODE_RESOURCE_KEYS:
                rid = nexla_ops.api_id(node.get(key))
                if rid is None:
                    continue
                flow.resources.add((kind, rid))
                resource = by_type[kind].get(rid)
                if resource:  # flows_only pages carry no resource lists
                    tags = resource.get("tags")
                    if isinstance(tags, list):
                        flow.tags.update(str(t) for t in tags)
                    credential_id = nexla_ops.api_id(resource.get("data_credentials_id"))
                    if credential_id:
                        flow.credential_ids.add(credential_id)
                if node is not root:
                    status = str(node.get("status") or (resource or {}).get("status") or "").upper()
                    if status in ERROR_STATUSES or "ERROR" in status:
                        flow.bad_nodes.append((f"{kind}/{rid}", status))
        runs = _newest_first(runs_by_flow.get(flow_id, []))
        flow.runs = runs
        flow.history_complete = len(runs) < BULK_RUNS
        flows.append(flow)
    return flows


# ---------------------------------------------------------------- talking to the API


class Api:
    """GETs under the shared retry policy, every attempt, wait and the token fetch fitted into
    what is left of the run's --timeout."""

    def __init__(self, ctx, deadline: Deadline):
        self.ctx = ctx
        self.deadline = deadline
        self.calls = 0
        self._count_lock = threading.Lock()

    def get(self, path: str, params: dict | None = None):
        with self._count_lock:
            self.calls += 1
        return self.ctx.request("GET", path, params=params, budget_ends=self.deadline.ends)


@dataclass
class Listing:
    flows: list
    projects: dict  # project id -> name
    credentials: dict  # credential id -> name
    complete: bool
    problem: str = ""


def list_flows(api: Api, ctx, concurrency: int = 1, on_page=None, *,
               details: bool = True, on_body=None) -> Listing:
    """Every visible flow with its latest runs, one bulk page (100 flows) at a time.

    GET /flows returns one object per page; pages are walked as nexla_ops.paging does (never
    stopping on a page merely shorter than asked). An error on the first page fails the run
    (UNKNOWN); a later one keeps what was read and marks it incomplete. Once a page shows
    that more follow, up to `concurrency` pages are fetched at once. `on_page(flows, listing)`
    sees each page's flows in order (with the listing so far: its project and credential
    names) and returns those the listing keeps (default: all), so a caller can judge flows as
    they arrive instead of holding every one. details=False asks for `flows_only` pages (the
    flow trees and run metrics, without the resource objects: a tenth of the bytes), which
    lack only tags, project names and credential ids. `on_body(body, flows)` sees each page's
    raw answer with the flows read from it, for callers that need more of it (triage: the
    credentials' verified_status, the resources' names).
    """
    listing = Listing([], {}, {}, complete=False)

    def fetch_page(page: int) -> list:
        ctx.progress(f"listing flows: page {page}")
        query = {"include_run_metrics": 1, "page": page, "per_page": nexla_ops.PAGE_SIZE}
        if not details:
            query["flows_only"] = 1
        body = api.get("/flows", query)
        if not isinstance(body, dict) or not isinstance(body.get("flows"), list):
            raise nexla_ops.ApiError("GET /flows: unexpected response shape (expected an object with 'flows')")
        for project in body.get("projects") or []:
            if isinstance(project, dict) and project.get("id") is not None:
                listing.projects[project["id"]] = str(project.get("name") or "")
        for cred in body.get("data_credentials") or []:
            listing.credentials[cred.get("id")] = nexla_ops.redact(str(cred.get("name") or ""))
        flows = flows_from_page(body)
        if on_body is not None:
            on_body(body, flows)
        return flows

    walk = PageWalk(fetch_page, what="GET /flows", identity=lambda flow: flow.flow_id,
                    prefetch=concurrency, per_page=nexla_ops.PAGE_SIZE)
    read_listing(walk, lambda flows: listing.flows.extend(
        flows if on_page is None else on_page(flows, listing)), listing, "flow listing")
    return listing


def read_listing(walk, take, listing, what: str) -> None:
    """Hand each page of `walk` to take(items). An error on the first page raises (nothing was
    read); a later one keeps what was and names, in listing.problem, the page the `what`
    stopped at; a walk that ends sets listing.complete."""
    pages_read = 0
    try:
        for items in walk:
            take(items)
            pages_read += 1
    except nexla_ops.OpsError as exc:
        if not pages_read:
            raise
        listing.problem = f"{what} stopped at page {pages_read + 1}: {exc.message}"
        return
    listing.complete = True


def fetch_created_at(api: Api, flow: Flow) -> datetime | None:
    """The flow's creation time, from its source (flows_only pages carry none)."""
    body = api.get(f"/data_sources/{flow.source_id}")
    return nexla_ops.api_time(body.get("created_at")) if isinstance(body, dict) else None


def fetch_history(api: Api, flow: Flow, th: Thresholds, now: datetime) -> tuple[list, bool]:
    """Older runs from the flow source's run summary (newest first), as far back as needed."""
    path = f"/data_sources/{flow.source_id}/metrics/run_summary"

    def fetch_page(page: int) -> Page:
        metrics = (api.get(path, {"page": page, "size": HISTORY_PAGE}) or {}).get("metrics") or {}
        meta = metrics.get("meta") if isinstance(metrics.get("meta"), dict) else {}
        return Page([run_from_metric(row) for row in metrics.get("data") or []],
                    meta.get("pageCount"))

    runs = {}
    walk = PageWalk(fetch_page, what=f"GET {path}", identity=lambda run: run.run_id)
    for number, page_runs in enumerate(walk, 1):
        for run in page_runs:
            runs.setdefault(run.run_id, run)
        ordered = _newest_first(runs.values())
        if walk.ended:
            return ordered, True
        enough = len(ordered) >= th.window
        oldest = ordered[-1].when
        settled = any(r.status == "SUCCESS" for r in ordered) or (
            oldest is not None and (now - oldest).total_seconds() > 2 * th.max_age)
        if (enough and settled) or number == HISTORY_MAX_PAGES:
            return ordered, False
    return _newest_first(runs.values()), True


def probe_verdict(api: Api, cred_id: int) -> tuple[int, str]:
    """(state, what the probe said): "probe ok", "probe failed: why", "not found", or
    "cannot probe (why)" (UNKNOWN: the key lacks the role, no verdict on the credential)."""
    try:
        verdict = probe.probe_credential(api.get, cred_id)
    except nexla_ops.AuthError as exc:  # a role error, not a verdict on the credential
        return UNKNOWN, f"cannot probe ({exc.message})"
    if verdict.missing:
        return CRITICAL, "not found"
    if not verdict.ok:
        return CRITICAL, f"probe failed: {verdict.reason}"
    return OK, "probe ok"


def probe_credential(api: Api, cred_id: int, name: str) -> tuple[int, str]:
    label = f"credential {cred_id}{f' ({name})' if name else ''}"
    state, said = probe_verdict(api, cred_id)
    return state, f"{label}{': ' if said.startswith('cannot') else ' '}{said}"


@dataclass
class CredentialListing:
    items: dict  # credential id -> the listing's object (raw JSON)
    complete: bool
    problem: str = ""


def list_credentials(api: Api, ctx, concurrency: int = 1) -> CredentialListing:
    """Every credential this key can see, from GET /data_credentials (a bare array), 100 a
    page, walked as list_flows walks. An error on the first page raises; a later one keeps what
    was read and says where it stopped."""
    listing = CredentialListing({}, complete=False)

    def fetch_page(page: int) -> list:
        ctx.progress(f"listing credentials: page {page}")
        body = api.get("/data_credentials", {"page": page, "per_page": nexla_ops.PAGE_SIZE})
        if not isinstance(body, list):
            raise nexla_ops.ApiError("GET /data_credentials: unexpected response shape (expected an array)")
        return [item for item in body if isinstance(item, dict)]

    def take(items: list) -> None:
        for item in items:
            listing.items.setdefault(item.get("id"), item)

    walk = PageWalk(fetch_page, what="GET /data_credentials", prefetch=concurrency,
                    per_page=nexla_ops.PAGE_SIZE)
    read_listing(walk, take, listing, "the credential listing")
    return listing


def fetch_credential(api: Api, cred_id: int):
    """One credential by id (the reference documents credentials_non_secure_data here, not in
    the listing)."""
    body = api.get(f"/data_credentials/{cred_id}")
    return body if isinstance(body, dict) else None


def run_bounded(tasks: dict, concurrency: int, deadline: Deadline) -> tuple[dict, dict]:
    """Run {key: fn} on at most `concurrency` threads until done or the deadline.

    Returns (results, errors); keys in neither were not finished in time.
    """
    results, errors = {}, {}
    if not tasks:
        return results, errors
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="health")
    futures = {pool.submit(fn): key for key, fn in tasks.items()}
    try:
        for future in as_completed(futures, timeout=deadline.remaining()):
            key = futures[future]
            try:
                results[key] = future.result()
            except nexla_ops.OpsError as exc:
                errors[key] = exc
    except FuturesTimeout:
        pass
    finally:
        # Queued work is dropped; running calls end on their own (their timeouts fit the budget).
        pool.shutdown(wait=False, cancel_futures=True)
    return results, errors
