"""Paging that cannot truncate silently: against a sandbox that serves fewer items per page
than asked (--max-per-page), every walker still returns every object, and the walker itself
ends a walk only on an empty page, a short page after the first, the server's page count, or a
repeated page."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nexla_ops
from nexla_ops.commands import health_check, list_resources, nexla_quickstart
from nexla_ops.logs import Options, iter_runs
from nexla_ops.paging import Page, PageWalk

CAP = 25


def list_calls(sandbox, path):
    return [r for r in sandbox.control.requests() if r["method"] == "GET" and r["path"] == path]


# --------------------------------------------------------------------------- the sandbox's cap


def test_the_sandbox_caps_pages_below_what_is_asked(sandbox, sdk_client):
    sandbox.control.reset("empty")
    sandbox.control.populate("sources", 60)
    assert sandbox.control.configure(max_per_page=CAP)["max_per_page"] == CAP
    first = sdk_client.sources.list(page=1, per_page=100)
    third = sdk_client.sources.list(page=3, per_page=100)
    assert len(first) == CAP and len(third) == 60 - 2 * CAP
    assert {s.id for s in first}.isdisjoint({s.id for s in third})
    sandbox.control.reset("empty")  # a reset restores the start-up settings
    assert sandbox.control.configure()["max_per_page"] is None


@pytest.mark.parametrize("value", [0, -1, 1.5, "25", True, 10**7])
def test_a_bad_page_cap_is_refused_and_nothing_changes(sandbox, value):
    with pytest.raises(Exception, match="400|max_per_page"):
        sandbox.control.configure(max_per_page=value)
    assert sandbox.control.configure()["max_per_page"] is None


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_the_cli_refuses_a_bad_max_per_page(value):
    proc = subprocess.run([sys.executable, "-m", "nexla_sandbox", "--port", "0", "--max-per-page",
                           value], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--max-per-page" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- our walkers


def test_list_resources_returns_every_source_from_a_capped_server(sandbox, run_main):
    sandbox.control.reset("empty")
    sandbox.control.populate("sources", 135)
    sandbox.control.configure(max_per_page=CAP)
    sandbox.control.clear_requests()
    result = run_main(list_resources, "--type", "sources", "--limit", "0", "--format", "jsonl")
    assert result.code == 0, result.err
    ids = [row["id"] for row in result.jsonl()]
    assert len(ids) == len(set(ids)) == 135
    calls = list_calls(sandbox, "/data_sources")
    pages = sorted(int(c["query"]["page"]) for c in calls)
    # the 6th holds 10 of 25 and ends it; up to 3 more were in flight (--concurrency 4)
    assert pages[:6] == [1, 2, 3, 4, 5, 6] and len(pages) == len(set(pages)) <= 6 + 3


def test_list_resources_returns_every_flow_from_a_capped_server(sandbox, run_main):
    sandbox.control.populate("flows", 60)
    sandbox.control.configure(max_per_page=CAP)
    result = run_main(list_resources, "--type", "flows", "--limit", "0", "--format", "jsonl")
    assert result.code == 0, result.err
    ids = [row["id"] for row in result.jsonl()]
    assert len(ids) == len(set(ids)) == 65 and {1001, 1005} <= set(ids)


def test_health_check_checks_every_flow_from_a_capped_server(sandbox, run_main):
    sandbox.control.populate("flows", 60)
    sandbox.control.configure(max_per_page=CAP)
    result = run_main(health_check, "--all", "--json")
    doc = result.json()
    assert doc["summary"]["flows"] == 65 and doc["summary"]["complete"], result.err
    assert len({f["flow_id"] for f in doc["flows"]}) == 65


def test_run_history_walks_every_page_of_a_capped_server(sandbox, api_env):
    sandbox.control.configure(max_per_page=CAP)
    ctx = nexla_ops.Context()
    opts = Options(resource_type="data_sources", resource_id=123, run_id=None, fmt="json",
                   level=None, since=None, until=None, grep=None, limit=0,
                   follow_timeout=None, poll_interval=1.0)
    runs = list(iter_runs(ctx, opts))
    assert len(runs) == len({r["run_id"] for r in runs}) >= 72
    sizes = {c["query"]["size"] for c in list_calls(sandbox, "/data_sources/123/metrics/run_summary")}
    assert sizes == {str(nexla_ops.PAGE_SIZE)}


@pytest.mark.parametrize(("sources", "expected"), [(30, 30), (60, "50+"), (0, 0)])
def test_quickstart_counts_are_not_mistaken_for_a_capped_page(sandbox, run_main, sources,
                                                              expected):
    sandbox.control.reset("empty")
    if sources:
        sandbox.control.populate("sources", sources)
    sandbox.control.configure(max_per_page=CAP)
    result = run_main(nexla_quickstart, "--json")
    assert result.code == 0, result.err
    assert result.json()["counts"]["sources"] == expected


# --------------------------------------------------------------------------- the walker


def serve(items, cap, *, ignore_page=False, page_count=False):
    """A server's paging rule as a plain function: pages of min(asked, cap) items."""
    def fetch(page, asked=100):
        size = min(asked, cap)
        start = 0 if ignore_page else (page - 1) * size
        chunk = items[start:start + size]
        return Page(chunk, -(-len(items) // size)) if page_count else chunk
    return fetch


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 400), cap=st.integers(1, 150), with_count=st.booleans())
def test_the_walk_returns_every_item_whatever_the_cap(total, cap, with_count):
    items = [{"id": i} for i in range(total)]
    calls = []

    def fetch(page):
        calls.append(page)
        return serve(items, cap, page_count=with_count)(page)

    got = [item for page in PageWalk(fetch) for item in page]
    assert got == items
    pages = -(-total // min(cap, 100))
    # at most one request more than there are pages: the empty page after a full last one
    assert pages <= len(calls) <= max(1, pages + 1)


def test_a_server_that_ignores_page_is_stopped_with_a_warning(caplog):
    items = [{"id": i} for i in range(10)]
    with caplog.at_level(logging.WARNING, logger="nexla_ops"):
        got = [item for page in PageWalk(serve(items, 10, ignore_page=True), what="GET /x")
               for item in page]
    assert got == items
    assert "GET /x: page 2 repeats page 1" in caplog.text


def test_ended_is_known_before_the_last_short_page_is_handed_out():
    walk = PageWalk(serve([{"id": i} for i in range(30)], 20))
    seen = [walk.ended for _ in walk]
    assert seen == [False, True]


@pytest.mark.parametrize("count", ["3", True, 2.0, None])
def test_a_page_count_that_is_not_a_plain_integer_is_ignored(count):
    items = [{"id": i} for i in range(30)]
    pages = {1: items[:10], 2: items[10:20], 3: items[20:]}
    got = [i for page in PageWalk(lambda n: Page(pages.get(n, []), count)) for i in page]
    assert got == items


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 400), cap=st.integers(1, 150), with_count=st.booleans(),
       prefetch=st.integers(2, 8), ask=st.sampled_from([25, 100]))
def test_a_prefetching_walk_keeps_order_and_bounds_its_extra_requests(total, cap, with_count,
                                                                       prefetch, ask):
    items = [{"id": i} for i in range(total)]
    calls = []
    lock = threading.Lock()

    def fetch(page):
        with lock:
            calls.append(page)
        return serve(items, cap, page_count=with_count)(page, asked=ask)

    walk = PageWalk(fetch, prefetch=prefetch, per_page=ask)
    got = [item for page in walk for item in page]
    assert got == items and walk.ended
    pages = -(-total // min(cap, ask))
    assert len(calls) == len(set(calls))  # no page asked twice
    # past the end: at most the empty page and the prefetch window's other slots
    assert pages <= len(calls) <= max(1, pages + prefetch)


def test_a_prefetching_walk_overlaps_its_requests_and_drops_errors_past_the_end():
    items = [{"id": i} for i in range(250)]
    in_flight, most = 0, 0
    lock = threading.Lock()

    def fetch(page):
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.02)
            if page > 3:
                raise RuntimeError("past the end")  # must never reach the caller
            return items[(page - 1) * 100:page * 100]
        finally:
            with lock:
                in_flight -= 1

    got = [i for page in PageWalk(fetch, prefetch=4, per_page=100) for i in page]
    assert got == items  # page 3 is short: the walk ends there, page 4+'s errors are dropped
    assert most >= 2


def test_a_short_first_page_is_not_taken_as_proof_that_more_follow():
    calls = []

    def fetch(page):
        calls.append(page)
        return [{"id": 1}, {"id": 2}] if page == 1 else []

    assert [i for p in PageWalk(fetch, prefetch=8, per_page=100) for i in p] == [
        {"id": 1}, {"id": 2}]
    assert calls == [1, 2]  # one look at page 2, not a window of 8
