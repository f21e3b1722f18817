"""Crash-safe JSONL journal shared by batch_operations.py and rotate_credential.py.

One JSON object per line, appended with a single write() and fsynced before the caller goes on,
so after `kill -9` (or a power cut) the file holds every event that was acknowledged. The
protocol the callers follow:

* ``plan``    first line: what the run will do, frozen, so a resume does not re-evaluate filters
              (after half the flows are paused, ``--status ACTIVE`` would match different ones);
* ``intent``  written *before* an item's first write;
* ``outcome`` written *after* the item is settled (``done`` or ``failed``).

An item with an intent and no outcome is "in doubt": its write may or may not have reached the
server, so the caller re-reads its state before touching it again.

A kill can tear the last line; reading drops that torn tail (an intent that never made it to
disk means no write was sent, because the write only starts after the fsync). A torn line
anywhere else means the file was edited or corrupted, and is refused.

The journal also takes an exclusive advisory lock, so two overlapping cron runs cannot work
from the same checkpoint at once; the kernel releases it when the process dies.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable

try:  # POSIX only; elsewhere the journal simply goes without the overlap guard.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

FORMAT_VERSION = 1


class CheckpointError(Exception):
    """The checkpoint cannot be used (missing, corrupt, in use, or for another run)."""


def read_events(path: str) -> tuple[list[dict], int]:
    """Parse the journal; returns (events, byte length of the intact part)."""
    with open(path, "rb") as handle:
        data = handle.read()
    events: list[dict] = []
    good_end = 0
    lines = data.split(b"\n")
    for index, raw in enumerate(lines):
        is_last = index == len(lines) - 1
        if not raw.strip():
            if not is_last:
                good_end += len(raw) + 1
            continue
        try:
            event = json.loads(raw)
            if not isinstance(event, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            if is_last:  # torn by a kill in the middle of a write: never acknowledged
                break
            raise CheckpointError(f"checkpoint {path}: line {index + 1} is not valid JSON") from exc
        if is_last:  # complete JSON but no newline: the write was cut just before "\n"
            events.append(event)
            good_end += len(raw)
            break
        events.append(event)
        good_end += len(raw) + 1
    return events, good_end


class Journal:
    """An open, locked, append-only checkpoint file."""

    def __init__(self, path: str, events: list[dict], fd: int):
        self.path = path
        self.events = events
        self._fd = fd
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str, *, resume: bool) -> Journal:
        """Open for a new run (file must be absent or empty) or for ``resume``."""
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if exists and not resume:
            raise CheckpointError(
                f"checkpoint {path} already holds a run; pass --resume to continue it "
                "or remove the file to start over"
            )
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    raise CheckpointError(
                        f"checkpoint {path} is in use by another running process"
                    ) from exc
            events, good_end = read_events(path) if exists else ([], 0)
            if good_end < os.fstat(fd).st_size:
                os.ftruncate(fd, good_end)  # drop the torn tail so the next line starts clean
            if good_end and not _ends_with_newline(fd, good_end):
                os.write(fd, b"\n")
            os.fsync(fd)
            if not exists:
                _fsync_dir(path)  # make the new file's directory entry durable too
        except BaseException:
            os.close(fd)
            raise
        return cls(path, events, fd)

    def append(self, event: dict) -> dict:
        """Write one event durably; returns it (with its timestamp)."""
        event = {**event, "ts": round(time.time(), 3)}
        line = (json.dumps(event, sort_keys=True, default=str) + "\n").encode()
        with self._lock:
            view = memoryview(line)
            while view:  # os.write may be partial on some filesystems
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        self.events.append(event)
        return event

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reading helpers -------------------------------------------------------------------

    def plan(self) -> dict | None:
        return next((e for e in self.events if e.get("event") == "plan"), None)

    def write_plan(self, plan: dict) -> dict:
        return self.append({"event": "plan", "version": FORMAT_VERSION, **plan})

    def of(self, kinds: Iterable[str]) -> list[dict]:
        wanted = set(kinds)
        return [e for e in self.events if e.get("event") in wanted]

    def items(self) -> dict[str, dict]:
        """key -> {"intent": last intent or None, "outcome": last outcome or None}.

        An outcome older than the item's latest intent does not count: the item was retried
        (e.g. a failed item picked up again by --resume) and that retry is still in doubt.
        """
        state: dict[str, dict] = {}
        for event in self.events:
            kind = event.get("event")
            if kind not in ("intent", "outcome") or "key" not in event:
                continue
            entry = state.setdefault(event["key"], {"intent": None, "outcome": None})
            if kind == "intent":
                entry["intent"] = event
                entry["outcome"] = None
            else:
                entry["outcome"] = event
        return state


def _ends_with_newline(fd: int, size: int) -> bool:
    return os.pread(fd, 1, size - 1) == b"\n"


def _fsync_dir(path: str) -> None:
    try:
        dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class MemoryJournal(Journal):
    """The same interface without a file: runs without --checkpoint still track what they did
    (rotate_credential rolls back from it)."""

    def __init__(self) -> None:
        super().__init__("<memory>", [], -1)

    def append(self, event: dict) -> dict:
        event = {**event, "ts": round(time.time(), 3)}
        with self._lock:
            self.events.append(event)
        return event

    def close(self) -> None:
        pass
