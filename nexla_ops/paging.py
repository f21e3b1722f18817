"""Walking a paged list without stopping early.

Nexla documents no cap on `per_page`, yet a server may answer fewer items than asked for. A
walker that stops on "fewer than asked" then returns one page and reports success. So the first
page's length is taken as the server's page size, and a walk ends only on
- an empty page,
- a later page shorter than the server's page size,
- the last page by the server's own page count, when it sends one,
- or a page that repeats the one before (a server that ignores `page`), with a warning.
When every page is full or the list is short, the price is one more request for an empty page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("nexla_ops")


@dataclass(frozen=True)
class Page:
    """One page as the walker needs it: the items, and the number of pages when the server
    says (run summaries and logs carry it in their `meta`)."""
    items: list
    page_count: int | None = None


def item_identity(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else getattr(item, "id", id(item))


class PageWalk:
    """Iterate to get each non-empty page's items; `fetch(page)` gets pages 1, 2, ... (a Page,
    or the bare list of items). Stops as the module docstring says; the caller may stop any
    time. `ended` turns true before the last page is handed out, when the walk knows it then
    (a short page, the page count); after a full page it only knows once the next is empty."""

    def __init__(self, fetch: Callable[[int], Page | list], *, what: str = "list",
                 identity: Callable[[Any], Any] = item_identity) -> None:
        self.fetch = fetch
        self.what = what
        self.identity = identity
        self.ended = False

    def __iter__(self) -> Iterator[list]:
        page_size, previous, page = 0, None, 1
        self.ended = False
        while not self.ended:
            answer = self.fetch(page)
            page_count = answer.page_count if isinstance(answer, Page) else None
            if isinstance(page_count, bool) or not isinstance(page_count, int):
                page_count = None  # untrusted: only a plain integer ends the walk early
            items = list((answer.items if isinstance(answer, Page) else answer) or [])
            signature = [self.identity(item) for item in items]
            if not items or signature == previous:
                if items:
                    logger.warning("%s: page %d repeats page %d; the server ignores paging, "
                                   "stopping", self.what, page, page - 1)
                self.ended = True
                return
            previous = signature
            short = page > 1 and len(items) < page_size
            page_size = max(page_size, len(items))
            self.ended = short or (page_count is not None and page >= page_count)
            yield items
            page += 1
