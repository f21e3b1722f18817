"""migrate_nexset.py against the sandbox: plan, happy path, validation failure, a failure at
each write rolled back, a failed restore (exit 7), kill -9 + --resume, saved plans, bad input."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import kill9_while_held, writes
from nexla_ops.commands import migrate_nexset

# Demo seed: nexset 123 (detected) -> derived nexset 223 "orders-clean" -> destination 301
# "orders-warehouse" (ACTIVE). Destination 302 reads nexset 124.
OLD, SINK = 223, 301
NEW_NAME = "orders-clean-v2"
# Renames and retypes fields of 223's shape: breaking.
ORDERS_V2 = {"version": 1, "operations": [
    {"operation": "shift", "spec": {"order_id": "order_id", "customer_id": "customer_id",
                                    "amount": "amount_usd", "currency": "currency",
                                    "status": "status", "country": "country"}},
    {"operation": "default", "spec": {"schema_version": 2}}]}
# 223's own transform plus one more field: additive.
ADDITIVE = [
    {"operation": "shift", "spec": {"order_id": "id", "customer_id": "customer.id",
                                    "amount": "amount", "currency": "currency",
                                    "status": "status", "country": "customer.country",
                                    "created_at": "created_at"}},
    {"operation": "modify-overwrite-beta", "spec": {"status": "=toUpper",
                                                    "customer": {"country": "=toUpper"}}},
    {"operation": "default", "spec": {"source_system": "orders-s3", "schema_version": 2}}]


@pytest.fixture
def v2(tmp_path):
    path = tmp_path / "orders-v2.json"
    path.write_text(json.dumps(ORDERS_V2))
    return path


@pytest.fixture
def additive(tmp_path):
    path = tmp_path / "additive.json"
    path.write_text(json.dumps(ADDITIVE))
    return path


def sinks(sandbox) -> dict:
    return {s["id"]: (s["data_set_id"], s["status"]) for s in sandbox.control.state("data_sinks")}


def nexsets(sandbox) -> dict:
    return {n["id"]: (n["name"], n.get("status")) for n in sandbox.control.state("data_sets")}


def new_nexset_id(sandbox) -> int | None:
    return next((i for i, (name, _) in nexsets(sandbox).items() if name == NEW_NAME), None)


def assert_untouched(sandbox, before):
    assert (sinks(sandbox), nexsets(sandbox)) == before


def migrate(run_main, *args):
    return run_main(migrate_nexset, "--nexset", OLD, *args)


# --------------------------------------------------------------------------- plan


def test_plan_shows_every_write_and_sends_none(sandbox, run_main, v2):
    before = sinks(sandbox), nexsets(sandbox)
    sandbox.control.clear_requests()
    result = migrate(run_main, "--transform-file", v2, "--plan", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["result"] == "planned" and doc["ok"] is True
    assert [(w["method"], w["path"]) for w in doc["planned_writes"]] == [
        ("POST", "/data_sets"), ("PUT", "/data_sinks/301/pause"), ("PUT", "/data_sinks/301"),
        ("PUT", "/data_sinks/301/activate")]
    assert doc["planned_writes"][0]["body"]["parent_data_set_id"] == 123
    assert doc["planned_writes"][0]["body"]["name"] == NEW_NAME
    assert [d["id"] for d in doc["destinations"]] == [SINK]
    text = migrate(run_main, "--transform-file", v2, "--dry-run")
    assert text.code == 0 and "would PUT /data_sinks/301/pause" in text.out
    assert "would POST /data_sets" in text.out
    assert writes(sandbox) == []
    assert_untouched(sandbox, before)


# --------------------------------------------------------------------------- happy path


def test_happy_path_moves_the_destination_active_to_the_new_nexset(sandbox, run_main, v2):
    sandbox.control.clear_requests()
    result = migrate(run_main, "--transform-file", v2, "--allow-breaking", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["result"] == "migrated" and doc["ok"] is True
    new = new_nexset_id(sandbox)
    assert doc["new_nexset"]["id"] == new and doc["new_nexset"]["created"] is True
    assert sinks(sandbox)[SINK] == (new, "ACTIVE")
    assert sinks(sandbox)[302] == (124, "ACTIVE")  # another nexset's destination: untouched
    kinds = {c["kind"] for c in doc["validation"]["changes"]}
    assert doc["validation"]["breaking"] > 0 and kinds & {"renamed", "removed"}
    assert "no run was started" in doc["verified"]["run"]
    sent = Counter(writes(sandbox))
    assert sent == Counter({("POST", "/data_sets"): 1, ("PUT", "/data_sinks/301/pause"): 1,
                            ("PUT", "/data_sinks/301"): 1,
                            ("PUT", "/data_sinks/301/activate"): 1})
    assert doc["writes"] == 4
    # a re-run finds the new nexset by name and nothing left to switch
    sandbox.control.clear_requests()
    again = migrate(run_main, "--transform-file", v2, "--allow-breaking", "--json")
    assert again.code == 0, again.err
    assert again.json()["destinations"] == [] and writes(sandbox) == []


def test_an_additive_change_needs_no_allow_breaking_and_adopt_creates_nothing(
        sandbox, run_main, sdk_client):
    made = sdk_client.request("POST", "/data_sets", json={
        "name": "orders-clean-next", "parent_data_set_id": 123, "has_custom_transform": True,
        "transform": {"version": 1, "operations": ADDITIVE}})
    sandbox.control.clear_requests()
    result = migrate(run_main, "--adopt", made["id"], "--expect-fields",
                     "schema_version,customer.id", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["validation"]["breaking"] == 0
    assert {c["field"] for c in doc["validation"]["changes"]} == {"schema_version"}
    assert sinks(sandbox)[SINK] == (made["id"], "ACTIVE")
    assert ("POST", "/data_sets") not in writes(sandbox)


def test_a_paused_destination_is_switched_and_stays_paused(sandbox, run_main, sdk_client, v2):
    sdk_client.request("PUT", "/data_sinks/301/pause")
    sandbox.control.clear_requests()
    result = migrate(run_main, "--transform-file", v2, "--allow-breaking", "--json")
    assert result.code == 0, result.err
    assert sinks(sandbox)[SINK] == (new_nexset_id(sandbox), "PAUSED")
    assert writes(sandbox) == [("POST", "/data_sets"), ("PUT", "/data_sinks/301")]


# --------------------------------------------------------------------------- validation


def test_a_breaking_change_fails_validation_and_leaves_the_state_as_it_was(sandbox, run_main,
                                                                           v2):
    before = sinks(sandbox), nexsets(sandbox)
    sandbox.control.clear_requests()
    result = migrate(run_main, "--transform-file", v2, "--json")
    assert result.code == 1, result.err
    doc = result.json()
    assert doc["ok"] is False and doc["result"] == "validation failed"
    assert "breaking" in doc["error"] and doc["validation"]["verdict"] == "fail"
    assert_untouched(sandbox, before)
    # the only writes: the candidate nexset, created to let Nexla run the transform, and its
    # deletion; no destination was touched
    assert not [w for w in writes(sandbox) if "/data_sinks" in w[1]]
    assert Counter(m for m, _ in writes(sandbox))["POST"] == 1


def test_a_missing_expected_field_fails_validation(sandbox, run_main, additive):
    before = sinks(sandbox), nexsets(sandbox)
    result = migrate(run_main, "--transform-file", additive, "--expect-fields", "nope")
    assert result.code == 1, result.err
    assert "'nope' is missing" in result.out + result.err
    assert_untouched(sandbox, before)


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(("method", "path"), [
    ("POST", r"^/data_sets$"), ("PUT", r"^/data_sinks/301/pause$"),
    ("PUT", r"^/data_sinks/301$"), ("PUT", r"^/data_sinks/301/activate$")])
def test_a_failure_at_each_write_is_rolled_back(sandbox, run_main, v2, method, path):
    before = sinks(sandbox), nexsets(sandbox)
    sandbox.control.add_fault(method=method, path=path, action="status", status=400, times=1,
                              body={"message": "rejected by test", "code": 400})
    result = migrate(run_main, "--transform-file", v2, "--allow-breaking", "--json")
    assert result.code == 1, result.err
    doc = result.json()
    assert doc["ok"] is False and "rejected by test" in json.dumps(doc)
    assert_untouched(sandbox, before)  # 301 on 223, ACTIVE; the new nexset deleted


def test_a_failed_restore_exits_7_listing_what_is_left(sandbox, run_main, v2, tmp_path):
    journal = tmp_path / "migrate.jsonl"
    sandbox.control.add_fault(method="PUT", path=r"^/data_sinks/301/activate$", action="status",
                              status=400, times=2)
    result = migrate(run_main, "--transform-file", v2, "--allow-breaking", "--json",
                     "--checkpoint", journal)
    assert result.code == 7, result.err
    doc = result.json()
    assert doc["result"] == "rollback failed"
    assert [left.get("destination") for left in doc["leftovers"]] == [SINK, None]
    assert "NOT restored: destination 301" in result.err
    assert sinks(sandbox)[SINK] == (OLD, "PAUSED")  # pointed back; only the activation is left
    # once the API accepts it again, --resume finishes the restore
    result = migrate(run_main, "--transform-file", v2, "--allow-breaking", "--json",
                     "--checkpoint", journal, "--resume")
    assert result.code == 1 and result.json()["result"] == "rolled back", result.err
    assert sinks(sandbox)[SINK] == (OLD, "ACTIVE") and new_nexset_id(sandbox) is None


# --------------------------------------------------------------------------- kill -9 + resume


@pytest.mark.parametrize(("method", "in_flight"), [
    ("POST", r"^/data_sets$"), ("PUT", r"^/data_sinks/301$"),
    ("PUT", r"^/data_sinks/301/activate$")])
def test_kill_mid_migration_then_resume_writes_each_step_once(sandbox, run_main, spawn_script,
                                                              v2, tmp_path, method, in_flight):
    journal = tmp_path / "migrate.jsonl"
    sandbox.control.clear_requests()
    fault = sandbox.control.add_fault(method=method, path=in_flight, action="delay",
                                      delay_ms=1000)
    args = ("--nexset", OLD, "--transform-file", v2, "--allow-breaking",
            "--checkpoint", journal)
    kill9_while_held(sandbox, spawn_script("migrate_nexset", *args), fault, "the delayed write")
    result = run_main(migrate_nexset, *args, "--resume", "--json")
    assert result.code == 0, result.err
    assert result.json()["result"] == "migrated"
    sent = Counter(writes(sandbox))
    assert sent == Counter({("POST", "/data_sets"): 1, ("PUT", "/data_sinks/301/pause"): 1,
                            ("PUT", "/data_sinks/301"): 1,
                            ("PUT", "/data_sinks/301/activate"): 1})
    assert sinks(sandbox)[SINK] == (new_nexset_id(sandbox), "ACTIVE")
    # and once more: the journal says it finished
    again = run_main(migrate_nexset, *args, "--resume", "--json")
    assert again.code == 0 and again.json()["result"] == "migrated"
    assert Counter(writes(sandbox)) == sent


# --------------------------------------------------------------------------- saved plans


def test_a_saved_plan_applies_as_reviewed_and_is_refused_when_the_state_moved(
        sandbox, run_main, sdk_client, v2, tmp_path):
    plan = tmp_path / "plan.json"
    made = migrate(run_main, "--transform-file", v2, "--plan", "--out", plan, "--json")
    assert made.code == 0, made.err
    digest = made.json()["plan_sha256"]
    assert json.loads(plan.read_text())["plan_sha256"] == digest
    assert plan.stat().st_mode & 0o077 == 0
    # tampered: refused as bad input
    edited = tmp_path / "edited.json"
    edited.write_text(plan.read_text().replace('"allow_breaking": false',
                                               '"allow_breaking": true'))
    bad = run_main(migrate_nexset, "--apply", edited, "--json")
    assert bad.code == 2 and "plan_sha256" in bad.err
    # the state moved since: refused before any write
    sdk_client.request("PUT", "/data_sinks/301/pause")
    sandbox.control.clear_requests()
    moved = run_main(migrate_nexset, "--apply", plan, "--json")
    assert moved.code == 1 and "state changed since plan" in moved.err
    assert writes(sandbox) == []
    sdk_client.request("PUT", "/data_sinks/301/activate")
    # planned with --allow-breaking: applies
    plan2 = tmp_path / "plan2.json"
    assert migrate(run_main, "--transform-file", v2, "--allow-breaking", "--plan", "--out",
                   plan2).code == 0
    applied = run_main(migrate_nexset, "--apply", plan2, "--json")
    assert applied.code == 0, applied.err
    assert sinks(sandbox)[SINK] == (new_nexset_id(sandbox), "ACTIVE")


# --------------------------------------------------------------------------- bad input


def test_bad_input_exits_2_naming_the_field_before_any_request(sandbox, run_main, v2, tmp_path):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x00\xff\xfe" * 10)
    huge = tmp_path / "huge.json"
    huge.write_text('{"version": 1, "operations": [' + '{"operation": "x"},' * 60000
                    + '{"operation": "x"}]}')
    cases = [
        (("--nexset", "abc", "--transform-file", v2), "--nexset"),
        (("--nexset", "0", "--transform-file", v2), "--nexset"),
        (("--transform-file", v2), "--nexset"),
        (("--nexset", OLD), "--transform-file/--adopt"),
        (("--nexset", OLD, "--transform-file", v2, "--adopt", 6001), "--transform-file/--adopt"),
        (("--nexset", OLD, "--adopt", OLD), "--adopt"),
        (("--nexset", OLD, "--transform-file", tmp_path / "missing.json"), "--transform-file"),
        (("--nexset", OLD, "--transform-file", binary), "--transform-file"),
        (("--nexset", OLD, "--transform-file", huge), "--transform-file"),
        (("--nexset", OLD, "--transform-file", tmp_path), "--transform-file"),
        (("--nexset", OLD, "--transform-file", v2, "--destination", "-1"), "--destination"),
        (("--nexset", OLD, "--transform-file", v2, "--samples", "0"), "--samples"),
        (("--nexset", OLD, "--transform-file", v2, "--verify-timeout", "inf"),
         "--verify-timeout"),
        (("--nexset", OLD, "--transform-file", v2, "--name", " x"), "--name"),
        (("--nexset", OLD, "--transform-file", v2, "--resume"), "--resume"),
        (("--nexset", OLD, "--transform-file", v2, "--out", tmp_path / "p.json"), "--out"),
        (("--apply", tmp_path / "missing.json"), "--apply"),
        (("--apply", v2, "--nexset", OLD), "--nexset"),
    ]
    sandbox.control.clear_requests()
    for argv, field in cases:
        result = run_main(migrate_nexset, *argv, "--json")
        assert result.code == 2, (argv, result.err)
        assert field in result.err, (argv, result.err)
        assert result.json()["ok"] is False and "Traceback" not in result.err
    assert writes(sandbox) == []


def test_a_nexset_of_that_name_from_another_transform_is_refused_not_reused(
        sandbox, run_main, v2, additive, tmp_path):
    assert migrate(run_main, "--transform-file", v2, "--allow-breaking").code == 0
    made = new_nexset_id(sandbox)
    sandbox.control.clear_requests()
    other = migrate(run_main, "--transform-file", additive, "--plan")
    assert other.code == 2 and f"already exists (id {made}) and was made from another " \
        "transform" in other.err
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(ADDITIVE))
    named = migrate(run_main, "--transform-file", mine, "--name", "orders-clean", "--plan")
    assert named.code == 2 and "old nexset's own name" in named.err
    assert writes(sandbox) == []


def test_resume_with_other_flags_is_refused_naming_the_flag(sandbox, run_main, v2, additive,
                                                           tmp_path):
    journal = tmp_path / "m.jsonl"
    first = migrate(run_main, "--transform-file", v2, "--allow-breaking", "--checkpoint",
                    journal)
    assert first.code == 0, first.err
    sandbox.control.clear_requests()
    other = migrate(run_main, "--transform-file", additive, "--allow-breaking", "--checkpoint",
                    journal, "--resume")
    assert other.code == 2 and other.err.strip().endswith(
        "--transform: differs from the migration recorded in "
        f"{journal}; resume with the same flags, or start over with a new checkpoint file")
    assert writes(sandbox) == []


def test_a_saved_plan_applies_across_sandbox_runs(run_script, tmp_path, v2):
    """--sandbox serves on a new port each run: the plan names the sandbox's state, not it."""
    plan = tmp_path / "plan.json"
    common = ("--sandbox", "--env-file", tmp_path / "none.env")
    (tmp_path / "none.env").write_text("")
    made = run_script("migrate_nexset", "--nexset", OLD, "--transform-file", v2,
                      "--allow-breaking", "--plan", "--out", plan, "--sandbox-reset",
                      "--env-file", tmp_path / "none.env", sandbox=False)
    assert made.code == 0, made.err
    applied = run_script("migrate_nexset", "--apply", plan, "--json", *common, sandbox=False)
    assert applied.code == 0, applied.err
    assert applied.json()["result"] == "migrated"


@pytest.mark.parametrize("hosts", [1, 2])
def test_two_runs_at_once_converge_on_one_new_nexset(sandbox, spawn_script, tmp_path, v2,
                                                     hosts):
    """Two processes started together: on one machine the second waits for nothing and
    exits 6 (the lock); on two machines (two state directories) both finish, on one nexset."""
    sandbox.control.configure(latency_ms=60)
    runs = [spawn_script("migrate_nexset", "--nexset", OLD, "--transform-file", v2,
                         "--allow-breaking",
                         env={"XDG_STATE_HOME": str(tmp_path / f"host-{i % hosts}")})
            for i in range(2)]
    codes = sorted(run.wait(timeout=60) for run in runs)
    sandbox.control.configure(latency_ms=0)
    assert codes == ([0, 6] if hosts == 1 else [0, 0]), codes
    named = [i for i, (name, _) in nexsets(sandbox).items() if name == NEW_NAME]
    assert len(named) == 1, named
    assert sinks(sandbox)[SINK] == (named[0], "ACTIVE")


def test_not_found_exits_5(sandbox, run_main, v2):
    assert run_main(migrate_nexset, "--nexset", 999999, "--transform-file", v2).code == 5
    assert migrate(run_main, "--transform-file", v2, "--destination", 999999).code == 5
    result = migrate(run_main, "--transform-file", v2, "--destination", 302)
    assert result.code == 2 and "reads nexset 124" in result.err
    assert writes(sandbox) == []


FUZZ = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
NASTY = st.one_of(st.sampled_from(["inf", "nan", "-1", "0", "1e309", "²", " 1", "", "9" * 400,
                                   "0x10", "1_0"]), st.text(max_size=20))
BAD_CONTENT = st.one_of(
    st.binary(min_size=1, max_size=100).map(lambda b: b + b"\x00\xff"),
    st.sampled_from([b'{"a": NaN}', b"[]", b"{}", b'{"operations": []}',
                     b'{"operations": [1]}', b'{"operations": [{"operation": ""}]}',
                     b'{"operations": [{"operation": "shift", "spec": 3}]}', b"[" * 500]),
    st.integers(min_value=6, max_value=9).map(
        lambda n: ("a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, "
            f"*a{i-1}, *a{i-1}]\n" for i in range(1, n))).encode()))


def _bad_case(sandbox, capsys, argv):
    sandbox.control.clear_requests()
    capsys.readouterr()
    outcome: dict = {}

    def target():
        try:
            outcome["code"] = migrate_nexset.main([*map(str, argv), "--json"])
        except BaseException as exc:  # a crash must show up as one
            outcome["crash"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), argv
    out, err = capsys.readouterr()
    assert "crash" not in outcome and "Traceback" not in err, (argv, outcome, err)
    assert outcome["code"] == 2, (argv, outcome, err)
    assert json.loads(out)["ok"] is False
    assert writes(sandbox) == []


def accepted(flag: str, value: str) -> bool:
    """Whether the flag takes `value` (ids as parse_id reads them: surrounding spaces go)."""
    import math

    text = value.strip()
    if flag in ("--nexset", "--adopt", "--destination"):
        return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) > 0
    try:
        number = int(value) if flag == "--samples" else float(value)
    except ValueError:
        return False
    if value != text or "_" in value or len(value) > 40 or not math.isfinite(number):
        return False
    return 1 <= number <= 500 if flag == "--samples" else 0 <= number <= 3600


@pytest.mark.parametrize("flag", ["--nexset", "--adopt", "--destination", "--samples",
                                  "--verify-timeout"])
@FUZZ
@given(value=NASTY)
def test_fuzz_bad_numbers(sandbox, api_env, capsys, tmp_path, flag, value):
    if "\x00" in value or accepted(flag, value):
        return  # argv cannot hold NUL; a valid value is not bad input
    transform = tmp_path / "t.json"
    transform.write_text(json.dumps(ORDERS_V2))
    argv = ["--nexset", OLD, "--transform-file", transform, "--plan"]
    if flag == "--nexset":
        argv[1] = value
    elif flag == "--adopt":
        argv = ["--nexset", OLD, "--adopt", value, "--plan"]
    else:
        argv += [flag, value]
    _bad_case(sandbox, capsys, argv)


@FUZZ
@given(content=BAD_CONTENT)
def test_fuzz_bad_transform_files(sandbox, api_env, capsys, tmp_path, content):
    path = tmp_path / "transform.yaml"
    path.write_bytes(content)
    _bad_case(sandbox, capsys, ["--nexset", OLD, "--transform-file", path])
