"""The --credentials check: each credential the chosen flows use, judged once however many
flows use it, and named with the flows it breaks.

The verdict comes from the credential listing's `verified_status` (GET /data_credentials, 100
a page: no call per credential), or, with --probe-credentials, from one probe per credential.
A credential only paused flows use is judged and reported, but left out of the overall state.

Expiry: Nexla publishes no credential expiry field (its credential has verified_status,
verified_at, credentials_version and the free-form credentials_non_secure_data). So expiry is
read only from the keys of credentials_non_secure_data that the operator names (--expiry-field),
where the team records one; no key is guessed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import nexla_ops
from nexla_ops.probe import verification

from .checks import human_age
from .model import CRITICAL, OK, STATE_NAMES, UNKNOWN, WARNING, CredentialResult, worst
from .observe import fetch_credential, list_credentials, probe_verdict, run_bounded

DEFAULT_EXPIRY_WARN = 7 * 86400.0
NON_SECURE = "credentials_non_secure_data"
LISTING_KEY = ("credential_listing", 0)

FLOWS_NAMED = 10  # a message names this many flows, then "+N more"
_EPOCH_TEXT = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class CredentialSettings:
    """expiry_fields: keys of credentials_non_secure_data holding an expiry date (none: no
    expiry check); expiry_warn: seconds before expiry that turn it WARNING."""

    expiry_fields: tuple = ()
    expiry_warn: float = DEFAULT_EXPIRY_WARN


@dataclass(frozen=True)
class FlowUse:
    flow_id: int
    name: str
    paused: bool


def credential_usage(pairs) -> dict:
    """{credential id: [FlowUse]} for the chosen (Flow, Thresholds) pairs, flows in id order."""
    usage: dict = {}
    for flow, _ in sorted(pairs, key=lambda pair: pair[0].flow_id):
        for cred_id in flow.credential_ids:
            if type(cred_id) is int:  # an id the API garbled cannot be looked up
                usage.setdefault(cred_id, []).append(
                    FlowUse(flow.flow_id, flow.name, flow.status == "PAUSED"))
    return dict(sorted(usage.items()))


def credential_tasks(api, ctx, usage: dict, settings: CredentialSettings, *, probe: bool,
                     concurrency: int) -> dict:
    """The calls the verdicts need, for observe.run_bounded: one probe per credential with
    `probe`; else (or for expiry) the credential listing's pages."""
    tasks = {}
    if probe:
        for cred_id in usage:
            tasks[("credential", cred_id)] = lambda c=cred_id: probe_verdict(api, c)
    if usage and (not probe or settings.expiry_fields):
        tasks[LISTING_KEY] = lambda: list_credentials(api, ctx, concurrency)
    return tasks


def parse_expiry(value) -> datetime:
    """An ISO date (read as 00:00 UTC that day), an ISO date-time (UTC when it names no
    offset) or epoch seconds (a number, or digits: dates need their dashes) -> an aware UTC
    datetime. ValueError (or OverflowError/OSError) when it is none of them."""
    if isinstance(value, str):
        text = value.strip()
        if _EPOCH_TEXT.fullmatch(text):
            value = float(text)
        else:
            if len(text) > 64:
                raise ValueError("too long for a date")
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.astimezone(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, timezone.utc)
    raise ValueError("not a date")


def _shown(value, limit: int = 60) -> str:
    return nexla_ops.one_line(nexla_ops.redact_text(str(value)), limit)


def expiry_check(non_secure: dict, settings: CredentialSettings, now: datetime):
    """(state, detail, expires_at) from the --expiry-field keys; the earliest date counts,
    and a value that is no date is UNKNOWN naming its key."""
    found, problems = [], []
    for key in settings.expiry_fields:
        raw = non_secure.get(key)
        if raw is None:
            continue
        try:
            found.append((parse_expiry(raw), key))
        except (ValueError, OverflowError, OSError):
            problems.append(f"{NON_SECURE}.{key} is not an ISO date, date-time or epoch "
                            f"seconds: {_shown(raw)!r}")
    if not found:
        if problems:
            return UNKNOWN, "; ".join(problems), None
        keys = ", ".join(settings.expiry_fields)
        return OK, f"no expiry recorded ({keys})", None
    expires_at, key = min(found)
    left = (expires_at - now).total_seconds()
    when = f"{key} {expires_at.isoformat()}"
    if left <= 0:
        state, detail = CRITICAL, f"expired {human_age(-left)} ago ({when})"
    elif left <= settings.expiry_warn:
        state, detail = WARNING, (f"expires in {human_age(left)} ({when}; warning within "
                                  f"{human_age(settings.expiry_warn)})")
    else:
        state, detail = OK, f"expires in {human_age(left)} ({when})"
    return worst([state, UNKNOWN if problems else OK]), "; ".join([detail, *problems]), expires_at


def status_check(item: dict):
    """(state, detail) from a listed credential's verified_status and verified_at."""
    raw = item.get("verified_status")
    at = item.get("verified_at")
    at_text = f" at {_shown(at, 40)}" if at not in (None, "") else ""
    if raw is not None and not isinstance(raw, str):
        return UNKNOWN, f"verified_status is not text: {_shown(raw)!r}"
    reading = verification(raw)
    if reading == "never":
        # Not a failure: many working credentials were never probed. Their flows' run checks
        # still judge them, and --probe-credentials gives a verdict now.
        return OK, (f"never verified (verified_status {_shown(raw)!r})" if raw else
                    "never verified (no verified_status; --probe-credentials checks it now)")
    if reading == "verified":
        return OK, f"verified{at_text}"
    if reading == "failed":
        return CRITICAL, f"failed verification (verified_status {_shown(raw)}{at_text})"
    return UNKNOWN, f"verified_status {_shown(raw)!r} is not one this check knows"


def probe_check(outcome) -> tuple[int, str]:
    """(state, detail) from observe.probe_verdict's (state, what it said)."""
    state, said = outcome
    if state == CRITICAL:
        return CRITICAL, f"failed verification ({said})"
    return state, said


def _flow_list(uses) -> str:
    named = ", ".join(f"{use.flow_id} {use.name}" for use in uses[:FLOWS_NAMED])
    return named + (f" (+{len(uses) - FLOWS_NAMED} more)" if len(uses) > FLOWS_NAMED else "")


def credential_result(cred_id: int, uses: list, name: str, checks: list, *, item=None,
                      expires_at=None, source="listing") -> CredentialResult:
    """One credential's result from its [(state, detail)] checks and the flows using it."""
    state = worst(s for s, _ in checks)
    active = [use for use in uses if not use.paused]
    paused = [use for use in uses if use.paused]
    if active:
        flows = f"{'breaks' if state == CRITICAL else 'used by'} flows {_flow_list(active)}"
        if paused:
            flows += f"; also paused flows {_flow_list(paused)}"
    else:
        flows = (f"used only by paused flows {_flow_list(paused)}, so it does not count "
                 "toward the overall state")
    item = item or {}
    result = CredentialResult(
        cred_id, name, state, counted=bool(active), message="", flows=uses,
        verified_status=None if item.get("verified_status") is None else _shown(item["verified_status"], 100),
        verified_at=None if item.get("verified_at") is None else _shown(item["verified_at"], 100),
        expires_at=expires_at, source=source)
    # The problems alone when there are any (as a flow's reason), else what was found.
    details = [d for s, d in checks if s != OK] or [d for _, d in checks]
    result.message = f"{result.title} {'; '.join(details)}: {flows}"
    return result


def judge_credentials(api, usage: dict, names: dict, settings: CredentialSettings, *,
                      probe: bool, done: dict, failed: dict, deadline, concurrency: int,
                      now: datetime) -> list[CredentialResult]:
    """Each used credential's result from the finished credential_tasks (`done`, `failed`).
    The reference documents credentials_non_secure_data on GET /data_credentials/{id}, not in
    the listing: with --expiry-field, a listed credential that lacks it is read by id."""
    timeout = f"not checked before the --timeout of {deadline.seconds:g}s"
    listing, listing_problem = done.get(LISTING_KEY), ""
    if LISTING_KEY in failed:
        listing_problem = f"the credential listing failed: {failed[LISTING_KEY].message}"
    elif listing is None:
        listing_problem = timeout
    items = listing.items if listing is not None else {}
    fetched: dict = {}
    if settings.expiry_fields and items:
        lacking = [c for c in usage if c in items and NON_SECURE not in items[c]]
        fetched = run_bounded({c: lambda c=c: fetch_credential(api, c) for c in lacking},
                              concurrency, deadline)[0]

    results = []
    for cred_id, uses in usage.items():
        item = items.get(cred_id)
        name = _shown(item.get("name") or "", 200) if item else names.get(cred_id, "")
        checks = []
        if probe:
            key = ("credential", cred_id)
            if key in done:
                checks.append(probe_check(done[key]))
            else:
                checks.append((UNKNOWN, f"cannot probe ({failed[key].message})" if key in failed
                               else timeout))
        if item is None and (not probe or settings.expiry_fields):
            checks.append((UNKNOWN, listing_problem or listing.problem or
                           "not in the credential listing (GET /data_credentials) for this key"))
            results.append(credential_result(cred_id, uses, name, checks,
                                             source="probe" if probe else "listing"))
            continue
        if not probe:
            checks.append(status_check(item))
        expires_at = None
        if settings.expiry_fields:
            doc = fetched.get(cred_id) if cred_id in fetched else item
            state, detail, expires_at = _expiry_from(doc, settings, now)
            checks.append((state, detail))
        results.append(credential_result(cred_id, uses, name, checks, item=item,
                                         expires_at=expires_at,
                                         source="probe" if probe else "listing"))
    return results


def _expiry_from(doc, settings: CredentialSettings, now: datetime):
    non_secure = (doc or {}).get(NON_SECURE)
    if isinstance(non_secure, dict):
        return expiry_check(non_secure, settings, now)
    if non_secure is None and doc is not None and NON_SECURE in doc:
        return OK, f"no expiry recorded ({', '.join(settings.expiry_fields)})", None
    if non_secure is None:
        return UNKNOWN, f"{NON_SECURE} could not be read", None
    return UNKNOWN, f"{NON_SECURE} is not an object", None


def credential_counts(results) -> dict:
    counts = dict.fromkeys(STATE_NAMES, 0)
    for result in results:
        counts[STATE_NAMES[result.state]] += 1
    return {"checked": len(results), "counts": counts,
            "not_counted": sum(not r.counted for r in results)}
