"""Files we write and read: atomic replacement, fsynced JSONL appends, flock locks, and JSON or
YAML input files."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BadInput, LockBusy, OpsError
from .output import dumps
from .redact import one_line

STATE_DIR_ENV = "NEXLA_OPS_STATE_DIR"


def state_dir() -> Path:
    """The per-user directory for our state and locks: $NEXLA_OPS_STATE_DIR, else
    $XDG_STATE_HOME/nexla-ops, else ~/.local/state/nexla-ops (never the working directory)."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return Path(base) / "nexla-ops"


def target_name(api_url: str, name: str = "", *, prefix: str = "", suffix: str = "") -> str:
    """A file name for one target, the API URL plus a name (a deployment's, say): the same
    wherever a command runs from. A readable part from the name, and a hash of both."""
    import hashlib
    import re

    key = api_url.rstrip("/") + (f"\0{name}" if name else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:60]
    return f"{prefix}{readable + '-' if readable else ''}{digest}{suffix}"


def target_path(folder: str, api_url: str, name: str = "", **parts: str) -> Path:
    """state_dir()/folder/target_name(...): per-user state or a lock for one target."""
    return state_dir() / folder / target_name(api_url, name, **parts)


def _temp_prefix(path: str) -> str:
    """The temp file's name start: the target's name, cut so that a name near NAME_MAX still
    leaves room for the random part and the suffix."""
    return f".{os.path.basename(path)[:100]}."


def write_atomic(path: str | os.PathLike, text: str | bytes, *, mode: int = 0o644) -> None:
    """Write a file so readers see the old or the new content, never half: temp, fsync, rename."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(str(path)), suffix=".tmp", dir=directory)
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


class _Target:
    """Where --output goes once symlinks are followed: a regular file (or none yet), replaced
    atomically, or a character device or FIFO, written in place."""

    def __init__(self, path: str, field: str, private: bool = False):
        import stat

        self.field = field
        self.path = path
        if path.endswith(os.sep) and not os.path.isdir(path):
            raise BadInput(f"{field}: {path} names a directory (it ends with {os.sep}); "
                           "expected a file")
        try:
            info = os.stat(path)  # follows symlinks: /dev/stdout is a pipe or a terminal
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise BadInput(f"{field}: cannot use {path} ({exc.strerror or exc})") from None
        self.in_place = False
        self.mode = 0o644
        if info is None or stat.S_ISREG(info.st_mode):
            self.path = os.path.realpath(path)  # a symlink is followed, never replaced
        if info is None:
            if not os.path.isdir(os.path.dirname(self.path)):
                raise BadInput(f"{field}: directory {os.path.dirname(self.path)} does not exist")
        elif stat.S_ISDIR(info.st_mode):
            raise BadInput(f"{field}: {path} is a directory; expected a file")
        elif stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode):
            self.in_place = True  # /dev/null, /dev/stdout, a named pipe
        elif not stat.S_ISREG(info.st_mode):
            raise BadInput(f"{field}: {path} is not a regular file, a character device or a FIFO")
        else:
            self.mode = stat.S_IMODE(info.st_mode)  # keep the file's own permissions
        if private:
            self.mode = 0o600  # it holds a config or a backup: the owner's alone


def check_output_path(path: str | None, field: str = "--output") -> None:
    """BadInput now, before anything is sent, for an --output that open_output would refuse,
    or whose directory takes no new file (its temp file): a long read must not end unwritten."""
    if path in (None, "-"):
        return
    if not os.fspath(path):
        raise BadInput(f"{field}: expected a file path, got ''")
    target = _Target(os.fspath(path), field)
    if target.in_place:
        return
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(target.path), suffix=".tmp",
                                     dir=os.path.dirname(target.path))
    except OSError as exc:
        raise BadInput(f"{field}: cannot write in {os.path.dirname(target.path)} "
                       f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


_reports_written = 0  # --output files written in this process (see report_count)


def report_count() -> int:
    """How many reports went to an --output file so far: a command whose report went there
    has printed its document, if not on stdout (main_wrapper's failure document is then not
    due, and a cron job that sent its report to a file prints nothing)."""
    return _reports_written


@contextlib.contextmanager
def open_output(path: str | None, field: str = "--output", *, private: bool = False,
                binary: bool = False):
    """A text stream for --output (bytes with `binary`). None or '-' is stdout. A regular file
    (followed through symlinks) is replaced atomically once everything is written: a temp file
    beside it, never the content in memory. A character device or FIFO is written in place.
    Anything else is BadInput; a failed write is an OpsError naming the file. `private`: a file
    is 0600."""
    if path in (None, "-"):
        yield sys.stdout.buffer if binary else sys.stdout
        sys.stdout.flush()
        return
    how = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": ""}
    target = _Target(os.fspath(path), field, private)
    try:
        if target.in_place:
            # O_NONBLOCK: a FIFO nobody reads must fail at once (ENXIO), not hang.
            fd = os.open(target.path, os.O_WRONLY | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            with os.fdopen(fd, **how) as handle:
                yield handle
            return
        directory = os.path.dirname(target.path)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.path), suffix=".tmp",
                                   dir=directory)
        try:
            with os.fdopen(fd, **how) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, target.mode)
            os.replace(tmp, target.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise OpsError(f"{field}: cannot write {path} ({exc.strerror or exc})") from None
    if field == "--output":
        global _reports_written
        _reports_written += 1


def write_output(path: str | None, data: str | bytes, field: str = "--output", *,
                 private: bool = False) -> None:
    """All of `data` (text, or bytes such as a chart) to --output, as open_output does it."""
    with open_output(path, field, private=private, binary=isinstance(data, bytes)) as stream:
        stream.write(data)


# Input files are read whole, so they must be regular files of a bounded size: a FIFO, a device
# (/dev/zero) or a huge file would otherwise hang or exhaust memory.
MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_INPUT_ENV = "NEXLA_OPS_MAX_INPUT_BYTES"  # raises (or lowers) the limit
MAX_DEPTH = 100  # nesting deeper than any real config; deeper input is an attack or a mistake
MAX_YAML_ALIASES = 1000  # a billion-laughs document expands aliases exponentially
MAX_INT_DIGITS = 30  # larger than any id or count; a 5000-digit number is bad input


def input_limit() -> int:
    value = os.environ.get(MAX_INPUT_ENV, "").strip()
    if not value:
        return MAX_INPUT_BYTES
    if not (value.isascii() and value.isdigit()) or int(value) <= 0:
        raise BadInput(f"{MAX_INPUT_ENV}: expected a positive number of bytes, got {value[:40]!r}")
    return int(value)


def read_input_text(path: str | os.PathLike, *, limit: int | None = None) -> str:
    """The UTF-8 text of an input file ('-' is stdin); BadInput unless it is a regular file (or
    stdin) of at most `limit` bytes (MAX_INPUT_BYTES, or NEXLA_OPS_MAX_INPUT_BYTES)."""
    import stat

    name = os.fspath(path)
    limit = input_limit() if limit is None else limit
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            # O_NONBLOCK: opening a FIFO with no writer must not hang; we refuse it right after.
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as fh:
                info = os.fstat(fh.fileno())
                if not stat.S_ISREG(info.st_mode):
                    kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
                    raise BadInput(f"{name}: {kind}; expected a regular file")
                if info.st_size > limit:
                    raise BadInput(f"{name}: {info.st_size} bytes is over the {limit}-byte "
                                   f"limit (raise it with {MAX_INPUT_ENV})")
                data = fh.read(limit + 1)
    except IsADirectoryError:
        raise BadInput(f"{name}: a directory; expected a regular file") from None
    except OSError as exc:
        raise BadInput(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    if len(data) > limit:
        raise BadInput(f"{name}: over the {limit}-byte limit (raise it with {MAX_INPUT_ENV})")
    if b"\x00" in data:
        raise BadInput(f"{name}: binary data (NUL bytes); expected UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{name}: not UTF-8 text") from None


MAX_VALUES = 2_000_000  # values after expanding YAML aliases; a bomb expands far past this


# A "\ud800" escape (JSON, YAML) decodes to half a UTF-16 pair: no text, and any UTF-8 write
# of it (stdout, a file, a metric label) raises.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(items, name: str) -> None:
    if any(isinstance(item, str) and _LONE_SURROGATE.search(item) for item in items):
        raise BadInput(f"{name}: a string holds a lone surrogate escape (\\ud800-\\udfff); "
                       "expected Unicode text")


def check_tree(value: Any, name: str, *, depth_limit: int = MAX_DEPTH) -> Any:
    """BadInput when containers nest deeper than `depth_limit`, when the value (with YAML
    aliases expanded, as every consumer will see it) holds more than MAX_VALUES values, when
    it holds a non-finite float or an integer of more than MAX_INT_DIGITS digits, or a string
    (or key) with a lone surrogate escape. Iterative, so no input can exhaust the stack."""
    import math

    stack = [(value, 1)]
    seen = 0
    while stack:
        current, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise BadInput(f"{name}: more than {MAX_VALUES} values (a YAML alias bomb?)")
        if isinstance(current, (dict, list)):
            if depth > depth_limit:
                raise BadInput(f"{name}: nested more than {depth_limit} levels deep")
            if isinstance(current, dict):
                _refuse_lone_surrogates(current, name)  # the keys; the values are children
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(current, str):
            _refuse_lone_surrogates((current,), name)
        elif isinstance(current, float) and not math.isfinite(current):
            raise BadInput(f"{name}: {current} is not a finite number")
        elif (isinstance(current, int) and not isinstance(current, bool)
              and abs(current) >= 10 ** MAX_INT_DIGITS):
            raise BadInput(f"{name}: a number with more than {MAX_INT_DIGITS} digits is out "
                           "of range")
    return value


@functools.cache
def _yaml_loader():
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader that refuses alias bombs and documents nested too deep."""

        aliases = 0
        depth = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} aliases")
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node, deep=False):
            # A key given twice is an error: the last would silently win.
            seen = set()
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {str(key)[:60]!r} appears twice in one mapping",
                            key_node.start_mark)
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader reports it itself
                    break
            return super().construct_mapping(node, deep)

    return BoundedLoader


def load_structured_file(path: str | os.PathLike) -> Any:
    """Load JSON or YAML (by extension; '-' reads JSON/YAML from stdin). BadInput on errors,
    on anything but a regular UTF-8 file under the size limit, on nesting deeper than
    MAX_DEPTH, on YAML alias bombs, and on non-finite or huge numbers."""
    name = os.fspath(path)
    text = read_input_text(name)
    if name.lower().endswith(".json"):
        return parse_json(text, name)
    import yaml  # YAML is a superset of JSON, so it also reads .json-like content

    try:
        value = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc) or "parse error"
        raise BadInput(f"{name}: invalid YAML{where}: {problem}") from exc
    except RecursionError:
        raise BadInput(f"{name}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise BadInput(f"{name}: {one_line(str(exc), 120)}") from None
    return check_tree(value, name)


def parse_json(text: str, name: str) -> Any:
    """json.loads for input: BadInput (naming `name`, the line and column) on invalid JSON,
    NaN or Infinity, integers of more than MAX_INT_DIGITS digits and nesting deeper than
    MAX_DEPTH."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_bounded_int,
                           object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                       f"{exc.msg}") from exc
    except RecursionError:
        raise BadInput(f"{name}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # from _reject_constant / _bounded_int
        raise BadInput(f"{name}: {exc}") from None
    return check_tree(value, name)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object; a key given twice is an error (the last would silently win)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {twice[:60]!r} appears twice in one object")
    return out


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a finite number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a number with {len(text)} digits is out of range")
    return int(text)
