"""Shared helpers for the nexla-ops scripts: config, one retry policy, errors, output.

Every script is a thin argparse shell::

    import nexla_ops
    def run(args, ctx): ...                 # ctx is a nexla_ops.Context
    def main(argv=None): return nexla_ops.main_wrapper(run, build_parser(), argv)

Importing this module never imports nexla_sdk, pydantic, tenacity or dotenv (``--help`` stays
fast and SDK-free); they are imported on first use.

API
---
Exit codes   EXIT_OK .. EXIT_PARTIAL (0..7), PAGE_SIZE = 100 (Nexla's largest per_page).
Errors       OpsError(message, detail=, status=) with .exit_code/.message/.detail/.status, and
             BadInput (2), ConfigError (3), AuthError (4), NotFound (5), Transient (6),
             UnknownOutcome (6, a POST whose answer was lost), LockBusy (6, lock_file),
             Partial (7, .leftovers),
             ApiError (1: the API refused, .status has the HTTP status, or an unexpected
             response shape).
CLI          add_common_args(parser, json_flag=True, timeout_flag=True);
             main_wrapper(run, parser, argv=None, exit_map=None) parses, sets up stderr
             logging, runs run(args, ctx) and maps any exception to an exit code with ONE
             redacted stderr line (traceback with --debug).
Context      ctx.config (Config, lazily resolved), ctx.client (NexlaClient, SDK retries off,
             one token per process), ctx.call(fn, *a, idempotent=True, what="GET /x",
             budget_ends=None, **kw) (budget_ends: a time.monotonic() value to finish by),
             ctx.request(method, path, idempotent=None, budget_ends=None, what=None, **kw) (raw
             client.request; HTTP timeouts also fit the budget; a retried DELETE meeting 404
             after a lost answer counts as done),
             ctx.paginate(fetch_or_path, per_page=PAGE_SIZE, limit=None, params=None),
             ctx.create_once(find, create, what=), ctx.current_user(), ctx.out(obj, fmt=None),
             ctx.log/ctx.warn/ctx.debug(msg), ctx.progress(text)/ctx.progress_done().
             Errors from ctx.call/request are ALWAYS OpsError subclasses (the SDK exception is
             kept as __cause__): catch nexla_ops.NotFound, not nexla_sdk's NotFoundError.
Config       resolve_config(args) -> Config (pydantic; secrets are SecretStr). Precedence: CLI
             flag > environment > .env (cwd, or --env-file) > default. build_client(config).
             env_setting(name, args) for a variable beyond Config (environment, else .env).
Retry        RetryPolicy(attempts, max_wait, deadline, backoff).call(fn, *a, idempotent, what)
             classify(exc) -> Failure(kind, reason, status, retry_after).
Text/data    redact(obj_or_str), register_secret(value), sanitize_text(s), to_jsonable(obj),
             emit(obj, fmt, stream), format_table(rows, columns), write_atomic(path, text),
             append_jsonl(path, record), lock_file(path, wait=, on_wait=),
             load_structured_file(path), parse_id(value, field), parse_duration(text),
             parse_time(text) (user input: strict), api_time(value) (API timestamps: None
             when unreadable).
Resources    RESOURCE_TYPES (our type name -> API collection path);
             resource_type(value, allowed=None, field=) -> our name and resource_path(...) ->
             API path, for any spelling (singular, API name, any case, "-"/"_"), limited to
             `allowed`; BadInput lists the valid names.
Sandbox      --sandbox starts nexla_sandbox in-process on .nexla-sandbox/state.db (cwd).

Retry policy (one, for every script): retries 429 (Retry-After honoured, capped by --max-wait),
502/503/504, 500 on idempotent calls, connection failures and read timeouts; exponential backoff
with full jitter; at most --max-attempts attempts and --deadline seconds. Never other 4xx. A
non-idempotent call (POST) is only retried when the request provably never reached the server
(connection refused, connect timeout) or got 429; any other failure raises UnknownOutcome and
create_once() looks the object up before trying again.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CONFIG, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_TRANSIENT, \
    EXIT_PARTIAL = range(8)
PAGE_SIZE = 100  # Nexla's maximum per_page; larger values are silently capped by the server

DEFAULT_API_URL = "https://dataops.nexla.io/nexla-api"
REDACTED = "[REDACTED]"
SANDBOX_DIR = ".nexla-sandbox"

# Every environment variable the scripts read (.env.example lists the same ones).
ENV_VARS = {
    "api_url": "NEXLA_API_URL",
    "service_key": "NEXLA_SERVICE_KEY",
    "access_token": "NEXLA_ACCESS_TOKEN",
    "timeout": "NEXLA_TIMEOUT",
    "max_attempts": "NEXLA_MAX_ATTEMPTS",
    "max_wait": "NEXLA_MAX_WAIT",
    "deadline": "NEXLA_DEADLINE",
}
DEFAULTS = {"api_url": DEFAULT_API_URL, "timeout": 30.0, "max_attempts": 5, "max_wait": 30.0,
            "deadline": 300.0}
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

logger = logging.getLogger("nexla_ops")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

class OpsError(Exception):
    """An expected failure: one redacted line for the user plus an exit code."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, detail: Any = None, status: int | None = None,
                 exit_code: int | None = None):
        self.message = one_line(redact(str(message)))
        self.detail = redact(detail) if detail is not None else None
        self.status = status
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(self.message)


class BadInput(OpsError):
    exit_code = EXIT_BAD_INPUT


class ConfigError(OpsError):
    exit_code = EXIT_CONFIG


class AuthError(OpsError):
    exit_code = EXIT_AUTH


class NotFound(OpsError):
    exit_code = EXIT_NOT_FOUND


class ApiError(OpsError):
    """The API refused the call (4xx/5xx not retried) or answered in an unexpected shape."""

    exit_code = EXIT_FAILED


class Transient(OpsError):
    exit_code = EXIT_TRANSIENT

    def __init__(self, message: str, *, failure: Failure | None = None, attempts: int = 0,
                 **kw: Any):
        super().__init__(message, **kw)
        self.failure = failure
        self.attempts = attempts


class UnknownOutcome(Transient):
    """A non-idempotent call whose answer was lost: it may or may not have been applied."""


class LockBusy(Transient):
    """lock_file(): another process still holds the lock (try again later)."""


class Partial(OpsError):
    exit_code = EXIT_PARTIAL

    def __init__(self, message: str, *, leftovers: list | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.leftovers = redact(to_jsonable(leftovers or []))


def one_line(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Redaction and text sanitising
# ---------------------------------------------------------------------------------------------

_SECRETS: tuple[str, ...] = ()  # longest first, so a secret containing another goes whole
_SECRETS_LOCK = threading.Lock()

# Terminal escapes, C0/C1 controls (tab and newline kept), zero-width and bidi override chars:
# API-sourced text must not be able to rewrite a terminal or hide text from a reader/agent.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff]")

_SECRET_NAME = (r"(?:[a-z0-9_.-]*?(?:password|passwd|passphrase|secret|token|api[_-]?key|"
                r"apikey|service[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)"
                r"[a-z0-9_.-]*)")
_TEXT_PATTERNS = [
    # JSON / Python-repr pairs: "password": "x", 'api_key': 'x' (keys must be quoted, so prose
    # such as "POST /token: the API ..." is left alone)
    (re.compile(r"(?i)(?P<pre>([\"'])" + _SECRET_NAME + r"\2\s*:\s*)"
                r"(?P<val>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;}\])]+)"), "kv"),
    # key=value pairs: query strings (?api_key=x&...), env lines, log fields
    (re.compile(r"(?i)(?P<pre>\b" + _SECRET_NAME + r"\s*=\s*)"
                r"(?P<val>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s&,;}\])\"']+)"), "kv"),
    # HTTP header lines: X-Api-Key: x, Api-Key: x
    (re.compile(r"(?im)(?P<pre>\b(?:x-)?api-?key\s*:\s*)(?P<val>\S+)"), "plain"),
    (re.compile(r"(?i)(?P<pre>\bauthorization\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?)"
                r"(?P<val>[^\s\"',}]+)"), "plain"),
    (re.compile(r"(?P<pre>\b(?:Bearer|Basic|bearer|basic)\s+)"
                r"(?P<val>(?=[A-Za-z._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,})"), "plain"),
    (re.compile(r"(?i)(?P<pre>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<val>[^@\s/]+)(?=@)"), "plain"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                re.S), "all"),
]
_TEXT_HINT = re.compile(r"(?i)pass|secret|token|key|bearer|basic|authorization|://[^/\s]*@")

_SECRET_KEY = re.compile(
    r"(password|passwd|passphrase|secret|token|authorization|cookie|"
    r"(^|_)(api|service|private|access|secret|client|auth|session|signing|encryption|master|"
    r"account|ssh|shared|app|webhook)_?keys?$|^keys?$|^apikey$|^pwd$)")
_CREDENTIAL_CONTAINER = re.compile(r"^(credentials?|creds|credentials_secure_data|secure_data)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def register_secret(value: Any) -> None:
    """Remember a secret value so redact() removes it wherever it appears in text."""
    if value is None:
        return
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    value = str(value)
    global _SECRETS
    if len(value) >= 4:  # shorter strings would mangle ordinary text
        with _SECRETS_LOCK:
            if value not in _SECRETS:
                _SECRETS = tuple(sorted((*_SECRETS, value), key=len, reverse=True))


def sanitize_text(text: str) -> str:
    """Drop terminal escapes, control, zero-width and bidi characters (keeps \\n and \\t)."""
    if text.isascii() and text.isprintable():
        return text
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return _UNSAFE_CHARS.sub("", text)


def _redact_match(kind: str, m: re.Match) -> str:
    if kind == "all":
        return REDACTED
    val = m.group("val")
    if kind == "kv":
        if val.strip("\"'").lower() in ("", "null", "none", REDACTED.lower()):
            return m.group(0)
        if val[:1] in "\"'":
            return m.group("pre") + val[0] + REDACTED + val[0]
    return m.group("pre") + REDACTED


def redact_text(text: str) -> str:
    text = sanitize_text(text)
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if _TEXT_HINT.search(text):
        for pattern, kind in _TEXT_PATTERNS:
            text = pattern.sub(functools.partial(_redact_match, kind), text)
    return text


def is_secret_key(name: str) -> bool:
    norm = _CAMEL.sub("_", str(name)).lower().replace("-", "_")
    return bool(_SECRET_KEY.search(norm))


def _mask_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        return {sanitize_text(str(k)): _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_leaves(v) for v in value]
    if value is None or isinstance(value, bool) or value == "":
        return value
    return REDACTED


def redact(obj: Any) -> Any:
    """Return a copy of obj without secrets (by key name, known values, text patterns).

    Also strips terminal control, zero-width and bidi characters from every string, so text
    that came from the API is safe to print to a terminal or hand to an agent.
    """
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            name = sanitize_text(key) if isinstance(key, str) else key
            if (isinstance(key, str) and _CREDENTIAL_CONTAINER.match(key.lower())
                    and isinstance(value, (dict, str))):  # a count or id list is not secret
                out[name] = _mask_leaves(value)
            elif (isinstance(key, str) and is_secret_key(key)
                  and not isinstance(value, (dict, list, tuple, bool))
                  and value is not None and value != ""):
                out[name] = REDACTED
            else:
                out[name] = redact(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    if hasattr(obj, "get_secret_value"):
        return REDACTED
    if hasattr(obj, "model_dump"):
        return redact(to_jsonable(obj))
    if isinstance(obj, BaseException):
        return redact_text(str(obj))
    return obj


# ---------------------------------------------------------------------------------------------
# JSON, files and parsing
# ---------------------------------------------------------------------------------------------

def to_jsonable(obj: Any) -> Any:
    """Convert pydantic models, datetimes (ISO-8601), enums, sets, paths... to JSON-safe data."""
    import datetime as dt
    import enum

    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((to_jsonable(v) for v in obj), key=repr)
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta):
        return obj.total_seconds()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if hasattr(obj, "get_secret_value"):
        return REDACTED
    if hasattr(obj, "model_dump"):
        try:
            return obj.model_dump(mode="json")
        except Exception:  # exotic extras: fall back to python mode and convert ourselves
            return to_jsonable(obj.model_dump())
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses
        return to_jsonable(dataclasses.asdict(obj))
    return str(obj)


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Redacted, JSON-safe serialisation (one document)."""
    return json.dumps(redact(to_jsonable(obj)), indent=indent, ensure_ascii=False,
                      separators=None if indent else (",", ":"))


def format_table(rows: Iterable[dict], columns: list[str]) -> str:
    """A plain left-aligned text table (header + rows); values are redacted and one-line."""
    cells = [[str(c).upper() for c in columns]]
    for row in rows:
        row = redact(to_jsonable(row))
        cells.append([one_line("" if row.get(c) is None else
                               (json.dumps(row[c]) if isinstance(row[c], (dict, list))
                                else str(row[c])), 80) for c in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def emit(obj: Any, fmt: str = "text", stream: Any = None) -> None:
    """Write data to stdout: fmt json (one document), jsonl (one object a line) or text."""
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(dumps(obj) + "\n")
    elif fmt == "jsonl":
        items = obj if isinstance(obj, (list, tuple)) or hasattr(obj, "__next__") else [obj]
        for item in items:
            stream.write(dumps(item, indent=None) + "\n")
    elif isinstance(obj, str):
        stream.write(redact_text(obj).rstrip("\n") + "\n")
    elif isinstance(obj, dict):
        for key, value in redact(to_jsonable(obj)).items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False)
            stream.write(f"{key}: {value}\n")
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(r, dict) for r in obj):
        rows = [to_jsonable(r) for r in obj]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        stream.write(format_table(rows, columns) + "\n")
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            emit(item, "text", stream)
    else:
        stream.write(redact_text(str(to_jsonable(obj))) + "\n")
    stream.flush()


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


def parse_id(value: Any, field: str) -> int:
    """A positive integer id from a flag or a file ('123' or 123); BadInput naming the field."""
    text = "" if value is None or isinstance(value, bool) else str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise BadInput(f"{field}: expected a positive integer id, got "
                       f"{one_line(redact_text(str(value)), 40)!r}")
    return int(text)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")


def parse_duration(text: str | float | int, *, field: str = "duration") -> float:
    """'90' or '90s' -> 90.0; '30m', '2h', '1d', '1w', '1h30m' -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        parts = _DURATION_PART.findall(raw)
        if (not raw or "".join(n + u for n, u in parts) != raw.replace(" ", "")
                or (len(parts) > 1 and not all(u for _, u in parts))):  # "1h30": 30 what?
            raise BadInput(f"{field}: expected a duration like 90, 30s, 15m, 2h or 1d; "
                           f"got {one_line(redact_text(str(text)), 40)!r}")
        seconds = sum(float(n) * _DURATION_UNITS[u or "s"] for n, u in parts)
    if seconds < 0:
        raise BadInput(f"{field}: must not be negative")
    return seconds


def parse_time(text: str, *, field: str = "time", now: Any = None):
    """ISO-8601 ('2024-05-01T10:00:00Z', '2024-05-01'), a relative age ('30m', '2h', '1d' ago)
    or epoch seconds/milliseconds -> timezone-aware UTC datetime."""
    import datetime as dt

    now = now or dt.datetime.now(dt.timezone.utc)
    raw = str(text).strip()
    if re.fullmatch(r"(\d+(\.\d+)?[smhdw])+", raw.lower()):
        return now - dt.timedelta(seconds=parse_duration(raw, field=field))
    if re.fullmatch(r"\d{9,}", raw):  # epoch; 12+ digits are milliseconds (Nexla log times)
        seconds = int(raw) / 1000 if len(raw) >= 12 else int(raw)
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadInput(f"{field}: expected ISO-8601 (2024-05-01T10:00:00Z) or a relative "
                       f"age like 30m, 2h, 1d; got {one_line(raw, 40)!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def api_time(value: Any):
    """A timestamp as the API sends it (ISO-8601, or epoch seconds or milliseconds, as a number
    or digits) -> timezone-aware UTC datetime; None when absent or unreadable."""
    import datetime as dt

    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        value = float(value)
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= 1e11 else value  # 12+ digits: epoch ms
        try:
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")
                                           .replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


# ---------------------------------------------------------------------------------------------
# Resource types
# ---------------------------------------------------------------------------------------------

# Our name for each resource type (the one scripts print and document) -> the API's collection
# path. Each script passes the names it supports to resource_type/resource_path.
RESOURCE_TYPES = {
    "sources": "data_sources",
    "nexsets": "data_sets",
    "destinations": "data_sinks",
    "flows": "flows",
    "credentials": "data_credentials",
    "projects": "projects",
    "teams": "teams",
    "users": "users",
    "transforms": "transforms",
    "attribute_transforms": "attribute_transforms",
    "lookups": "data_maps",
    "code_containers": "code_containers",
    "data_schemas": "data_schemas",
    "doc_containers": "doc_containers",
}
# Every accepted spelling (after lower() and "-" -> "_") -> our name: the name, its API path,
# a few other common names, and the singular of each of those.
_TYPE_SPELLINGS = {
    spelling: name
    for plural, name in (*((n, n) for n in RESOURCE_TYPES),
                         *((path, n) for n, path in RESOURCE_TYPES.items()),
                         ("data_flows", "flows"), ("datasets", "nexsets"),
                         ("sinks", "destinations"))
    for spelling in (plural, plural[:-1])
}


def resource_type(value: Any, allowed: Iterable[str] | None = None, *,
                  field: str = "--resource-type") -> str:
    """Our name ("sources", "nexsets", ...) for any spelling of a resource type: ours or the
    API's (data_sources), plural or singular, any case, "-" or "_". `allowed` (our names)
    limits it to the types a script supports; BadInput names the field and lists them."""
    names = list(RESOURCE_TYPES if allowed is None else allowed)
    key = "" if value is None else str(value).strip().lower().replace("-", "_")
    name = _TYPE_SPELLINGS.get(key)
    if name in names:
        return name
    api_names = [RESOURCE_TYPES[n] for n in names if RESOURCE_TYPES[n] != n]
    also = f" (or the API names {', '.join(api_names)})" if api_names else ""
    shown = None if value is None else one_line(redact_text(str(value)), 40)
    raise BadInput(f"{field}: expected one of {', '.join(names)}{also}, got {shown!r}")


def resource_path(value: Any, allowed: Iterable[str] | None = None, *,
                  field: str = "--resource-type") -> str:
    """The API collection path (data_sources, data_sets, ...) for any spelling resource_type
    accepts."""
    return RESOURCE_TYPES[resource_type(value, allowed, field=field)]


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

@functools.cache
def _config_model():
    # Built on first use so importing this module (and --help) does not pay for pydantic.
    from pydantic import BaseModel, ConfigDict, Field, SecretStr

    class Config(BaseModel):
        """Resolved settings. Secrets are SecretStr: str()/repr() never show them."""

        model_config = ConfigDict(frozen=True)
        api_url: str
        service_key: SecretStr | None = None
        access_token: SecretStr | None = None
        timeout: float = Field(DEFAULTS["timeout"], gt=0)
        max_attempts: int = Field(DEFAULTS["max_attempts"], ge=1, le=100)
        max_wait: float = Field(DEFAULTS["max_wait"], ge=0)
        deadline: float = Field(DEFAULTS["deadline"], gt=0)
        sandbox: bool = False
        origins: dict[str, str] = Field(default_factory=dict)  # setting -> where it came from

        @property
        def auth_mode(self) -> str:
            if self.service_key is not None:
                return "service_key"
            return "access_token" if self.access_token is not None else "none"

    return Config


def __getattr__(name: str) -> Any:  # PEP 562: nexla_ops.Config without importing pydantic early
    if name == "Config":
        return _config_model()
    raise AttributeError(f"module 'nexla_ops' has no attribute {name!r}")


def validate_api_url(url: str) -> str:
    from urllib.parse import urlsplit

    url = str(url).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"NEXLA_API_URL is not a valid http(s) URL: {one_line(url, 120)!r} "
                          "(expected e.g. https://dataops.nexla.io/nexla-api)")
    return url.rstrip("/")


def _read_dotenv(args: Any = None, cwd: str | None = None) -> tuple[Path, dict]:
    """(path, non-empty values) of --env-file, else ./.env ({} when there is none)."""
    env_file = getattr(args, "env_file", None)
    env_path = Path(env_file) if env_file else Path(cwd or os.getcwd()) / ".env"
    if env_file and not env_path.is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    if not env_path.is_file():
        return env_path, {}
    from dotenv import dotenv_values

    return env_path, {k: v for k, v in dotenv_values(env_path).items() if v not in (None, "")}


def env_setting(name: str, args: Any = None) -> str | None:
    """A setting beyond Config (e.g. NEXLA_WEBHOOK_API_KEY): environment, else the .env file
    resolve_config reads (--env-file or ./.env)."""
    return os.environ.get(name) or _read_dotenv(args)[1].get(name)


def resolve_config(args: Any = None, *, environ: dict | None = None, cwd: str | None = None,
                   overrides: dict | None = None):
    """Resolve settings: CLI flag > environment > .env (cwd or --env-file) > default.

    The .env file is read with dotenv_values, never loaded into os.environ, so a value
    exported in the shell always beats the file. When both NEXLA_SERVICE_KEY and
    NEXLA_ACCESS_TOKEN are set, the service key wins (the SDK can fetch fresh tokens with it,
    a bare token just expires) and a warning says so. Missing credentials are reported by
    build_client(), so commands that never call the API work without them.
    """
    environ = os.environ if environ is None else environ
    env_path, dotenv = _read_dotenv(args, cwd)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, var in ENV_VARS.items():
        flag = getattr(args, name, None)  # no flags exist for secrets (see add_common_args)
        if flag is not None:
            values[name], sources[name] = flag, "flag"
        elif environ.get(var):
            values[name], sources[name] = environ[var], "environment"
        elif var in dotenv:
            values[name], sources[name] = dotenv[var], str(env_path.name)
        elif name in DEFAULTS:
            values[name], sources[name] = DEFAULTS[name], "default"
    for name, value in (overrides or {}).items():
        values[name], sources[name] = value, "sandbox"
    values["api_url"] = validate_api_url(values["api_url"])
    for name in ("service_key", "access_token"):
        register_secret(values.get(name))
    if values.get("service_key") and values.get("access_token"):
        logger.warning("both NEXLA_SERVICE_KEY and NEXLA_ACCESS_TOKEN are set; using the "
                       "service key (it can fetch fresh tokens)")
        values.pop("access_token")
    from pydantic import ValidationError

    try:
        return _config_model()(**values, sandbox=bool(overrides), origins=sources)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else "setting"
        if sources.get(field) == "flag":  # a bad flag is bad input; a bad setting is config
            raise BadInput(f"--{field.replace('_', '-')}: {err['msg']}") from None
        raise ConfigError(f"{ENV_VARS.get(field, field)} (from {sources.get(field, 'default')})"
                          f": {err['msg']}") from None


def build_client(config: Any):
    """NexlaClient with the SDK's own HTTP retries OFF (we own the policy) and our timeout."""
    if config.auth_mode == "none":
        raise ConfigError("no credentials: set NEXLA_SERVICE_KEY (or NEXLA_ACCESS_TOKEN) in the "
                          "environment or in .env, or try the local sandbox with --sandbox")
    from nexla_sdk import NexlaClient
    from nexla_sdk.http_client import RequestsHttpClient

    http = RequestsHttpClient(timeout=config.timeout, max_retries=0)
    if config.auth_mode == "service_key":
        return NexlaClient(service_key=config.service_key.get_secret_value(),
                           base_url=config.api_url, http_client=http, trace_enabled=False)
    return NexlaClient(access_token=config.access_token.get_secret_value(),
                       base_url=config.api_url, http_client=http, trace_enabled=False)


# ---------------------------------------------------------------------------------------------
# Failure classification and the retry policy
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    """What went wrong with one attempt, for retry decisions and messages.

    kind: rate_limited (429) | unavailable (502/503/504) | server_error (500) |
          not_sent (connection refused / connect timeout: the server never saw it) |
          lost (read timeout, dropped connection: the server may have acted) |
          auth | not_found | refused (other 4xx/5xx) | shape (unexpected response) | other
    """

    kind: str
    reason: str
    status: int | None = None
    retry_after: float | None = None

    def retryable(self, idempotent: bool) -> bool:
        if self.kind in ("rate_limited", "not_sent"):
            return True
        return idempotent and self.kind in ("unavailable", "lost", "server_error")

    def unknown_outcome(self, idempotent: bool) -> bool:
        return not idempotent and self.kind in ("unavailable", "lost")


_STATUS_TEXT = {429: "429 Too Many Requests", 500: "500 Internal Server Error",
                502: "502 Bad Gateway", 503: "503 Service Unavailable",
                504: "504 Gateway Timeout"}


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop(0)
        if current is None or id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        yield current
        # Explicit causes only (the SDK always chains with `from`): an implicit __context__
        # may be an unrelated earlier failure, e.g. the UnknownOutcome a look-up follows.
        stack += [current.__cause__, getattr(current, "original_error", None)]


def _sdk_class(exc: BaseException) -> str | None:
    """Name of the nexla_sdk exception class (checked by name: no SDK import needed)."""
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("nexla_sdk"):
            return type(exc).__name__
    return None


def _status_of(exc: BaseException) -> int | None:
    for err in _exception_chain(exc):
        name = _sdk_class(err)
        if name == "AuthenticationError":
            return 401
        if name == "RateLimitError":
            return 429
        status = getattr(err, "status_code", None)
        if isinstance(status, int):
            return status
        response = getattr(err, "response", None)
        if isinstance(getattr(response, "status_code", None), int):
            return response.status_code
    return None


def _retry_after(exc: BaseException) -> float | None:
    for err in _exception_chain(exc):
        value = getattr(err, "retry_after", None)
        headers = getattr(err, "headers", None) or {}
        if value is None and isinstance(headers, dict):
            value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            from email.utils import parsedate_to_datetime

            try:
                return max(0.0, parsedate_to_datetime(str(value)).timestamp() - time.time())
            except (TypeError, ValueError):
                continue
    return None


def _transport_failure(exc: BaseException) -> Failure | None:
    try:
        import requests
        from urllib3.exceptions import (
            ConnectTimeoutError,
            MaxRetryError,
            NameResolutionError,
            NewConnectionError,
            ReadTimeoutError,
        )
    except ImportError:  # pragma: no cover - requests always comes with the SDK
        return None
    for err in _exception_chain(exc):
        if isinstance(err, requests.exceptions.SSLError):
            return Failure("other", f"TLS error: {one_line(str(err), 200)}")
        if isinstance(err, requests.exceptions.ConnectTimeout):
            return Failure("not_sent", "connect timeout")
        if isinstance(err, requests.exceptions.ReadTimeout):
            return Failure("lost", "read timeout")
        if isinstance(err, requests.exceptions.ConnectionError):
            # With SDK retries off, urllib3 wraps the real cause in MaxRetryError.
            cause = err.args[0] if err.args else None
            cause = cause.reason if isinstance(cause, MaxRetryError) else cause
            if isinstance(cause, NameResolutionError):
                return Failure("not_sent", "host name not resolved")
            if isinstance(cause, NewConnectionError):
                return Failure("not_sent", "connection refused")
            if isinstance(cause, ConnectTimeoutError):
                return Failure("not_sent", "connect timeout")
            if isinstance(cause, ReadTimeoutError):
                return Failure("lost", "read timeout")
            return Failure("lost", "connection dropped")
        if isinstance(err, (requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.ContentDecodingError)):
            return Failure("lost", "connection dropped mid-response")
    return None


def _is_shape_error(exc: BaseException) -> bool:
    """pydantic ValidationError/TypeError/AttributeError raised while the SDK parsed a response
    (contract §23.16: the SDK does not wrap them), or the SDK's own "Failed to convert"."""
    if _sdk_class(exc) == "ValidationError" and getattr(exc, "status_code", None) is None:
        return True
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        return True
    if isinstance(exc, (TypeError, AttributeError, KeyError)):
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        filename = tb.tb_frame.f_code.co_filename if tb else ""
        return "nexla_sdk" in filename or "pydantic" in filename
    return False


def _server_message(exc: BaseException) -> str:
    for err in _exception_chain(exc):
        body = getattr(err, "response", None)
        if not isinstance(body, dict):
            body = (getattr(err, "context", None) or {}).get("api_response")
        if isinstance(body, dict):
            text = body.get("message") or body.get("error")
            if text:
                return one_line(str(text), 300)
    message = getattr(exc, "message", None) or str(exc)
    return one_line(re.sub(r"^API error:\s*", "", str(message)), 300)


def classify(exc: BaseException) -> Failure:
    """Decide what an exception from an SDK call means (walks the __cause__ chain)."""
    if isinstance(exc, OpsError):
        # A translated error from a nested ctx.call (e.g. inside find()) keeps its meaning.
        if exc.__cause__ is not None:
            return classify(exc.__cause__)
        return Failure("other", exc.message, exc.status)
    status = _status_of(exc)
    if status == 429:
        return Failure("rate_limited", _STATUS_TEXT[429], 429, _retry_after(exc))
    if status in (502, 503, 504):
        return Failure("unavailable", _STATUS_TEXT[status], status, _retry_after(exc))
    if status == 500:
        return Failure("server_error", _STATUS_TEXT[500], 500)
    if status in (401, 403):
        return Failure("auth", _server_message(exc), status)
    if status == 404 or _sdk_class(exc) == "NotFoundError":
        return Failure("not_found", _server_message(exc), 404)
    if status is not None:
        return Failure("refused", _server_message(exc), status)
    transport = _transport_failure(exc)
    if transport:
        return transport
    if _is_shape_error(exc):  # first line only: pydantic's text quotes the response body
        first = (str(exc).strip().splitlines() or [""])[0]
        return Failure("shape", f"{type(exc).__name__}: {one_line(first, 120)}")
    return Failure("other", f"{type(exc).__name__}: {one_line(str(exc), 200)}")


_retry_scope = threading.local()  # nested policy calls (find() inside ctx.call) don't multiply


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry policy: attempts, per-wait cap, overall deadline, backoff base seconds."""

    attempts: int = DEFAULTS["max_attempts"]
    max_wait: float = DEFAULTS["max_wait"]
    deadline: float = DEFAULTS["deadline"]
    backoff: float = 0.5  # first full-jitter window; doubles each attempt up to max_wait

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        return cls(attempts=config.max_attempts, max_wait=config.max_wait,
                   deadline=config.deadline)

    def describe(self) -> dict:
        return {
            "attempts": self.attempts, "max_wait_s": self.max_wait, "deadline_s": self.deadline,
            "backoff": f"exponential with full jitter: uniform(0, min({self.max_wait}, "
                       f"{self.backoff} * 2**(attempt-1))) seconds",
            "retry_after": f"honoured on 429/503, capped at {self.max_wait}s",
            "retried": ["429 (any call)", "connection refused / connect timeout (any call: "
                        "the server never saw it)", "502, 503, 504 (idempotent calls)",
                        "500 (idempotent calls)", "read timeout / dropped connection "
                        "(idempotent calls)"],
            "never_retried": ["400", "401", "403", "404", "409", "422", "other 4xx",
                              "500/502/503/504/timeout/drop on POST (outcome unknown: looked "
                              "up by create_once instead)"],
            "sdk_retries": "off (RequestsHttpClient(max_retries=0))",
        }

    def wait_for(self, attempt: int, failure: Failure | None = None) -> float:
        if failure is not None and failure.retry_after is not None:
            return min(failure.retry_after, self.max_wait)
        return random.uniform(0, min(self.max_wait, self.backoff * 2 ** (attempt - 1)))

    def call(self, fn: Callable, *args: Any, idempotent: bool = True, what: str | None = None,
             budget_ends: float | None = None, **kwargs: Any) -> Any:
        """Run fn under the policy. Non-retryable errors propagate unchanged; exhaustion raises
        Transient; a non-idempotent call with a lost answer raises UnknownOutcome.

        budget_ends (a time.monotonic() value) shrinks the retry window to the time left; with
        none left, Transient is raised and nothing is called.
        """
        what = what or _describe_callable(fn)
        if getattr(_retry_scope, "active", False):
            return fn(*args, **kwargs)  # an outer policy call already retries this
        deadline = self.deadline
        if budget_ends is not None:
            deadline = min(deadline, budget_ends - time.monotonic())
            if deadline <= 0:
                raise Transient(f"{what}: time budget used up; not sent")
        import tenacity

        def retry_predicate(exc: BaseException) -> bool:
            return classify(exc).retryable(idempotent)

        def wait(state: Any) -> float:
            return self.wait_for(state.attempt_number, classify(state.outcome.exception()))

        def log_retry(state: Any) -> None:
            failure = classify(state.outcome.exception())
            logger.warning("%s: attempt %d/%d failed (%s); retrying in %.1fs", what,
                           state.attempt_number, self.attempts, failure.reason,
                           state.next_action.sleep)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(deadline),
            wait=wait, retry=tenacity.retry_if_exception(retry_predicate),
            before_sleep=log_retry, reraise=False)
        started = time.monotonic()
        _retry_scope.active = True
        try:
            return retrying(fn, *args, **kwargs)
        except tenacity.RetryError as exc:
            last = exc.last_attempt
            error = last.exception()
            failure = classify(error)
            raise Transient(f"{what}: still failing after {last.attempt_number} attempt(s) in "
                            f"{time.monotonic() - started:.1f}s ({failure.reason})",
                            failure=failure, attempts=last.attempt_number,
                            status=failure.status) from error
        except Exception as exc:
            failure = classify(exc)
            if failure.unknown_outcome(idempotent):
                raise UnknownOutcome(f"{what}: outcome unknown ({failure.reason}); not re-sent "
                                     "because it may have been applied", failure=failure,
                                     attempts=1, status=failure.status) from exc
            raise
        finally:
            _retry_scope.active = False


def _describe_callable(fn: Callable) -> str:
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "call")
    return f"{type(owner).__name__}.{name}" if owner is not None else name


def translate(exc: BaseException, what: str = "API call", *, auth_mode: str = "service_key",
              api_url: str | None = None) -> OpsError:
    """Map any exception from an SDK call to an OpsError with the right exit code."""
    if isinstance(exc, Transient) and exc.failure and exc.failure.kind == "not_sent" and api_url:
        err = Transient(f"cannot reach {api_url}: check NEXLA_API_URL ({exc.failure.reason} "
                        f"after {exc.attempts} attempt(s))", failure=exc.failure,
                        attempts=exc.attempts)
        err.__cause__ = exc.__cause__
        return err
    if isinstance(exc, OpsError):
        return exc
    failure = classify(exc)
    detail = redact(str(exc))
    if failure.kind == "auth" and failure.status == 401:
        which = "NEXLA_ACCESS_TOKEN (invalid or expired)" if auth_mode == "access_token" \
            else "NEXLA_SERVICE_KEY"
        return AuthError(f"authentication failed for {what}: the API rejected {which}",
                         detail=detail, status=401)
    if failure.kind == "auth":
        return AuthError(f"permission denied for {what}: {failure.reason}", detail=detail,
                         status=failure.status)
    if failure.kind == "not_found":
        return NotFound(f"not found: {what} ({failure.reason})", detail=detail, status=404)
    if failure.kind == "shape":
        return ApiError(f"unexpected response shape from {what} ({failure.reason})",
                        detail=detail)
    if failure.kind in ("rate_limited", "unavailable", "lost", "not_sent"):
        return Transient(f"{what}: {failure.reason}", failure=failure, status=failure.status,
                         detail=detail)
    if failure.kind == "server_error":
        return ApiError(f"{what} failed on the server ({failure.reason}); the change may or "
                        "may not have been applied", detail=detail, status=500)
    if failure.kind == "refused":
        return ApiError(f"API refused {what} ({failure.status}): {failure.reason}",
                        detail=detail, status=failure.status)
    if _sdk_class(exc):
        return ApiError(f"{what} failed: {failure.reason}", detail=detail)
    return ApiError(f"internal error: {failure.reason} (re-run with --debug for a traceback)",
                    detail=detail)


# ---------------------------------------------------------------------------------------------
# CLI plumbing
# ---------------------------------------------------------------------------------------------

def add_common_args(parser: argparse.ArgumentParser, *, json_flag: bool = True,
                    timeout_flag: bool = True) -> None:
    """Connection, retry and output flags every script shares.

    There are deliberately no flags for the service key or token: command lines are visible to
    other users via ps and land in shell history. Use the environment or a .env file.
    """
    group = parser.add_argument_group("connection and output (defaults from the environment "
                                      "or .env: NEXLA_API_URL, NEXLA_SERVICE_KEY, ...)")
    group.add_argument("--env-file", metavar="PATH",
                       help="read settings from this file instead of ./.env")
    group.add_argument("--api-url", metavar="URL", help="Nexla API base URL (NEXLA_API_URL)")
    if timeout_flag:  # off for scripts whose own --timeout means something else
        group.add_argument("--timeout", type=float, metavar="S",
                           help="seconds per HTTP request (NEXLA_TIMEOUT, default 30)")
    group.add_argument("--max-attempts", type=int, metavar="N",
                       help="attempts per call for transient failures (NEXLA_MAX_ATTEMPTS, "
                            "default 5)")
    group.add_argument("--max-wait", type=float, metavar="S",
                       help="longest single wait between attempts, caps Retry-After "
                            "(NEXLA_MAX_WAIT, default 30)")
    group.add_argument("--deadline", type=float, metavar="S",
                       help="overall seconds per call including retries (NEXLA_DEADLINE, "
                            "default 300)")
    group.add_argument("--sandbox", action="store_true",
                       help=f"use the local sandbox with demo data (state in {SANDBOX_DIR}/)")
    group.add_argument("--sandbox-reset", action="store_true",
                       help="reseed the sandbox's demo data first (implies --sandbox)")
    group.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    group.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    group.add_argument("--debug", action="store_true",
                       help="error details and tracebacks on stderr (still redacted)")
    if json_flag:
        group.add_argument("--json", action="store_true",
                           help="print one JSON document on stdout")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (pytest's capsys swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _RedactingFormatter(logging.Formatter):
    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and logger.isEnabledFor(logging.DEBUG):
            message += "\n" + self.formatException(record.exc_info)
        label = {logging.WARNING: "warning: ", logging.ERROR: "error: ",
                 logging.CRITICAL: "error: ", logging.DEBUG: "debug: "}.get(record.levelno, "")
        return redact_text(f"{self.prog}: {label}{message}")


def setup_logging(prog: str, *, quiet: bool = False, verbose: bool = False,
                  debug: bool = False) -> None:
    """Logs go to stderr only, redacted; level from --quiet/--verbose/--debug."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_RedactingFormatter(prog))
    root.addHandler(handler)
    level = logging.DEBUG if (verbose or debug) else logging.ERROR if quiet else logging.INFO
    root.setLevel(level)
    # The SDK logs whole response bodies at DEBUG and an error line for every parse failure we
    # already report ourselves; keep it quiet unless debugging. urllib3 likewise.
    logging.getLogger("nexla_sdk").setLevel(logging.INFO if debug else logging.CRITICAL)
    logging.getLogger("urllib3").setLevel(logging.DEBUG if debug else logging.WARNING)
    # The in-process sandbox (--sandbox) must not mix its access log into a script's stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


class Context:
    """What run(args, ctx) receives: lazy config and client, the retry policy, output."""

    def __init__(self, args: Any = None, *, config: Any = None) -> None:
        self.args = args if args is not None else argparse.Namespace()
        self._config = config
        self._client = None
        self._policy: RetryPolicy | None = None
        self._sandbox = None
        self._lock = threading.RLock()
        self._token_ready = False
        self._user: dict | None = None
        self._progress_shown = False

    # -- configuration -------------------------------------------------------------------------
    @property
    def config(self):
        with self._lock:
            if self._config is None:
                overrides = self._start_sandbox() if self.wants_sandbox else None
                self._config = resolve_config(self.args, overrides=overrides)
            return self._config

    @property
    def wants_sandbox(self) -> bool:
        return bool(getattr(self.args, "sandbox", False) or
                    getattr(self.args, "sandbox_reset", False))

    @property
    def sandbox(self):
        """The in-process sandbox (with .control) when --sandbox is on, else None."""
        _ = self.config
        return self._sandbox

    def _start_sandbox(self) -> dict:
        try:
            from nexla_sandbox import start_sandbox
        except ImportError:
            # Running from a checkout that was not pip-installed: the package sits beside
            # scripts/.
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            try:
                from nexla_sandbox import start_sandbox
            except ImportError as exc:
                raise ConfigError("--sandbox needs the nexla_sandbox package: run "
                                  "python -m pip install -e .") from exc
        state_dir = Path.cwd() / SANDBOX_DIR
        state_dir.mkdir(exist_ok=True)
        db = state_dir / "state.db"
        reset = bool(getattr(self.args, "sandbox_reset", False))
        self._sandbox = start_sandbox(db=str(db), seed="demo", reset=reset)
        for key in list(getattr(self._sandbox, "service_keys", {}).values()) + [
                self._sandbox.service_key]:
            register_secret(key)
        logger.info("using the local sandbox at %s (state in %s/state.db%s)", self._sandbox.url,
                    SANDBOX_DIR, ", reseeded" if reset else "")
        # The sandbox's own admin key replaces any configured key or token.
        return {"api_url": self._sandbox.url, "service_key": self._sandbox.service_key,
                "access_token": None}

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = build_client(self.config)
            return self._client

    @property
    def policy(self) -> RetryPolicy:
        if self._policy is None:
            self._policy = RetryPolicy.from_config(self.config)
        return self._policy

    # -- calling the API -------------------------------------------------------------------------
    def _ensure_token(self, budget_ends: float | None = None) -> None:
        # Fetch the session token once, under a lock and the retry policy, before the first
        # real call: concurrent first calls share one token, and a POST never fails because of
        # a token fetch (a failed token fetch means our request was never sent).
        if self._token_ready:
            return
        with self._lock:
            client = self.client
            if not self._token_ready and self.config.auth_mode == "service_key":
                http = client.http_client
                default_timeout = http.timeout
                if budget_ends is not None:  # the SDK's token call takes no timeout argument
                    http.timeout = max(0.05, min(default_timeout,
                                                 budget_ends - time.monotonic()))
                try:
                    self._translated(self.policy.call, client.get_access_token,
                                     idempotent=True, what="POST /token",
                                     budget_ends=budget_ends)
                finally:
                    http.timeout = default_timeout
            self._token_ready = True

    def _translated(self, runner: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
        try:
            return runner(*args, what=what, **kwargs)
        except Exception as exc:
            raise translate(exc, what, auth_mode=self.config.auth_mode,
                            api_url=self.config.api_url) from exc

    def call(self, fn: Callable, *args: Any, idempotent: bool = True, what: str | None = None,
             budget_ends: float | None = None, **kwargs: Any) -> Any:
        """Call an SDK function under the retry policy; failures become OpsError subclasses.

        Pass idempotent=False for creates/POSTs: they are never blindly re-sent (use
        create_once). `what` names the call in messages, e.g. "GET /data_sources/123".
        budget_ends (time.monotonic() value): retries and the token fetch fit in the time
        left; with none left, Transient without sending. (Per-attempt HTTP timeouts are capped
        too with ctx.request; SDK methods take no timeout argument.)
        """
        self._ensure_token(budget_ends)
        return self._translated(self.policy.call, fn, *args, idempotent=idempotent,
                                what=what or _describe_callable(fn), budget_ends=budget_ends,
                                **kwargs)

    def request(self, method: str, path: str, *, idempotent: bool | None = None,
                budget_ends: float | None = None, what: str | None = None,
                **kwargs: Any) -> Any:
        """Raw client.request (no response parsing) under the policy: the workaround for SDK
        parsing bugs (e.g. accessors, contract §23.3). kwargs: params=, json=, ...
        With budget_ends, each attempt's HTTP timeout is also capped at the time left.
        `what` names the call in messages (default "METHOD /path")."""
        method = method.upper()
        what = what or f"{method} {path}"
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        send = self.client.request
        if budget_ends is not None:
            send = _within_budget(send, budget_ends, self.config.timeout, what)
        if method == "DELETE":
            send = _deleted_is_done(send, what)
        return self.call(send, method, path, idempotent=idempotent, what=what,
                         budget_ends=budget_ends, **kwargs)

    def paginate(self, fetch: Callable | str, *, per_page: int = PAGE_SIZE,
                 limit: int | None = None, params: dict | None = None,
                 what: str | None = None) -> Iterator[Any]:
        """Yield items page by page (page=1.., per_page<=PAGE_SIZE) until a short page or
        `limit` items. `fetch` is a plain SDK list method (e.g. client.sources.list; do not
        pass ctx.call) or an API path string fetched raw (bare-array endpoints only)."""
        per_page = max(1, min(per_page, PAGE_SIZE))
        if limit:
            per_page = min(per_page, limit)
        count, page, previous = 0, 1, None
        while True:
            query = {**(params or {}), "page": page, "per_page": per_page}
            if isinstance(fetch, str):
                items = self.request("GET", fetch, params=query)
            else:
                items = self.call(fetch, what=what or _describe_callable(fetch), **query)
            items = list(items or [])
            signature = [_item_id(i) for i in items]
            if page > 1 and items and signature == previous:
                logger.warning("%s: page %d repeats page %d; the server ignores paging, "
                               "stopping", what or fetch, page, page - 1)
                return
            previous = signature
            for item in items:
                yield item
                count += 1
                if limit and count >= limit:
                    return
            if len(items) < per_page:
                return
            page += 1

    def create_once(self, find: Callable[[], Any], create: Callable[[], Any], *,
                    what: str = "create") -> Any:
        """Create something at most once although answers can be lost.

        create() is sent without blind retries. When its outcome is unknown (timeout, dropped
        connection, 502/503/504), find() looks the object up (by its unique name or tag); if
        it exists that object is returned, otherwise create() is tried again after a backoff,
        up to the policy's attempts. Returns whatever create() or find() returned.
        """
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            try:
                return self.call(create, idempotent=False, what=what)
            except UnknownOutcome as exc:
                logger.warning("%s: outcome unknown (%s); looking it up before trying again",
                               what, exc.failure.reason if exc.failure else "lost answer")
                found = self.call(find, idempotent=True, what=f"look-up after {what}")
                if found:
                    logger.info("%s: it was created despite the lost answer; using it", what)
                    return found
                if attempt == policy.attempts:
                    raise Transient(f"{what}: outcome unknown after {attempt} attempt(s) and "
                                    "not found; safe to re-run", failure=exc.failure,
                                    attempts=attempt) from exc
                wait = policy.wait_for(attempt, exc.failure)
                logger.warning("%s: attempt %d/%d not applied (%s); retrying in %.1fs", what,
                               attempt, policy.attempts,
                               exc.failure.reason if exc.failure else "lost answer", wait)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def current_user(self) -> dict:
        """Raw GET /users/current, cached for the process."""
        if self._user is None:
            self._user = self.request("GET", "/users/current") or {}
        return self._user

    # -- output ----------------------------------------------------------------------------------
    def out(self, obj: Any, fmt: str | None = None) -> None:
        """Data to stdout: fmt json|jsonl|text; default json with --json, else text."""
        if fmt is None:
            fmt = getattr(self.args, "format", None) or (
                "json" if getattr(self.args, "json", False) else "text")
        self.progress_done()
        emit(obj, fmt)

    def log(self, message: str, *args: Any) -> None:
        logger.info(message, *args)

    def warn(self, message: str, *args: Any) -> None:
        logger.warning(message, *args)

    def debug(self, message: str, *args: Any) -> None:
        logger.debug(message, *args)

    def progress(self, text: str) -> None:
        """Overwrite one status line on stderr, only on a TTY and not with --quiet."""
        if getattr(self.args, "quiet", False) or not sys.stderr.isatty():
            return
        sys.stderr.write("\r\x1b[K" + one_line(redact_text(text), 120))
        sys.stderr.flush()
        self._progress_shown = True

    def progress_done(self) -> None:
        if self._progress_shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._progress_shown = False

    def close(self) -> None:
        self.progress_done()
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


def _within_budget(send: Callable, budget_ends: float, timeout: float, what: str) -> Callable:
    """Each attempt waits at most the time left (and never starts without any)."""

    def attempt(*args: Any, **kwargs: Any) -> Any:
        left = budget_ends - time.monotonic()
        if left < 0.05:
            raise Transient(f"{what}: time budget used up; not sent")
        return send(*args, timeout=min(timeout, left), **kwargs)

    return attempt


def _deleted_is_done(send: Callable, what: str) -> Callable:
    """A retried DELETE that meets 404 after an attempt whose answer was lost has succeeded:
    that earlier attempt deleted it."""
    maybe_applied = False

    def attempt(*args: Any, **kwargs: Any) -> Any:
        nonlocal maybe_applied
        try:
            return send(*args, **kwargs)
        except Exception as exc:
            kind = classify(exc).kind
            if kind == "not_found" and maybe_applied:
                logger.info("%s: already gone after an attempt whose answer was lost; done", what)
                return None
            maybe_applied = maybe_applied or kind in ("unavailable", "lost", "server_error")
            raise

    return attempt


def _item_id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else getattr(item, "id", id(item))


def _exit_status(code: Any) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    sys.stderr.write(redact_text(str(code)) + "\n")
    return EXIT_FAILED


def main_wrapper(run: Callable[[Any, Context], int | None], parser: argparse.ArgumentParser,
                 argv: list[str] | None = None, *, exit_map: dict[int, int] | None = None) -> int:
    """Parse argv, set up logging, run run(args, ctx) and turn any failure into an exit code
    with one redacted line on stderr (details and traceback with --debug). exit_map remaps our
    codes (health_check: Nagios)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors: argparse already printed
        return _exit_status(exc.code)
    debug = bool(getattr(args, "debug", False))
    setup_logging(parser.prog, quiet=getattr(args, "quiet", False),
                  verbose=getattr(args, "verbose", False), debug=debug)
    ctx = Context(args)
    try:
        code = run(args, ctx)
        code = EXIT_OK if code is None else int(code)
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except KeyboardInterrupt:
        logger.error("interrupted")
        code = 130
    except BrokenPipeError:
        # stdout reader went away (e.g. `| head`); stop quietly like other CLI tools, and keep
        # the interpreter's final flush from failing again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    except Exception as exc:
        config = ctx._config
        err = translate(exc, "the API call", auth_mode=config.auth_mode if config else "",
                        api_url=config.api_url if config else None)
        logger.error("%s", err.message)
        if debug:
            if err.detail:
                logger.error("detail: %s", err.detail if isinstance(err.detail, str)
                             else json.dumps(err.detail, default=str))
            import traceback

            sys.stderr.write(redact_text("".join(traceback.format_exception(
                type(exc), exc, exc.__traceback__))))
        code = err.exit_code
    finally:
        try:
            ctx.close()
        except Exception as exc:  # never let cleanup hide the real result
            logger.debug("cleanup failed: %s", exc)
    return exit_map.get(code, code) if exit_map else code
