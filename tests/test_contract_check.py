"""contract_check.py end to end against the sandbox: a clean pass, a rewrite fault that it
must name, --record's value-free shapes, and replaying recorded shapes (such as a real org's
--record directory) against the live sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import contract_check
from conftest import CANARY
from nexla_ops.contract import record
from nexla_ops.contract.catalogue import OPERATOR_ENDPOINTS
from nexla_ops.contract.shape import compare_shapes, shape_of

FIXTURES = Path(__file__).parent / "fixtures" / "contract_shapes"
ONE_SOURCE = "GET /data_sources/{source}"


def _findings(doc, name):
    (entry,) = [e for e in doc["endpoints"] if e["endpoint"] == name]
    return entry, {(f["kind"], f["field"]) for f in entry["findings"]}


def test_passes_against_the_sandbox(run_main):
    result = run_main(contract_check, "--json")
    doc = result.json()
    differ = {e["endpoint"]: e["verdict"] for e in doc["endpoints"]
              if e["verdict"] not in ("ok", "not found (no id to test with)")}
    assert result.code == 0 and doc["ok"], differ
    assert doc["summary"]["endpoints"] == len(OPERATOR_ENDPOINTS)


def test_a_rewritten_field_fails_and_is_named(run_main, sandbox):
    before = run_main(contract_check, "--endpoint", ONE_SOURCE, "--json").json()
    _, clean = _findings(before, ONE_SOURCE)
    sandbox.control.add_fault(method="GET", path=r"^/data_sources/\d+$", action="rewrite",
                              drop=["name"], set_type={"owner.id": "string"}, times=50)
    result = run_main(contract_check, "--endpoint", ONE_SOURCE, "--json")
    assert result.code == 1
    entry, found = _findings(result.json(), ONE_SOURCE)
    assert {("missing field", "name"), ("type differs", "owner.id")} <= found - clean
    assert entry["verdict"] == "type differs"
    assert {"field": "name", "error": "missing"} in entry["sdk_errors"]  # SDK 1.0.8 needs it
    text = run_main(contract_check, "--endpoint", ONE_SOURCE)
    assert text.code == 1
    assert "type differs: owner.id: expected integer, got string" in text.out
    assert "missing field: name: expected present, got absent" in text.out


def test_a_wrapped_list_is_an_envelope_difference(run_main, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/data_sinks$", action="rewrite",
                              wrap="data", skip=1, times=50)  # discovery's listing stays bare
    result = run_main(contract_check, "--endpoint", "GET /data_sinks?page=1&per_page=5",
                      "--json")
    assert result.code == 1
    (entry,) = result.json()["endpoints"]
    assert entry["verdict"] == "envelope differs"
    assert entry["findings"][0]["got"] == "object wrapping an array in 'data'"


def test_record_writes_shapes_without_values(run_script, canary_sandbox, tmp_path):
    """Canary values in a name, a description and a credential; none may reach the output or
    the fixtures, even where a rewrite makes the canary's field the one that differs."""
    from nexla_sdk import NexlaClient

    sdk = NexlaClient(service_key=CANARY, base_url=canary_sandbox.url)
    source = sdk.sources.list()[0]
    sdk.sources.update(source.id, {"name": CANARY, "description": f"x {CANARY}"})
    canary_sandbox.control.add_fault(method="GET", path=r"^/data_sources/\d+$",
                                     action="rewrite", set_type={"name": "array"}, times=50)
    out_dir = tmp_path / "shapes"
    env = {"NEXLA_API_URL": canary_sandbox.url, "NEXLA_SERVICE_KEY": CANARY}
    text = run_script("contract_check", "--record", out_dir, env=env, sandbox=False)
    as_json = run_script("contract_check", "--json", "-v", env=env, sandbox=False)
    assert text.code == 1 and as_json.code == 1  # the rewrite makes a difference
    assert "type differs: name: expected string, got array" in text.out
    for output in (text.out, text.err, as_json.out, as_json.err):
        assert CANARY not in output
    files = sorted(out_dir.glob("*.json"))
    assert len(files) >= len(OPERATOR_ENDPOINTS) - 2  # those without an id are not recorded
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path
    doc = json.loads((out_dir / record.fixture_name(ONE_SOURCE)).read_text())
    assert doc["shape"]["properties"]["name"] == {"type": "array", "items": {"type": "string"}}
    assert doc["shape"]["properties"]["id"] == {"type": "integer"}


def test_shapes_merge_array_elements_and_keep_no_values():
    shape = shape_of([{"id": 1, "tags": []}, {"id": None, "tags": ["a"], "x": {"k": 1.5}}])
    assert shape == {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": ["integer", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "x": {"type": "object", "properties": {"k": {"type": "number"}}}}}}


def test_recorded_shapes_replay_against_the_live_sandbox(run_main, sandbox, sdk_client,
                                                         tmp_path):
    """tests/fixtures/contract_shapes/ is a --record directory (ours, from the sandbox with
    one finished async task; a user's from a real org goes there the same way): each recorded
    shape against today's."""
    sdk_client.async_tasks.create({"type": "BulkPauseFlows", "arguments": {"ids": [1003]}})
    sandbox.control.tick(5)
    recorded = record.read(FIXTURES)
    assert recorded, "no recorded shapes in tests/fixtures/contract_shapes/"
    live_dir = tmp_path / "live"
    run_main(contract_check, "--record", live_dir)
    live = record.read(live_dir)
    differences = {name: [f"{f.kind} {f.field}: {f.expected} vs {f.got}"
                          for f in compare_shapes(shape, live[name])]
                   for name, shape in recorded.items() if name in live}
    assert not {k: v for k, v in differences.items() if v}
    assert set(recorded) <= set(live), sorted(set(recorded) - set(live))


def test_replay_reports_what_the_live_side_lacks():
    recorded = {"type": "object", "properties": {"id": {"type": "integer"},
                                                 "vendor": {"type": "object"}}}
    live = {"type": "object", "properties": {"id": {"type": "string"}}}
    assert [(f.kind, f.field) for f in compare_shapes(recorded, live)] == [
        ("type differs", "id"), ("missing field", "vendor")]


def test_bad_input_is_exit_2(run_main, tmp_path):
    assert run_main(contract_check, "--endpoint", "no-such-endpoint").code == 2
    (tmp_path / "file").write_text("")
    assert run_main(contract_check, "--record", tmp_path / "file").code == 2


def test_list_needs_no_api(run_script):
    result = run_script("contract_check", "--list", sandbox=False)
    assert result.code == 0
    assert len(result.out.splitlines()) == len(OPERATOR_ENDPOINTS)


@pytest.mark.parametrize("rule, field", [
    ({}, "rewrite"),
    ({"drop": "name"}, "drop"),
    ({"set_type": {"id": "uuid"}}, "set_type"),
    ({"wrap": ""}, "wrap"),
])
def test_bad_rewrite_rules_are_refused(sandbox, rule, field):
    with pytest.raises(RuntimeError, match=f"400.*{field}"):
        sandbox.control.add_fault(action="rewrite", **rule)
    assert sandbox.control.faults() == []


def test_rewrite_leaves_other_paths_and_error_bodies_alone(sandbox, sdk_client):
    sandbox.control.add_fault(path=r"^/data_sets/\d+$", action="rewrite",
                              drop=["name", "no.such.path", "[].id"], times=5)
    assert sdk_client.sources.get(124).name  # another path: untouched
    raw = sdk_client.request("GET", "/data_sets/223")  # the SDK's raw call: no model
    assert "name" not in raw and raw["id"] == 223
    with pytest.raises(Exception, match="404|not found|Not found"):
        sdk_client.request("GET", "/data_sets/999999")
    assert [r["fault"] for r in sandbox.control.requests()
            if r["path"].startswith("/data_sets/")] == ["rewrite", "rewrite"]


def test_auth_and_transient_failures_keep_their_exit_codes(run_script, sandbox):
    bad_key = run_script("contract_check", "--json", env={"NEXLA_SERVICE_KEY": "not-a-key"})
    assert bad_key.code == 4 and bad_key.json()["ok"] is False
    sandbox.control.add_fault(method="GET", path=r"^/data_sources$", status=503, times=100)
    busy = run_script("contract_check", "--max-attempts", "2", "--max-wait", "0")
    assert busy.code == 6, busy.err
    assert "GET /data_sources" in busy.err and "Traceback" not in busy.err
