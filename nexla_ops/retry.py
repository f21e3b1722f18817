"""The one retry policy every command shares, on tenacity: which failures are retried, how long
to wait, when to stop. A POST whose answer was lost is never re-sent (UnknownOutcome)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import stopping
from .config import DEFAULTS
from .errors import Transient, UnknownOutcome
from .failures import Failure, classify, describe_callable

logger = logging.getLogger("nexla_ops")
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
        what = what or describe_callable(fn)
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
        def attempt(*a: Any, **kw: Any) -> Any:
            stopping.check(what)  # after SIGTERM nothing new is sent (cleanup aside)
            return fn(*a, **kw)

        started = time.monotonic()
        _retry_scope.active = True
        try:
            return retrying(attempt, *args, **kwargs)
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
