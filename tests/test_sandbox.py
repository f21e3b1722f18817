"""Sandbox behaviour over real HTTP: paging, faults, persistence, bad input, concurrency, roles,
discovery, transforms, runs, async tasks, webhooks and the fidelity rules of contract §23."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nexla_sdk import NexlaClient
from nexla_sdk.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NotFoundError,
    RateLimitError,
    ResourceConflictError,
    ServerError,
    ValidationError,
)
from nexla_sdk.http_client import RequestsHttpClient

from conftest import CANARY
from nexla_sandbox import ControlClient


def no_retry_client(sb, key=None) -> NexlaClient:
    return NexlaClient(service_key=key or sb.service_key, base_url=sb.url,
                       http_client=RequestsHttpClient(max_retries=0))


def token(sb, key=None) -> str:
    resp = requests.post(f"{sb.url}/token", headers={"Authorization": f"Basic {key or sb.service_key}"},
                         timeout=10)
    assert resp.status_code == 200
    return resp.json()["access_token"]


def api(sb, method, path, tok, **kw):
    return requests.request(method, f"{sb.url}{path}", timeout=10,
                            headers={"Authorization": f"Bearer {tok}", **kw.pop("headers", {})}, **kw)


# == auth =========================================================================================
def test_token_lifetime_above_refresh_margin_and_logout_invalidates(sandbox):
    resp = requests.post(f"{sandbox.url}/token",
                         headers={"Authorization": f"Basic {sandbox.service_key}"}, timeout=10)
    body = resp.json()
    assert resp.status_code == 200 and body["expires_in"] > 3600
    tok = body["access_token"]
    assert api(sandbox, "GET", "/data_sources", tok).status_code == 200
    requests.post(f"{sandbox.url}/token/logout", headers={"Authorization": f"Bearer {tok}"}, timeout=10)
    resp = api(sandbox, "GET", "/data_sources", tok)
    assert resp.status_code == 401 and resp.json()["code"] == 401


def test_unknown_key_and_token_get_401(sandbox):
    with pytest.raises(AuthenticationError):
        NexlaClient(service_key="not-a-key", base_url=sandbox.url).sources.list()
    assert api(sandbox, "GET", "/flows", "forged-token").status_code == 401
    assert requests.get(f"{sandbox.url}/data_sources", timeout=10).status_code == 401


def test_sdk_uses_one_token_for_many_calls(sandbox, sdk_client):
    for _ in range(3):
        sdk_client.sources.list()
    paths = [r["path"] for r in sandbox.control.requests()]
    assert paths.count("/token") == 1 and paths.count("/data_sources") == 3


# == paging =======================================================================================
def test_paginate_250_sources_yields_250_and_stops(sandbox, sdk_client):
    sandbox.control.reset("empty")
    sandbox.control.populate("sources", 250)
    sandbox.control.clear_requests()
    seen = [s.id for s in sdk_client.sources.paginate(per_page=100)]
    assert len(seen) == 250 and len(set(seen)) == 250
    pages = [r["query"] for r in sandbox.control.requests() if r["path"] == "/data_sources"]
    assert [(q["page"], q["per_page"]) for q in pages] == [("1", "100"), ("2", "100"), ("3", "100")]


def test_per_page_is_capped_at_100_and_past_the_end_is_empty(sandbox, sdk_client):
    sandbox.control.populate("sources", 150)
    assert len(sdk_client.sources.list(per_page=500)) == 100
    assert len(sdk_client.sources.list()) == 20  # default page size
    assert sdk_client.sources.list(page=99, per_page=100) == []


def test_a_write_is_visible_in_the_next_list(sandbox, sdk_client):
    """Lists reuse shaped JSON and visibility between writes; every write must show at once."""
    cleo = no_retry_client(sandbox, sandbox.service_keys["collaborator"])

    def names():
        return {s["id"]: s["name"] for s in sdk_client.request("GET", "/data_sources",
                                                              params={"per_page": 100})}

    def flows():
        return sdk_client.request("GET", "/flows", params={"per_page": 100, "include_run_metrics": 1})

    before, flows_before = names(), flows()
    assert [s["id"] for s in cleo.request("GET", "/data_sources")] == [123]
    sdk_client.request("PUT", "/data_sources/124", json={"name": "customers-renamed"})
    created = sdk_client.request("POST", "/data_sources", json={"name": "fresh", "source_type": "s3"})
    after = names()
    assert after[124] == "customers-renamed" and after[created["id"]] == "fresh"
    assert len(after) == len(before) + 1
    sdk_client.request("DELETE", f"/data_sources/{created['id']}")
    assert created["id"] not in names()

    # Visibility is cached per caller too: a grant shows in the grantee's next list.
    sdk_client.request("PUT", "/data_sources/124/accessors",
                       json={"accessors": [{"type": "USER", "id": 3, "access_roles": ["collaborator"]}]})
    assert [s["id"] for s in cleo.request("GET", "/data_sources")] == [123, 124]

    # /flows: trees, resources and run metrics follow pauses, renames and new runs.
    sdk_client.request("PUT", "/flows/1001/pause", params={"all": 1})
    sandbox.control.tick(2 * 3600)
    now = flows()
    tree = next(f for f in now["flows"] if f["id"] == 1001)
    assert tree["status"] == "PAUSED" and tree["children"][0]["status"] == "PAUSED"
    assert {s["id"]: s["name"] for s in now["data_sources"]}[124] == "customers-renamed"
    newest = {m["origin_node_id"]: m["run_id"] for m in reversed(now["metrics"])}
    oldest = {m["origin_node_id"]: m["run_id"] for m in reversed(flows_before["metrics"])}
    assert newest[1002] != oldest[1002]  # active flow: the tick's runs are listed
    assert newest[1001] == oldest[1001]  # paused before the tick: no new run


def test_flows_list_pages_over_root_flows(sandbox, sdk_client):
    first = sdk_client.flows.list(page=1, per_page=3)[0]
    second = sdk_client.flows.list(page=2, per_page=3)[0]
    assert [f.id for f in first.flows] == [1001, 1002, 1003]
    assert [f.id for f in second.flows] == [1004, 1005]


# == faults =======================================================================================
def test_429_retry_after_surfaces_on_rate_limit_error(sandbox):
    client = no_retry_client(sandbox)
    sandbox.control.add_fault(method="GET", path="^/data_sources$", action="status", status=429,
                              retry_after=2)
    with pytest.raises(RateLimitError) as err:
        client.sources.list()
    assert err.value.retry_after == 2
    assert len(client.sources.list()) == 5  # times defaults to 1


def test_commit_then_fail_create_leaves_exactly_one_new_resource(sandbox):
    client = no_retry_client(sandbox)
    before = {s["id"] for s in sandbox.control.state("data_sources")}
    sandbox.control.add_fault(method="POST", path="^/data_sources$", action="commit_then_fail")
    with pytest.raises(ServerError) as err:
        client.sources.create({"name": "lost-answer", "source_type": "s3"})
    assert err.value.status_code == 502
    new = [s for s in sandbox.control.state("data_sources") if s["id"] not in before]
    assert [s["name"] for s in new] == ["lost-answer"]
    entry = sandbox.control.requests()[-1]
    assert entry["fault"] == "commit_then_fail" and entry["committed_status"] == 200


def test_commit_then_drop_applies_the_change_and_cuts_the_connection(sandbox):
    tok = token(sandbox)
    sandbox.control.add_fault(method="PUT", path=r"^/data_sources/\d+/pause$",
                              action="commit_then_fail", fail_with="drop")
    with pytest.raises(requests.ConnectionError):
        api(sandbox, "PUT", "/data_sources/123/pause", tok)
    assert next(s for s in sandbox.control.state("data_sources") if s["id"] == 123)["status"] == "PAUSED"


def test_drop_gives_a_connection_error_and_the_server_survives(sandbox):
    tok = token(sandbox)
    sandbox.control.add_fault(method="GET", path="^/data_sinks$", action="drop", times=2)
    with pytest.raises(requests.ConnectionError):
        api(sandbox, "GET", "/data_sinks", tok)
    with pytest.raises(ServerError) as err:  # the SDK wraps the requests ConnectionError
        no_retry_client(sandbox).destinations.list()
    assert "Connection aborted" in str(err.value) or "RemoteDisconnected" in str(err.value)
    assert api(sandbox, "GET", "/data_sinks", tok).status_code == 200


def test_delay_skip_probability_and_listing_of_rules(sandbox):
    tok = token(sandbox)
    sandbox.control.add_fault(method="GET", path="^/teams$", action="delay", delay_ms=300)
    started = time.monotonic()
    assert api(sandbox, "GET", "/teams", tok).status_code == 200
    assert time.monotonic() - started >= 0.3
    sandbox.control.add_fault(method="GET", path="^/projects$", action="status", status=503, skip=1)
    assert [api(sandbox, "GET", "/projects", tok).status_code for _ in range(3)] == [200, 503, 200]
    rule = sandbox.control.add_fault(method="*", path="^/users$", action="status", status=500,
                                     probability=0.5, seed=7)
    codes = [api(sandbox, "GET", "/users", tok).status_code for _ in range(40)]
    assert 5 < codes.count(500) < 35 and set(codes) == {200, 500}
    listed = {r["id"]: r for r in sandbox.control.faults()}
    assert listed[rule["id"]]["hits"] == codes.count(500) and listed[rule["id"]]["remaining"] is None
    sandbox.control.clear_faults()
    assert sandbox.control.faults() == []


def test_bad_fault_rules_are_rejected(sandbox):
    for rule in ({"action": "explode"}, {"path": "("}, {"action": "status", "status": 200},
                 {"probability": 2}, {"times": -1}):
        with pytest.raises(RuntimeError, match="400"):
            sandbox.control.add_fault(**rule)


# == persistence and CLI =============================================================================
def _start_cli(db, *extra):
    proc = subprocess.Popen([sys.executable, "-m", "nexla_sandbox", "--db", str(db), "--port", "0",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    key_line = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/nexla-api"), url
    return proc, url, key_line.rsplit(" ", 1)[-1]


def _control_token(proc) -> str:
    """The `control token:` line that follows the service keys on the CLI's stdout."""
    for _ in range(10):
        line = proc.stdout.readline()
        if line.startswith("control token:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("the sandbox printed no control token")


def _stop(proc):
    proc.terminate()
    proc.wait(timeout=10)


def test_restart_with_same_db_keeps_state(tmp_path):
    db = tmp_path / "state.db"
    proc, url, key = _start_cli(db)
    try:
        client = NexlaClient(service_key=key, base_url=url)
        created = client.sources.create({"name": "survives-restart", "source_type": "s3"})
        client.sources.pause(123)
        ControlClient(url.replace("/nexla-api", ""), token=_control_token(proc)).tick(7200)
    finally:
        _stop(proc)
    proc, url, key = _start_cli(db)
    try:
        client = NexlaClient(service_key=key, base_url=url)
        assert client.sources.get(created.id).name == "survives-restart"
        assert client.sources.get(123).status == "PAUSED"
        assert len(client.sources.list()) == 6
    finally:
        _stop(proc)


def test_cli_no_control_and_help(tmp_path):
    proc, url, _ = _start_cli(tmp_path / "x.db", "--no-control", "--seed", "empty")
    try:
        assert requests.get(url.replace("/nexla-api", "/_sandbox/info"), timeout=10).status_code == 404
    finally:
        _stop(proc)
    out = subprocess.run([sys.executable, "-m", "nexla_sandbox", "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and "--latency-ms" in out.stdout and "examples:" in out.stdout


def test_latency_setting_slows_every_api_call(sandbox):
    tok = token(sandbox)
    sandbox.control.configure(latency_ms=150)
    started = time.monotonic()
    api(sandbox, "GET", "/teams", tok)
    assert time.monotonic() - started >= 0.15
    sandbox.control.reset("demo")  # reset restores start-up settings
    started = time.monotonic()
    api(sandbox, "GET", "/teams", tok)
    assert time.monotonic() - started < 0.15


# == bad input =====================================================================================
@pytest.mark.parametrize("path,body,field", [
    ("/data_sources", b'{"name": "x", ', "Malformed JSON"),
    ("/data_sources", b'[1, 2]', "body"),
    ("/data_sources", b'{"source_type": "s3"}', "name"),
    ("/data_sources", b'{"name": "x", "source_type": 5}', "source_type"),
    ("/data_sources", b'{"name": "x", "source_type": "s3", "data_credentials_id": "11"}',
     "data_credentials_id"),
    ("/data_sources", b'{"name": "x", "source_type": "S3 bucket"}', "source_type"),
    ("/data_sources", b'{"name": NaN, "source_type": "s3"}', "Malformed JSON"),
    ("/data_sinks", b'{"name": "x", "sink_type": "api_push", "data_credentials_id": 11, '
                    b'"data_set_id": 123}', "sink_type"),
    ("/data_sinks", b'{"name": "x", "sink_type": "s3", "data_set_id": 123}', "data_credentials_id"),
    ("/data_sets", b'{"name": "x", "parent_data_set_id": 123}', "has_custom_transform"),
    ("/data_sets", b'{"name": "x", "parent_data_set_id": 123, "has_custom_transform": true, '
                   b'"transform": {"operations": [{"spec": {}}]}}', "transform.operations[0].operation"),
    ("/data_credentials", b'{"name": "x"}', "credentials_type"),
    ("/teams", b'{"name": "t", "members": [{"id": 999}]}', "members[0]"),
    ("/async_tasks", b'{"type": "CallProbe", "arguments": []}', "arguments"),
    ("/async_tasks", b'{"type": "X", "arguments": {}}', "type"),
    ("/data_sources", b'{"name": "x", "source_type": "s3", "tags": [1]}', "tags[0]"),
])
def test_bad_input_is_400_naming_the_field(sandbox, path, body, field):
    resp = api(sandbox, "POST", path, token(sandbox), data=body,
               headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    payload = resp.json()
    assert payload["code"] == 400 and field in payload["message"], payload
    assert "Traceback" not in resp.text


def test_query_params_are_validated(sandbox):
    tok = token(sandbox)
    for path in ("/data_sources?page=abc", "/data_sources?per_page=0", "/flows?flows_only=maybe",
                 "/data_sources?access_role=boss", "/data_sources/123/metrics?from=yesterday"):
        resp = api(sandbox, "GET", path, tok)
        assert resp.status_code == 400 and resp.json()["message"], path


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8)
CREATE_FIELDS = ["name", "source_type", "sink_type", "credentials_type", "data_credentials_id",
                 "data_set_id", "parent_data_set_id", "has_custom_transform", "transform",
                 "transform_id", "description", "source_config", "sink_config", "credentials",
                 "tags", "members", "type", "arguments", "code", "output_type", "code_type",
                 "code_encoding", "data_type", "map_primary_key", "data_map", "data_flows", "flows",
                 "config", "accessors"]
CREATE_PATHS = ["/data_sources", "/data_sets", "/data_sinks", "/data_credentials", "/teams",
                "/projects", "/transforms", "/attribute_transforms", "/data_maps", "/async_tasks",
                "/gen_ai_integration_configs", "/data_sources/123/accessors", "/teams/42/members",
                "/data_sources/123/copy", "/flows/1001/copy"]


@pytest.fixture(scope="module")
def fuzz_target(sandbox_server):
    sandbox_server.control.reset("demo")
    return sandbox_server, token(sandbox_server)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(CREATE_PATHS), method=st.sampled_from(["POST", "PUT"]),
       body=st.one_of(st.dictionaries(st.sampled_from(CREATE_FIELDS), JSON_VALUES, max_size=6),
                      JSON_VALUES))
def test_fuzzed_create_bodies_never_500(fuzz_target, path, method, body):
    sb, tok = fuzz_target
    if method == "PUT" and not path.endswith(("accessors", "members")):
        path = {"/data_sources": "/data_sources/125", "/data_sets": "/data_sets/124",
                "/data_sinks": "/data_sinks/303"}.get(path, path)
    resp = api(sb, method, path, tok, data=json.dumps(body),
               headers={"Content-Type": "application/json"})
    assert resp.status_code in (200, 400, 404, 405, 409), (path, body, resp.text)
    payload = resp.json()
    if resp.status_code >= 400:
        assert isinstance(payload["message"], str) and payload["code"] == resp.status_code


# == concurrency ====================================================================================
def test_200_concurrent_requests_from_16_threads(sandbox):
    tok = token(sandbox)
    session_local = threading.local()

    def call(i):
        session = getattr(session_local, "s", None) or requests.Session()
        session_local.s = session
        headers = {"Authorization": f"Bearer {tok}"}
        if i % 4 == 0:
            resp = session.post(f"{sandbox.url}/data_sources", headers=headers, timeout=30,
                                json={"name": f"conc-{i}", "source_type": "s3"})
            return i, resp.status_code, resp.json().get("name")
        if i % 4 == 1:
            resp = session.get(f"{sandbox.url}/data_sources/123", headers=headers, timeout=30)
            return i, resp.status_code, resp.json().get("name")
        if i % 4 == 2:
            resp = session.get(f"{sandbox.url}/flows/1001", headers=headers, timeout=30)
            return i, resp.status_code, resp.json()["flows"][0]["children"][0]["data_set_id"]
        resp = session.put(f"{sandbox.url}/data_sources/124/{'pause' if i % 8 == 3 else 'activate'}",
                           headers=headers, timeout=30)
        return i, resp.status_code, resp.json().get("id")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(200)))
    expected = {0: lambda i: f"conc-{i}", 1: lambda i: "orders-s3", 2: lambda i: 123, 3: lambda i: 124}
    for i, status, value in results:
        assert status == 200 and value == expected[i % 4](i), (i, status, value)
    names = [s["name"] for s in sandbox.control.state("data_sources")]
    assert sum(n.startswith("conc-") for n in names) == 50


# == fidelity (contract §23) ===========================================================================
def test_fidelity_rules_hold_on_the_wire(sandbox):
    tok = token(sandbox)

    def get(path):
        resp = api(sandbox, "GET", path, tok)
        assert resp.status_code == 200, (path, resp.text)
        return resp.json()

    assert isinstance(get("/flows"), dict) and isinstance(get("/flows")["flows"], list)
    for path in ("/data_sources", "/data_sets", "/data_sinks", "/data_credentials", "/teams",
                 "/projects", "/data_maps", "/transforms", "/notifications", "/users"):
        assert isinstance(get(path), list), path
    for sink in get("/data_sinks?per_page=100"):
        assert sink["sink_format"] in (None, "json", "csv", "parquet", "avro", "xml", "delimited",
                                       "fixed_width")
        assert sink["in_memory"] is False and sink["tags"] == []
    for item in get("/teams") + get("/projects") + get("/data_maps"):
        assert isinstance(item["description"], str)
    for t in get("/transforms") + get("/attribute_transforms"):
        assert t["access_roles"] is None or isinstance(t["access_roles"], dict)
    assert isinstance(get("/transforms")[0]["code"], list)
    assert isinstance(get("/attribute_transforms")[0]["code"], str)
    for src in get("/data_sources"):
        assert src["api_keys"] is not None and src["run_ids"] is not None
        assert all({"id", "owner_id", "org_id"} <= set(d) for d in src["data_sets"])
    for nexset in get("/data_sets"):
        assert nexset["parent_data_sets"] is not None and nexset["tags"] is not None
        assert all(isinstance(s, dict) and s["name"] for s in nexset["data_sinks"])
    for cred in get("/data_credentials"):
        assert cred["managed"] is False and "password" not in json.dumps(cred)
        assert set(cred["connector"]) == {"id", "type", "connection_type", "name", "description",
                                          "nexset_api_compatible"}

    def walk(node, origin):
        assert node["origin_node_id"] == origin
        for child in node["children"]:
            assert child["parent_node_id"] == node["id"]
            walk(child, origin)

    for root in get("/flows")["flows"]:
        walk(root, root["id"])
    metrics = get("/flows?include_run_metrics=1")["metrics"]
    assert all({"origin_node_id", "records", "size", "errors", "reporting_date", "run_id"} <= set(m)
               for m in metrics)
    assert isinstance(get("/data_sources/123/metrics?from=2000-01-01")["metrics"], list)
    assert isinstance(get("/data_sources/123/metrics/run_summary")["metrics"], dict)
    assert isinstance(get("/data_sources/123/flow/metrics?from=2000-01-01")["metrics"]["data"], dict)
    activated = api(sandbox, "PUT", "/data_sources/125/activate", tok).json()
    assert activated["source_type"] == "rest" and activated["flows"][0]["id"] == 1003  # hybrid


def test_errors_use_nexla_body_and_never_a_traceback(sandbox, sdk_client):
    tok = token(sandbox)
    resp = api(sandbox, "GET", "/data_sources/99999", tok)
    assert resp.status_code == 404 and resp.json()["code"] == 404 and resp.json()["message"]
    with pytest.raises(NotFoundError):
        sdk_client.sources.get(99999)
    assert api(sandbox, "GET", "/no/such/endpoint", tok).json() == {
        "message": "Not found: GET /no/such/endpoint", "code": 404}
    assert api(sandbox, "PATCH", "/data_sources/123", tok).status_code == 405
    assert requests.get(f"{sandbox.root_url}/elsewhere", timeout=10).headers["Content-Type"] == (
        "application/json")


# == roles ========================================================================================
def test_roles_from_accessors_are_enforced(sandbox):
    omar = no_retry_client(sandbox, sandbox.service_keys["operator"])
    cleo = no_retry_client(sandbox, sandbox.service_keys["collaborator"])
    assert omar.sources.get(123).access_roles == ["operator"]
    assert cleo.sources.get(123).access_roles == ["collaborator"]
    omar.flows.pause(1001)  # operator may pause
    with pytest.raises(AuthorizationError) as err:
        omar.sources.delete(126)
    assert "requires admin or owner role on data_sources/126; you have: operator" in str(err.value)
    with pytest.raises(AuthorizationError):
        omar.request("PUT", "/data_sources/123/accessors",
                     json={"accessors": [{"type": "TEAM", "id": 42, "access_roles": ["admin"]}]})
    with pytest.raises(AuthorizationError) as err:
        cleo.flows.pause(1001)
    assert "you have: collaborator" in str(err.value)
    assert [s.id for s in cleo.sources.list()] == [123]
    assert [s.id for s in cleo.sources.list(access_role="operator")] == []


def test_team_grant_gives_members_the_role(sandbox, sdk_client):
    omar = no_retry_client(sandbox, sandbox.service_keys["operator"])
    with pytest.raises(AuthorizationError):
        omar.request("PUT", "/data_sources/123/accessors", json={"accessors": []})
    sdk_client.request("PUT", "/data_sources/123/accessors",
                       json={"accessors": [{"type": "TEAM", "id": 42, "access_roles": ["admin"]}]})
    assert omar.sources.get(123).access_roles == ["admin", "operator"]
    omar.request("PUT", "/data_sources/123/accessors",
                 json={"accessors": [{"type": "USER", "id": 4, "access_roles": ["collaborator"]}]})


def test_owner_cannot_be_removed_and_unknown_accessors_are_400(sdk_client):
    with pytest.raises(ValidationError, match="owner"):
        sdk_client.request("DELETE", "/data_sources/123/accessors",
                           json={"accessors": [{"type": "USER", "id": 1}]})
    with pytest.raises(ValidationError, match=r"accessors\[0\]"):
        sdk_client.request("PUT", "/data_sources/123/accessors",
                           json={"accessors": [{"type": "TEAM", "id": 4242, "access_roles": ["admin"]}]})
    with pytest.raises(ValidationError, match="access_roles"):
        sdk_client.request("PUT", "/data_sources/123/accessors",
                           json={"accessors": [{"type": "USER", "id": 2, "access_roles": ["member"]}]})


# == flows lifecycle ===============================================================================
def test_delete_active_flow_is_409_then_paused_flow_deletes_everything(sandbox, sdk_client):
    with pytest.raises(ResourceConflictError, match="Flow is active; pause it before deleting"):
        sdk_client.flows.delete(1002)
    sdk_client.flows.pause(1002, all=True)
    sdk_client.flows.delete(1002)
    assert 124 not in [s["id"] for s in sandbox.control.state("data_sources")]
    assert 302 not in [s["id"] for s in sandbox.control.state("data_sinks")]
    with pytest.raises(NotFoundError):
        sdk_client.flows.get(1002)


def test_activate_without_all_touches_one_node_with_all_the_tree(sdk_client):
    sdk_client.flows.pause(1001, all=True)
    flow = sdk_client.flows.activate(1001)
    assert flow.flows[0].status == "ACTIVE" and flow.flows[0].children[0].status == "PAUSED"
    flow = sdk_client.flows.activate(1001, all=True)
    statuses = []

    def walk(node):
        statuses.append(node.status)
        for child in node.children or []:
            walk(child)

    walk(flow.flows[0])
    assert set(statuses) == {"ACTIVE"} and len(statuses) == 4


def test_copy_flow_keeps_lineage_for_credential_swap(sdk_client):
    new = sdk_client.flows.copy_and_replace_credentials(1001, {301: 11})  # sink 301 → cred 11
    sink = next(s for s in new.data_sinks if s.copied_from_id == 301)
    assert sink.data_credentials_id == 11 and new.flows[0].status == "PAUSED"
    assert next(s for s in new.data_sets if s.copied_from_id == 223).parent_data_sets


def test_resource_delete_rules(sdk_client):
    with pytest.raises(ResourceConflictError, match="active"):
        sdk_client.sources.delete(123)
    with pytest.raises(ResourceConflictError, match="downstream"):
        sdk_client.nexsets.delete(126)  # sink 304 hangs off it
    with pytest.raises(ResourceConflictError, match="in use"):
        sdk_client.credentials.delete(11)
    sdk_client.destinations.delete(304)
    sdk_client.nexsets.delete(126)
    sdk_client.sources.delete(126)
    with pytest.raises(NotFoundError):
        sdk_client.flows.get(1004)


# == discovery and transforms =======================================================================
def test_discovery_is_delayed_never_instant(sandbox, sdk_client):
    src = sdk_client.sources.create({"name": "fresh-orders", "source_type": "s3",
                                     "data_credentials_id": 11})
    assert src.data_sets == [] and sdk_client.sources.get(src.id).data_sets == []
    time.sleep(0.35)  # conftest: discovery_delay=0.3
    detected = sdk_client.sources.get(src.id).data_sets
    assert len(detected) == 1
    nexset = sdk_client.nexsets.get(detected[0].id)
    assert nexset.data_source_id == src.id and nexset.output_schema["properties"]["order_id"]
    flow = sdk_client.flows.get_by_resource("data_sources", src.id)
    assert flow.flows[0].children[0].data_set_id == nexset.id


def test_discovery_also_happens_on_tick(sandbox, sdk_client):
    sandbox.control.configure(discovery_delay=3600)
    src = sdk_client.sources.create({"name": "slow", "source_type": "s3"})
    assert sdk_client.sources.get(src.id).data_sets == []
    sandbox.control.tick(3601)
    assert len(sdk_client.sources.get(src.id).data_sets) == 1


def test_derived_nexset_samples_are_the_transform_really_applied(sdk_client):
    parent = sdk_client.nexsets.get_samples(123, count=5)
    derived = sdk_client.nexsets.get_samples(223, count=5)
    for p, d in zip(parent, derived, strict=True):
        p, d = p.raw_message, d.raw_message
        assert d["id"] == p["order_id"] and d["customer"]["id"] == p["customer_id"]
        assert d["status"] == p["status"].upper() and d["customer"]["country"] == p["country"].upper()
        assert d["source_system"] == "orders-s3" and "order_id" not in d
    schema = sdk_client.nexsets.get(223).output_schema
    assert schema["properties"]["customer"]["properties"]["id"] == {"type": "integer"}


@pytest.mark.parametrize("ops,check", [
    ([{"operation": "remove", "spec": {"currency": ""}}], lambda r, p: "currency" not in r),
    ([{"operation": "default", "spec": {"region": "emea", "amount": 0}}],
     lambda r, p: r["region"] == "emea" and r["amount"] == p["amount"]),
    ([{"operation": "shift", "spec": {"*": "data.&"}}], lambda r, p: r["data"] == p),
    ([{"operation": "modify-overwrite-beta", "spec": {
        "label": "=concat(@(1,status),'-',@(1,currency))", "amount": "=toInteger"}}],
     lambda r, p: r["label"] == f"{p['status']}-{p['currency']}" and r["amount"] == int(p["amount"])),
    ([{"operation": "no-such-op", "spec": {}}], lambda r, p: r == p),  # silent pass-through
])
def test_transform_subset(sdk_client, ops, check):
    derived = sdk_client.nexsets.create({"name": "t", "parent_data_set_id": 123,
                                         "has_custom_transform": True,
                                         "transform": {"version": 1, "operations": ops}})
    parent = [s.raw_message for s in sdk_client.nexsets.get_samples(123, count=3)]
    result = [s.raw_message for s in sdk_client.nexsets.get_samples(derived.id, count=3)]
    assert len(result) == 3 and all(check(r, p) for r, p in zip(result, parent, strict=True))


def test_record_level_transform_errors_are_reported_separately(sdk_client):
    derived = sdk_client.nexsets.create({"name": "bad-casts", "parent_data_set_id": 124,
                                         "has_custom_transform": True, "transform": {"operations": [
                                             {"operation": "modify-overwrite-beta",
                                              "spec": {"name": "=toInteger"}}]}})
    assert sdk_client.nexsets.get_samples(derived.id, count=5) == []
    wrapped = sdk_client.nexsets.get_samples(derived.id, count=5, include_metadata=True)
    assert wrapped and all(s.nexla_metadata["errorRecord"] for s in wrapped)


def test_reusable_transform_by_id(sdk_client):
    derived = sdk_client.nexsets.create({"name": "by-id", "parent_data_set_id": 123,
                                         "has_custom_transform": False, "transform_id": 901})
    rows = sdk_client.nexsets.get_samples(derived.id, count=3)
    assert all(r.raw_message["country"].isupper() for r in rows)
    assert derived.id in sdk_client.transforms.get(901).data_sets


# == runs, logs, metrics, simulated time ==================================================================
def run_summary(client, source_id) -> list[dict]:
    """A source's newest 100 runs, newest first."""
    return client.metrics.get_resource_metrics_by_run("data_sources", source_id,
                                                      size=100).metrics["data"]


def test_seeded_history_healthy_failing_stale_paused(sdk_client):
    healthy, failing, stale = (run_summary(sdk_client, s) for s in (123, 124, 125))
    assert healthy and all(r["status"] == "SUCCESS" for r in healthy)
    failed = sum(r["status"] == "FAILED" for r in failing)
    assert failing[0]["status"] == "FAILED" and 0.3 < failed / len(failing) < 0.7
    newest_stale = sdk_client.flows.get_run_status(1003, stale[0]["runId"])["run"]["started_at"]
    age_h = (time.time() - time.mktime(time.strptime(newest_stale[:19], "%Y-%m-%dT%H:%M:%S"))
             + time.timezone) / 3600
    assert 29 < age_h < 32
    logs = sdk_client.flows.get_logs("data_sources", 124, run_id=failing[0]["runId"], from_ts=0)
    assert any(e.level == "ERROR" and "refused" in e.message for e in logs.logs)
    assert run_summary(sdk_client, 126) and sdk_client.flows.get(1004).flows[0].status == "PAUSED"


def test_tick_produces_runs_for_active_flows_only(sandbox, sdk_client):
    def run_counts():  # every run: the seed's 30 days are more than one page
        return {s: sdk_client.metrics.get_resource_metrics_by_run(
            "data_sources", s, size=1).metrics["meta"]["totalCount"] for s in (123, 124, 125, 126)}

    before = run_counts()
    result = sandbox.control.tick(3 * 3600)
    assert result["runs_created"] == 3 * 3  # 1001, 1002, 1005 hourly; stale and paused none
    after = run_counts()
    assert after[123] - before[123] == 3 and after[125] == before[125] and after[126] == before[126]


def test_new_active_flow_runs_after_activation(sandbox, sdk_client):
    flow = sandbox.control.populate("flows", 1, runs=0, status="PAUSED")
    fid = flow["ids"][0]
    sdk_client.flows.activate(fid, all=True)
    assert sandbox.control.tick(120)["runs_created"] == 1
    metrics = sdk_client.flows.get(fid, include_run_metrics=True).metrics
    assert len(metrics) == 1 and metrics[0].errors == 0


# == async tasks, webhooks, misc ======================================================================
def test_async_task_moves_pending_running_completed(sandbox, sdk_client):
    task = sdk_client.async_tasks.create({"type": "BulkPauseFlows", "arguments": {"ids": [1001]}})
    assert task.status == "pending"
    sandbox.control.tick(1)
    assert sdk_client.async_tasks.get(task.id).status == "running"
    assert sdk_client.flows.get(1001).flows[0].status == "ACTIVE"  # the effect comes at the end
    sandbox.control.tick(1)
    done = sdk_client.async_tasks.get(task.id)
    assert done.status == "completed" and done.result == {"paused": [1001]}
    assert sdk_client.flows.get(1001).flows[0].status == "PAUSED"
    assert sdk_client.async_tasks.result(task.id) == {"paused": [1001]}
    assert [t.id for t in sdk_client.async_tasks.list_by_status("completed")] == [task.id]
    # The reference's task object: string id, owner and org objects, stopped_at, progress.
    raw = sdk_client.request("GET", f"/async_tasks/{task.id}")
    assert raw["id"] == str(task.id) and raw["progress"] == 100 and raw["stopped_at"]
    assert {k: raw["owner"][k] for k in ("id", "full_name", "email")} == {
        "id": 1, "full_name": "Ada Admin", "email": "ada@demo.example"}
    assert raw["org"]["id"] == 7 and raw["org"]["name"] == "Demo Org"
    link = sdk_client.async_tasks.download_link(task.id)
    assert link == raw["result_url"] and requests.get(link, timeout=10).json() == done.result
    acked = sdk_client.async_tasks.acknowledge(task.id)
    assert acked["id"] == str(task.id) and acked["result_url"] is None
    failing = sdk_client.async_tasks.create({"type": "BulkMarkAsReadNotifications",
                                             "arguments": {"ids": [601, 99999]}})
    with pytest.raises(ValidationError, match="running"):  # not deleted while running
        sdk_client.async_tasks.delete(failing.id)
    sandbox.control.tick(2)
    failed = sdk_client.async_tasks.get(failing.id)
    assert failed.status == "failed" and failed.error == "notifications/99999 not found"
    assert sdk_client.notifications.get_count(read=1).count == 0  # all or nothing
    assert sdk_client.async_tasks.delete(failing.id)["code"] == "200"


def test_async_task_rerun_and_the_user_tasks_check_their_users(sandbox, sdk_client):
    task = sdk_client.async_tasks.create({"type": "BulkDeleteNotifications",
                                          "arguments": {"ids": [603]}})
    with pytest.raises(ValidationError, match="still running"):
        sdk_client.async_tasks.rerun(task.id)
    sandbox.control.tick(2)
    assert sdk_client.async_tasks.get(task.id).result == {"deleted": [603]}
    assert 603 not in [n["id"] for n in sandbox.control.state("notifications")]
    again = sdk_client.async_tasks.rerun(task.id)  # same id; 603 is gone now, so it fails
    assert again.id == task.id and again.status == "pending"
    sandbox.control.tick(2)
    assert sdk_client.async_tasks.get(task.id).error == "notifications/603 not found"
    ghost = sdk_client.async_tasks.create({"type": "DeactivateUser", "arguments": {"user_id": 99}})
    omar = no_retry_client(sandbox, sandbox.service_keys["operator"])
    not_admin = omar.async_tasks.create({"type": "DeactivateUser", "arguments": {"user_id": 3}})
    sandbox.control.tick(2)
    assert sdk_client.async_tasks.get(ghost.id).error == "arguments.user_id: users/99 not found"
    assert "org admin" in omar.async_tasks.get(not_admin.id).error
    # The list is the caller's own tasks, even for Ada, the org admin.
    assert [t.id for t in omar.async_tasks.list()] == [not_admin.id]
    assert not_admin.id not in [t.id for t in sdk_client.async_tasks.list()]
    assert [t.id for t in sdk_client.async_tasks.list_of_type("DeactivateUser")] == [ghost.id]


@pytest.mark.parametrize("path, text", [
    ("/notifications?level=WARNING", "level: expected one of DEBUG, INFO, WARN, ERROR, RECOVERED"),
    ("/notification_types?status=PAUSED", "status: expected one of ACTIVE, PAUSE"),
    ("/notification_types/list?event_type=ERROR&resource_type=FLOW", "resource_type"),
    ("/notification_types/list?resource_type=SOURCE", "event_type: required"),
    ("/notification_settings?status=ON", "status: expected one of PAUSED, ACTIVE"),
    ("/notification_settings/FLOW/1001", "resource_type"),
])
def test_notification_queries_take_the_published_enums(sandbox, path, text):
    resp = api(sandbox, "GET", path, token(sandbox))
    assert resp.status_code == 400 and text in resp.json()["message"], resp.text


def test_notification_types_and_settings_use_the_published_enums(sandbox, sdk_client):
    types = sdk_client.notifications.get_types(status="ACTIVE")
    assert {(t.event_type, t.resource_type) for t in types} == {
        ("ERROR", "DATA_FLOW"), ("ERROR", "SOURCE"), ("MONITOR", "DATA_FLOW"), ("ERROR", "SINK")}
    assert sdk_client.notifications.get_types(status="PAUSE") == []
    assert sdk_client.notifications.get_type("MONITOR", "DATA_FLOW").name == "Flow stale"
    with pytest.raises(ValidationError, match="channel"):
        sdk_client.request("POST", "/notification_settings",
                           json={"channel": "PAGER", "notification_type_id": 1})
    with pytest.raises(ValidationError, match="notification_resource_type"):
        sdk_client.request("POST", "/notification_settings",
                           json={"channel": "APP", "notification_type_id": 1,
                                 "notification_resource_type": "FLOW"})
    assert sandbox.control.state("notification_settings") == []


@pytest.mark.parametrize("path, status, text", [
    ("/async_tasks/of_type/ExportFlows", 400, "BulkPauseFlows"),
    ("/async_tasks/by_status/done", 400, "cancelled"),
    ("/async_tasks/explain_arguments/ExportFlows", 404, "GetAuditLogs"),
])
def test_async_task_queries_name_the_published_values(sandbox, path, status, text):
    resp = api(sandbox, "GET", path, token(sandbox))
    assert resp.status_code == status and text in resp.json()["message"]


def test_async_task_types_are_the_published_enum(sandbox, sdk_client):
    assert sdk_client.async_tasks.types() == [
        "BulkDeleteNotifications", "BulkMarkAsReadNotifications", "BulkPauseFlows",
        "CallProbe", "ChownUserResources", "DeactivateUser", "GetAuditLogs"]
    assert set(sdk_client.async_tasks.explain_arguments("BulkPauseFlows")) == {"ids"}
    with pytest.raises(ValidationError, match="expected one of: BulkDeleteNotifications"):
        sdk_client.async_tasks.create({"type": "ExportFlows", "arguments": {}})
    with pytest.raises(ValidationError, match="arguments.ids"):
        sdk_client.async_tasks.create({"type": "BulkPauseFlows", "arguments": {"ids": "1001"}})
    assert sandbox.control.state("async_tasks") == []
    # A role the caller lacks fails the task (Cleo is only a collaborator on flow 1001).
    cleo = no_retry_client(sandbox, sandbox.service_keys["collaborator"])
    task = cleo.async_tasks.create({"type": "BulkPauseFlows", "arguments": {"ids": [1001]}})
    sandbox.control.tick(3)
    failed = cleo.async_tasks.get(task.id)
    assert failed.status == "failed" and "requires operator" in failed.error


def test_webhook_accepts_records_with_api_key_only(sandbox, sdk_client):
    source = sdk_client.request("GET", "/data_sources/127")
    key = source["api_keys"][0]
    assert key["url"].startswith(sandbox.root_url)
    hook = sdk_client.create_webhook_client(key["api_key"])
    reply = hook.send_many_records(key["url"], [{"page": "/a"}, {"page": "/b"}])
    assert reply.datasetId == 127 and reply.processed == 2  # the reference's key
    assert reply.dataset_id is None  # SDK 1.0.8's field name: not what Nexla sends
    reply = hook.send_one_record(key["url"], {"page": "/c"}, auth_method="header")
    assert reply.processed == 1
    stored = [r["record"]["page"] for r in sandbox.control.state("webhook_records")]
    assert stored == ["/a", "/b", "/c"]
    assert sdk_client.nexsets.get_samples(127, count=1)[0].raw_message == {"page": "/c"}
    bad = requests.post(key["url"], params={"api_key": "wrong"}, json={"x": 1}, timeout=10)
    assert bad.status_code == 401 and bad.json()["message"]
    omar = no_retry_client(sandbox, sandbox.service_keys["operator"])
    assert omar.request("GET", "/data_sources/127")["api_keys"] == []  # keys are admin-only


def test_credential_probe_failure_and_secrets_never_echoed(sandbox, sdk_client):
    with pytest.raises(AuthorizationError, match="Invalid credentials") as caught:
        sdk_client.credentials.probe(13)
    # The reference's 403 body for an invalid credential; a missing role's 403 has `code`.
    assert caught.value.response == {"status": 403, "message": "Invalid credentials: "
                                     "data_credentials/13 was rejected by the remote system"}
    cleo = no_retry_client(sandbox, sandbox.service_keys["collaborator"])
    with pytest.raises(AuthorizationError, match="requires operator") as role:
        cleo.credentials.probe(11)
    assert role.value.response["code"] == 403 and "status" not in role.value.response
    cred = sdk_client.credentials.create({"name": "canary", "credentials_type": "postgres",
                                          "credentials": {"host": "h", "password": "canary-SECRET-7f3a9c"}})
    for raw in (sdk_client.request("GET", f"/data_credentials/{cred.id}"),
                sdk_client.request("GET", "/data_credentials"),
                sdk_client.request("GET", "/flows")):
        assert "canary-SECRET" not in json.dumps(raw)
    sdk_client.credentials.update(13, {"credentials": {"password": "fixed"}})
    assert sdk_client.credentials.probe(13)["status"] == "ok"


def test_request_log_redacts_secrets_but_keeps_their_keys(sandbox, sdk_client):
    sandbox.control.add_fault(method="POST", path="^/data_credentials$", status=503, times=1)
    tok = token(sandbox)
    body = {"name": "canary-cred", "credentials_type": "postgres",
            "credentials": {"host": "db.internal", "password": CANARY, "options": {"sslkey": CANARY}}}
    assert api(sandbox, "POST", "/data_credentials", tok, json=body).status_code == 503  # fault path
    cred = api(sandbox, "POST", "/data_credentials", tok, json=body).json()
    sdk_client.credentials.update(cred["id"], {"credentials": {"password": CANARY}})
    sdk_client.request("PUT", "/data_sources/123", json={"description": "d", "private_key": CANARY,
                                                         "sinkConfig": {"accessKey": CANARY}})
    hook_key = sdk_client.request("GET", "/data_sources/127")["api_keys"][0]
    assert requests.post(hook_key["url"], params={"api_key": hook_key["api_key"], "tag": "t"},
                         json={"token": CANARY, "page": "/a"}, timeout=10).status_code == 200

    log = sandbox.control.requests()
    text = json.dumps(log)
    assert CANARY not in text and hook_key["api_key"] not in text
    posts = [r for r in log if r["method"] == "POST" and r["path"] == "/data_credentials"]
    assert [r["status"] for r in posts] == [503, 200]
    for entry in posts:  # the keys and the non-secret fields are still there for tests to see
        assert entry["body"]["name"] == "canary-cred"
        assert entry["body"]["credentials_type"] == "postgres"
        assert entry["body"]["credentials"] == {"host": "[REDACTED]", "password": "[REDACTED]",
                                                "options": {"sslkey": "[REDACTED]"}}
    put = [r for r in log if r["path"] == "/data_sources/123"][-1]
    assert put["body"] == {"description": "d", "private_key": "[REDACTED]",
                           "sinkConfig": {"accessKey": "[REDACTED]"}}
    hook = [r for r in log if r["path"] == "/webhook/127"][-1]
    assert hook["query"] == {"api_key": "[REDACTED]", "tag": "t"}
    assert hook["body"] == {"token": "[REDACTED]", "page": "/a"}
    # The stored credential itself is unchanged by the redaction (the log got its own copy).
    assert sandbox.app.store.all("data_credentials")[-1]["_secret"]["password"] == CANARY


def test_team_name_clash_is_409(sdk_client):
    with pytest.raises(ResourceConflictError, match="data-ops"):
        sdk_client.teams.create({"name": "data-ops"})


def test_control_state_and_request_log(sandbox, sdk_client):
    sdk_client.sources.get(123)
    entry = [r for r in sandbox.control.requests() if r["path"] == "/data_sources/123"][-1]
    assert entry["method"] == "GET" and entry["status"] == 200 and entry["fault"] is None
    assert isinstance(entry["ts"], float) and entry["query"] == {}
    assert not any(r["path"].startswith("/_sandbox") for r in sandbox.control.requests())
    sandbox.control.clear_requests()
    assert sandbox.control.requests() == []
    kinds = ("data_sources", "data_sets", "data_sinks", "data_credentials", "flows", "teams",
             "users", "projects", "transforms", "attribute_transforms", "data_maps", "runs")
    for kind in kinds:
        assert sandbox.control.state(kind), kind


def test_flow_metrics_group_resources_by_type_so_equal_ids_never_merge(sandbox, sdk_client):
    """Source 123 and nexset 123 share an id: grouped per type (the reference's shape), each
    keeps its own counts, and each run is counted once."""
    body = sdk_client.request("GET", "/data_sources/123/flow/metrics",
                              params={"from": "2000-01-01"})
    entries = body["metrics"]["data"]
    runs = sdk_client.request("GET", "/data_sources/123/metrics/run_summary")["metrics"]
    assert len(entries) == runs["meta"]["totalCount"]  # one entry per run
    for entry in entries.values():
        assert set(entry) == {"data_sources", "data_sets", "data_sinks"}
        assert [s["id"] for s in entry["data_sources"]] == [123]
        assert 123 in [n["id"] for n in entry["data_sets"]]
    def total(group, resource_id):
        return sum(r["metric"]["records"] for e in entries.values() for r in e[group]
                   if r["id"] == resource_id)

    # the detected nexset carries what the source read: equal totals, kept apart, not summed
    assert total("data_sources", 123) == total("data_sets", 123) > 0
    # SDK 1.0.8 still parses it into its model
    assert type(sdk_client.flows.get_metrics("data_sources", 123, from_date="2000-01-01")
                ).__name__ == "FlowMetricsApiResponse"
