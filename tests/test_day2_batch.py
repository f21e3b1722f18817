"""batch_operations.py and its checkpoint journal (scripts/checkpoint.py) against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import batch_operations
import checkpoint

# --------------------------------------------------------------------------- journal (no API)


def test_journal_roundtrip_and_torn_tail(tmp_path):
    path = str(tmp_path / "j.jsonl")
    with checkpoint.Journal.open(path, resume=False) as journal:
        journal.write_plan({"op": "pause", "targets": [{"id": 1}]})
        journal.append({"event": "intent", "key": "flows:1"})
    # a kill in the middle of a write leaves half a line: it was never acknowledged
    with open(path, "ab") as handle:
        handle.write(b'{"event": "outcome", "key": "flo')
    with checkpoint.Journal.open(path, resume=True) as journal:
        assert [e["event"] for e in journal.events] == ["plan", "intent"]
        assert journal.items()["flows:1"] == {"intent": journal.events[1], "outcome": None}
        journal.append({"event": "outcome", "key": "flows:1", "status": "done"})
    lines = open(path, encoding="utf-8").read().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["plan", "intent", "outcome"]


def test_journal_refuses_reuse_corruption_and_a_second_process(tmp_path):
    path = str(tmp_path / "j.jsonl")
    with checkpoint.Journal.open(path, resume=False) as journal:
        journal.append({"event": "intent", "key": "a"})
        with pytest.raises(checkpoint.CheckpointError, match="in use"):
            checkpoint.Journal.open(path, resume=True)
    with pytest.raises(checkpoint.CheckpointError, match="--resume"):
        checkpoint.Journal.open(path, resume=False)
    with open(path, "ab") as handle:
        handle.write(b"garbage\n" + b'{"event": "outcome", "key": "a"}\n')
    with pytest.raises(checkpoint.CheckpointError, match="line 2"):
        checkpoint.Journal.open(path, resume=True)


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
        seen += [i for i in ids if batch_operations.in_shard(i, (index, 3))]
    assert sorted(seen) == ids
    sizes = [sum(batch_operations.in_shard(i, (k, 3)) for i in ids) for k in range(3)]
    assert min(sizes) > 600  # a hash, not a skewed split


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["explode", "--type", "flows", "--ids", "1"], "operation"),
        (["pause", "--type", "widgets", "--ids", "1"], "--type"),
        (["pause", "--type", "credentials", "--ids", "1"], "--type"),
        (["pause", "--type", "flows"], "targets"),
        (["pause", "--type", "flows", "--ids", "x"], "--ids"),
        (["tag", "--type", "sources", "--ids", "1"], "--tags"),
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
