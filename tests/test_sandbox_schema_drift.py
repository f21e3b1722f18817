"""Upstream schema drift in the sandbox: POST /_sandbox/schema_change changes a source's
records, and its detected nexset (123) and the nexset derived from it (223) show it, over real
HTTP through the unmodified SDK."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexla_sandbox.control import TOKEN_HEADER
from nexla_sandbox.schema_drift import convert

ORDER_FIELDS = ["order_id", "customer_id", "amount", "currency", "status", "country", "created_at"]


def control_post(sb, body: bytes | str):
    return requests.post(f"{sb.root_url}/_sandbox/schema_change", data=body, timeout=10,
                         headers={TOKEN_HEADER: sb.control_token,
                                  "Content-Type": "application/json"})


def props(sdk, nexset_id) -> dict:
    return sdk.nexsets.get(nexset_id).output_schema["properties"]


def records(sdk, nexset_id, count=20) -> list[dict]:
    return [s.raw_message for s in sdk.nexsets.get_samples(nexset_id, count=count)]


def test_rename_keeps_the_field_position_and_reaches_the_derived_nexset(sandbox, sdk_client):
    before = records(sdk_client, 123)
    reply = sandbox.control.schema_change(123, rename={"amount": "total"})
    assert reply["applied"] is True and reply["nexsets"] == [123, 223]
    assert list(props(sdk_client, 123)) == [
        "order_id", "customer_id", "total", "currency", "status", "country", "created_at"]
    after = records(sdk_client, 123)
    assert [r["total"] for r in after] == [r["amount"] for r in before]
    assert all(list(r) == list(props(sdk_client, 123)) for r in after)
    # 223's shift maps `amount`, not `total`: the field silently disappears downstream
    assert "amount" not in props(sdk_client, 223)
    assert all("amount" not in r and "total" not in r for r in records(sdk_client, 223))


def test_retype_converts_the_values(sandbox, sdk_client):
    sandbox.control.schema_change(123, retype={"order_id": "string", "customer_id": "number"})
    schema = props(sdk_client, 123)
    assert schema["order_id"] == {"type": "string"} and schema["customer_id"] == {"type": "number"}
    rows = records(sdk_client, 123)
    assert [r["order_id"] for r in rows] == [str(10001 + i) for i in range(20)]
    assert all(isinstance(r["customer_id"], float) for r in rows)
    derived = props(sdk_client, 223)
    assert derived["id"] == {"type": "string"}
    assert derived["customer"]["properties"]["id"] == {"type": "number"}


def test_add_shows_upstream_only_when_the_transform_does_not_map_it(sandbox, sdk_client):
    derived_before = props(sdk_client, 223)
    reply = sandbox.control.schema_change(123, add={"channel": "web"})
    assert reply["nexsets"] == [123]
    assert list(props(sdk_client, 123))[-1] == "channel"
    assert props(sdk_client, 123)["channel"] == {"type": "string"}
    assert all(r["channel"] == "web" for r in records(sdk_client, 123))
    assert props(sdk_client, 223) == derived_before


def test_drop_removes_the_field_upstream_and_downstream(sandbox, sdk_client):
    sandbox.control.schema_change(123, drop=["currency"])
    assert "currency" not in props(sdk_client, 123)
    assert "currency" not in props(sdk_client, 223)
    assert all("currency" not in r for r in records(sdk_client, 223))


def test_nullable_nulls_every_other_record_and_marks_the_schema(sandbox, sdk_client):
    reply = sandbox.control.schema_change(123, nullable=["currency"])
    assert reply["nexsets"] == [123, 223]
    schema = props(sdk_client, 123)
    assert schema["currency"] == {"type": ["null", "string"]}
    assert schema["amount"] == {"type": "number"}  # untouched fields keep their one type
    rows = records(sdk_client, 123)
    assert [r["currency"] is None for r in rows] == [i % 2 == 1 for i in range(20)]
    assert props(sdk_client, 223)["currency"] == {"type": ["null", "string"]}
    # 223's =toUpper fails on a null status: those records become error records downstream
    sandbox.control.schema_change(123, nullable=["status"])
    assert props(sdk_client, 123)["status"] == {"type": ["null", "string"]}
    assert len(records(sdk_client, 223)) == 10


def test_changes_accumulate_in_order(sandbox, sdk_client):
    sandbox.control.schema_change(123, rename={"amount": "total"})
    sandbox.control.schema_change(123, retype={"total": "integer"})
    assert props(sdk_client, 123)["total"] == {"type": "integer"}
    sandbox.control.schema_change(123, rename={"total": "amount"}, retype={"amount": "string"})
    assert list(props(sdk_client, 123)) == ORDER_FIELDS
    assert props(sdk_client, 123)["amount"] == {"type": "string"}
    changes = next(s for s in sandbox.control.state("data_sources") if s["id"] == 123)[
        "_schema_changes"]
    assert [c["applied"] for c in changes] == [True, True, True]


def test_after_lands_only_when_the_clock_passes_it(sandbox, sdk_client):
    reply = sandbox.control.schema_change(123, after=600, drop=["country"])
    assert reply["applied"] is False and reply["nexsets"] == []
    # a change queued later lands no earlier: the order they were checked in holds
    second = sandbox.control.schema_change(123, add={"channel": "web"})
    assert second["applied"] is False and second["applies_at"] == reply["applies_at"]
    assert "country" in props(sdk_client, 123)
    sandbox.control.tick(590)
    assert "country" in props(sdk_client, 123)
    assert all("country" in r for r in records(sdk_client, 123))
    sandbox.control.tick(20)
    schema = props(sdk_client, 123)
    assert "country" not in schema and "channel" in schema
    assert all("country" not in r for r in records(sdk_client, 123))


def test_reset_clears_the_changes(sandbox, sdk_client):
    original = props(sdk_client, 123)
    sandbox.control.schema_change(123, drop=["country"])
    sandbox.control.schema_change(123, after=60, add={"channel": "web"})
    sandbox.control.reset()
    assert props(sdk_client, 123) == original
    src = next(s for s in sandbox.control.state("data_sources") if s["id"] == 123)
    assert "_schema_changes" not in src
    sandbox.control.tick(120)
    assert props(sdk_client, 123) == original


@pytest.mark.parametrize("body,key", [
    ({"source_id": 123}, "body"),
    ({"source_id": 123, "drop": ["country"], "colour": 1}, "colour"),
    ({"drop": ["country"]}, "source_id"),
    ({"source_id": "123", "drop": ["country"]}, "source_id"),
    ({"source_id": True, "drop": ["country"]}, "source_id"),
    ({"source_id": 999, "drop": ["country"]}, "source_id"),
    ({"source_id": 127, "drop": ["ts"]}, "source_id"),  # webhook-fed: push the new shape
    ({"source_id": 123, "rename": {"nope": "x"}}, "rename"),
    ({"source_id": 123, "rename": {"amount": "currency"}}, "rename"),
    ({"source_id": 123, "rename": {"amount": ""}}, "rename"),
    ({"source_id": 123, "rename": ["amount"]}, "rename"),
    ({"source_id": 123, "rename": {}}, "rename"),
    ({"source_id": 123, "retype": {"amount": "float"}}, "retype"),
    ({"source_id": 123, "retype": {"nope": "string"}}, "retype"),
    ({"source_id": 123, "rename": {"amount": "total"}, "retype": {"amount": "string"}}, "retype"),
    ({"source_id": 123, "add": {"currency": "EUR"}}, "add"),
    ({"source_id": 123, "add": "channel"}, "add"),
    ({"source_id": 123, "drop": ["nope"]}, "drop"),
    ({"source_id": 123, "drop": "country"}, "drop"),
    ({"source_id": 123, "drop": [3]}, "drop"),
    ({"source_id": 123, "drop": ["status"], "nullable": ["status"]}, "nullable"),
    ({"source_id": 123, "nullable": []}, "nullable"),
    ({"source_id": 123, "drop": ["country"], "after": -1}, "after"),
    ({"source_id": 123, "drop": ["country"], "after": "5"}, "after"),
    ({"source_id": 123, "drop": ["country"], "after": 1e300}, "after"),
])
def test_bad_bodies_are_400_naming_the_key(sandbox, body, key):
    resp = control_post(sandbox, json.dumps(body))
    assert resp.status_code == 400, resp.text
    assert resp.json()["message"].startswith(f"{key}:"), resp.text


@pytest.mark.parametrize("raw,key", [
    ('{"source_id": 123, "drop": ["country"], "after": NaN}', "after"),
    ('{"source_id": 123, "drop": ["country"], "after": Infinity}', "after"),
    ('{"source_id": 123, "add": {"x": NaN}}', "add"),
    ('[1]', "body"),
])
def test_non_finite_and_non_object_bodies_are_400(sandbox, raw, key):
    resp = control_post(sandbox, raw)
    assert resp.status_code == 400 and resp.json()["message"].startswith(f"{key}:"), resp.text


def test_a_refused_change_changes_nothing(sandbox, sdk_client):
    original = props(sdk_client, 123)
    resp = control_post(sandbox, json.dumps({"source_id": 123, "drop": ["country"],
                                             "nullable": ["nope"]}))
    assert resp.status_code == 400
    assert props(sdk_client, 123) == original
    assert "_schema_changes" not in next(
        s for s in sandbox.control.state("data_sources") if s["id"] == 123)


def test_retype_conversions():
    assert convert(10001, "string") == "10001" and convert(True, "string") == "true"
    assert convert("42", "integer") == 42 and convert("4.7", "integer") == 4
    assert convert("USD", "integer") == convert("USD", "integer") != convert("EUR", "integer")
    assert convert("12.5", "number") == 12.5 and convert(10**400, "number") < float("inf")
    assert convert("nan", "number") == float(convert("nan", "integer"))  # hashed, not NaN
    assert convert("false", "boolean") is False and convert("paid", "boolean") is True
    assert convert(0, "boolean") is False and convert(None, "integer") is None


FIELDS = st.sampled_from(ORDER_FIELDS + ["total", "channel", "", "x" * 300])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)
STEP_VALUES = {
    "rename": st.dictionaries(FIELDS, FIELDS | JSON_VALUES, max_size=3),
    "retype": st.dictionaries(FIELDS, st.sampled_from(["string", "integer", "number",
                                                       "boolean", "float"]) | JSON_VALUES,
                              max_size=3),
    "add": st.dictionaries(FIELDS, JSON_VALUES, max_size=2),
    "drop": st.lists(FIELDS | JSON_VALUES, max_size=3),
    "nullable": st.lists(FIELDS | JSON_VALUES, max_size=3),
    "after": st.floats() | st.integers(-5, 10**12) | JSON_VALUES,
    "source_id": st.sampled_from([123, 124, 127, 999, "123", None]),
    "junk": JSON_VALUES,
}
BODIES = st.fixed_dictionaries({}, optional=STEP_VALUES) | JSON_VALUES


@pytest.fixture(scope="module")
def drift_target(sandbox_server):
    sandbox_server.control.reset("demo")
    yield sandbox_server
    sandbox_server.control.reset("demo")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_fuzzed_bodies_never_500(drift_target, body):
    resp = control_post(drift_target, json.dumps(body))  # json.dumps writes NaN/Infinity too
    assert resp.status_code in (200, 400), (body, resp.text)
    if resp.status_code == 400:
        assert isinstance(resp.json()["message"], str)
    token = requests.post(f"{drift_target.url}/token", timeout=10,
                          headers={"Authorization": f"Basic {drift_target.service_key}"})
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    for path in ("/data_sets/123", "/data_sets/223/samples", "/data_sets/124"):
        got = requests.get(f"{drift_target.url}{path}", headers=bearer, timeout=10)
        assert got.status_code == 200, (path, body, got.text)
