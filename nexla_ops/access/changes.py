"""A role change as a value (Change): planned from the current list, applied with a verified
read-back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nexla_ops

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


def roles_text(roles: list[str] | None) -> str:
    return ",".join(roles) if roles else "(none)"


def failed_result(exc: nexla_ops.OpsError) -> str:
    """The audit-log result of a write that raised: refused for sure, or maybe applied."""
    if isinstance(exc, nexla_ops.AuthError):
        return "denied"
    return "unknown" if isinstance(exc, nexla_ops.Transient) else "error"


def result_row(change: Change, result: str, **extra: Any) -> dict:
    return {"resource": change.resource.as_json(), "accessor": identity(change.accessor),
            "before": change.before, "after": change.after, "result": result, **extra}
