"""Files we write and read: atomic replacement, fsynced JSONL appends, flock locks, and JSON or
YAML input files."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BadInput, LockBusy
from .output import dumps


def write_atomic(path: str | os.PathLike, text: str | bytes, *, mode: int = 0o644) -> None:
    """Write a file so readers see the old or the new content, never half: temp, fsync, rename."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def append_jsonl(path: str | os.PathLike, record: Any) -> None:
    """Append one redacted JSON line, flushed and fsynced (audit trails, journals)."""
    line = memoryview((dumps(record, indent=None) + "\n").encode("utf-8"))
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        while line:  # a write may be partial (a signal, a nearly full disk)
            line = line[os.write(fd, line):]
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_file(path: str | os.PathLike, *, wait: float = 0.0,
              on_wait: Callable[[float], None] | None = None):
    """Take an exclusive flock on `path` (created if missing), so overlapping runs take turns.

    Returns the open lock file: closing it (or leaving its with-block) releases the lock, and
    the kernel releases it if the process dies. Waits up to `wait` seconds, calling
    on_wait(seconds waited) between tries, then raises LockBusy. OSError if it cannot be
    opened. The file holds the holder's pid, for a person to read.
    """
    import fcntl

    fd = os.open(os.fspath(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait:
                    raise LockBusy(f"another process holds the lock {path}") from None
                if on_wait is not None:
                    on_wait(waited)
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def load_structured_file(path: str | os.PathLike) -> Any:
    """Load JSON or YAML (by extension; '-' reads JSON/YAML from stdin). BadInput on errors."""
    name = os.fspath(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise BadInput(f"{name}: not UTF-8 text") from None
    if name.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                           f"{exc.msg}") from exc
    import yaml  # YAML is a superset of JSON, so it also reads .json-like content

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "parse error"
        raise BadInput(f"{name}: invalid YAML{where}: {problem}") from exc
