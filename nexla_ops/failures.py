"""What an exception from an SDK call means: classify() reads its kind (rate limited, lost,
refused, ...) for retry decisions; translate() turns it into the OpsError with the right exit
code. Works on class names and attributes, so the SDK need not be imported."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import ApiError, AuthError, NotFound, OpsError, Transient
from .redact import one_line, redact

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


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


def _server_bodies(exc: BaseException) -> Iterator[dict]:
    for err in _exception_chain(exc):
        body = getattr(err, "response", None)
        if not isinstance(body, dict):
            body = (getattr(err, "context", None) or {}).get("api_response")
        if isinstance(body, dict):
            yield body


def probe_rejection(exc: BaseException) -> str | None:
    """Why a credential probe answered 403 for an invalid credential, else None.

    The reference answers a credential the remote system rejects with 403 `{"status": 403,
    "message"}`; a caller who lacks a role gets the usual error body (`{"message", "code"}`),
    which stays a permission error (exit 4)."""
    for body in _server_bodies(exc):
        if str(body.get("status")) == "403" and "code" not in body:
            return one_line(str(body.get("message") or "invalid credential"), 300)
    return None


def _server_message(exc: BaseException) -> str:
    for body in _server_bodies(exc):
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




def describe_callable(fn: Callable) -> str:
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
