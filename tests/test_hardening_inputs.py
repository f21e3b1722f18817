"""Bad input and honest exit codes (#13 items 7, 9, 10, 19, 26): refused before anything is
sent, with the codes callers and retry wrappers depend on."""

from __future__ import annotations

import json
import os

import pytest

from conftest import writes
from nexla_ops.commands import batch_operations, deploy_flow, health_check, push_webhook
from test_deploy_helpers import FULL


def test_control_characters_in_deploy_names_are_bad_input(run_main, sandbox, tmp_path):
    for field in ("source", "nexset"):
        cfg = json.loads(json.dumps(FULL))
        cfg[field]["name"] = "orders\nOK fake line"
        path = tmp_path / "cfg.json"
        path.write_text(json.dumps(cfg))
        result = run_main(deploy_flow, "--config", path, "--json")
        assert result.code == 2, result.err
        assert f"{field}.name" in result.err
    assert sandbox.control.requests() == []


@pytest.mark.parametrize("content", ['{"n": NaN}\n', '{"n": Infinity}\n', '{"n": 1e999}\n',
                                     '{"n": ' + "9" * 5000 + "}\n",
                                     "[" * 5000 + "]" * 5000 + "\n"])
def test_records_push_refuses_non_finite_huge_and_deep_values(run_main, sandbox, tmp_path,
                                                             content):
    path = tmp_path / "records.jsonl"
    path.write_text(content)
    result = run_main(push_webhook, "--source-id", "127", "--file", path, "--json")
    assert result.code == 2 and "Traceback" not in result.err, result.err
    assert json.loads(result.out)["ok"] is False
    assert writes(sandbox) == []


def test_records_push_refuses_a_fifo_and_a_directory_without_hanging(run_main, sandbox,
                                                                   tmp_path):
    fifo = tmp_path / "records.jsonl"
    os.mkfifo(fifo)
    directory = tmp_path / "dir.jsonl"
    directory.mkdir()
    for path in (fifo, directory):
        result = run_main(push_webhook, "--source-id", "127", "--file", path)
        assert result.code == 2, result.err
    assert writes(sandbox) == []


def test_batch_exits_6_when_every_failure_was_transient(run_main, sandbox):
    sandbox.control.add_fault(method="PUT", path=r"^/flows/\d+/pause$", action="status",
                              status=503, times=100)
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001,1005",
                      "--max-attempts", "1", "--json")
    sandbox.control.clear_faults()
    assert result.code == 6, result.err
    assert result.json()["ok"] is False and result.json()["counts"]["failed"] == 2


@pytest.mark.parametrize("flag", [["--timeout", "-1"], ["--timeout", "inf"],
                                  ["--max-attempts", "0"], ["--deadline", "nan"],
                                  ["--concurrency", "1e9"], ["--max-wait", " 1"]])
def test_bad_common_options_exit_2_before_anything_is_sent(run_main, sandbox, flag):
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001", *flag)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert flag[0] in result.err
    assert sandbox.control.requests() == []


def test_renamed_batch_flags_keep_their_old_spellings_with_a_warning(run_main, sandbox):
    new = run_main(batch_operations, "tag", "--type", "sources", "--has-tag", "x", "--tag-list",
                   "y", "--dry-run", "--json")
    old = run_main(batch_operations, "tag", "--type", "sources", "--tag", "x", "--tags", "y",
                   "--dry-run", "--json")
    assert new.code == old.code == 0
    assert new.json()["items"] == old.json()["items"]
    assert "--tag is deprecated; use --has-tag" in old.err
    assert "--tags is deprecated; use --tag-list" in old.err
    assert "deprecated" not in new.err


def health(run_main, tmp_path, *argv):
    result = run_main(health_check, *argv, "--format", "json",
                      "--state-file", tmp_path / "state.json")
    return result.code, json.loads(result.out)


def test_threshold_alone_raises_the_critical_default(run_main, tmp_path):
    code, doc = health(run_main, tmp_path, "--all", "--threshold", "0.5")
    assert code != 3, doc
    states = {f["flow_id"]: f["state"] for f in doc["flows"]}
    assert states[1002] == "OK"  # 0.4 failed: under both the warning (0.5) and critical rates


def test_a_flow_deployed_minutes_ago_is_pending_not_critical(run_main, sandbox, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("DEPLOY_TEST_PG_PASSWORD", "pw")
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(FULL))
    applied = run_main(deploy_flow, "--config", path, "--json")
    assert applied.code == 0, applied.err
    flow_id = applied.json()["flow_id"]
    sandbox.control.tick(60)  # its first run may start; none has finished
    code, doc = health(run_main, tmp_path, "--flow", str(flow_id))
    (flow,) = doc["flows"]
    assert flow["state"] == "OK" and flow["pending"] is True, flow
    assert code == 0


def test_flow_option_checks_one_flow_and_reports_a_missing_one(run_main, tmp_path):
    code, doc = health(run_main, tmp_path, "--flow", "1002", "--flow", "999999")
    assert [f["flow_id"] for f in doc["flows"] if f["flow_id"]] == [1002]
    assert any(f["state"] == "UNKNOWN" and "999999" in f["name"] for f in doc["flows"])
    assert code == 2  # 1002 is the demo's failing flow: CRITICAL outranks UNKNOWN


def test_a_tag_undone_by_a_racing_write_is_written_again(sandbox, spawn_script):
    """Tags are written as a whole list, so a racing run that read before our write and
    writes after it drops our tag. The race is made certain: our read-back is held while the
    'other run' writes its stale list."""
    from conftest import wait_for

    fault = sandbox.control.add_fault(method="GET", path=r"^/data_sources/123$",
                                      action="delay", delay_ms=1500, skip=1, times=1)
    proc = spawn_script("batch_operations", "tag", "--type", "sources", "--ids", "123",
                        "--tag-list", "ours")
    wait_for(lambda: any(f["id"] == fault["id"] and f["hits"] for f in sandbox.control.faults()),
             "the read-back on the wire")
    from nexla_sdk import NexlaClient

    NexlaClient(service_key=sandbox.service_key, base_url=sandbox.url).request(
        "PUT", "/data_sources/123", json={"tags": ["theirs"]})  # the racer's stale list
    assert proc.wait(timeout=60) == 0
    held = next(s for s in sandbox.control.state("data_sources") if s["id"] == 123)["tags"]
    assert set(held) == {"ours", "theirs"}, held


def test_logs_of_a_flow_are_its_origin_source_s_logs(run_main, sandbox):
    from nexla_ops.commands import get_resource_logs

    by_flow = run_main(get_resource_logs, "--resource-type", "flows", "--resource-id", "1002",
                       "--list-runs", "--json")
    by_source = run_main(get_resource_logs, "--resource-type", "sources", "--resource-id",
                         "124", "--list-runs", "--json")
    assert by_flow.code == 0, by_flow.err
    assert by_flow.json() == by_source.json() and by_flow.json()
    assert "data_sources 124" in by_flow.err
    missing = run_main(get_resource_logs, "--resource-type", "flows", "--resource-id", "424242")
    assert missing.code == 5


def test_make_client_on_the_sandbox_sees_what_the_commands_did(tmp_path, monkeypatch):
    """One documented function gives a ready client on the --sandbox state."""
    import subprocess
    import sys

    from conftest import ROOT, SCRIPTS

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    made = subprocess.run([sys.executable, str(SCRIPTS / "batch_operations.py"), "tag",
                           "--type", "sources", "--ids", "123", "--tag-list", "seen",
                           "--sandbox", "-q"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from retry_helpers import make_client;"
            "c = make_client(sandbox=True); print(c.sources.get(123).tags)")
    read = subprocess.run([sys.executable, "-c", code, str(ROOT / "scripts")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert read.returncode == 0 and "seen" in read.stdout, read.stderr


def test_sandbox_state_path_is_printed_and_nexla_sandbox_dir_is_honoured(tmp_path):
    import subprocess
    import sys

    from conftest import SCRIPTS

    shared = tmp_path / "shared-demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    env["NEXLA_SANDBOX_DIR"] = str(shared)
    for where in ("one", "two"):
        (tmp_path / where).mkdir()
        result = subprocess.run([sys.executable, str(SCRIPTS / "list_resources.py"), "--type",
                                 "flows", "--sandbox"], cwd=tmp_path / where, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        state = "a new demo org" if where == "one" else "existing state"
        assert f"({state} in {shared / 'state.db'})" in result.stderr
        assert not (tmp_path / where / ".nexla-sandbox").exists()
