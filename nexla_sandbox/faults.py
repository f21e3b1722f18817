"""Fault rules (status / delay / drop / commit_then_fail / rewrite) and the request log.

Both are in memory on purpose: they describe the current test, not the emulated org, so a
restart or reset clears them. The log keeps what was sent minus secret values (the project's
rule: secrets never land in output, logs or files, and the log is served over HTTP).
"""

from __future__ import annotations

import functools
import random
import re
import threading
import time
from collections import deque

REDACTED = "[REDACTED]"
# Name parts that mark a value as secret (matched on the snake_case form of a key).
_SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "api_key",
                 "authorization")

ACTIONS = ("status", "delay", "drop", "commit_then_fail", "rewrite")
# set_type targets: the JSON types a rewrite can turn a field into
JSON_TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")
METHODS = ("*", "GET", "POST", "PUT", "DELETE", "PATCH")


class RuleError(ValueError):
    pass


class Fault:
    def __init__(self, rule_id: int, spec: dict):
        if not isinstance(spec, dict):
            raise RuleError("rule: expected a JSON object")
        self.id = rule_id
        self.method = str(spec.get("method", "*")).upper()
        if self.method not in METHODS:
            raise RuleError(f"method: expected one of {', '.join(METHODS)}")
        self.path = spec.get("path", ".*")
        if not isinstance(self.path, str):
            raise RuleError("path: expected a regular expression string")
        try:
            self.regex = re.compile(self.path)
        except re.error as exc:
            raise RuleError(f"path: invalid regular expression: {exc}") from None
        self.action = spec.get("action", "status")
        if self.action not in ACTIONS:
            raise RuleError(f"action: expected one of {', '.join(ACTIONS)}")
        self.status = _int(spec, "status", 503 if self.action == "status" else None)
        if self.status is not None and not 400 <= self.status <= 599:
            raise RuleError("status: expected an HTTP error status 400-599")
        self.retry_after = _int(spec, "retry_after", None)
        self.body = spec.get("body")
        if self.body is not None and not isinstance(self.body, (dict, list, str)):
            raise RuleError("body: expected an object")
        self.delay_ms = _int(spec, "delay_ms", 1000 if self.action == "delay" else 0)
        self.fail_with = spec.get("fail_with", 502)
        if not (self.fail_with == "drop" or (isinstance(self.fail_with, int) and
                                             400 <= self.fail_with <= 599)):
            raise RuleError("fail_with: expected an HTTP status 400-599 or \"drop\"")
        self.probability = spec.get("probability")
        if self.probability is not None and (
                not isinstance(self.probability, (int, float)) or not 0 <= self.probability <= 1):
            raise RuleError("probability: expected a number between 0 and 1")
        default_times = None if self.probability is not None else 1
        self.remaining = _int(spec, "times", default_times)
        self.skip_remaining = _int(spec, "skip", 0)  # let the first N matches through untouched
        self.rng = random.Random(spec.get("seed", 0))
        self.hits = 0
        self.drop = _paths(spec.get("drop", []))
        self.set_type = spec.get("set_type", {})
        if not isinstance(self.set_type, dict) or not all(
                isinstance(k, str) and k and v in JSON_TYPES for k, v in self.set_type.items()):
            raise RuleError(f"set_type: expected {{field path: one of {', '.join(JSON_TYPES)}}}")
        self.wrap = spec.get("wrap")
        if self.wrap is not None and (not isinstance(self.wrap, str) or not self.wrap):
            raise RuleError("wrap: expected a key name")
        if self.action == "rewrite" and not (self.drop or self.set_type or self.wrap):
            raise RuleError("rewrite: expected drop, set_type or wrap")

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method != "*" and self.method != method:
            return False
        if not self.regex.search(path):
            return False
        if self.skip_remaining:
            self.skip_remaining -= 1
            return False
        return self.probability is None or self.rng.random() < self.probability

    def describe(self) -> dict:
        return {"id": self.id, "method": self.method, "path": self.path, "action": self.action,
                "status": self.status, "retry_after": self.retry_after, "body": self.body,
                "delay_ms": self.delay_ms, "fail_with": self.fail_with,
                "probability": self.probability, "remaining": self.remaining,
                "skip_remaining": self.skip_remaining, "hits": self.hits,
                **({"drop": self.drop, "set_type": self.set_type, "wrap": self.wrap}
                   if self.action == "rewrite" else {})}

    def rewrite(self, body):
        """The served JSON body with `drop` fields removed, `set_type` fields converted and
        the whole wrapped in {wrap: body}. Paths are dotted; `[]` steps into every element of
        an array (`[].id` on a bare-array body, `flows[].status`). Absent paths are skipped."""
        for path in self.drop:
            _walk(body, _steps(path), lambda parent, key: parent.pop(key, None))
        for path, kind in self.set_type.items():
            _walk(body, _steps(path), lambda parent, key, kind=kind: parent.__setitem__(
                key, _as_type(parent[key], kind)))
        return {self.wrap: body} if self.wrap else body


def _paths(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise RuleError("drop: expected a list of field paths")
    return value


def _steps(path: str) -> list[str]:
    """"flows[].children[].id" -> ["flows", "[]", "children", "[]", "id"]."""
    return [step for part in path.replace("[]", ".[].").split(".") for step in [part] if step]


def _walk(node, steps: list[str], apply) -> None:
    """apply(parent, key) at every place the steps lead to (dict keys that exist)."""
    head, rest = steps[0], steps[1:]
    if head == "[]":
        if isinstance(node, list):
            for item in node:
                if rest:
                    _walk(item, rest, apply)
        return
    if not isinstance(node, dict) or head not in node:
        return
    if rest:
        _walk(node[head], rest, apply)
    else:
        apply(node, head)


def _as_type(value, kind: str):
    """A stand-in of the asked JSON type (the point is the type, not a faithful value)."""
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    if kind in ("integer", "number"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = 0.0
        return int(number) if kind == "integer" else number + 0.5
    if kind == "boolean":
        return bool(value)
    if kind == "null":
        return None
    if kind == "array":
        return value if isinstance(value, list) else [value]
    return value if isinstance(value, dict) else {"value": value}


def _int(spec: dict, name: str, default):
    value = spec.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleError(f"{name}: expected a non-negative integer")
    return value


class Faults:
    def __init__(self, log_size: int = 200_000):
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._next_id = 1
        self.log: deque = deque(maxlen=log_size)

    def add(self, spec: dict) -> dict:
        with self._lock:
            rule = Fault(self._next_id, spec)
            self._next_id += 1
            self._rules.append(rule)
            return rule.describe()

    def list(self) -> list[dict]:
        with self._lock:
            return [r.describe() for r in self._rules]

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) < before

    def clear(self):
        with self._lock:
            self._rules = []

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching rule, consuming one of its `times`."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def record(self, method, path, query, status, fault=None, body=None, committed=None):
        if query:
            query = redact(query)
        if body is not None:  # the server passes write bodies only: reads stay cheap
            try:
                body = redact(body)
            except RecursionError:  # nested too deep to inspect: keep none of it
                body = REDACTED
        entry = {"method": method, "path": path, "query": query, "status": status,
                 "ts": time.time(), "fault": fault, "body": body}
        if committed is not None:
            entry["committed_status"] = committed
        with self._lock:  # so requests() never iterates the deque while it changes
            self.log.append(entry)

    def requests(self) -> list[dict]:
        with self._lock:
            return list(self.log)

    def clear_log(self):
        with self._lock:
            self.log.clear()

    def reset(self):
        self.clear()
        self.clear_log()


@functools.lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Does a key name denote a secret? password/secret/token/api key/authorization anywhere,
    or `key` as the whole name or its last word (private_key, accessKey)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower().replace("-", "_")
    return (any(part in snake for part in _SECRET_PARTS) or snake == "key"
            or snake.endswith("_key"))


def redact(value, hide: bool = False):
    """`value` with every secret-named key's value (and everything under `credentials`)
    replaced by REDACTED; keys stay so a test still sees what was sent. Returns the input
    itself when nothing needed hiding (the log entry never shares a handler's object)."""
    if isinstance(value, dict):
        out = {}
        changed = False
        for key, item in value.items():
            hide_item = hide or (isinstance(key, str) and (key == "credentials" or secret_name(key)))
            new = redact(item, hide_item)
            changed = changed or new is not item
            out[key] = new
        return out if changed else value
    if isinstance(value, list):
        out = [redact(item, hide) for item in value]
        return out if any(a is not b for a, b in zip(out, value, strict=True)) else value
    if hide and value is not None:
        return REDACTED
    return value
