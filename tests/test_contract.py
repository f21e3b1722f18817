"""Every operator endpoint the sandbox serves, against our schema (nexla_ops/contract/schemas/,
from the published reference) and SDK 1.0.8's pydantic model for it.

One module-wide pass (reset, one async task so the task endpoints have an id, discovery by
listing, one GET each), then one test per endpoint and check; the last test prints the
figures. Nothing is expected to fail here: an endpoint that does is a difference between the
sandbox and the reference (or SDK 1.0.8) to fix in the sandbox, never to mark xfail."""

from __future__ import annotations

import os

import pytest

import nexla_ops
from nexla_ops.contract import compare
from nexla_ops.contract.catalogue import OPERATOR_ENDPOINTS
from nexla_ops.contract.discovery import discover
from nexla_ops.contract.loader import schema_for
from nexla_ops.contract.sdkcheck import sdk_errors
from nexla_ops.contract.verdicts import check_endpoint

NAMES = [e.name for e in OPERATOR_ENDPOINTS]
FIGURES: dict[str, int] = {}


@pytest.fixture(scope="module")
def results(sandbox_server):
    from nexla_sdk import NexlaClient

    sandbox_server.control.reset("demo")
    sdk = NexlaClient(service_key=sandbox_server.service_key, base_url=sandbox_server.url)
    sdk.async_tasks.create({"type": "BulkPauseFlows", "arguments": {"ids": [1003]}})
    sandbox_server.control.tick(5)  # done, so its result is there to read
    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith("NEXLA_")]:
            mp.delenv(name)
        mp.setenv("NEXLA_API_URL", sandbox_server.url)
        mp.setenv("NEXLA_SERVICE_KEY", sandbox_server.service_key)
        ctx = nexla_ops.Context()
        try:
            ids = discover(ctx)
            found = {e.name: check_endpoint(ctx, e, ids) for e in OPERATOR_ENDPOINTS}
        finally:
            ctx.close()
    FIGURES.update(endpoints=len(found), served=sum(r.status == 200 for r in found.values()))
    return found


def _served(results, name):
    result = results[name]
    assert result.status == 200, f"{name}: {result.verdict} (HTTP {result.status})"
    return result


def _lines(findings) -> str:
    return "; ".join(f"{f.kind} {f.field or '(body)'}: expected {f.expected}, got {f.got}"
                     for f in findings)


@pytest.mark.parametrize("name", NAMES)
def test_validates_against_our_schema(results, name):
    result = _served(results, name)
    schema = schema_for(result.endpoint.key)
    valid = compare.validates(schema, result.body)
    FIGURES["validate"] = FIGURES.get("validate", 0) + valid
    problems = [f for f in compare.check(schema, result.body, result.endpoint.optional)
                if f.kind != compare.MISSING]
    assert valid and not problems, _lines(problems)


@pytest.mark.parametrize("name", NAMES)
def test_parses_with_the_sdk_model(results, name):
    result = _served(results, name)
    errors = sdk_errors(result.endpoint.sdk_model, result.body)
    FIGURES["sdk parses"] = FIGURES.get("sdk parses", 0) + (not errors)
    assert not errors, errors


@pytest.mark.parametrize("name", NAMES)
def test_documented_fields_are_present(results, name):
    result = _served(results, name)
    missing = [f for f in result.findings if f.kind == compare.MISSING]
    FIGURES["all documented fields"] = FIGURES.get("all documented fields", 0) + (not missing)
    assert not missing, _lines(missing)


def test_every_endpoint_has_a_schema_and_an_importable_model():
    for endpoint in OPERATOR_ENDPOINTS:
        assert schema_for(endpoint.key), endpoint.key
        if endpoint.sdk_model:
            assert sdk_errors(endpoint.sdk_model, []) == []  # imports the model
    assert len(NAMES) == len(set(NAMES))


def test_the_checks_can_fail():
    """The comparison itself: a wrong type, an absent field and a wrapped array are caught."""
    schema = {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}}}}
    found = compare.check(schema, [{"id": "7"}])
    assert [(f.kind, f.field, f.expected, f.got) for f in found] == [
        ("type differs", "[].id", "integer", "string"),
        ("missing field", "[].name", "present", "absent")]
    (wrapped,) = compare.check(schema, {"data": []})
    assert wrapped.kind == "envelope differs" and "'data'" in wrapped.got
    assert {"field": "[].id", "error": "missing"} in sdk_errors(
        "nexla_sdk.models.sources.responses:Source", [{"name": "x"}])


def test_zz_figures(capsys):
    with capsys.disabled():
        print("\ncontract figures: " + ", ".join(f"{k} {v}" for k, v in FIGURES.items()))
    assert FIGURES["endpoints"] == len(NAMES)
