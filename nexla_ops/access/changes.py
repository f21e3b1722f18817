"""A role change as a value (Change): planned from the current list, applied with a verified
read-back; the drift between two accessor lists; which failures stop a whole run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nexla_ops
from nexla_ops.stopping import Terminated

from .api import AuditTrail, read_accessors, write_accessors
from .inputs import Resource
from .models import (
    _Accessor,
    describe,
    find_accessor,
    identity,
    same_accessor,
    sorted_roles,
    with_roles,
)
from .report import roles_text

# ---------------------------------------------------------------- planning and applying changes


@dataclass
class Change:
    """One accessor's roles on one resource, before and after (None = not an accessor)."""

    resource: Resource
    accessor: _Accessor
    before: list[str] | None
    after: list[str] | None

    @property
    def needed(self) -> bool:
        return self.before != self.after

    def applied_to(self, accessors: list[_Accessor]) -> list[_Accessor]:
        rest = [a for a in accessors if not same_accessor(a, self.accessor)]
        return rest if self.after is None else [*rest, with_roles(self.accessor, self.after)]


def plan(resource: Resource, current: list[_Accessor], accessor: _Accessor, operation: str,
         roles: list[str]) -> Change:
    existing = find_accessor(current, accessor)
    before = sorted_roles(existing.access_roles) if existing else None
    have = set(before or [])
    if operation == "grant":
        after = sorted_roles(have | set(roles))
    elif roles:  # revoke named roles
        after = sorted_roles(have - set(roles))
    else:  # revoke without --role: remove the accessor entirely
        after = []
    if not after:
        after = None  # no roles left: the accessor goes (or was never there)
    # Writes name the principal the way the resource already knows it when it exists.
    return Change(resource, existing or accessor, before, after)


def apply_change(ctx, trail: AuditTrail, operation: str, change: Change) -> list[_Accessor]:
    """Write one accessor change, read back, record it; returns the accessor list read back."""
    ident = identity(change.accessor)
    trail.ready()
    try:
        if change.after is None:
            write_accessors(ctx, change.resource, "DELETE", [ident])
        else:
            write_accessors(ctx, change.resource, "PUT", [{**ident, "access_roles": change.after}])
    except nexla_ops.OpsError as exc:
        trail.record(operation=operation, resource=change.resource, accessor=ident,
                     before=change.before, after=None, result=failed_result(exc),
                     error=exc.message)
        raise
    except Terminated as exc:  # SIGTERM mid-write: the change may have landed; say so
        trail.record(operation=operation, resource=change.resource, accessor=ident,
                     before=change.before, after=None, result="unknown", error=exc.message)
        raise
    readback = read_accessors(ctx, change.resource)
    found = find_accessor(readback, change.accessor)
    actual = sorted_roles(found.access_roles) if found else None
    verified = actual == change.after
    trail.record(operation=operation, resource=change.resource, accessor=ident,
                 before=change.before, after=actual, result="ok" if verified else "mismatch")
    if not verified:
        raise nexla_ops.ApiError(
            f"read-back mismatch on {change.resource.label} for {describe(change.accessor)}: "
            f"expected {roles_text(change.after)}, found {roles_text(actual)}")
    return readback


def failed_result(exc: nexla_ops.OpsError) -> str:
    """The audit-log result of a write that raised: refused for sure, or maybe applied."""
    if isinstance(exc, nexla_ops.AuthError):
        return "denied"
    return "unknown" if isinstance(exc, nexla_ops.Transient) else "error"


def result_row(change: Change, result: str, **extra: Any) -> dict:
    return {"resource": change.resource.as_json(), "accessor": identity(change.accessor),
            "before": change.before, "after": change.after, "result": result, **extra}


def fatal_for_run(exc: nexla_ops.OpsError) -> bool:
    """Failures that would hit every row alike (bad key, no config, API unreachable): stop
    instead of failing each row after its own retries."""
    unreachable = isinstance(exc, nexla_ops.Transient) and getattr(exc.failure, "kind", "") == "not_sent"
    return isinstance(exc, nexla_ops.ConfigError) or exc.status == 401 or unreachable


def same_state(actual: list[_Accessor], desired: list[_Accessor]) -> bool:
    return not drift(actual, desired)


def drift(actual: list[_Accessor], desired: list[_Accessor]) -> list[dict]:
    """Differences as {kind: missing|extra|different, accessor, actual, desired}."""
    found = []
    for want in desired:
        have = find_accessor(actual, want)
        if have is None:
            found.append({"kind": "missing", "accessor": want, "actual": None,
                          "desired": sorted_roles(want.access_roles)})
        elif set(have.access_roles) != set(want.access_roles):
            found.append({"kind": "different", "accessor": have,
                          "actual": sorted_roles(have.access_roles),
                          "desired": sorted_roles(want.access_roles)})
    for have in actual:
        if find_accessor(desired, have) is None:
            found.append({"kind": "extra", "accessor": have,
                          "actual": sorted_roles(have.access_roles), "desired": None})
    return found
