"""The one retry policy, measured on the wire: request counts in the sandbox's request log."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import nexla_ops
from test_foundation import flags

SOURCE = "/data_sources/123"


def make_ctx(sandbox, tmp_path, key=None, **flag_values):
    """A Context on the sandbox, as a script would build it from flags and environment."""
    flag_values.setdefault("max_wait", 0.05)
    args = flags(api_url=sandbox.url, **flag_values)
    config = nexla_ops.resolve_config(args, cwd=str(tmp_path),
                                      environ={"NEXLA_SERVICE_KEY": key or sandbox.service_key})
    return nexla_ops.Context(args, config=config)


def hits(sandbox, path, method="GET"):
    return [r for r in sandbox.control.requests()
            if r["path"] == path and r["method"] == method]


def get_source(ctx, source_id=123):
    return ctx.call(ctx.client.sources.get, source_id, what=f"GET /data_sources/{source_id}")


@pytest.fixture
def ctx(sandbox, tmp_path):
    context = make_ctx(sandbox, tmp_path, max_attempts=4)
    get_source(context)  # session token fetched and the path proven to work
    sandbox.control.clear_requests()
    return context


def test_persistent_503_on_get_makes_exactly_n_attempts(sandbox, ctx, caplog):
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=503,
                              times=100)
    with caplog.at_level(logging.WARNING, logger="nexla_ops"), \
            pytest.raises(nexla_ops.Transient) as err:
        get_source(ctx)
    assert err.value.exit_code == nexla_ops.EXIT_TRANSIENT
    assert len(hits(sandbox, SOURCE)) == 4  # not 4 x (1 + the SDK's 3 retries)
    retry_lines = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retry_lines) == 3
    for n, line in enumerate(retry_lines, 1):
        assert f"attempt {n}/4 failed (503 Service Unavailable)" in line


def test_429_honours_retry_after(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path, max_wait=30.0)
    get_source(ctx)  # session token first: only the source call is timed
    sandbox.control.clear_requests()
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=429,
                              retry_after=1, times=1)
    started = time.monotonic()
    source = get_source(ctx)
    waited = time.monotonic() - started
    assert source.id == 123
    assert len(hits(sandbox, SOURCE)) == 2
    assert 1.0 <= waited < 2.5


def test_retry_after_is_capped_by_max_wait(sandbox, ctx):
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=429,
                              retry_after=30, times=1)
    started = time.monotonic()
    get_source(ctx)  # --max-wait 0.05 caps the 30 s the server asked for
    assert time.monotonic() - started < 2.0
    assert len(hits(sandbox, SOURCE)) == 2


@pytest.mark.parametrize("fault", [
    {"action": "status", "status": 502}, {"action": "status", "status": 504},
    {"action": "status", "status": 500}, {"action": "drop"},
])
def test_transient_get_failures_are_retried(sandbox, ctx, fault):
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", times=2, **fault)
    assert get_source(ctx).id == 123
    assert len(hits(sandbox, SOURCE)) == 3


def test_read_timeout_on_get_is_retried(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path, timeout=0.5)
    get_source(ctx)
    sandbox.control.clear_requests()
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="delay", delay_ms=1500,
                              times=1)
    assert get_source(ctx).id == 123
    deadline = time.monotonic() + 5  # the slow first request is logged when it finishes
    while len(hits(sandbox, SOURCE)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(hits(sandbox, SOURCE)) == 2


def test_404_is_not_retried(sandbox, ctx):
    with pytest.raises(nexla_ops.NotFound) as err:
        get_source(ctx, 999999)
    assert err.value.exit_code == nexla_ops.EXIT_NOT_FOUND
    assert len(hits(sandbox, "/data_sources/999999")) == 1


@pytest.mark.parametrize("status", [422, 400, 409])
def test_other_4xx_are_not_retried(sandbox, ctx, status):
    sandbox.control.add_fault(method="GET", path=f"^{SOURCE}$", action="status", status=status,
                              body={"message": "refused for the test", "code": status},
                              times=100)
    with pytest.raises(nexla_ops.ApiError) as err:
        get_source(ctx)
    assert err.value.status == status and err.value.exit_code == nexla_ops.EXIT_FAILED
    assert "refused for the test" in err.value.message
    assert len(hits(sandbox, SOURCE)) == 1


def test_403_names_the_missing_role(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path, key=sandbox.service_keys["operator"])
    with pytest.raises(nexla_ops.AuthError) as err:
        ctx.request("PUT", "/data_sources/123", json={"description": "not allowed"})
    assert err.value.exit_code == nexla_ops.EXIT_AUTH and err.value.status == 403
    assert "admin" in err.value.message
    assert len(hits(sandbox, SOURCE, "PUT")) == 1


def new_source_body(name):
    return {"name": name, "source_type": "s3", "data_credentials_id": 11,
            "source_config": {"path": "bucket/foundation/"}}


def sources_named(sandbox, name):
    return [s for s in sandbox.control.state("data_sources") if s.get("name") == name]


def finder(ctx, name):
    def find():
        return next((s for s in ctx.paginate("/data_sources") if s.get("name") == name), None)
    return find


@pytest.mark.parametrize("fail_with", [502, "drop"])
def test_create_once_under_commit_then_fail_creates_exactly_one(sandbox, ctx, fail_with):
    name = f"foundation-once-{fail_with}"
    sandbox.control.add_fault(method="POST", path="^/data_sources$", action="commit_then_fail",
                              fail_with=fail_with, times=1)
    created = ctx.create_once(finder(ctx, name),
                              lambda: ctx.client.sources.create(new_source_body(name)),
                              what=f"create source {name}")
    assert len(sources_named(sandbox, name)) == 1
    assert len(hits(sandbox, "/data_sources", "POST")) == 1  # looked up, never re-sent
    assert created["id"] == sources_named(sandbox, name)[0]["id"]


def test_create_once_retries_when_the_lookup_finds_nothing(sandbox, ctx):
    name = "foundation-once-rejected"
    sandbox.control.add_fault(method="POST", path="^/data_sources$", action="status",
                              status=503, times=1)  # refused before any change
    created = ctx.create_once(finder(ctx, name),
                              lambda: ctx.client.sources.create(new_source_body(name)),
                              what=f"create source {name}")
    assert created.name == name
    assert len(sources_named(sandbox, name)) == 1
    assert len(hits(sandbox, "/data_sources", "POST")) == 2


@pytest.mark.parametrize("fault", [{"action": "status", "status": 502},
                                   {"action": "drop"},
                                   {"action": "commit_then_fail", "fail_with": 504}])
def test_post_with_lost_answer_is_never_resent(sandbox, ctx, fault):
    sandbox.control.add_fault(method="POST", path="^/data_sources$", times=100, **fault)
    with pytest.raises(nexla_ops.UnknownOutcome) as err:
        ctx.call(ctx.client.sources.create, new_source_body("foundation-lost"),
                 idempotent=False, what="POST /data_sources")
    assert err.value.exit_code == nexla_ops.EXIT_TRANSIENT
    assert len(hits(sandbox, "/data_sources", "POST")) == 1


def test_500_on_post_is_not_retried(sandbox, ctx):
    sandbox.control.add_fault(method="POST", path="^/data_sources$", action="status",
                              status=500, times=100)
    with pytest.raises(nexla_ops.ApiError) as err:
        ctx.request("POST", "/data_sources", json=new_source_body("foundation-500"))
    assert err.value.status == 500
    assert len(hits(sandbox, "/data_sources", "POST")) == 1


def test_429_on_post_is_retried(sandbox, ctx):
    sandbox.control.add_fault(method="POST", path="^/data_sources$", action="status",
                              status=429, retry_after=0, times=1)
    ctx.request("POST", "/data_sources", json=new_source_body("foundation-429"))
    assert len(hits(sandbox, "/data_sources", "POST")) == 2
    assert len(sources_named(sandbox, "foundation-429")) == 1


def test_sdk_defaults_duplicate_a_create_that_we_do_not(sandbox, sdk_client):
    """Why the SDK's own retries are off: under commit-then-502 it re-POSTs the create."""
    sandbox.control.add_fault(method="POST", path="^/data_sources$", action="commit_then_fail",
                              fail_with=502, times=1)
    sdk_client.sources.create(new_source_body("foundation-sdk-default"))
    assert len(sources_named(sandbox, "foundation-sdk-default")) == 2


def test_fifty_calls_fetch_one_token(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path)
    for _ in range(50):
        get_source(ctx)
    assert len(hits(sandbox, "/token", "POST")) == 1
    assert len(hits(sandbox, SOURCE)) == 50


def test_concurrent_first_calls_share_one_token(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: get_source(ctx).id, range(50)))
    assert results == [123] * 50
    assert len(hits(sandbox, "/token", "POST")) == 1


def test_rejected_key_is_auth_error_without_retries(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path, key="not-a-valid-key-0000")
    with pytest.raises(nexla_ops.AuthError) as err:
        get_source(ctx)
    assert err.value.exit_code == nexla_ops.EXIT_AUTH
    assert "NEXLA_SERVICE_KEY" in err.value.message
    assert len(hits(sandbox, "/token", "POST")) == 1


def test_paginate_walks_pages_and_stops_on_limit(sandbox, ctx):
    sandbox.control.populate("sources", 230, name_prefix="bulk")
    sandbox.control.clear_requests()
    assert len(list(ctx.paginate(ctx.client.sources.list))) == 235
    assert [r["query"].get("page") for r in hits(sandbox, "/data_sources")] == ["1", "2", "3"]
    sandbox.control.clear_requests()
    assert len(list(ctx.paginate("/data_sources", limit=5))) == 5
    assert [r["query"] for r in hits(sandbox, "/data_sources")] == [{"page": "1",
                                                                      "per_page": "5"}]


def test_delete_whose_answer_was_lost_is_done_when_the_retry_meets_404(sandbox, ctx):
    sandbox.control.add_fault(method="DELETE", path="^/data_sinks/304$",
                              action="commit_then_fail", fail_with=502, times=1)
    assert ctx.request("DELETE", "/data_sinks/304") is None
    assert len(hits(sandbox, "/data_sinks/304", "DELETE")) == 2
    assert 304 not in {d["id"] for d in sandbox.control.state("data_sinks")}
    with pytest.raises(nexla_ops.NotFound):  # a plain 404 is still an error
        ctx.request("DELETE", "/data_sinks/304")


def test_create_once_with_nested_ctx_calls(sandbox, ctx):
    """find() and create() built on ctx.request/paginate: the outer policy still decides."""
    name = "foundation-nested"
    sandbox.control.add_fault(method="POST", path="^/data_sources$", action="commit_then_fail",
                              fail_with=503, times=1)
    sandbox.control.add_fault(method="GET", path="^/data_sources$", action="status",
                              status=502, times=1)  # the look-up itself is retried
    created = ctx.create_once(
        finder(ctx, name),
        lambda: ctx.request("POST", "/data_sources", json=new_source_body(name)),
        what=f"create source {name}")
    assert created["name"] == name
    assert len(sources_named(sandbox, name)) == 1
    assert len(hits(sandbox, "/data_sources", "POST")) == 1
    assert len(hits(sandbox, "/data_sources")) == 2


def test_budget_caps_retries_and_the_http_timeout(sandbox, ctx):
    sandbox.control.add_fault(method="GET", path="^/flows$", action="delay", delay_ms=2500,
                              times=5)
    started = time.monotonic()
    with pytest.raises(nexla_ops.Transient):
        ctx.request("GET", "/flows", budget_ends=started + 1.0)
    assert time.monotonic() - started < 1.5  # not the 30 s per-request timeout
    with pytest.raises(nexla_ops.Transient) as err:  # no time left: nothing is sent
        ctx.request("GET", "/flows", budget_ends=time.monotonic() - 0.1)
    assert "not sent" in err.value.message
    deadline = time.monotonic() + 5  # the slow request is logged when the server finishes it
    while not hits(sandbox, "/flows") and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    assert len(hits(sandbox, "/flows")) == 1


def test_budget_also_bounds_the_token_fetch(sandbox, tmp_path):
    ctx = make_ctx(sandbox, tmp_path)
    sandbox.control.add_fault(method="POST", path="^/token$", action="delay", delay_ms=2500,
                              times=1)
    started = time.monotonic()
    with pytest.raises(nexla_ops.Transient):
        ctx.request("GET", SOURCE, budget_ends=started + 1.0)
    assert time.monotonic() - started < 1.5
    assert ctx.client.http_client.timeout == ctx.config.timeout  # restored afterwards
