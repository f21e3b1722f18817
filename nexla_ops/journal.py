"""Crash-safe JSONL journal shared by batch_operations, rotate_credential and push_webhook.

The first line is a header that says the file is ours: ``{"journal": "nexla-ops", "format": 2,
"operation": "batch_operations", "created_at": ...}``. A file that does not start with it (or
with a format-1 ``plan`` line, written before headers existed) is someone else's: it is refused
and never written to or truncated. Then one JSON object per line, appended with a single write()
and fsynced before the caller goes on, so after `kill -9` (or a power cut) the file holds every
event that was acknowledged. The protocol the callers follow:

* ``plan``    the first event: what the run will do, frozen, so a resume does not re-evaluate filters
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

FORMAT_VERSION = 2
MAGIC = "nexla-ops"
_HEADER_PROBE = 4096  # bytes read to recognise a header before anything else is read


class CheckpointError(Exception):
    """The checkpoint cannot be used (not ours, corrupt, in use, or for another run)."""


def header(operation: str) -> dict:
    import datetime as dt

    return {"journal": MAGIC, "format": FORMAT_VERSION, "operation": operation,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _check_owner(path: str, first_line: bytes, operation: str) -> None:
    """CheckpointError unless the first line is our header for `operation` (or a format-1 plan)."""
    try:
        first = json.loads(first_line)
    except ValueError:
        first = None
    if isinstance(first, dict) and first.get("journal") == MAGIC:
        if first.get("format") != FORMAT_VERSION:
            raise CheckpointError(f"checkpoint {path}: journal format {first.get('format')!r} "
                                  f"is not {FORMAT_VERSION}; use a new checkpoint file")
        if first.get("operation") != operation:
            raise CheckpointError(f"checkpoint {path} belongs to {first.get('operation')!r}, "
                                  f"not {operation}; use a new checkpoint file")
        return
    if isinstance(first, dict) and first.get("event") == "plan" and first.get("version") == 1:
        return  # written by format 1, which had no header; its plan still guards the resume
    raise CheckpointError(f"checkpoint {path} is not a nexla-ops journal (no header on its "
                          "first line); refusing to touch it")


def _open_regular(path: str, flags: int) -> int:
    """os.open that refuses anything but a regular file, without blocking on a FIFO."""
    import stat

    fd = os.open(path, flags | os.O_NONBLOCK, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CheckpointError(f"checkpoint {path} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def read_events(path: str, operation: str) -> tuple[list[dict], int]:
    """Parse our journal for `operation` without changing it; returns (events after the
    header, byte length of the intact part). CheckpointError when the file is not ours."""
    try:
        fd = _open_regular(path, os.O_RDONLY)
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a directory") from None
    with os.fdopen(fd, "rb") as handle:
        probe = handle.read(_HEADER_PROBE)
        if not probe:
            return [], 0
        _check_owner(path, probe.split(b"\n", 1)[0], operation)
        data = probe + handle.read()
    return _parse(path, data)


def _parse(path: str, data: bytes) -> tuple[list[dict], int]:
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
    if events and events[0].get("journal") == MAGIC:
        events = events[1:]
    return events, good_end


class Journal:
    """An open, locked, append-only checkpoint file."""

    def __init__(self, path: str, events: list[dict], fd: int):
        self.path = path
        self.events = events
        self._fd = fd
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str, *, resume: bool, operation: str) -> Journal:
        """Open for a new run of `operation` (the file must be absent or empty) or for
        ``resume`` (the file must be our journal for `operation`)."""
        try:
            fd = _open_regular(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        except IsADirectoryError:
            raise CheckpointError(f"checkpoint {path} is a directory") from None
        try:
            size = os.fstat(fd).st_size
            if size:
                # Ownership first: nothing below may touch a file that is not ours.
                _check_owner(path, os.pread(fd, _HEADER_PROBE, 0).split(b"\n", 1)[0], operation)
                if not resume:
                    raise CheckpointError(
                        f"checkpoint {path} already holds a run; pass --resume to continue it "
                        "or remove the file to start over")
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    raise CheckpointError(
                        f"checkpoint {path} is in use by another running process"
                    ) from exc
            if size:
                data = os.pread(fd, os.fstat(fd).st_size, 0)
                events, good_end = _parse(path, data)
                if good_end < len(data):
                    os.ftruncate(fd, good_end)  # drop the torn tail: the next line starts clean
                if not _ends_with_newline(fd, good_end):
                    os.write(fd, b"\n")
            else:
                events = []
                _write_all(fd, (json.dumps(header(operation), sort_keys=True) + "\n").encode())
            os.fsync(fd)
            if not size:
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
            _write_all(self._fd, line)
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


def open_checkpoint(path: str, *, resume: bool, operation: str) -> Journal:
    """Journal.open for a command's --checkpoint FILE: a file that cannot serve is bad input
    naming the flag."""
    from .errors import BadInput

    try:
        return Journal.open(path, resume=resume, operation=operation)
    except CheckpointError as exc:
        raise BadInput(f"--checkpoint: {exc}") from None
    except OSError as exc:
        raise BadInput(f"--checkpoint: cannot open {path} ({exc.strerror})") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # os.write may be partial on some filesystems
        view = view[os.write(fd, view):]


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
