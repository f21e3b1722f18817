"""Resilience for your own code and for commands: the retry policy as a decorator and a call
helper, a circuit breaker, make_client(), and re-running a command while it exits 6."""

from __future__ import annotations

import argparse
import functools
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import nexla_ops

TRANSIENT_KINDS = frozenset({"rate_limited", "unavailable", "server_error", "not_sent", "lost"})


def policy(attempts: int | None = None, max_wait: float | None = None,
           deadline: float | None = None) -> nexla_ops.RetryPolicy:
    """The scripts' policy, with any of its limits overridden."""
    default = nexla_ops.RetryPolicy()
    return nexla_ops.RetryPolicy(
        attempts=default.attempts if attempts is None else attempts,
        max_wait=default.max_wait if max_wait is None else max_wait,
        deadline=default.deadline if deadline is None else deadline)


def make_client(service_key: str | None = None, *, api_url: str | None = None,
                timeout: float | None = None, sandbox: bool = False):
    """A ready NexlaClient with the SDK's own HTTP retries turned off (and our timeout).

    Arguments left out are read the way the scripts read them: NEXLA_SERVICE_KEY (or
    NEXLA_ACCESS_TOKEN), NEXLA_API_URL and NEXLA_TIMEOUT from the environment, then ./.env.
    sandbox=True gives a client on the same local sandbox state the scripts' --sandbox uses
    (./.nexla-sandbox, or $NEXLA_SANDBOX_DIR); that sandbox serves until the process exits,
    and meanwhile a script's --sandbox on the same state waits for it.
    """
    if sandbox:
        import atexit

        ctx = nexla_ops.Context(argparse.Namespace(sandbox=True, timeout=timeout))
        client = ctx.client
        atexit.register(ctx.close)
        client.nexla_ops_context = ctx  # keeps the in-process sandbox alive with the client
        return client
    config = nexla_ops.resolve_config(argparse.Namespace(api_url=api_url, timeout=timeout))
    if service_key:
        from pydantic import SecretStr

        nexla_ops.register_secret(service_key)
        config = config.model_copy(update={"service_key": SecretStr(service_key),
                                           "access_token": None})
    return nexla_ops.build_client(config)


def call_with_retries(fn: Callable, *args: Any, attempts: int | None = None,
                      max_wait: float | None = None, deadline: float | None = None,
                      idempotent: bool = True, what: str | None = None,
                      breaker: CircuitBreaker | None = None, **kwargs: Any) -> Any:
    """Call fn(*args, **kwargs) under the policy.

    Non-transient errors (404, 400, 403...) propagate unchanged at once. When transient
    failures persist, nexla_ops.Transient is raised (its __cause__ is the last error). A
    non-idempotent call whose answer was lost raises nexla_ops.UnknownOutcome without a
    re-send. With a breaker, an open circuit fails fast with CircuitOpen.
    """
    retry = policy(attempts, max_wait, deadline)
    if breaker is None:
        return retry.call(fn, *args, idempotent=idempotent, what=what, **kwargs)
    return breaker.call(retry.call, fn, *args, idempotent=idempotent, what=what, **kwargs)


def with_retries(fn: Callable | None = None, *, attempts: int | None = None,
                 max_wait: float | None = None, deadline: float | None = None,
                 idempotent: bool = True, breaker: CircuitBreaker | None = None):
    """Decorator form of call_with_retries: ``@with_retries`` or ``@with_retries(...)``."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return call_with_retries(func, *args, attempts=attempts, max_wait=max_wait,
                                     deadline=deadline, idempotent=idempotent,
                                     what=func.__name__, breaker=breaker, **kwargs)
        return wrapper

    return decorate(fn) if fn is not None else decorate


class CircuitOpen(nexla_ops.Transient):
    """Raised without calling anything while the circuit is open."""


class CircuitBreaker:
    """Stop hammering an API that keeps failing transiently.

    closed: calls go through; `failure_threshold` consecutive transient failures open it.
    open: calls fail fast with CircuitOpen until `cooldown` seconds have passed.
    half_open: one trial call goes through (others fail fast); success closes the circuit,
    another transient failure opens it again. Non-transient errors (404, 400...) prove the
    API is answering, so they count as success here (and still propagate).
    Given to call_with_retries/with_retries, it sits outside the retries: one call that
    stays transient after all its attempts counts as one failure.
    """

    def __init__(self, failure_threshold: int = 5, cooldown: float = 30.0, *,
                 clock: Callable[[], float] = time.monotonic, name: str = "nexla-api"):
        if failure_threshold < 1 or cooldown < 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown >= 0")
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.cooldown else "open"

    def _admit(self) -> None:
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return
            remaining = max(0.0, self.cooldown - (self._clock() - self._opened_at))
            raise CircuitOpen(f"circuit '{self.name}' is open after {self._failures} consecutive "
                              f"transient failure(s); failing fast for another "
                              f"{remaining:.1f}s")

    def _record(self, transient_failure: bool) -> None:
        with self._lock:
            self._trial_running = False
            if not transient_failure:
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.failure_threshold:
                if self._opened_at is None or self._state() == "half_open":
                    nexla_ops.logger.warning("circuit '%s' opened after %d consecutive transient "
                                             "failure(s); cooling down %.1fs", self.name,
                                             self._failures, self.cooldown)
                self._opened_at = self._clock()

    def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        self._admit()
        try:
            result = fn(*args, **kwargs)
        except CircuitOpen:
            self._record(False)
            raise
        except Exception as exc:
            self._record(is_transient(exc))
            raise
        self._record(False)
        return result

    def __call__(self, fn: Callable) -> Callable:
        """Use as a decorator: ``@breaker``."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(fn, *args, **kwargs)
        return wrapper


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying later: 429, 5xx gateway errors, timeouts, drops."""
    if isinstance(exc, nexla_ops.Transient):
        return True
    return nexla_ops.classify(exc).kind in TRANSIENT_KINDS


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def run_command(command: list[str], retry: nexla_ops.RetryPolicy) -> int:
    """Run command, re-running while it exits 6; return its last exit code."""
    started = time.monotonic()
    for attempt in range(1, retry.attempts + 1):
        try:
            code = subprocess.call(command)
        except OSError as exc:
            raise nexla_ops.BadInput(f"cannot run {command[0]!r}: {exc.strerror or exc}") \
                from exc
        if code != nexla_ops.EXIT_TRANSIENT or attempt == retry.attempts:
            return code
        wait = retry.wait_for(attempt)
        if time.monotonic() - started + wait >= retry.deadline:
            nexla_ops.logger.warning("attempt %d/%d: exited 6 (transient); deadline of %.0fs "
                                     "reached, giving up", attempt, retry.attempts,
                                     retry.deadline)
            return code
        nexla_ops.logger.warning("attempt %d/%d: exited 6 (transient); retrying in %.1fs",
                                 attempt, retry.attempts, wait)
        time.sleep(wait)
    return nexla_ops.EXIT_TRANSIENT  # pragma: no cover - attempts >= 1


def run(args: argparse.Namespace, ctx: nexla_ops.Context) -> int:
    retry = nexla_ops.RetryPolicy.from_config(ctx.config)
    if args.describe:
        description = retry.describe()
        if args.json:
            ctx.out(description, "json")
        else:
            ctx.out("\n".join(f"{key}: {', '.join(value) if isinstance(value, list) else value}"
                              for key, value in description.items()), "text")
        return nexla_ops.EXIT_OK
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise nexla_ops.BadInput("command: expected a command after --, e.g. retry_helpers.py "
                                 "-- python scripts/list_resources.py --type flows --json")
    return run_command(command, retry)
