"""Contracts with callers and files we don't own (#13 items 2, 3, 6, 20): every --json failure
prints one document, journals are refused unless they are ours, --output never replaces what
is not a regular file, and API text cannot forge lines or spreadsheet formulas."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest

from conftest import ROOT, writes
from nexla_ops.commands import (
    async_task,
    batch_operations,
    deploy_flow,
    get_resource_logs,
    health_check,
    list_resources,
    manage_access,
    nexla_quickstart,
    push_webhook,
    rotate_credential,
    validate_transform,
)

MINIMAL_DEPLOY = str(ROOT / "examples" / "deploy" / "minimal.json")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def records(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"n": 1}\n{"n": 2}\n')
    return str(path)


def commands(records):
    """One ordinary invocation of every command, each asking for JSON."""
    return [
        (list_resources, ["--type", "flows", "--json"]),
        (async_task, ["status", "--id", "1", "--json"]),
        (validate_transform, ["--nexset", "123", "--transform-file",
                              str(ROOT / "examples" / "transforms" / "clean.json"), "--json"]),
        (get_resource_logs, ["--resource-type", "flows", "--resource-id", "1001", "--json"]),
        (manage_access, ["--operation", "list", "--resource-type", "flows", "--resource-id",
                         "1001", "--json"]),
        (rotate_credential, ["--old", "11", "--new", "12", "--plan", "--json"]),
        (push_webhook, ["--source-id", "127", "--file", records, "--json"]),
        (batch_operations, ["pause", "--type", "flows", "--ids", "1001", "--json"]),
        (deploy_flow, ["--config", MINIMAL_DEPLOY, "--plan", "--json"]),
        (health_check, ["--all", "--format", "json"]),
        (nexla_quickstart, ["--json"]),
    ]


KINDS = {1: "failed", 2: "bad_input", 3: "config", 4: "auth", 5: "not_found", 6: "transient",
         7: "partial"}


def failure_of(result) -> dict:
    """The failure document's error, or for a command that printed its own document (with
    "ok": false) what the wrapper would have said."""
    doc = json.loads(result.out)  # exactly one document: json.loads refuses trailing data
    assert doc["ok"] is False, result.out
    if "error" not in doc or not isinstance(doc["error"], dict):
        return {"exit_code": result.code, "kind": KINDS.get(result.code), "message": result.err}
    error = doc["error"]
    assert error["exit_code"] == result.code and error["message"] and error["kind"]
    return error


def test_every_command_prints_one_failure_document_when_the_api_is_down(
        run_main, monkeypatch, records):
    monkeypatch.setenv("NEXLA_API_URL", f"http://127.0.0.1:{closed_port()}/nexla-api")
    for module, argv in commands(records):
        result = run_main(module, *argv, "--max-attempts", "1")
        name = module.__name__
        assert result.out.strip(), f"{name}: nothing on stdout"
        error = failure_of(result)
        if module is health_check:
            assert (result.code, error["kind"]) == (3, "unknown"), name
        else:
            assert (result.code, error["kind"]) == (6, "transient"), (name, result.out)
        assert "Traceback" not in result.err, name


def test_every_command_prints_one_failure_document_when_the_key_is_refused(
        run_main, records, sandbox):
    for module, argv in commands(records):
        result = run_main(module, *argv, key="not-a-key")
        name = module.__name__
        if module is nexla_quickstart:
            continue  # it reports the refused key inside its own document
        if module is health_check:
            assert result.code == 3 and failure_of(result)["kind"] == "unknown", name
        else:
            assert result.code == 4 and failure_of(result)["kind"] == "auth", (name, result.out)
    assert writes(sandbox) == []


def test_usage_errors_print_a_failure_document_too(run_main, sandbox):
    result = run_main(list_resources, "--json", "--limit")
    assert result.code == 2 and failure_of(result)["kind"] == "bad_input"
    result = run_main(batch_operations, "pause", "--json", "--type", "flows", "--ids", "x")
    assert result.code == 2 and "--id" in failure_of(result)["message"]
    assert sandbox.control.requests() == []


def test_success_is_still_the_command_s_own_document(run_main):
    result = run_main(list_resources, "--type", "flows", "--json")
    assert result.code == 0 and isinstance(result.json(), list)


# ------------------------------------------------------------------------- journals


@pytest.fixture
def foreign_file(tmp_path):
    """Someone's 1 MB text file whose last line has no newline (it looks 'torn')."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"line of somebody's notes\n" * 40_000 + b"no newline at the end")
    return path


def journal_runs(path, records):
    return [
        (batch_operations, ["pause", "--type", "flows", "--ids", "1001", "--checkpoint", path,
                            "--resume"]),
        (batch_operations, ["pause", "--type", "flows", "--ids", "1001", "--checkpoint", path]),
        (batch_operations, ["pause", "--type", "flows", "--ids", "1001", "--checkpoint", path,
                            "--dry-run"]),
        (rotate_credential, ["--old", "11", "--new", "12", "--checkpoint", path, "--resume"]),
        (rotate_credential, ["--old", "11", "--new", "12", "--checkpoint", path]),
        (push_webhook, ["--source-id", "127", "--file", records, "--checkpoint", path]),
        (push_webhook, ["--source-id", "127", "--file", records, "--checkpoint", path,
                        "--dry-run"]),
    ]


def test_a_file_that_is_not_our_journal_is_refused_and_never_changed(
        run_main, sandbox, foreign_file, records):
    before = foreign_file.read_bytes()
    for module, argv in journal_runs(str(foreign_file), records):
        result = run_main(module, *argv, "--json")
        assert result.code == 2, (module.__name__, argv, result.err)
        assert "not a nexla-ops journal" in failure_of(result)["message"]
        assert foreign_file.read_bytes() == before, (module.__name__, argv)
    assert writes(sandbox) == []


def test_a_journal_of_another_operation_is_refused(run_main, sandbox, tmp_path, records):
    path = tmp_path / "push.ckpt"
    assert run_main(push_webhook, "--source-id", "127", "--file", records,
                    "--checkpoint", path).code == 0
    header = json.loads(path.read_text().splitlines()[0])
    assert header["journal"] == "nexla-ops" and header["operation"] == "push_webhook"
    before = path.read_bytes()
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001",
                      "--checkpoint", path, "--resume")
    assert result.code == 2 and "belongs to 'push_webhook'" in result.err
    assert path.read_bytes() == before


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_checkpoint_that_is_not_a_regular_file_is_refused_without_hanging(
        run_main, sandbox, tmp_path, kind):
    path = tmp_path / "ckpt"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    result = run_main(batch_operations, "pause", "--type", "flows", "--ids", "1001",
                      "--checkpoint", path, "--resume")
    assert result.code == 2 and "--checkpoint" in result.err
    assert writes(sandbox) == []


# ------------------------------------------------------------------------- --output


def test_output_through_a_symlink_writes_the_target_and_keeps_the_link(run_main, tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert run_main(list_resources, "--type", "flows", "--format", "json",
                    "--output", link).code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert isinstance(json.loads(target.read_text()), list)
    assert target.stat().st_mode & 0o777 == 0o640  # the file keeps its own permissions


def test_output_to_a_fifo_is_written_in_place(run_main, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(Path(fifo).read_text()), daemon=True)
    reader.start()
    result = run_main(health_check, "--all", "--format", "json", "--output", fifo,
                      "--state-file", tmp_path / "state.json")
    reader.join(timeout=30)
    assert result.code in (0, 1, 2) and fifo.is_fifo()
    assert json.loads(got[0])["summary"]["flows"] >= 1


def test_output_to_a_fifo_nobody_reads_fails_at_once(run_main, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = run_main(deploy_flow, "--config", MINIMAL_DEPLOY, "--plan", "--output", fifo)
    assert result.code == 1 and "--output: cannot write" in result.err and fifo.is_fifo()


def test_output_onto_a_directory_is_refused_before_anything_is_sent(run_main, sandbox, tmp_path):
    for module, argv in [(list_resources, ["--type", "flows"]),
                         (deploy_flow, ["--config", MINIMAL_DEPLOY, "--plan"])]:
        result = run_main(module, *argv, "--output", tmp_path, "--json")
        assert result.code == 2 and "is a directory" in failure_of(result)["message"]
    assert sandbox.control.requests() == []


def test_output_dash_is_stdout(run_main):
    result = run_main(deploy_flow, "--config", MINIMAL_DEPLOY, "--plan", "--output", "-",
                      "--json")
    assert result.code == 0 and result.json()["status"] == "planned"


# ------------------------------------------------------------------------- untrusted text


SPOOF = "evil\nOK       1001 orders: all good\r\x1b[2J\u202e"


def test_names_cannot_forge_lines_in_text_and_nagios_output(run_main, sandbox, tmp_path):
    # The name comes from the API, as anyone with write access to the flow could set it.
    from nexla_sdk import NexlaClient

    client = NexlaClient(service_key=sandbox.service_key, base_url=sandbox.url)
    client.request("PUT", "/data_sources/124", json={"name": SPOOF})  # flow 1002's origin
    for fmt in ("text", "nagios"):
        result = run_main(health_check, "--all", "--format", fmt,
                          "--state-file", tmp_path / "state.json")
        lines = result.out.splitlines()
        assert not any(line.startswith("OK       1001 orders: all good") for line in lines)
        assert "\x1b" not in result.out and "\r" not in result.out and "\u202e" not in result.out
        if fmt == "nagios":
            assert len(lines) == 1
    text = run_main(list_resources, "--type", "flows").out
    assert "evil\\nOK" in text and "\x1b" not in text


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(run_main, sandbox):
    from nexla_sdk import NexlaClient

    client = NexlaClient(service_key=sandbox.service_key, base_url=sandbox.url)
    ids = [s["id"] for s in sandbox.control.state("data_sources")][:4]
    for source_id, name in zip(ids, ['=HYPERLINK("http://x","y")', "+1+cmd", "@SUM(A1)", "-2+3"],
                               strict=True):
        client.request("PUT", f"/data_sources/{source_id}", json={"name": name})
    out = run_main(list_resources, "--type", "sources", "--format", "csv",
                   "--fields", "id,name").out
    import csv
    import io

    rows = {int(row["id"]): row["name"] for row in csv.DictReader(io.StringIO(out))}
    assert rows[ids[0]].startswith("'=") and rows[ids[1]] == "'+1+cmd"
    assert rows[ids[2]] == "'@SUM(A1)" and rows[ids[3]] == "'-2+3"


def test_output_to_dev_stdout_writes_through_the_pipe(run_script):
    result = run_script("health_check", "--all", "--format", "prometheus", "--output",
                        "/dev/stdout", "--state-file", "state.json")
    assert "nexla_flow_up" in result.out, result.err
