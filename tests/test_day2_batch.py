"""batch_operations.py and its checkpoint journal (nexla_ops/journal.py) against the sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import CANARY, SCRIPTS, _script_env, kill9, kill9_while_held, wait_for, writes
from nexla_ops import journal as checkpoint
from nexla_ops.batch import api as batch_api
from nexla_ops.batch import operations as batch_ops
from nexla_ops.batch import spec as batch_spec
from nexla_ops.commands import batch_operations

# --------------------------------------------------------------------------- journal (no API)


def test_journal_roundtrip_and_torn_tail(tmp_path):
    path = str(tmp_path / "j.jsonl")
    with checkpoint.Journal.open(path, resume=False, operation="batch_operations") as journal:
        journal.write_plan({"op": "pause", "targets": [{"id": 1}]})
        journal.append({"event": "intent", "key": "flows:1"})
    # a kill in the middle of a write leaves half a line: it was never acknowledged
    with open(path, "ab") as handle:
        handle.write(b'{"event": "outcome", "key": "flo')
    with checkpoint.Journal.open(path, resume=True, operation="batch_operations") as journal:
        assert [e["event"] for e in journal.events] == ["plan", "intent"]
        assert journal.items()["flows:1"] == {"intent": journal.events[1], "outcome": None}
        journal.append({"event": "outcome", "key": "flows:1", "status": "done"})
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["journal"] == "nexla-ops"
    assert [json.loads(line)["event"] for line in lines[1:]] == ["plan", "intent", "outcome"]


def test_journal_refuses_reuse_corruption_and_a_second_process(tmp_path):
    path = str(tmp_path / "j.jsonl")
    with checkpoint.Journal.open(path, resume=False, operation="batch_operations") as journal:
        journal.append({"event": "intent", "key": "a"})
        with pytest.raises(checkpoint.CheckpointError, match="in use"):
            checkpoint.Journal.open(path, resume=True, operation="batch_operations")
    with pytest.raises(checkpoint.CheckpointError, match="--resume"):
        checkpoint.Journal.open(path, resume=False, operation="batch_operations")
    with open(path, "ab") as handle:
        handle.write(b"garbage\n" + b'{"event": "outcome", "key": "a"}\n')
    with pytest.raises(checkpoint.CheckpointError, match="line 3"):
        checkpoint.Journal.open(path, resume=True, operation="batch_operations")


def test_journal_retry_after_failure_is_in_doubt_again(tmp_path):
    journal = checkpoint.MemoryJournal()
    journal.append({"event": "intent", "key": "a"})
    journal.append({"event": "outcome", "key": "a", "status": "failed"})
    journal.append({"event": "intent", "key": "a"})
    assert journal.items()["a"]["outcome"] is None


# --------------------------------------------------------------------------- input checking


def test_shards_partition_ids_exactly_once():
    ids = list(range(1, 2001))
    seen = []
    for index in range(3):
        seen += [i for i in ids if batch_spec.in_shard(i, (index, 3))]
    assert sorted(seen) == ids
    sizes = [sum(batch_spec.in_shard(i, (k, 3)) for i in ids) for k in range(3)]
    assert min(sizes) > 600  # a hash, not a skewed split


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["explode", "--type", "flows", "--ids", "1"], "operation"),
        (["pause", "--type", "widgets", "--ids", "1"], "--type"),
        (["pause", "--type", "credentials", "--ids", "1"], "--type"),
        (["pause", "--type", "flows"], "targets"),
        (["pause", "--type", "flows", "--ids", "x"], "--id"),
        (["tag", "--type", "sources", "--ids", "1"], "--tag-list"),
        (["update", "--type", "sources", "--ids", "1", "--patch", '{"name": "x"}'], "--patch"),
        (["update", "--type", "sources", "--ids", "1", "--patch", '{"description": 5}'], "--patch"),
        (["update", "--type", "sources", "--ids", "1", "--patch", "{nope"], "--patch"),
        (["update", "--type", "sources", "--ids", "1",
          "--patch", '{"data_credentials_id": 12}'], "--patch"),
        (["pause", "--type", "flows", "--ids", "1", "--shard", "3/3"], "--shard"),
        (["pause", "--type", "flows", "--ids", "1", "--resume"], "--resume"),
        (["pause", "--type", "flows", "--ids", "1", "--concurrency", "0"], "--concurrency"),
        (["pause", "--type", "flows", "--name-regex", "("], "--name-regex"),
    ],
)
def test_bad_input_exits_2_naming_the_field_before_any_request(argv, field, capsys):
    code = batch_operations.main([*argv, "--api-url", "http://127.0.0.1:9/nexla-api"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert field in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("bad", ["²", "-3", "abc", "0"])
def test_a_bad_id_exits_2_naming_the_flag_before_any_request(sandbox, run_main, tmp_path, bad):
    # "²".isdigit() is True, but int("²") fails: once an internal error instead of exit 2
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"12\n{bad}\n", encoding="utf-8")
    sandbox.control.clear_requests()
    cases = [(["--ids", f"12,{bad}"], "--id"), (["--ids-from", str(ids_file)], "--ids-from")]
    if bad != "0":  # shard 0/3 is fine
        cases.append((["--ids", "12", f"--shard={bad}/3"], "--shard"))
    for argv, flag in cases:
        result = run_main(batch_operations, "pause", "--type", "flows", *argv)
        assert result.code == 2, (argv, result.err)
        assert result.err.startswith(f"batch_operations.py: error: {flag}"), result.err
        assert "internal error" not in result.err
    assert sandbox.control.requests() == []


# --------------------------------------------------------------------------- helpers

PAUSE = r"/flows/(\d+)/pause"
DELETE_FLOW = r"/flows/(\d+)"
COPY_FLOW = r"/flows/(\d+)/copy"


def journal_lines(path) -> int:
    try:
        return Path(path).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def effective_writes(sandbox, method, pattern) -> Counter:
    """Successful writes per id seen by the server (a delayed write counts once it committed)."""
    counts: Counter = Counter()
    for entry in sandbox.control.requests():
        match = re.fullmatch(pattern, entry["path"])
        if entry["method"] == method and match and entry["status"] and entry["status"] < 300:
            counts[int(match.group(1))] += 1
    return counts


def populate_flows(sandbox, count, prefix="batch", status="ACTIVE") -> list[int]:
    return sandbox.control.populate("flows", count, name_prefix=prefix, runs=1,
                                    status=status)["ids"]


def flow_status(sandbox, flow_id) -> str:
    # A flow's status is its origin source's (the sandbox derives node status from resources).
    root = next(n for n in sandbox.control.state("flows") if n["id"] == flow_id)
    source = next(s for s in sandbox.control.state("data_sources")
                  if s["id"] == root["data_source_id"])
    return source["status"]


# --------------------------------------------------------------------------- basic runs


def test_dry_run_lists_every_target_and_change_and_writes_nothing(sandbox, run_main):
    result = run_main(batch_operations, "pause", "--type", "flows", "--all", "--dry-run", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    by_id = {item["id"]: item for item in doc["items"]}
    assert set(by_id) == {1001, 1002, 1003, 1004, 1005}
    assert by_id[1001]["result"] == "would_change"
    assert by_id[1001]["change"] == "ACTIVE -> PAUSED"
    assert by_id[1004]["result"] == "unchanged"  # seeded PAUSED
    assert writes(sandbox) == []
    assert "\x1b[K" not in result.err  # no progress bar when stderr is not a TTY


def test_filters_walk_every_page_and_pause_exactly_the_matches(sandbox, run_main):
    ids = sandbox.control.populate("sources", 130, name_prefix="paged", status="ACTIVE")["ids"]
    sandbox.control.clear_requests()
    result = run_main(batch_operations, "pause", "--type", "sources",
                      "--name-regex", "^paged-source-", "--status", "ACTIVE",
                      "--concurrency", "8", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["counts"] == {"total": 130, "changed": 130}
    pages = [e for e in sandbox.control.requests()
             if e["method"] == "GET" and e["path"] == "/data_sources"]
    # 135 sources: pages 1 and 2, and page 3 in flight beside page 2 (the prefetch window)
    assert len(pages) <= 3 and {p["query"]["per_page"] for p in pages} == {"100"}
    # targets are decided from their list rows: no GET per item, 130 writes plus the pages
    assert not [e for e in sandbox.control.requests()
                if e["method"] == "GET" and re.fullmatch(r"/data_sources/\d+", e["path"])]
    assert len(sandbox.control.requests()) <= 130 + 3 + 2  # + the token (and the user)
    assert effective_writes(sandbox, "PUT", r"/data_sources/(\d+)/pause") == Counter(
        {i: 1 for i in ids})
    assert {s["status"] for s in sandbox.control.state("data_sources") if s["id"] in ids} == {
        "PAUSED"}


def test_rerun_changes_nothing_and_activate_restores(sandbox, run_main):
    assert run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001,1002").code == 0
    sandbox.control.clear_requests()
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001,1002",
                      "--json")
    assert result.code == 0
    assert result.json()["counts"] == {"total": 2, "unchanged": 2}
    assert writes(sandbox) == []
    assert run_main(batch_operations, "activate", "--type", "flows", "--ids", "1001").code == 0
    assert flow_status(sandbox, 1001) == "ACTIVE"
    assert flow_status(sandbox, 1002) == "PAUSED"


def test_tag_untag_and_update_are_idempotent(sandbox, run_main):
    result = run_main(batch_operations, "tag", "--type", "sources", "--ids", "123,124",
                      "--tag-list", "pii,eu")
    assert result.code == 0, result.err
    tags = {s["id"]: s["tags"] for s in sandbox.control.state("data_sources")}
    assert tags[123] == ["pii", "eu"] and tags[124] == ["pii", "eu"]
    sandbox.control.clear_requests()
    assert run_main(batch_operations, "tag", "--type", "sources", "--tag", "pii",
                    "--tags", "pii").code == 0
    assert writes(sandbox) == []
    # flows are tagged on their origin resource, where list_resources reads a flow's tags
    assert run_main(batch_operations, "untag", "--type", "flows", "--tag", "eu",
                    "--tags", "eu").code == 0
    tags = {s["id"]: s["tags"] for s in sandbox.control.state("data_sources")}
    assert tags[123] == ["pii"] and tags[124] == ["pii"]
    patch = {"description": "nightly load", "sink_config": {"table": "orders_v2"}}
    result = run_main(batch_operations, "update", "--type", "destinations", "--ids", "301",
                      "--patch", json.dumps(patch), "--json")
    assert result.code == 0, result.err
    sink = next(s for s in sandbox.control.state("data_sinks") if s["id"] == 301)
    assert sink["description"] == "nightly load" and sink["sink_config"]["table"] == "orders_v2"
    sandbox.control.clear_requests()
    result = run_main(batch_operations, "update", "--type", "destinations", "--ids", "301",
                      "--patch", json.dumps(patch), "--json")
    assert result.json()["counts"] == {"total": 1, "unchanged": 1}
    assert writes(sandbox) == []


def test_delete_pauses_first_and_copy_is_found_again(sandbox, run_main):
    result = run_main(batch_operations, "copy", "--type", "flows", "--ids", "1001", "--json")
    assert result.code == 0, result.err
    copy_id = result.json()["items"][0]["copy_id"]
    # a plain re-run finds the existing copy instead of making a second one
    result = run_main(batch_operations, "copy", "--type", "flows", "--ids", "1001", "--json")
    again = result.json()["items"][0]
    assert (again["result"], again["copy_id"], again["writes"]) == ("unchanged", copy_id, 0)
    copies = [s for s in sandbox.control.state("data_sources") if s.get("copied_from_id") == 123]
    assert len(copies) == 1
    result = run_main(batch_operations, "delete", "--type", "flows", "--ids", f"1001,{copy_id}",
                      "--json")
    assert result.code == 0, result.err
    changes = {i["id"]: i["change"] for i in result.json()["items"]}
    assert changes == {1001: "pause, then delete", copy_id: "delete"}  # the copy is PAUSED
    assert not {1001, copy_id} & {n["id"] for n in sandbox.control.state("flows")}
    deletes = sorted(p for p in writes(sandbox) if p[0] == "DELETE")
    assert deletes == sorted([("DELETE", "/flows/1001"), ("DELETE", f"/flows/{copy_id}")])


def test_failed_items_exit_7_listed_and_resume_retries_only_them(sandbox, run_main, tmp_path):
    journal = tmp_path / "j.jsonl"
    sandbox.control.add_fault(method="PUT", path=r"^/flows/1002/pause$", action="status",
                              status=400, times=1)
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001,1002,1003",
                      "--checkpoint", journal, "--json")
    assert result.code == 7
    doc = result.json()
    assert [i["id"] for i in doc["items"] if i["result"] == "failed"] == [1002]
    assert "1002" in result.err and "--resume" in result.err
    sandbox.control.clear_requests()
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001,1002,1003",
                      "--checkpoint", journal, "--resume", "--json")
    assert result.code == 0, result.err
    results = {i["id"]: i["result"] for i in result.json()["items"]}
    assert results == {1001: "journal", 1002: "changed", 1003: "journal"}
    assert writes(sandbox) == [("PUT", "/flows/1002/pause")]
    # without --resume an existing journal is refused (no accidental second run)
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001",
                      "--checkpoint", journal)
    assert result.code == 2 and "--resume" in result.err


def test_resume_refuses_a_journal_of_another_run(run_main, tmp_path):
    journal = tmp_path / "j.jsonl"
    assert run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001",
                    "--checkpoint", journal).code == 0
    result = run_main(batch_operations, "activate", "--type", "flows", "--ids", "1001",
                      "--checkpoint", journal, "--resume")
    assert result.code == 2 and "op=" in result.err


def test_shards_cover_every_target_exactly_once(sandbox, run_main):
    ids = sandbox.control.populate("sources", 45, name_prefix="shard")["ids"]
    seen = []
    for index in range(3):
        result = run_main(batch_operations, "tag", "--type", "sources", "--name", "shard-source-",
                          "--tag-list", "migrated", "--shard", f"{index}/3", "--json")
        assert result.code == 0, result.err
        shard_ids = [i["id"] for i in result.json()["items"]]
        assert shard_ids, "every shard gets work"
        seen += shard_ids
    assert sorted(seen) == sorted(ids)
    assert effective_writes(sandbox, "PUT", r"/data_sources/(\d+)") == Counter(
        {i: 1 for i in ids})


# --------------------------------------------------------------------------- kill -9 + resume


def _assert_exactly_once(sandbox, ids, method, pattern):
    counts = effective_writes(sandbox, method, pattern)
    assert {i: counts[i] for i in ids} == {i: 1 for i in ids}


@pytest.mark.slow
@pytest.mark.parametrize("lines", [2, 14])
def test_kill_after_n_journal_lines_then_resume_applies_each_once(sandbox, run_main,
                                                                   spawn_script, tmp_path,
                                                                   lines):
    ids = populate_flows(sandbox, 16)
    journal = tmp_path / "j.jsonl"
    argv = ["pause", "--type", "flows", "--ids", ",".join(map(str, ids)), "--concurrency", "3",
            "--checkpoint", journal]
    sandbox.control.configure(latency_ms=40)  # keeps the run going well past the kill point
    try:
        proc = spawn_script("batch_operations", *argv)
        wait_for(lambda: journal_lines(journal) >= lines, f"{lines} journal lines")
        kill9(proc)
    finally:
        sandbox.control.configure(latency_ms=0)
    time.sleep(0.2)  # let writes already on the wire finish on the server
    result = run_main(batch_operations, *argv, "--resume", "--json")
    assert result.code == 0, result.err
    results = Counter(i["result"] for i in result.json()["items"])
    assert results["journal"] >= 1 or lines == 2
    assert sum(results.values()) == 16
    _assert_exactly_once(sandbox, ids, "PUT", PAUSE)
    assert {flow_status(sandbox, i) for i in ids} == {"PAUSED"}


@pytest.mark.slow
def test_kill_while_a_pause_is_in_flight_resume_does_not_resend_it(sandbox, run_main,
                                                                    spawn_script, tmp_path):
    ids = populate_flows(sandbox, 8)
    journal = tmp_path / "j.jsonl"
    fault = sandbox.control.add_fault(method="PUT", path=PAUSE, action="delay", delay_ms=1500,
                                      skip=3, times=1)
    argv = ["pause", "--type", "flows", "--ids", ",".join(map(str, ids)), "--concurrency", "1",
            "--checkpoint", journal]
    proc = spawn_script("batch_operations", *argv)
    # the server still commits the write whose client died; wait for it, as an operator would
    kill9_while_held(sandbox, proc, fault, "the 4th pause")
    in_flight = ids[3]
    events = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert {"event": "intent", "key": f"flows:{in_flight}"}.items() <= events[-1].items()
    assert fault["id"]
    result = run_main(batch_operations, *argv, "--resume", "--json")
    assert result.code == 0, result.err
    item = next(i for i in result.json()["items"] if i["id"] == in_flight)
    assert item["result"] == "unchanged" and "not re-sent" in item["detail"]
    _assert_exactly_once(sandbox, ids, "PUT", PAUSE)
    assert {flow_status(sandbox, i) for i in ids} == {"PAUSED"}


@pytest.mark.slow
def test_kill_between_the_pause_and_the_delete_resume_deletes_without_repausing(
        sandbox, run_main, spawn_script, tmp_path):
    ids = populate_flows(sandbox, 6, prefix="doomed")
    journal = tmp_path / "j.jsonl"
    fault = sandbox.control.add_fault(method="PUT", path=PAUSE, action="delay", delay_ms=1500,
                                      skip=2, times=1)
    argv = ["delete", "--type", "flows", "--name", "doomed-", "--concurrency", "2",
            "--checkpoint", journal]
    proc = spawn_script("batch_operations", *argv)
    kill9_while_held(sandbox, proc, fault, "the 3rd pause")
    result = run_main(batch_operations, *argv, "--resume", "--json")
    assert result.code == 0, result.err
    assert result.json()["counts"]["total"] == 6
    _assert_exactly_once(sandbox, ids, "PUT", PAUSE)
    _assert_exactly_once(sandbox, ids, "DELETE", DELETE_FLOW)
    assert not set(ids) & {n["id"] for n in sandbox.control.state("flows")}


@pytest.mark.slow
def test_kill_while_a_copy_is_in_flight_resume_finds_the_copy(sandbox, run_main, spawn_script,
                                                              tmp_path):
    ids = populate_flows(sandbox, 4, prefix="tmpl", status="PAUSED")
    journal = tmp_path / "j.jsonl"
    fault = sandbox.control.add_fault(method="POST", path=COPY_FLOW, action="delay",
                                      delay_ms=1500, skip=1, times=1)
    argv = ["copy", "--type", "flows", "--ids", ",".join(map(str, ids)), "--concurrency", "1",
            "--checkpoint", journal]
    proc = spawn_script("batch_operations", *argv)
    kill9_while_held(sandbox, proc, fault, "the 2nd copy")
    result = run_main(batch_operations, *argv, "--resume", "--json")
    assert result.code == 0, result.err
    items = {i["id"]: i for i in result.json()["items"]}
    assert "not re-sent" in items[ids[1]]["detail"]
    _assert_exactly_once(sandbox, ids, "POST", COPY_FLOW)
    roots = {n["id"]: n for n in sandbox.control.state("flows")}
    sources = sandbox.control.state("data_sources")
    for flow_id in ids:
        origin = roots[flow_id]["data_source_id"]
        copies = [s["id"] for s in sources if s.get("copied_from_id") == origin]
        assert len(copies) == 1, (flow_id, copies)
        assert roots[items[flow_id]["copy_id"]]["data_source_id"] == copies[0]


def test_a_secret_in_a_patch_stays_out_of_output_and_journal(sandbox, run_main, tmp_path):
    journal = tmp_path / "j.jsonl"
    patch = json.dumps({"sink_config": {"table": "t", "password": CANARY}})
    result = run_main(batch_operations, "update", "--type", "destinations", "--ids", "302",
                      "--patch", patch, "--checkpoint", journal, "--json")
    assert result.code == 0, result.err
    sink = next(s for s in sandbox.control.state("data_sinks") if s["id"] == 302)
    assert sink["sink_config"]["table"] == "t"
    assert CANARY not in result.out + result.err + journal.read_text(encoding="utf-8")
    other = json.dumps({"sink_config": {"table": "u", "password": CANARY}})
    result = run_main(batch_operations, "update", "--type", "destinations", "--ids", "302",
                      "--patch", other, "--checkpoint", journal, "--resume")
    assert result.code == 2 and "--patch" in result.err and CANARY not in result.err


def test_ids_from_list_resources_jsonl_and_plain_lines(sandbox, run_main, tmp_path):
    from nexla_ops.commands import list_resources

    assert run_main(list_resources, "--type", "destinations", "--name", "warehouse",
                    "--format", "jsonl", "--output", tmp_path / "sinks.jsonl").code == 0
    (tmp_path / "more.txt").write_text("# retired archives\n303\n\n304  # legacy\n")
    for source, expected in (("sinks.jsonl", {301, 302}), ("more.txt", {303, 304})):
        result = run_main(batch_operations, "tag", "--type", "destinations",
                          "--ids-from", tmp_path / source, "--tag-list", "reviewed", "--json")
        assert result.code == 0, result.err
        assert {i["id"] for i in result.json()["items"]} == expected
    assert {s["id"] for s in sandbox.control.state("data_sinks") if "reviewed" in s["tags"]} == {
        301, 302, 303, 304}


def test_progress_only_on_a_tty(sandbox, tmp_path):
    import pty

    main_fd, tty_fd = pty.openpty()
    env = _script_env(sandbox, {})  # conftest's subprocess environment
    try:
        proc = subprocess.run([sys.executable, str(SCRIPTS / "batch_operations.py"), "pause",
                               "--type", "flows", "--ids", "1001,1002", "--json"],
                              cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=tty_fd,
                              timeout=60)
        os.close(tty_fd)
        tty_fd = -1
        shown = b""
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the writer side is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if tty_fd >= 0:
            os.close(tty_fd)
        os.close(main_fd)
    assert proc.returncode == 0
    assert b"pause flows: 2/2" in shown and b"\x1b[K" in shown
    assert b"\x1b" not in proc.stdout  # stdout stays clean data
    assert json.loads(proc.stdout)["counts"] == {"total": 2, "changed": 2}


# --------------------------------------------------------------------------- refused by the API


def test_every_item_refused_for_permission_exits_4_and_changes_nothing(sandbox, run_main):
    # Omar is only an operator: he may pause, not delete. Sources 123 and 124 are ACTIVE, so a
    # delete would pause them first; a refused delete must not leave them paused.
    before = {s["id"]: s["status"] for s in sandbox.control.state("data_sources")}
    result = run_main(batch_operations, "delete", "--type", "sources", "--ids", "123,124,126",
                      "--json", key=sandbox.service_keys["operator"])
    assert result.code == 4, result.err
    doc = result.json()
    assert doc["counts"] == {"total": 3, "failed": 3}
    assert all("requires admin or owner role" in i["error"] for i in doc["items"])
    assert "nothing was changed" in result.err
    assert {s["id"]: s["status"] for s in sandbox.control.state("data_sources")} == before
    assert not [w for w in writes(sandbox) if w[0] == "PUT"]  # nothing paused on the way


def test_refused_flow_deletes_exit_4_and_leave_the_flows_running(sandbox, run_main):
    result = run_main(batch_operations, "delete", "--type", "flows", "--ids", "1001,1002",
                      key=sandbox.service_keys["operator"])
    assert result.code == 4, result.err
    assert flow_status(sandbox, 1001) == flow_status(sandbox, 1002) == "ACTIVE"
    assert {1001, 1002} <= {n["id"] for n in sandbox.control.state("flows")}


def test_a_refusal_among_other_outcomes_stays_partial(sandbox, run_main):
    from nexla_sdk import NexlaClient

    omar = NexlaClient(service_key=sandbox.service_keys["operator"], base_url=sandbox.url)
    own = omar.request("POST", "/data_sources", json={"name": "omar-scratch",
                                                      "source_type": "s3"})["id"]
    result = run_main(batch_operations, "delete", "--type", "sources", "--ids", f"123,{own}",
                      "--json", key=sandbox.service_keys["operator"])
    assert result.code == 7, result.err
    assert {i["id"]: i["result"] for i in result.json()["items"]} == {123: "failed",
                                                                      own: "changed"}
    # every item failed, but not all for permission: still a batch for a person to look at
    sandbox.control.add_fault(method="GET", path=r"^/data_sources/124$", action="status",
                              status=400, times=1)
    result = run_main(batch_operations, "delete", "--type", "sources", "--ids", "123,124",
                      key=sandbox.service_keys["operator"])
    assert result.code == 7, result.err


def test_roles_that_look_too_low_still_let_the_server_decide(sandbox, api_env):
    # Roles on the object say "operator", yet the server allows the delete: it answers 409
    # (pause first) rather than 403, so the item is paused and deleted as usual.
    import nexla_ops

    (source_id,) = sandbox.control.populate("sources", 1, name_prefix="lone",
                                            status="ACTIVE")["ids"]
    args = batch_operations.build_parser().parse_args(["delete", "--type", "sources",
                                                       "--ids", str(source_id)])
    spec = batch_spec.parse_spec(args)
    api = batch_api.Api(nexla_ops.Context(), spec.kind)
    decision = batch_ops.Decision("pause, then delete", {"id": source_id},
                                         pre={"pause_first": True, "delete_first": True})
    sandbox.control.clear_requests()
    assert batch_ops.Operation(spec, api).apply(source_id, decision) == (3, {})
    path = f"/data_sources/{source_id}"
    assert writes(sandbox) == [("DELETE", path), ("PUT", f"{path}/pause"), ("DELETE", path)]
    assert source_id not in {s["id"] for s in sandbox.control.state("data_sources")}
