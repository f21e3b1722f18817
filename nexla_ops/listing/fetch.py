"""Walking every page of a kind (prefetching the next page while one is written), and
fetching objects by id; iter_resources() is the entry point for other commands."""

from __future__ import annotations

import itertools
import queue
import threading

import nexla_ops
from nexla_ops.paging import PageWalk

from .filters import Filters, matches, parse_filters
from .kinds import KINDS, Kind, normalize_type
from .output import record_of
from .rows import Item, _owner_of, flow_items, summarize

# --------------------------------------------------------------------------- fetching


def _iter_flow_pages(ctx, per_page: int):
    """GET /flows pages: each is ONE object, so the SDK's paginate would see one 'item' per page
    (contract §23.1). Page by root flows ourselves, walking as nexla_ops.paging does."""
    def fetch_page(page: int) -> list:
        return flow_items(ctx.request("GET", "/flows",
                                      params={"page": page, "per_page": per_page}))

    for items in PageWalk(fetch_page, what="GET /flows",
                            identity=lambda item: item.row.get("id")):
        yield from items


def iter_items(ctx, kind: Kind, filters: Filters, limit: int = 0, *, prefetch: bool = False,
               missing: list | None = None):
    """Yield matching Items, page by page, stopping as soon as `limit` (0 = all) is met.

    prefetch=True reads the next page in a worker thread while the caller handles this one;
    only for callers that make no API calls of their own while iterating. With --id filters,
    ids not found go to `missing` (or are warned about when it is None)."""
    if filters.ids:
        source = _items_by_id(ctx, kind, filters.ids, missing)
    else:
        # Without client-side filters every fetched item is emitted, so a small limit asks for
        # a small page (--limit 5 is one request of 5); with filters, matches may be sparse.
        per_page = nexla_ops.PAGE_SIZE
        if limit and not filters.client_side:
            per_page = min(limit, nexla_ops.PAGE_SIZE)
        if kind.name == "flows":
            source = _iter_flow_pages(ctx, per_page)
        else:
            source = (
                Item(summarize(kind, obj), obj, _owner_of(obj))
                for obj in ctx.paginate(f"/{kind.path}", per_page=per_page)
                if isinstance(obj, dict)
            )
        if prefetch and not limit:
            # Every page will be read anyway: fetch the next one while this one is written.
            # (With a limit, reading ahead could fetch a page that is never needed.)
            source = read_ahead(source, per_page)
    produced = 0
    for item in source:
        if not matches(filters, item.row, item.owner):
            continue
        yield item
        produced += 1
        if limit and produced >= limit:
            return


_DONE = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(iterable, batch: int):
    """Iterate `iterable` in a worker thread that hands items over `batch` at a time and runs
    at most two batches ahead of the consumer (one queued, one being read).

    With batch = one page, the request for the next page is in flight while the caller writes
    this one, so the client's own work hides behind the network instead of adding to it.
    Errors are re-raised in the consumer; the worker stops when the consumer does.
    """
    slots: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                slots.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            items = iter(iterable)
            while True:
                chunk = list(itertools.islice(items, batch))
                if chunk and not put(chunk):
                    return
                if len(chunk) < batch:
                    break
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Raised(exc))

    worker = threading.Thread(target=produce, name="list-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            value = slots.get()
            if value is _DONE:
                return
            if isinstance(value, _Raised):
                raise value.exc
            yield from value
    finally:
        stop.set()


def _items_by_id(ctx, kind: Kind, ids, missing: list | None = None):
    """--id: one GET per id instead of walking every page. Ids not found are appended to
    `missing`, or warned about when no list is given."""
    for resource_id in ids:
        try:
            body = ctx.request("GET", f"/{kind.path}/{resource_id}")
        except nexla_ops.NotFound:
            if missing is None:
                ctx.warn(f"{kind.name} {resource_id}: not found")
            else:
                missing.append(resource_id)
            continue
        if kind.name == "flows":
            yield from flow_items(body)[:1]
        elif isinstance(body, dict):
            yield Item(summarize(kind, body), body, _owner_of(body))


def iter_resources(ctx, type_name: str, filters, limit: int = 0, *, full: bool = False):
    """Yield filtered rows (redacted, JSON-safe dicts with at least id, name, type, status,
    tags, owner, updated_at) of one type across every page. `filters` is a Filters or the
    argparse namespace of add_filter_args(). full=True yields the whole redacted objects."""
    kind = KINDS[normalize_type(type_name)]
    if not isinstance(filters, Filters):
        filters = parse_filters(filters)
    for item in iter_items(ctx, kind, filters, limit):
        yield record_of(item, full=full)
