"""A credential probe's verdict, and a credential's recorded verification, each read one way
by deploy, rotation, health and triage.

Nexla answers `GET /data_credentials/{id}/probe` for a credential the remote system rejects
with 403 `{"status": 403, "message"}`, which is not a permission error; some servers instead
answer 200 with a failing `status` in the body. Both are a failed probe. A caller who lacks the
role (403 with `code`), bad configuration and transient errors are not verdicts: they raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, AuthError, NotFound
from .failures import probe_rejection
from .redact import one_line

_PASSING = frozenset(("success", "ok", "200"))

# verified_status is a free string in the reference; these readings are ours, and a value that
# matches none of them is "unknown", never taken for fine.
PASSED_VERIFICATION = frozenset(("VERIFIED", "SUCCESS", "OK", "VALID"))
NEVER_VERIFIED = frozenset(("", "UNVERIFIED", "NOT_VERIFIED"))
FAILED_VERIFICATION_PARTS = ("FAIL", "ERROR", "INVALID", "REJECT")


def verification(verified_status: str | None) -> str:
    """How a credential's verified_status reads: verified, failed, never (not yet verified) or
    unknown."""
    status = (verified_status or "").strip().upper().replace("-", "_").replace(" ", "_")
    if status in NEVER_VERIFIED:
        return "never"
    if status in PASSED_VERIFICATION:
        return "verified"
    if any(part in status for part in FAILED_VERIFICATION_PARTS):
        return "failed"
    return "unknown"


@dataclass(frozen=True)
class ProbeVerdict:
    ok: bool
    reason: str = ""       # why it failed; "" when ok
    missing: bool = False  # the credential does not exist


def probe_credential(get: Callable[[str], Any], cred_id: int) -> ProbeVerdict:
    """Probe one credential with `get(path) -> body` (a ctx.request or health Api bound to GET)."""
    try:
        body = get(f"/data_credentials/{cred_id}/probe")
    except NotFound:
        return ProbeVerdict(False, "not found", missing=True)
    except AuthError as exc:
        reason = probe_rejection(exc)
        if reason is None:
            raise
        return ProbeVerdict(False, reason)
    except ApiError as exc:
        return ProbeVerdict(False, exc.message)
    if isinstance(body, dict):
        status = str(body.get("status") or "success").lower()
        if status not in _PASSING:
            return ProbeVerdict(False, one_line(str(body.get("message") or status), 300))
    return ProbeVerdict(True)
