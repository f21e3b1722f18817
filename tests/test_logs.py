"""get_resource_logs.py against the sandbox's seeded runs and logs over real HTTP.

Expected values come from the sandbox's stored runs (control.state("runs")), which hold every
run's log lines; the script only ever sees them through the API.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter

import pytest

from conftest import CANARY, wait_for
from nexla_ops import logs as log_domain
from nexla_ops.commands import get_resource_logs

FLOW_OF_SOURCE = {123: 1001, 124: 1002, 125: 1003, 126: 1004, 127: 1005}


@pytest.fixture
def logs(run_main):
    """get_resource_logs.main(argv) in-process against the sandbox."""
    return lambda *argv: run_main(get_resource_logs, *argv)


def iso_ms(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stored_runs(sandbox, flow_id):
    """Finished runs of a flow, newest first, as stored by the sandbox."""
    runs = [r for r in sandbox.control.state("runs") if r["flow_id"] == flow_id]
    return sorted(runs, key=lambda r: r["started_at"], reverse=True)


def log_calls(sandbox):
    return [r for r in sandbox.control.requests() if r["path"].endswith("/flow/logs")]


def keyset(lines):
    return Counter((line["run_id"], line["timestamp"], line["message"]) for line in lines)


# --------------------------------------------------------------------------- default run


def test_default_is_the_latest_run_with_its_real_window(sandbox, logs):
    latest = stored_runs(sandbox, 1001)[0]
    sandbox.control.clear_requests()

    result = logs("--resource-type", "data_sets", "--resource-id", "123", "--format", "jsonl")

    assert result.code == 0, result.err
    lines = result.jsonl()
    assert keyset(lines) == keyset(
        {"run_id": latest["id"], "timestamp": iso_ms(e["timestamp"]), "message": e["message"]}
        for e in latest["logs"]
    )
    assert [line["timestamp"] for line in lines] == sorted(line["timestamp"] for line in lines)
    (call,) = log_calls(sandbox)
    # The run's own start and end, not Nexla's skill's end-as-start mistake.
    assert int(call["query"]["from"]) == int(latest["started_at"] * 1000)
    assert int(call["query"]["to"]) == int(latest["finished_at"] * 1000)
    assert call["query"]["run_id"] == str(latest["id"])


def test_seed_command_works_as_written(sandbox, run_script):
    latest = stored_runs(sandbox, 1001)[0]
    result = run_script("get_resource_logs", "--resource-type", "data_sets", "--resource-id", "123")
    assert result.code == 0, result.err
    assert f"Run {latest['id']} started" in result.out
    assert f"Run {latest['id']} finished with status" in result.out


def test_run_id_picks_a_run(sandbox, logs):
    older = stored_runs(sandbox, 1002)[3]
    result = logs("--resource-type", "sources", "--resource-id", "124", "--run-id", older["id"],
                  "--format", "json")
    assert {line["run_id"] for line in result.json()} == {older["id"]}
    assert len(result.json()) == len(older["logs"])


def test_unknown_run_id_exits_5(logs):
    result = logs("--resource-type", "sources", "--resource-id", "124", "--run-id", "12345")
    assert result.code == 5
    assert "run 12345 not found" in result.err


def test_list_runs(sandbox, logs):
    expected = stored_runs(sandbox, 1002)[:3]
    result = logs("--resource-type", "sources", "--resource-id", "124", "--list-runs",
                  "--limit", "3", "--format", "json")
    runs = result.json()
    assert [r["run_id"] for r in runs] == [r["id"] for r in expected]
    for got, want in zip(runs, expected, strict=True):
        assert got["status"] == want["status"]
        assert got["records"] == want["records"] and got["errors"] == want["errors"]
        assert got["started_at"] == iso_ms(int(want["started_at"] * 1000))
        assert got["finished_at"] == iso_ms(int(want["finished_at"] * 1000))

    text = logs("--resource-type", "sources", "--resource-id", "124", "--list-runs", "--limit", "2")
    header = text.out.splitlines()[0].split()
    assert header == ["RUN_ID", "STATUS", "STARTED_AT", "FINISHED_AT", "RECORDS", "ERRORS"]
    assert len(text.out.splitlines()) == 3


# --------------------------------------------------------------------------- filters


def window_lines(sandbox, flow_id, since_ms, until_ms):
    return [
        {"run_id": run["id"], "timestamp": iso_ms(e["timestamp"]), "message": e["message"],
         "level": e["level"]}
        for run in stored_runs(sandbox, flow_id)
        for e in run["logs"]
        if since_ms <= e["timestamp"] <= until_ms
    ]


def test_level_filter_is_this_level_and_above(sandbox, logs):
    runs = stored_runs(sandbox, 1002)
    since = int(runs[5]["started_at"] * 1000)
    until = int(runs[0]["finished_at"] * 1000)
    everything = window_lines(sandbox, 1002, since, until)
    assert {"INFO", "WARN", "ERROR"} <= {line["level"] for line in everything}  # a real test

    for level, allowed in (("ERROR", {"ERROR"}), ("WARN", {"WARN", "ERROR"}),
                           ("info", {"INFO", "WARN", "ERROR"})):
        result = logs("--resource-type", "data_sources", "--resource-id", "124", "--level", level,
                      "--since", iso_ms(since), "--format", "jsonl")
        got = result.jsonl()
        assert {line["level"] for line in got} <= allowed
        assert keyset(got) == keyset(line for line in everything if line["level"] in allowed)


def test_since_and_until_cut_inside_runs(sandbox, logs):
    runs = stored_runs(sandbox, 1002)
    # from the middle of run 3 to the middle of run 1 (newest = 0)
    since = runs[3]["logs"][2]["timestamp"]
    until = runs[1]["logs"][3]["timestamp"]
    expected = window_lines(sandbox, 1002, since, until)

    result = logs("--resource-type", "sources", "--resource-id", "124", "--since", iso_ms(since),
                  "--until", iso_ms(until), "--format", "json")

    assert result.code == 0
    assert keyset(result.json()) == keyset(expected)
    assert {line["run_id"] for line in result.json()} == {runs[3]["id"], runs[2]["id"],
                                                          runs[1]["id"]}


def test_relative_since_spans_runs(sandbox, logs):
    started = time.time() * 1000
    result = logs("--resource-type", "sources", "--resource-id", "124", "--since", "3d",
                  "--level", "ERROR", "--format", "json")
    ended = time.time() * 1000
    got = keyset(result.json())

    def errors_since(ms):
        return keyset(line for line in window_lines(sandbox, 1002, ms, ended)
                      if line["level"] == "ERROR")

    # "3d" is measured from the script's own clock, somewhere between started and ended
    assert errors_since(ended - 3 * 86400_000) and errors_since(ended - 3 * 86400_000) <= got
    assert got <= errors_since(started - 3 * 86400_000)


def test_grep_is_a_case_insensitive_substring(sandbox, logs):
    runs = stored_runs(sandbox, 1002)
    since = int(runs[-1]["started_at"] * 1000)
    result = logs("--resource-type", "sources", "--resource-id", "124", "--since", iso_ms(since),
                  "--grep", "RECORDS FAILED", "--format", "json")
    expected = [line for line in window_lines(sandbox, 1002, since, time.time() * 1000 + 1)
                if "records failed" in line["message"]]
    assert expected and keyset(result.json()) == keyset(expected)


# --------------------------------------------------------------------------- summary


def test_summary_counts_match(sandbox, logs):
    runs = stored_runs(sandbox, 1002)
    since = int(runs[-1]["started_at"] * 1000)
    errors = [line for line in window_lines(sandbox, 1002, since, time.time() * 1000 + 1)
              if line["level"] == "ERROR"]
    failed_runs = {line["run_id"] for line in errors}

    result = logs("--resource-type", "sources", "--resource-id", "124", "--since", iso_ms(since),
                  "--summary", "--format", "json")

    groups = result.json()
    assert sum(g["count"] for g in groups) == len(errors)
    # every failed run logs one write error and one "finished with status FAILED" line
    assert len(groups) == 2
    assert [g["count"] for g in groups] == [len(failed_runs), len(failed_runs)]
    finished = next(g for g in groups if g["pattern"].startswith("Run "))
    assert finished["pattern"] == "Run <n> finished with status FAILED: <n> records, <n> errors"
    stamps = sorted(line["timestamp"] for line in errors if line["message"].startswith("Run "))
    assert (finished["first_seen"], finished["last_seen"]) == (stamps[0], stamps[-1])
    assert finished["runs"] == len(failed_runs)

    text = logs("--resource-type", "sources", "--resource-id", "124", "--since", iso_ms(since),
                "--summary")
    assert text.out.splitlines()[0].split() == ["COUNT", "FIRST_SEEN", "LAST_SEEN", "RUNS",
                                                "MESSAGE"]
    assert "Run <n> finished with status FAILED" in text.out


def test_normalise_message():
    norm = log_domain.normalise_message
    assert norm("Row 17 failed: value 'abc' for id 0a1b2c3d4e5f") == (
        "Row <n> failed: value '<str>' for id <hex>")
    assert norm('Bad "x" in 3f2504e0-4f89-11d3-9a0c-0305e82c3301') == 'Bad "<str>" in <uuid>'
    assert norm("took 1.5s") == "took <n>s"


# --------------------------------------------------------------------------- follow


def test_follow_prints_a_new_runs_lines_once(sandbox, api_env, capsys):
    before = stored_runs(sandbox, 1001)
    result: dict = {}

    def follow():
        result["code"] = get_resource_logs.main([
            "--resource-type", "data_sources", "--resource-id", "123", "--follow",
            "--follow-timeout", "4", "--poll-interval", "0.1", "--format", "jsonl"])

    capsys.readouterr()
    worker = threading.Thread(target=follow)
    worker.start()
    try:
        wait_for(lambda: log_calls(sandbox), "the first logs request", timeout=10)
        # The next run is due 30 min after the seed's newest run: land a few seconds into it
        # (RUNNING, some lines visible), let several polls re-read it, then let it finish.
        sandbox.control.tick(1800 + 8)
        time.sleep(1.0)
        sandbox.control.tick(300)
    finally:
        worker.join(timeout=15)
    assert result.get("code") == 0
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]

    new_runs = [r for r in stored_runs(sandbox, 1001) if r["id"] not in {b["id"] for b in before}]
    assert len(new_runs) == 1
    new = new_runs[0]
    keys = [(line["run_id"], line["timestamp"], line["message"]) for line in lines]
    assert len(keys) == len(set(keys)), "a line was printed twice"
    assert keyset(line for line in lines if line["run_id"] == new["id"]) == keyset(
        {"run_id": new["id"], "timestamp": iso_ms(e["timestamp"]), "message": e["message"]}
        for e in new["logs"]
    )
    assert {line["run_id"] for line in lines} == {before[0]["id"], new["id"]}
    # each poll reads one page of newest runs, however long the history is
    summaries = [r for r in sandbox.control.requests() if r["path"].endswith("/run_summary")]
    assert len(summaries) >= 5 and {r["query"]["page"] for r in summaries} == {"1"}
    # the RUNNING run was re-read on several polls, which is what dedupe is for
    assert len([c for c in log_calls(sandbox) if c["query"]["run_id"] == str(new["id"])]) >= 2


def test_line_deduper_keeps_genuine_repeats():
    dedupe = log_domain.LineDeduper()
    a = {"run_id": 1, "timestamp": "t", "level": "INFO", "message": "m"}
    assert list(dedupe.new_lines([a, dict(a)])) == [a, a]
    assert list(dedupe.new_lines([a, dict(a)])) == []
    assert list(dedupe.new_lines([a, dict(a), dict(a)])) == [a]


# --------------------------------------------------------------------------- errors


def test_not_found_exits_5(run_script):
    result = run_script("get_resource_logs", "--resource-type", "data_sets", "--resource-id",
                        "999999")
    assert result.code == 5
    assert "data_sets 999999 not found" in result.err
    assert "Traceback" not in result.err


def test_no_runs_exits_0_and_says_so(sdk_client, logs):
    src = sdk_client.request("POST", "/data_sources", json={"name": "fresh", "source_type": "s3"})

    text = logs("--resource-type", "sources", "--resource-id", src["id"])
    assert text.code == 0 and text.out == ""
    assert "has no runs" in text.err

    as_json = logs("--resource-type", "sources", "--resource-id", src["id"], "--format", "json")
    assert as_json.code == 0 and as_json.json() == []


@pytest.mark.parametrize(
    "argv, field",
    [
        (["--resource-type", "credentials", "--resource-id", "1"], "--resource-type"),
        (["--resource-type", "sources", "--resource-id", "x"], "--resource-id"),
        (["--resource-type", "sources", "--resource-id", "1", "--level", "LOUD"], "--level"),
        (["--resource-type", "sources", "--resource-id", "1", "--since", "yesterday"], "--since"),
        (["--resource-type", "sources", "--resource-id", "1", "--follow", "--format", "json"],
         "--format"),
        (["--resource-type", "sources", "--resource-id", "1", "--summary", "--list-runs"],
         "--summary"),
    ],
)
def test_bad_input_exits_2_before_any_request(sandbox, logs, argv, field):
    sandbox.control.clear_requests()
    result = logs(*argv)
    assert result.code == 2
    assert field in result.err
    assert [r for r in sandbox.control.requests() if r["path"] != "/token"] == []


def test_log_messages_are_redacted(sandbox, logs, sdk_client):
    # A source whose name carries a secret-looking connection string shows up in log lines.
    sandbox.control.reset("demo")
    sdk_client.request("PUT", "/data_sources/123", json={
        "name": f"postgres://app:{CANARY}@db/x"})
    sandbox.control.tick(3600)
    result = logs("--resource-type", "sources", "--resource-id", "123")
    assert result.code == 0
    assert "postgres://app:" in result.out
    assert CANARY not in result.out
