"""Walking every page of a kind (with pages in flight while one is written), and
fetching objects by id; iter_resources() is the entry point for other commands."""

from __future__ import annotations

import nexla_ops
from nexla_ops.paging import PageWalk

from .filters import Filters, matches, parse_filters
from .kinds import KINDS, Kind, normalize_type
from .output import record_of
from .rows import Item, _owner_of, flow_items, summarize

# --------------------------------------------------------------------------- fetching


def _iter_flow_pages(ctx, per_page: int, prefetch: int):
    """GET /flows pages: each is ONE object, so the SDK's paginate would see one 'item' per page
    (contract §23.1). Page by root flows ourselves, walking as nexla_ops.paging does."""
    def fetch_page(page: int):
        return flow_items(ctx.request("GET", "/flows",
                                      params={"page": page, "per_page": per_page}))

    for items in PageWalk(fetch_page, what="GET /flows", identity=lambda item: item.row.get("id"),
                          prefetch=prefetch, per_page=per_page):
        yield from items


def iter_items(ctx, kind: Kind, filters: Filters, limit: int = 0, *, prefetch: int = 1,
               missing: list | None = None):
    """Yield matching Items, page by page, stopping as soon as `limit` (0 = all) is met.

    prefetch=N keeps up to N pages in flight (nexla_ops.paging) while the caller handles the
    one it has, when every page will be read anyway (no limit: reading ahead could fetch a
    page that is never needed); only for callers that make no API calls of their own while
    iterating. With --id filters, ids not found go to `missing` (or are warned about when it
    is None)."""
    if filters.ids:
        source = _items_by_id(ctx, kind, filters.ids, missing)
    else:
        # Without client-side filters every fetched item is emitted, so a small limit asks for
        # a small page (--limit 5 is one request of 5); with filters, matches may be sparse.
        per_page = nexla_ops.PAGE_SIZE
        if limit and not filters.client_side:
            per_page = min(limit, nexla_ops.PAGE_SIZE)
        ahead = 1 if limit else prefetch
        if kind.name == "flows":
            source = _iter_flow_pages(ctx, per_page, ahead)
        else:
            source = (
                Item(summarize(kind, obj), obj, _owner_of(obj))
                for obj in ctx.paginate(f"/{kind.path}", per_page=per_page, prefetch=ahead)
                if isinstance(obj, dict)
            )
    produced = 0
    for item in source:
        if not matches(filters, item.row, item.owner):
            continue
        yield item
        produced += 1
        if limit and produced >= limit:
            return


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


def iter_resources(ctx, type_name: str, filters, limit: int = 0, *, full: bool = False,
                   prefetch: int = 1):
    """Yield filtered rows (redacted, JSON-safe dicts with at least id, name, type, status,
    tags, owner, updated_at) of one type across every page. `filters` is a Filters or the
    argparse namespace of add_filter_args(). full=True yields the whole redacted objects;
    prefetch=N keeps up to N pages in flight (see iter_items)."""
    kind = KINDS[normalize_type(type_name)]
    if not isinstance(filters, Filters):
        filters = parse_filters(filters)
    for item in iter_items(ctx, kind, filters, limit, prefetch=prefetch):
        yield record_of(item, full=full)
