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
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("nexla_ops")

# Pages in flight at most, whatever concurrency a command was given: past a handful the
# server, not the client, sets the pace, and each extra slot may cost a request past the end.
MAX_PREFETCH = 16


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
    (a short page, the page count); after a full page it only knows once the next is empty.

    With `prefetch` N > 1, once a page shows that more follow (page 1 as full as the `per_page`
    asked for, a page count beyond it, or a full later page), up to N later pages are in flight
    at once (`fetch` must then be thread-safe). Pages are still handed out in order and judged
    as above. The window starts at 2 and doubles with each full page, so a short list pays at
    most one request past its end and a long one at most N - 1; those answers (errors
    included) are dropped."""

    def __init__(self, fetch: Callable[[int], Page | list], *, what: str = "list",
                 identity: Callable[[Any], Any] = item_identity, prefetch: int = 1,
                 per_page: int | None = None) -> None:
        self.fetch = fetch
        self.per_page = per_page
        self.what = what
        self.identity = identity
        self.prefetch = max(1, min(prefetch, MAX_PREFETCH))
        self.ended = False

    def __iter__(self) -> Iterator[list]:
        self.ended = False
        self._page_size, self._previous, self._page_count = 0, None, None
        page = 1
        while True:
            items = self._judge(page, self.fetch(page))
            if items is None:
                return
            yield items
            if self.ended:
                return
            page += 1
            if self.prefetch > 1 and self._more_follow(page - 1, len(items)):
                yield from self._concurrent(page)
                return

    def _more_follow(self, page: int, count: int) -> bool:
        """Whether the page just read shows that more exist: a first page as full as asked
        (or a page count beyond it), or any later page that was full (else it had ended)."""
        if page > 1 or (self._page_count or 0) > page:
            return True
        return self.per_page is not None and count >= self.per_page

    def _concurrent(self, start: int) -> Iterator[list]:
        pool = ThreadPoolExecutor(max_workers=self.prefetch, thread_name_prefix="pages")
        pending: deque[tuple[int, Future]] = deque()
        next_page, window = start, 2
        try:
            while True:
                while len(pending) < window and not self._beyond_count(next_page):
                    pending.append((next_page, pool.submit(self.fetch, next_page)))
                    next_page += 1
                if not pending:
                    self.ended = True
                    return
                page, future = pending.popleft()
                items = self._judge(page, future.result())
                if items is None:
                    return
                yield items
                if self.ended:
                    return
                window = min(self.prefetch, window * 2)  # each full page earns more slots
        finally:
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=False)

    def _beyond_count(self, page: int) -> bool:
        return self._page_count is not None and page > self._page_count

    def _judge(self, page: int, answer: Page | list) -> list | None:
        """The page's items to hand out, or None when the walk ended before them; sets
        `ended` when this page is known to be the last."""
        page_count = answer.page_count if isinstance(answer, Page) else None
        if isinstance(page_count, bool) or not isinstance(page_count, int):
            page_count = None  # untrusted: only a plain integer ends the walk early
        self._page_count = page_count
        items = list((answer.items if isinstance(answer, Page) else answer) or [])
        signature = [self.identity(item) for item in items]
        if not items or signature == self._previous:
            if items:
                logger.warning("%s: page %d repeats page %d; the server ignores paging, "
                               "stopping", self.what, page, page - 1)
            self.ended = True
            return None
        self._previous = signature
        short = page > 1 and len(items) < self._page_size
        self._page_size = max(self._page_size, len(items))
        self.ended = short or (page_count is not None and page >= page_count)
        return items
