"""validate_transform.py against the sandbox: Nexla (the sandbox) applies the transform to the
parent's samples through a temporary derived nexset, which must always be cleaned up."""

from __future__ import annotations

import base64
import importlib
import json
import re
import shlex

import pytest
import requests

from conftest import ROOT, SCRIPTS, writes
from nexla_ops import transforms
from nexla_ops.commands import validate_transform as vt

ORDERS = 123  # demo nexset "orders": order_id, customer_id, amount, currency, status, ...

RENAME_AMOUNT = {"version": 1, "operations": [
    {"operation": "shift", "spec": {"order_id": "order_id", "amount": "amount_usd",
                                    "customer_id": "customer.id", "status": "status"}}]}
UNKNOWN_OPERATION = [{"operation": "frobnicate", "spec": {"amount": "x"}}]
AMOUNT_TO_STRING = [{"operation": "modify-overwrite-beta", "spec": {"amount": "=toString"}}]


def write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return str(path)


def temp_nexsets(sandbox):
    return [n for n in sandbox.control.state("data_sets")
            if str(n.get("name", "")).startswith(transforms.TEMP_PREFIX)]


def test_good_transform_passes_and_reports_schema_and_record_diff(sandbox, run_main, tmp_path):
    flows_before = len(sandbox.control.state("flows"))
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", RENAME_AMOUNT),
                      "--expect-fields", "order_id,amount_usd,customer.id", "--json")
    doc = result.json()
    assert result.code == 0 and doc["ok"] and doc["verdict"] == "pass", doc["reasons"]
    assert doc["passthrough"] is False
    assert doc["samples"] == {"input": 20, "output": 20, "dropped": 0, "dropped_indexes": [],
                              "pairing": "position"}
    added = {c["field"]: c["type"] for c in doc["schema"]["added"]}
    removed = {c["field"] for c in doc["schema"]["removed"]}
    assert added == {"amount_usd": "number", "customer": "object", "customer.id": "integer"}
    assert removed == {"amount", "customer_id", "currency", "country", "created_at"}
    assert doc["records_changed"] == 20
    assert doc["records"][0]["added"] == ["customer.id", "amount_usd"]
    assert "values" not in doc["records"][0]  # sample values only with --show-values
    # The temporary nexset was really created with the transform, then deleted.
    temp = doc["temp_nexset"]
    assert temp["deleted"] and temp["name"].startswith(transforms.TEMP_PREFIX)
    assert ("POST", "/data_sets") in writes(sandbox)
    assert ("DELETE", f"/data_sets/{temp['id']}") in writes(sandbox)
    assert temp_nexsets(sandbox) == []
    assert len(sandbox.control.state("flows")) == flows_before


def test_unknown_operation_is_caught_as_silent_pass_through(sandbox, run_main, tmp_path):
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", UNKNOWN_OPERATION), "--json")
    doc = result.json()
    assert result.code == 1 and doc["verdict"] == "fail"
    assert doc["passthrough"] is True
    assert any("pass-through" in r for r in doc["reasons"])
    assert doc["records_unchanged"] == 20
    assert temp_nexsets(sandbox) == []


def test_rename_breaks_an_expected_field(sandbox, run_main, tmp_path):
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", RENAME_AMOUNT),
                      "--expect-fields", "order_id,amount")
    assert result.code == 1
    assert result.out.startswith("FAIL")
    assert "expected field 'amount' is missing from the output" in result.out
    assert "- amount (number)" in result.out and "+ amount_usd (number)" in result.out
    assert temp_nexsets(sandbox) == []


def test_type_change_is_reported_and_fails_expect_schema(sandbox, run_main, tmp_path):
    transform = write(tmp_path, "t.json", AMOUNT_TO_STRING)
    result = run_main(vt, "--nexset", ORDERS, "--transform-file", transform, "--json")
    doc = result.json()
    assert result.code == 0  # a type change alone is reported, not judged
    assert doc["schema"]["changed"] == [{"field": "amount", "from": "number", "to": "string"}]
    assert any("amount number -> string" in w for w in doc["warnings"])

    schema = write(tmp_path, "s.json", {"type": "object", "properties": {
        "order_id": {"type": "integer"}, "amount": {"type": "number"}}})
    result = run_main(vt, "--nexset", ORDERS, "--transform-file", transform,
                      "--expect-schema", schema, "--json")
    doc = result.json()
    assert result.code == 1
    assert doc["expectations"]["type_mismatches"] == [
        {"field": "amount", "expected": "number", "actual": "string"}]
    assert temp_nexsets(sandbox) == []


def test_records_dropped_to_errors_are_flagged(sandbox, run_main, tmp_path, sdk_client):
    # Feed the webhook nexset mixed values: "7" converts to an integer, "n/a" cannot.
    key = sdk_client.sources.get(127).api_keys[0]

    records = [{"code": "7", "i": 0}, {"code": "n/a", "i": 1}, {"code": "9", "i": 2}]
    auth = base64.b64encode(key["api_key"].encode()).decode()
    response = requests.post(key["url"], json=records, headers={"Authorization": f"Basic {auth}"},
                             timeout=10)
    assert response.status_code == 200
    transform = write(tmp_path, "t.json", [{"operation": "modify-overwrite-beta",
                                            "spec": {"code": "=toInteger"}}])
    result = run_main(vt, "--nexset", 127, "--transform-file", transform, "--json")
    doc = result.json()
    assert result.code == 1
    assert doc["samples"]["input"] == 3 and doc["samples"]["output"] == 2
    assert doc["samples"]["dropped"] == 1
    assert any("1 of 3 sample records produced no output" in r for r in doc["reasons"])
    assert "n/a" in doc["errors"][0]["error"]
    # The other two records are matched to their inputs despite the gap.
    assert doc["records_changed"] == 2
    assert all(r["changed"] == ["code"] for r in doc["records"])
    assert temp_nexsets(sandbox) == []


def test_reusable_transform_by_id(sandbox, run_main):
    result = run_main(vt, "--nexset", ORDERS, "--transform-id", 901, "--json")
    doc = result.json()
    assert result.code == 0, doc["reasons"]
    assert doc["records_changed"] > 0
    assert temp_nexsets(sandbox) == []


def test_unknown_transform_id_exits_5_before_creating_anything(sandbox, run_main):
    result = run_main(vt, "--nexset", ORDERS, "--transform-id", 99999)
    assert result.code == 5
    assert "not found" in result.err
    assert writes(sandbox) == []


def test_temp_nexset_is_deleted_when_reading_its_samples_fails(sandbox, run_main, tmp_path):
    # The parent's samples succeed; the temporary nexset's samples answer 400 (never retried).
    sandbox.control.add_fault(method="GET", path=r"^/data_sets/\d+/samples$", action="status",
                              status=400, skip=1, times=1, body={"message": "boom", "code": 400})
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", RENAME_AMOUNT))
    assert result.code == 1
    assert "boom" in result.err
    assert temp_nexsets(sandbox) == []
    assert any(m == "DELETE" for m, _ in writes(sandbox))


def test_lost_create_response_creates_exactly_one_temp_nexset(sandbox, run_main, tmp_path):
    sandbox.control.add_fault(method="POST", path=r"^/data_sets$", action="commit_then_fail",
                              fail_with=502, times=1)
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", RENAME_AMOUNT), "--json")
    assert result.code == 0, result.out
    assert [w for w in writes(sandbox) if w == ("POST", "/data_sets")] == [("POST", "/data_sets")]
    assert temp_nexsets(sandbox) == []


def test_keep_leaves_the_temp_nexset_and_prints_its_id(sandbox, run_main, tmp_path):
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", RENAME_AMOUNT), "--keep", "--json")
    doc = result.json()
    assert result.code == 0
    kept = temp_nexsets(sandbox)
    assert [n["id"] for n in kept] == [doc["temp_nexset"]["id"]]
    assert kept[0]["tags"] == [transforms.TEMP_TAG]


def test_dry_run_writes_nothing(sandbox, run_main, tmp_path):
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", RENAME_AMOUNT), "--dry-run", "--json")
    doc = result.json()
    assert result.code == 0 and doc["dry_run"]
    body = doc["would_create"]["POST /data_sets"]
    assert body["parent_data_set_id"] == ORDERS and body["has_custom_transform"] is True
    assert body["transform"] == RENAME_AMOUNT
    assert writes(sandbox) == []


@pytest.mark.parametrize("argv, field", [
    (["--nexset", "123"], "--transform-file/--transform-id"),
    (["--nexset", "123", "--transform-id", "901", "--transform-file", "x.json"],
     "--transform-file/--transform-id"),
    (["--nexset", "0", "--transform-id", "901"], "--nexset"),
    (["--nexset", "123", "--transform-id", "901", "--samples", "0"], "--samples"),
    (["--nexset", "123", "--transform-id", "901", "--expect-fields", "a,,b"], "--expect-fields"),
])
def test_bad_input_exits_2_before_any_request(sandbox, run_main, argv, field):
    result = run_main(vt, *argv)
    assert result.code == 2
    assert field in result.err and result.out == ""
    assert sandbox.control.requests() == []


def test_bad_transform_file_names_the_operation(sandbox, run_main, tmp_path):
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", [{"operation": "shift"}, {"spec": {}}]))
    assert result.code == 2
    assert "operations[1].operation" in result.err
    assert sandbox.control.requests() == []


def test_evaluate_pairs_outputs_by_origin_metadata():
    """With sourceOffset metadata the dropped record is known exactly (no API needed)."""
    inputs = [({"a": i}, {"sourceKey": "f", "sourceOffset": i}) for i in range(3)]
    outputs = [({"a": 10}, {"sourceKey": "f", "sourceOffset": 0}),
               ({"a": 12}, {"sourceKey": "f", "sourceOffset": 2})]
    doc = transforms.evaluate(inputs, outputs, None, None, expect_fields=[], expect_schema={},
                      show_values=True)
    assert doc["samples"]["pairing"] == "origin"
    assert doc["samples"]["dropped_indexes"] == [1]
    assert [r["index"] for r in doc["records"]] == [0, 2]
    assert doc["records"][1]["values"] == {"a": {"from": 2, "to": 12}}


def test_subprocess_end_to_end_text_output(run_script, tmp_path, script_cwd):
    transform = write(script_cwd, "t.json", UNKNOWN_OPERATION)
    result = run_script("validate_transform", "--nexset", ORDERS, "--transform-file", transform)
    assert result.code == 1
    assert result.out.startswith("FAIL: transform on nexset 123")
    assert "silent pass-through" in result.out
    assert "Traceback" not in result.err


def test_parent_without_samples_fails_without_creating_anything(sandbox, run_main, tmp_path,
                                                                 sdk_client):
    # A derived nexset whose every record fails: its samples are error records only.
    broken = sdk_client.nexsets.create({
        "name": "all-errors", "parent_data_set_id": ORDERS, "has_custom_transform": True,
        "transform": {"version": 1, "operations": [
            {"operation": "modify-overwrite-beta", "spec": {"currency": "=toInteger"}}]}})
    sandbox.control.clear_requests()
    result = run_main(vt, "--nexset", broken.id, "--transform-file",
                      write(tmp_path, "t.json", AMOUNT_TO_STRING), "--json")
    doc = result.json()
    assert result.code == 1
    assert "no sample records" in doc["reasons"][0]
    assert writes(sandbox) == []


def test_transform_rejected_by_the_api_is_a_failed_validation(sandbox, run_main, tmp_path):
    sandbox.control.add_fault(
        method="POST", path=r"^/data_sets$", action="status", status=400,
        body={"message": "transform.operations[0].spec: invalid", "code": 400})
    result = run_main(vt, "--nexset", ORDERS, "--transform-file",
                      write(tmp_path, "t.json", RENAME_AMOUNT))
    assert result.code == 1
    assert result.out.startswith("FAIL") and "Nexla rejected the transform" in result.out
    assert "operations[0].spec: invalid" in result.out
    assert temp_nexsets(sandbox) == [] and "Traceback" not in result.err


# --------------------------------------------------------------------------- --help examples

def help_examples(module) -> list[list[str]]:
    """The `python scripts/...` commands of a script's --help epilog, continuations joined."""
    text = module.build_parser().epilog.replace("\\\n", " ")
    return [shlex.split(line)[1:] for line in text.splitlines()
            if line.strip().startswith("python scripts/")]


def test_every_examples_path_named_in_any_help_exists():
    named = {}
    for script in sorted(SCRIPTS.glob("*.py")):
        if 'if __name__ == "__main__"' not in script.read_text(encoding="utf-8"):
            continue
        module = importlib.import_module(script.stem)
        parser = module.build_parser()
        for path in re.findall(r"examples/[\w./-]+", parser.format_help()):
            named[path.rstrip(".")] = script.name
    assert "examples/transforms/clean.json" in named  # the scan really reads the epilogs
    missing = {path: script for path, script in named.items() if not (ROOT / path).is_file()}
    assert not missing


def test_help_examples_run_as_written_and_pass(sandbox, run_main, script_cwd):
    (script_cwd / "examples").symlink_to(ROOT / "examples")  # as in a checkout
    commands = help_examples(vt)
    assert len(commands) == 4
    for argv in commands:
        assert argv[0] == "scripts/validate_transform.py"
        result = run_main(vt, *argv[1:])
        assert result.code == 0, (argv, result.out, result.err)
    assert temp_nexsets(sandbox) == []
