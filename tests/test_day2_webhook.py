"""push_webhook.py against the sandbox's webhook (source 127, which does not deduplicate, like
Nexla): lost answers are never silently re-sent, checkpoints resume, the key stays secret."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conftest import CANARY, kill9_while_held
from nexla_ops.commands import push_webhook as pw

WEBHOOK = 127
PATH = f"/webhook/{WEBHOOK}"


@pytest.fixture
def records_file(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"event": "view", "n": i}) + "\n" for i in range(7)))
    return str(path)


@pytest.fixture
def push(run_main, records_file):
    """The run most tests make: records_file to the demo webhook in batches of 3, --json."""

    def run(*extra):
        return run_main(pw, "--source-id", WEBHOOK, "--file", records_file, "--batch-size", 3,
                        "--json", *extra)

    return run


def received(sandbox):
    return [r["record"] for r in sandbox.control.state("webhook_records")]


def posts(sandbox):
    return [r for r in sandbox.control.requests() if r["path"] == PATH]


def batches(doc, key):
    return [b["batch"] for b in doc[key]]


def test_sends_batches_with_stable_dedup_attributes(sandbox, push):
    result = push()
    doc = result.json()
    assert result.code == 0 and doc["ok"]
    assert batches(doc, "sent") == [0, 1, 2] and doc["records_sent"] == doc["processed"] == 7
    assert doc["target"]["dataset_id"] == WEBHOOK
    assert len(posts(sandbox)) == 3
    got = received(sandbox)
    digest = doc["input"]["sha256"][:16]
    assert sorted(r["n"] for r in got) == list(range(7))
    for record in got:
        assert record[pw.ID_ATTR] == f"{digest}:{record['n']}"
        assert record[pw.BATCH_ATTR] == record["n"] // 3


def test_lost_response_is_in_doubt_never_counted_twice(sandbox, push, tmp_path):
    checkpoint = str(tmp_path / "push.ckpt")
    # Batch 1 reaches the webhook and is stored, but the answer is a 502.
    sandbox.control.add_fault(method="POST", path=f"^{PATH}$", action="commit_then_fail",
                              fail_with=502, skip=1, times=1)
    result = push("--checkpoint", checkpoint)
    doc = result.json()
    assert result.code == 7
    assert batches(doc, "sent") == [0] and batches(doc, "in_doubt") == [1]
    assert batches(doc, "pending") == [2]
    assert "batches in doubt: 1 (records 3-5)" in result.err
    assert len(posts(sandbox)) == 2  # no retry of the POST: not by the SDK, not by us
    assert len(received(sandbox)) == 6

    # Re-run: batch 0 skipped, batch 1 left alone (still in doubt), batch 2 sent.
    result = push("--checkpoint", checkpoint)
    doc = result.json()
    assert result.code == 7
    assert batches(doc, "skipped") == [0] and batches(doc, "sent") == [2]
    assert batches(doc, "in_doubt") == [1]
    ids = Counter(r[pw.ID_ATTR] for r in received(sandbox))
    assert len(ids) == 7 and set(ids.values()) == {1}  # every record exactly once

    # The operator checked the nexset: record batch 1 as delivered, without sending.
    before = len(posts(sandbox))
    result = push("--checkpoint", checkpoint, "--accept-in-doubt")
    assert result.code == 0 and batches(result.json(), "accepted") == [1]
    result = push("--checkpoint", checkpoint)
    doc = result.json()
    assert result.code == 0 and batches(doc, "skipped") == [0, 1, 2] and doc["sent"] == []
    assert len(posts(sandbox)) == before and len(received(sandbox)) == 7


def test_resend_in_doubt_is_at_least_once_with_identical_ids(sandbox, push):
    sandbox.control.add_fault(method="POST", path=f"^{PATH}$", action="commit_then_fail",
                              fail_with="drop", times=1)
    result = push("--resend-in-doubt")
    assert result.code == 0, result.err
    assert "re-sending (--resend-in-doubt)" in result.err
    assert len(posts(sandbox)) == 4
    ids = Counter(r[pw.ID_ATTR] for r in received(sandbox))
    # Documented semantics: batch 0 arrived twice, and the copies share their _nexla_ops_id.
    assert len(ids) == 7 and sorted(ids.values()) == [1, 1, 1, 1, 2, 2, 2]


def test_rate_limited_batch_is_retried_and_delivered_once(sandbox, push):
    sandbox.control.add_fault(method="POST", path=f"^{PATH}$", action="status", status=429,
                              retry_after=0, skip=1, times=1)
    assert push().code == 0
    assert [r["status"] for r in posts(sandbox)] == [200, 429, 200, 200]
    assert len(received(sandbox)) == 7


def test_unreachable_exits_6_and_resume_skips_acknowledged(sandbox, push, tmp_path):
    checkpoint = str(tmp_path / "push.ckpt")
    sandbox.control.add_fault(method="POST", path=f"^{PATH}$", action="status", status=429,
                              retry_after=0, skip=2, times=2)
    result = push("--checkpoint", checkpoint, "--max-attempts", 2)
    doc = result.json()
    assert result.code == 6
    assert batches(doc, "sent") == [0, 1] and batches(doc, "not_sent") == [2]
    assert len(received(sandbox)) == 6
    result = push("--checkpoint", checkpoint)
    doc = result.json()
    assert result.code == 0
    assert batches(doc, "skipped") == [0, 1] and batches(doc, "sent") == [2]
    assert sorted(r["n"] for r in received(sandbox)) == list(range(7))


def test_refused_batch_exits_1(sandbox, push):
    sandbox.control.add_fault(method="POST", path=f"^{PATH}$", action="status", status=400,
                              body={"message": "body: too large", "code": 400}, times=1)
    result = push()
    doc = result.json()
    assert result.code == 1
    assert batches(doc, "rejected") == [0] and "too large" in doc["rejected"][0]["reason"]
    assert received(sandbox) == [] and len(posts(sandbox)) == 1


def sending(checkpoint, key):
    """True once the journal holds the intent (written before the POST) for batch `key`."""
    if not checkpoint.exists():
        return False
    lines = [json.loads(line) for line in checkpoint.read_text().splitlines() if line.strip()]
    return any(e.get("event") == "intent" and e.get("key") == key for e in lines)


def test_kill_during_send_leaves_the_batch_in_doubt(sandbox, spawn_script, run_script,
                                                    records_file, tmp_path):
    checkpoint = tmp_path / "push.ckpt"
    argv = ("--source-id", WEBHOOK, "--file", records_file, "--batch-size", 3,
            "--checkpoint", checkpoint)
    # Batch 1's POST is held 1.5 s by the server; the client is killed while waiting, and the
    # server still commits the held batch after the client died.
    fault = sandbox.control.add_fault(method="POST", path=f"^{PATH}$", action="delay",
                                      delay_ms=1500, skip=1, times=1)
    proc = spawn_script("push_webhook", *argv)
    kill9_while_held(sandbox, proc, fault, "batch 1's POST")
    assert sending(checkpoint, "1")  # its intent was journaled before the POST
    assert len(received(sandbox)) == 6

    result = run_script("push_webhook", *argv, "--json")
    doc = result.json()
    assert result.code == 7
    assert batches(doc, "skipped") == [0] and batches(doc, "sent") == [2]
    assert doc["in_doubt"][0]["batch"] == 1
    assert doc["in_doubt"][0]["reason"] == "interrupted while sending"
    ids = Counter(r[pw.ID_ATTR] for r in received(sandbox))
    assert len(ids) == 7 and set(ids.values()) == {1}


def test_api_key_is_never_printed(run_script, sandbox, sdk_client, records_file, script_cwd):
    key = sdk_client.sources.get(WEBHOOK).api_keys[0]["api_key"]
    checkpoint = script_cwd / "push.ckpt"
    sandbox.control.add_fault(method="POST", path=f"^{PATH}$", action="commit_then_fail",
                              fail_with=502, times=1)
    result = run_script("push_webhook", "--source-id", WEBHOOK, "--file", records_file,
                        "--checkpoint", checkpoint, "--debug", "--json")
    assert result.code == 7
    for text in (result.out, result.err, checkpoint.read_text()):
        assert key not in text
    # A key from the environment (and one pasted into the URL) is just as secret.
    url = sdk_client.sources.get(WEBHOOK).api_keys[0]["url"]
    for env, target in (({"NEXLA_WEBHOOK_API_KEY": CANARY}, url),
                        ({"NEXLA_WEBHOOK_API_KEY": None}, f"{url}?api_key={CANARY}")):
        result = run_script("push_webhook", "--url", target, "--file", records_file, "--debug",
                            env=env)
        assert result.code == 4, result.err
        assert CANARY not in result.out + result.err
        assert "rejected" in result.err


def test_url_with_key_from_environment(sandbox, api_env, capsys, records_file, sdk_client,
                                       monkeypatch):
    key = sdk_client.sources.get(WEBHOOK).api_keys[0]
    monkeypatch.setenv("NEXLA_WEBHOOK_API_KEY", key["api_key"])
    # --url needs no Nexla API credentials; run_main would set the service key, so call main()
    monkeypatch.delenv("NEXLA_SERVICE_KEY")
    sandbox.control.clear_requests()
    code = pw.main(["--url", key["url"], "--file", records_file, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["records_sent"] == 7
    assert [r["path"] for r in sandbox.control.requests()] == [PATH]


def test_csv_and_json_inputs(sandbox, run_main, tmp_path):
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("id,name\n1,ana\n2,ben\n")
    json_file = tmp_path / "rows.json"
    json_file.write_text(json.dumps([{"id": 3, "tags": ["x"]}]))
    assert run_main(pw, "--source-id", WEBHOOK, "--file", csv_file,
                    "--no-dedup-attributes").code == 0
    assert run_main(pw, "--source-id", WEBHOOK, "--file", json_file).code == 0
    got = received(sandbox)
    assert {"id": "1", "name": "ana"} in got and {"id": "2", "name": "ben"} in got
    assert any(r["id"] == 3 and r["tags"] == ["x"] and pw.ID_ATTR in r for r in got)


def test_dry_run_sends_and_writes_nothing(sandbox, push, tmp_path):
    checkpoint = tmp_path / "push.ckpt"
    result = push("--checkpoint", checkpoint, "--dry-run")
    doc = result.json()
    assert result.code == 0 and doc["dry_run"]
    assert [b["would_send"] for b in doc["pending"]] == [3, 3, 1]
    assert posts(sandbox) == [] and not checkpoint.exists()


def test_checkpoint_of_another_file_is_refused(run_main, push, tmp_path):
    checkpoint = str(tmp_path / "push.ckpt")
    assert push("--checkpoint", checkpoint).code == 0
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    result = run_main(pw, "--source-id", WEBHOOK, "--file", other, "--batch-size", 3,
                      "--checkpoint", checkpoint)
    assert result.code == 2 and "written for a different run" in result.err


def test_source_without_webhook_key_fails(sandbox, run_main, records_file):
    result = run_main(pw, "--source-id", 123, "--file", records_file)
    assert result.code == 1 and "not a webhook source" in result.err
    assert posts(sandbox) == []


@pytest.mark.parametrize("argv, field", [
    (["--source-id", "127", "--url", "http://127.0.0.1/webhook/1"], "--source-id/--url"),
    (["--source-id", "127", "--batch-size", "0"], "--batch-size"),
    (["--url", "ftp://x/y"], "--url"),
    (["--source-id", "127", "--accept-in-doubt"], "--accept-in-doubt"),
])
def test_bad_arguments_exit_2_before_any_request(sandbox, run_main, records_file, argv, field):
    result = run_main(pw, "--file", records_file, *argv)
    assert result.code == 2 and field in result.err and result.out == ""
    assert sandbox.control.requests() == []


@pytest.mark.parametrize("name, content, message", [
    ("a.jsonl", '{"a": 1}\n{"b": \n', "line 2: invalid JSON"),
    ("a.jsonl", '{"a": 1}\n[1]\n', "line 2: expected a JSON object"),
    ("a.json", '[{"a": 1}, 2]', "item 1: expected a JSON object"),
    ("a.csv", "a,b\n1,2,3\n", "line 2: more values than header columns"),
    ("a.txt", "{}", "--format"),
])
def test_bad_files_exit_2_naming_the_problem(sandbox, run_main, tmp_path, name, content,
                                             message):
    path = tmp_path / name
    path.write_text(content)
    result = run_main(pw, "--source-id", WEBHOOK, "--file", path)
    assert result.code == 2 and message in result.err
    assert sandbox.control.requests() == []


def test_resume_across_processes_with_the_embedded_sandbox(run_script, script_cwd):
    """--sandbox gets a new port per process; the checkpoint still matches (source id)."""
    (script_cwd / "r.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    argv = ("push_webhook", "--sandbox", "--source-id", WEBHOOK, "--file", "r.jsonl",
            "--checkpoint", "c.jsonl", "--json")
    first = run_script(*argv, sandbox=False)
    second = run_script(*argv, sandbox=False)
    assert first.code == second.code == 0, first.err + second.err
    assert batches(first.json(), "sent") == [0]
    assert batches(second.json(), "skipped") == [0] and second.json()["sent"] == []
