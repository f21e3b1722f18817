"""Secrets out, terminal tricks out: redaction by key name, by known value and by text pattern,
and stripping of control, zero-width and bidi characters from text that came from the API."""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

REDACTED = "[REDACTED]"


def one_line(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
_ENV_REFERENCE = re.compile(r"\$\{ENV:[A-Za-z_][A-Za-z0-9_]*\}")  # deploy configs' ${ENV:NAME}


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


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e"
                           "\u2060-\u2064\u2066-\u2069\ufeff]")


def escape_text(text: Any) -> str:
    """API text for one line of text output: line breaks, tabs, terminal escapes and other
    control, zero-width and bidi characters become visible escapes (\\n, \\x1b, \\u202e), so
    a name cannot start a line of its own that passes for our status line."""
    text = str(text)
    if text.isascii() and text.isprintable():
        return text

    def visible(m: re.Match) -> str:
        char = m.group(0)
        return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100
                                      else f"\\u{ord(char):04x}")

    return _NEEDS_ESCAPE.sub(visible, text)


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
            if isinstance(value, str) and _ENV_REFERENCE.fullmatch(value):
                out[name] = value  # names where a secret comes from, holds none
            elif isinstance(key, str) and key == "credential" and isinstance(value, str):
                out[name] = redact_text(value)  # a deploy config's credential, by name
            elif (isinstance(key, str) and _CREDENTIAL_CONTAINER.match(key.lower())
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
        from .output import to_jsonable  # output redacts too: imported here, not at the top

        return redact(to_jsonable(obj))
    if isinstance(obj, BaseException):
        return redact_text(str(obj))
    return obj
