"""Exit codes and the errors that carry them: every expected failure is an OpsError with one
redacted line for the user and the exit code the house rules give its kind."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .output import to_jsonable
from .redact import one_line, redact

if TYPE_CHECKING:
    from .failures import Failure

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CONFIG, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_TRANSIENT, \
    EXIT_PARTIAL = range(8)
# deploy_flow --plan --detailed-exitcode: changes are pending (drift). Not a failure, and
# outside both 0-7 and the Nagios codes, so no script's other meaning can be mistaken for it.
EXIT_DRIFT = 8


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
