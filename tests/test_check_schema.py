"""check_nexset.py schema (#17): a nexset's live output_schema against a saved baseline.

The classifier is tested on schemas alone; the command end to end on the sandbox, whose
control call changes a source's records upstream (rename, retype, add), as Nexla would see it.
"""

from __future__ import annotations

import json
import os
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import ScriptResult, writes
from nexla_ops.commands import check_nexset
from nexla_ops.contracts.changes import classify
from nexla_ops.contracts.fields import FieldType, schema_fields
from test_health_check import Receiver


def obj(**props):
    return {"type": "object", "properties": props}


def kinds(before, after):
    return [(c.kind, c.field, c.renamed_to) for c in classify(schema_fields(before),
                                                               schema_fields(after))]


# ---------------------------------------------------------------- the classifier


def test_rename_type_change_and_added_field_are_classified():
    before = obj(id={"type": "integer"}, amount={"type": "number"}, status={"type": "string"})
    after = obj(id={"type": "string"}, total={"type": "number"}, status={"type": "string"},
                channel={"type": "string"})
    assert kinds(before, after) == [("type_changed", "id", None),
                                    ("renamed", "amount", "total"),
                                    ("added", "channel", None)]
    changes = classify(schema_fields(before), schema_fields(after))
    assert [c.breaking for c in changes] == [True, True, False]
    assert changes[1].describe() == "amount renamed to total (number)"


def test_a_field_without_a_same_typed_partner_is_removed_not_renamed():
    before = obj(id={"type": "integer"}, note={"type": "string"})
    after = obj(id={"type": "integer"}, flag={"type": "boolean"})
    assert kinds(before, after) == [("removed", "note", None), ("added", "flag", None)]


@pytest.mark.parametrize("before, after", [
    ({"type": "string"}, {"type": ["string", "null"]}),
    ({"type": ["null", "string"]}, {"type": "string"}),
    ({"type": "string"}, {"type": "string", "nullable": True}),
])
def test_nullability_changes_are_breaking(before, after):
    changes = classify(schema_fields(obj(a=before)), schema_fields(obj(a=after)))
    assert [(c.kind, c.breaking) for c in changes] == [("nullability_changed", True)]


def test_a_renamed_object_is_one_change_not_one_per_nested_field():
    before = obj(addr=obj(zip={"type": "string"}, city={"type": "string"}))
    after = obj(address=obj(zip={"type": "string"}, city={"type": "string"}))
    assert kinds(before, after) == [("renamed", "addr", "address")]


def test_a_field_moved_under_another_parent_is_renamed_and_a_removed_object_is_one_change():
    before = obj(id={"type": "integer"}, customer=obj(id={"type": "integer"},
                                                      country={"type": "string"}),
                 created_at={"type": "string"})
    after = obj(order_id={"type": "integer"}, customer_id={"type": "integer"},
                country={"type": "string"})
    assert kinds(before, after) == [("renamed", "id", "order_id"),
                                    ("removed", "customer", None),
                                    ("renamed", "customer.country", "country"),
                                    ("removed", "created_at", None),
                                    ("added", "customer_id", None)]


def test_an_array_items_type_change_is_breaking():
    before = obj(tags={"type": "array", "items": {"type": "string"}},
                 grid={"type": "array", "items": {"type": "array", "items": {"type": "string"}}})
    after = obj(tags={"type": "array", "items": {"type": "integer"}},
                grid={"type": "array", "items": {"type": "array", "items": {"type": "integer"}}})
    assert kinds(before, after) == [("type_changed", "tags[]", None),
                                    ("type_changed", "grid[][]", None)]


def test_what_changed_inside_a_renamed_object_is_reported_too():
    before = obj(billing=obj(street={"type": "string"}, zip={"type": "integer"}))
    after = obj(shipping=obj(street={"type": "integer"}, floor={"type": "integer"}))
    assert kinds(before, after) == [("renamed", "billing", "shipping"),
                                    ("type_changed", "billing.street", None),
                                    ("removed", "billing.zip", None),
                                    ("added", "shipping.floor", None)]


def test_nested_and_array_item_fields_are_compared():
    before = obj(customer=obj(country={"type": "string"}),
                 lines={"type": "array", "items": obj(sku={"type": "string"})})
    after = obj(customer=obj(country={"type": "integer"}),
                lines={"type": "array", "items": obj(sku={"type": "string"},
                                                     qty={"type": "integer"})})
    assert kinds(before, after) == [("type_changed", "customer.country", None),
                                    ("added", "lines[].qty", None)]


def test_ambiguous_renames_pair_by_position():
    before = obj(a={"type": "string"}, b={"type": "string"}, c={"type": "string"})
    after = obj(x={"type": "string"}, b={"type": "string"}, y={"type": "string"})
    assert kinds(before, after) == [("renamed", "a", "x"), ("renamed", "c", "y")]


def test_identical_schemas_have_no_changes_and_types_are_order_free():
    schema = obj(a={"type": ["integer", "null"]}, b={"type": "string"})
    same = obj(a={"type": ["null", "integer"]}, b={"type": "string"})
    assert kinds(schema, same) == []
    assert schema_fields(obj(a={"type": "null"}))["a"] == FieldType(("any",), True)


json_types = st.sampled_from(["string", "integer", "number", "boolean", "null"])
field_names = st.text(st.characters(min_codepoint=97, max_codepoint=102), min_size=1, max_size=2)
schemas = st.recursive(
    st.builds(lambda t: {"type": t}, st.one_of(json_types, st.lists(json_types, max_size=3))),
    lambda inner: st.builds(lambda props: {"type": "object", "properties": props},
                            st.dictionaries(field_names, inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(before=schemas, after=schemas)
@example(before=obj(a=obj(aa=obj(), a={"type": "string"})),  # found by CI: a move whose
         after=obj(a=obj(), aa=obj(a={"type": "string"})))  # field lands in a moved object
def test_every_field_that_differs_is_accounted_for_once(before, after):
    old, new = schema_fields(before), schema_fields(after)
    changes = classify(old, new)
    assert classify(old, old) == []
    reported = [c.field for c in changes]
    assert len(reported) == len(set(reported))  # one change per field
    renamed = {c.field: c.renamed_to for c in changes if c.kind == "renamed"}

    def covered(path, roots):
        return any(path == r or path.startswith(r + ".") or path.startswith(r + "[].")
                   for r in roots)

    removed = [c.field for c in changes if c.kind == "removed"]
    added = [c.field for c in changes if c.kind == "added"]
    for path in old:  # a field under a renamed or removed object is that object's change
        if path not in new or old[path] != new[path]:
            assert path in reported or covered(path, [*renamed, *removed]), (path, changes)
    for path in new:
        if path not in old:
            assert path in reported or path in renamed.values() \
                or covered(path, [*renamed.values(), *added]), (path, changes)
    assert all(c.breaking == (c.kind != "added") for c in changes)


# ---------------------------------------------------------------- the command


@pytest.fixture
def check(api_env, capsys):
    """check_nexset.main in-process in a thread: a hang or a traceback fails the test."""

    def run(*argv) -> ScriptResult:
        capsys.readouterr()
        outcome: dict = {}

        def target():
            try:
                outcome["code"] = check_nexset.main([str(a) for a in argv])
            except BaseException as exc:
                outcome["crash"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        thread.join(20)
        assert not thread.is_alive(), f"check_nexset {argv} still running"
        out, err = capsys.readouterr()
        assert "crash" not in outcome and "Traceback" not in err, (argv, outcome, err)
        return ScriptResult(outcome["code"], out, err)

    return run


def test_baseline_then_upstream_rename_is_critical_naming_the_field_and_save_accepts_it(
        check, sandbox, tmp_path):
    baseline = tmp_path / "orders.schema.json"
    saved = check("schema", "--nexset", 123, "--baseline", baseline, "--save")
    assert saved.code == 0 and "baseline saved" in saved.out
    assert json.loads(baseline.read_text())["nexla_ops"] == "nexset-schema-baseline"
    assert check("schema", "--nexset", 123, "--baseline", baseline).code == 0

    sandbox.control.schema_change(123, rename={"amount": "total"})
    broken = check("schema", "--nexset", 123, "--baseline", baseline)
    assert broken.code == 2, broken
    assert "CRITICAL nexset 123 orders: amount renamed to total (number)" in broken.out

    doc = check("schema", "--nexset", 123, "--baseline", baseline, "--json")
    assert doc.code == 2
    finding, = doc.json()["nexsets"][0]["findings"]
    assert (finding["kind"], finding["field"], finding["renamed_to"]) == ("renamed", "amount",
                                                                         "total")

    assert check("schema", "--nexset", 123, "--baseline", baseline, "--save").code == 0
    assert check("schema", "--nexset", 123, "--baseline", baseline).code == 0


def test_upstream_type_change_is_critical_and_an_added_field_a_warning(check, sandbox, tmp_path):
    directory = tmp_path / "baselines"
    assert check("schema", "--nexset", 123, "--baseline-dir", directory, "--save").code == 0
    sandbox.control.schema_change(123, retype={"order_id": "string"})
    typed = check("schema", "--nexset", 123, "--baseline-dir", directory, "--format", "nagios")
    assert typed.code == 2
    assert typed.out.startswith("NEXLA CRITICAL - 1 nexset (schema): 1 critical")
    assert "order_id type integer -> string" in typed.out

    assert check("schema", "--nexset", 123, "--baseline-dir", directory, "--save").code == 0
    sandbox.control.schema_change(123, add={"channel": "web"})
    added = check("schema", "--nexset", 123, "--baseline-dir", directory)
    assert added.code == 1
    assert "WARNING  nexset 123 orders: channel added (string)" in added.out


def test_all_covers_every_nexset_reports_derived_ones_and_a_gone_one(check, sandbox, tmp_path,
                                                                    sdk_client):
    directory = tmp_path / "baselines"
    saved = check("schema", "--all", "--baseline-dir", directory, "--save", "--json")
    ids = [n["nexset_id"] for n in saved.json()["nexsets"]]
    assert saved.code == 0 and ids == sorted(ids) and {123, 223} <= set(ids)
    assert sorted(os.listdir(directory)) == sorted(f"nexset-{i}.schema.json" for i in ids)

    gone = json.loads((directory / "nexset-223.schema.json").read_text())
    gone["nexset_id"] = 99999
    (directory / "nexset-99999.schema.json").write_text(json.dumps(gone))
    sandbox.control.schema_change(123, rename={"amount": "total"})
    report = check("schema", "--all", "--baseline-dir", directory, "--json")
    states = {n["nexset_id"]: n["state"] for n in report.json()["nexsets"]}
    assert report.code == 2
    assert states[123] == "CRITICAL" and states[99999] == "CRITICAL"
    assert {s for i, s in states.items() if i not in (123, 223, 99999)} == {"OK"}
    assert "no longer exists" in next(n["reason"] for n in report.json()["nexsets"]
                                      if n["nexset_id"] == 99999)


def test_a_new_nexset_is_unknown_until_saved_and_save_new_adopts_it(check, sandbox, tmp_path,
                                                                   sdk_client):
    directory = tmp_path / "baselines"
    assert check("schema", "--all", "--baseline-dir", directory, "--save").code == 0
    sdk_client.nexsets.create({"name": "orders-copy", "parent_data_set_id": 123,
                               "has_custom_transform": True,
                               "transform": {"version": 1, "operations": [
                                   {"operation": "shift", "spec": {"*": "&"}}]}})
    unknown = check("schema", "--all", "--baseline-dir", directory)
    assert unknown.code == 3 and "no baseline at" in unknown.out
    adopted = check("schema", "--all", "--baseline-dir", directory, "--save-new")
    assert adopted.code == 0 and adopted.out.count("baseline saved") == 1
    assert check("schema", "--all", "--baseline-dir", directory).code == 0


def test_prometheus_and_text_outputs(check, sandbox, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    baseline = tmp_path / "b.json"
    check("schema", "--nexset", 123, "--baseline", baseline, "--save")
    sandbox.control.schema_change(123, rename={"amount": "total"}, add={"channel": "web"})
    prom = tmp_path / "schema.prom"
    result = check("schema", "--nexset", 123, "--baseline", baseline, "--format", "prometheus",
                   "--output", prom)
    assert result.code == 2 and result.out == ""
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(prom.read_text())
               for s in family.samples}
    labels = (("name", "orders"), ("nexset_id", "123"))
    assert samples[("nexla_nexset_schema_state", (*labels, ("state", "CRITICAL")))] == 1
    assert samples[("nexla_nexset_schema_problems", (*labels, ("severity", "critical")))] == 1
    assert samples[("nexla_nexset_schema_problems", (*labels, ("severity", "warning")))] == 1
    assert samples[("nexla_nexset_schema_check_status", ())] == 2

    text = check("schema", "--nexset", 123, "--baseline", baseline)
    assert text.out.splitlines()[:3] == ["CRITICAL nexset 123 orders",
                                        "  CRITICAL amount renamed to total (number)",
                                        "  WARNING  channel added (string)"]


def test_a_report_sent_to_output_leaves_stdout_empty_whatever_the_state(check, sandbox,
                                                                        tmp_path):
    """Cron mails what a job prints: with --output, a CRITICAL result prints nothing."""
    baseline = tmp_path / "b.json"
    check("schema", "--nexset", 123, "--baseline", baseline, "--save")
    sandbox.control.schema_change(123, rename={"amount": "total"})
    report = tmp_path / "report.json"
    result = check("schema", "--nexset", 123, "--baseline", baseline, "--format", "json",
                   "--output", report, "--quiet")
    assert (result.code, result.out, result.err) == (2, "", "")
    assert json.loads(report.read_text())["summary"]["state"] == "CRITICAL"


def test_sandbox_alert_state_is_kept_per_sandbox_not_per_port(run_script, tmp_path):
    receiver = Receiver()
    try:
        env_file = tmp_path / "none.env"
        env_file.write_text("")
        args = ("schema", "--nexset", 123, "--baseline-dir", tmp_path / "b", "--env-file",
                env_file, "--alert-webhook", receiver.url)
        assert run_script("check_nexset", *args, "--save", "--sandbox-reset",
                          sandbox=False).code == 0
        (tmp_path / "b" / "nexset-123.schema.json").write_text(
            (tmp_path / "b" / "nexset-123.schema.json").read_text().replace('"amount"',
                                                                            '"amount_was"'))
        for _ in range(2):  # two runs, two ports: one alert
            assert run_script("check_nexset", *args, "--sandbox", sandbox=False).code == 2
        assert [e["event"] for post in receiver.take() for e in post["events"]] == ["alert"]
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_alerts_reuse_health_checks_webhook_once_per_change_then_a_recovery(check, sandbox,
                                                                           tmp_path):
    receiver = Receiver()
    try:
        baseline = tmp_path / "b.json"
        args = ("schema", "--nexset", 123, "--baseline", baseline,
                "--alert-webhook", receiver.url, "--state-file", tmp_path / "alerts.json")
        check(*args, "--save")
        assert receiver.take() == []
        sandbox.control.schema_change(123, rename={"amount": "total"})
        assert check(*args).code == 2
        post, = receiver.take()
        event, = post["events"]
        assert (event["event"], event["nexset_id"], event["state"]) == ("alert", 123, "CRITICAL")
        assert post["text"].splitlines()[1].startswith("CRITICAL nexset 123 orders: amount renamed")
        assert post["source"] == "nexla-ops check_nexset schema"
        assert check(*args).code == 2 and receiver.take() == []  # de-duplicated
        check(*args, "--save")
        recovered, = receiver.take()
        assert recovered["events"][0]["event"] == "recovery"
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.mark.parametrize("argv, field", [
    (["schema", "--baseline", "b.json"], "--nexset ID"),
    (["schema", "--nexset", "123"], "--baseline FILE"),
    (["schema", "--nexset", "123", "--nexset", "124", "--baseline", "b.json"], "exactly one"),
    (["schema", "--all", "--baseline", "b.json", "--nexset", "1"], "--nexset ID"),
    (["schema", "--nexset", "0", "--baseline", "b.json"], "--nexset"),
    (["schema", "--nexset", "123", "--baseline-dir", "d", "--save", "--save-new"], "choose one"),
])
def test_bad_flags_are_exit_2_naming_them_with_nothing_sent(check, sandbox, argv, field):
    sandbox.control.clear_requests()
    result = check(*argv, "--json")
    assert result.code == 2 and result.json()["ok"] is False
    assert field in result.err and len(result.err.strip().splitlines()) == 1
    assert sandbox.control.requests() == []


@pytest.mark.parametrize("content, field", [
    (b"\x00\x01binary", "UTF-8"),
    (b'{"nexla_ops": "something-else"}', "not a nexset schema baseline"),
    (b'{"nexla_ops": "nexset-schema-baseline", "format": 1, "nexset_id": 123, '
     b'"fields": {"a": {"type": 5}}}', "fields.a"),
    (b'{"nexla_ops": "nexset-schema-baseline", "format": 1, "nexset_id": 124, "fields": {}}',
     "nexset 124's baseline"),
    (b'{"nexla_ops": "nexset-schema-baseline", "format": 1, "nexset_id": 1e999, "fields": {}}',
     "b.json"),
])
def test_a_bad_baseline_is_exit_2_naming_it_with_nothing_sent(check, sandbox, tmp_path, content,
                                                              field):
    path = tmp_path / "b.json"
    path.write_bytes(content)
    sandbox.control.clear_requests()
    result = check("schema", "--nexset", 123, "--baseline", path)
    assert result.code == 2 and field in result.err, result
    assert sandbox.control.requests() == []


def test_save_never_replaces_a_file_that_is_not_our_baseline(check, sandbox, tmp_path):
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": true}\n')
    sandbox.control.clear_requests()
    result = check("schema", "--nexset", 123, "--baseline", foreign, "--save")
    assert result.code == 2 and "refusing to replace" in result.err
    assert foreign.read_text() == '{"mine": true}\n'
    assert sandbox.control.requests() == []  # refused before anything was sent
    quoting = tmp_path / "notes.md"  # mentions the marker, but is no baseline
    quoting.write_text('# notes\n"nexla_ops": "nexset-schema-baseline"\nIMPORTANT\n')
    assert check("schema", "--nexset", 123, "--baseline", quoting, "--save").code == 2
    assert quoting.read_text().endswith("IMPORTANT\n")
    other = tmp_path / "223.json"
    assert check("schema", "--nexset", 223, "--baseline", other, "--save").code == 0
    taken = check("schema", "--nexset", 124, "--baseline", other, "--save")
    assert taken.code == 2 and "holds nexset 223's baseline" in taken.err
    afile = tmp_path / "afile"
    afile.write_text("x")
    under = check("schema", "--nexset", 123, "--baseline", afile / "x.json", "--save")
    assert under.code == 2 and "is not a directory" in under.err
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert check("schema", "--nexset", 123, "--baseline", fifo, "--save").code == 2
    assert check("schema", "--nexset", 123, "--baseline", fifo).code == 2  # read: no hang
    assert writes(sandbox) == []


def test_an_unreadable_nexset_is_unknown_and_the_api_down_is_unknown_on_nagios(check, sandbox,
                                                                              tmp_path,
                                                                              monkeypatch):
    missing = check("schema", "--nexset", 98765, "--baseline-dir", tmp_path, "--json")
    assert missing.code == 3
    assert missing.json()["nexsets"][0]["state"] == "UNKNOWN"
    monkeypatch.setenv("NEXLA_API_URL", "http://127.0.0.1:9/nexla-api")
    down = check("schema", "--nexset", 123, "--baseline-dir", tmp_path, "--format", "nagios",
                 "--max-attempts", 1, "--timeout", 5)
    assert down.code == 3 and down.out.startswith("NEXLA UNKNOWN - ")


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                        lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8),
       marker=st.booleans())
def test_fuzzed_baseline_files_are_judged_or_refused_never_a_crash(check, sandbox, tmp_path, doc,
                                                                  marker):
    if marker and isinstance(doc, dict):
        doc = {"nexla_ops": "nexset-schema-baseline", "format": 1, "nexset_id": 123, **doc}
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(doc))
    result = check("schema", "--nexset", 123, "--baseline", path, "--json")
    assert result.code in (0, 1, 2, 3)
    json.loads(result.out)  # one document, judged or refused
