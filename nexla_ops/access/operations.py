"""The operations behind manage-access: list, grant, revoke and set. Each takes plain values,
does its requests through ctx and returns its result as data (the JSON --json prints); audit
is in audit.py, the text renderings in report.py."""

from __future__ import annotations

from dataclasses import dataclass

import nexla_ops
from nexla_ops.access import (
    ROLES,
)

from .api import (
    AuditTrail,
    GuardRefused,
    Resolver,
    check_owner_kept,
    read_accessors,
    write_accessors,
)
from .changes import (
    apply_change,
    failed_result,
    fatal_for_run,
    plan,
    result_row,
    same_state,
)
from .inputs import (
    Resource,
    _pick,
    accessor_from_row,
    bad,
    build_accessor,
    cli_label,
    parse_resource_type,
    parse_roles,
    read_rows,
)
from .models import (
    _Accessor,
    accessor_json,
    identity,
    owners,
    sorted_roles,
)

# ---------------------------------------------------------------- what to change


@dataclass
class Item:
    """One requested grant/revoke: a command line, or one row of --from-file."""

    row: int | None
    resource: Resource
    accessor: _Accessor  # its access_roles are the roles to grant or revoke


def grant_revoke_items(operation: str, *, roles: list[str] | None = None,
                       from_file: str | None = None, resource_type: str | None = None,
                       resource_id: str | None = None, accessor_type: str | None = None,
                       accessor_id: str | None = None, accessor_email: str | None = None,
                       accessor_name: str | None = None) -> list[Item]:
    """Validate every grant/revoke request up front (bad input exits 2 before any request).

    Without from_file the values name one request; with it each row of the file is one, and
    the values are the defaults for what a row leaves out."""
    roles = parse_roles(roles, "--role") if roles else []
    if not from_file:
        resource = parse_resource(resource_type, resource_id, operation)
        if operation == "grant" and not roles:
            raise bad("--role", "at least one role is required to grant "
                      f"(one of {', '.join(ROLES)})")
        accessor = build_accessor(
            accessor_type,
            {"id": accessor_id, "email": accessor_email, "name": accessor_name},
            roles, cli_label)
        return [Item(None, resource, accessor)]
    defaults = {"type": accessor_type, "id": accessor_id, "email": accessor_email,
                "name": accessor_name, "roles": roles}
    rows = read_rows(from_file)
    if not rows:
        raise bad("--from-file", "no rows")
    items = []
    for number, row in enumerate(rows, start=1):
        where = f"--from-file row {number}: "
        if not isinstance(row, dict):
            raise bad(where + "row", f"expected an object, got {type(row).__name__}")
        rtype = _pick(row, "resource_type") or resource_type
        rid = _pick(row, "resource_id")
        if rid is None:
            rid = resource_id
        if rtype is None:
            raise bad(where + "resource_type", "required (in the row or as --resource-type)")
        if rid is None:
            raise bad(where + "resource_id", "required (in the row or as --resource-id)")
        resource = Resource(parse_resource_type(rtype, where + "resource_type"),
                            nexla_ops.parse_id(rid, where + "resource_id"))
        accessor = accessor_from_row(row, where, defaults)
        if operation == "grant" and not accessor.access_roles:
            raise bad(where + "roles", "at least one role is required to grant")
        items.append(Item(number, resource, accessor))
    return items


def parse_resource(resource_type: str | None, resource_id: str | None, operation: str) -> Resource:
    """The resource --resource-type/--resource-id name (both required for `operation`)."""
    if not resource_type:
        raise bad("--resource-type", f"required for --operation {operation}")
    if resource_id is None:
        raise bad("--resource-id", f"required for --operation {operation}")
    return Resource(parse_resource_type(resource_type, "--resource-type"),
                    nexla_ops.parse_id(resource_id, "--resource-id"))


# ---------------------------------------------------------------- operations


def list_accessors(ctx, resource: Resource) -> dict:
    """{"resource", "accessors"}: who can access the resource, and with which roles."""
    accessors = read_accessors(ctx, resource)
    return {"resource": resource.as_json(), "accessors": [accessor_json(a) for a in accessors]}


def grant_revoke(ctx, operation: str, items: list[Item], trail: AuditTrail, *, bulk: bool = False,
                 force: bool = False, dry_run: bool = False) -> dict:
    """Grant or revoke (operation) each item's roles. Returns {"operation", "dry_run", "results",
    "summary"}; with bulk a failed row is a result (result "failed") and the others go on,
    without it the failure raises."""
    resolver = Resolver(ctx)
    known: dict[Resource, list[_Accessor]] = {}  # latest list per resource (read back or planned)
    results = []
    for number, item in enumerate(items, start=1):
        if bulk:
            ctx.progress(f"row {number}/{len(items)}: {item.resource.label}")
        extra = {"row": item.row} if bulk else {}
        try:
            current = known.get(item.resource)
            if current is None:
                current = read_accessors(ctx, item.resource)
            change = plan(item.resource, current, resolver.resolve(item.accessor, current),
                          operation, sorted_roles(item.accessor.access_roles))
            if not change.needed:
                results.append(result_row(change, "unchanged", **extra))
                known[item.resource] = current
                continue
            check_owner_kept(item.resource, current, change.applied_to(current), force)
            if dry_run:
                known[item.resource] = change.applied_to(current)
                results.append(result_row(change, "would_change", **extra))
                continue
            known[item.resource] = apply_change(ctx, trail, operation, change)
            results.append(result_row(change, "changed", **extra))
        except nexla_ops.OpsError as exc:
            if not bulk or fatal_for_run(exc):
                raise
            known.pop(item.resource, None)  # re-read: a failed write may have half-happened
            results.append({"row": item.row, "resource": item.resource.as_json(),
                            "accessor": identity(item.accessor),
                            "roles": sorted_roles(item.accessor.access_roles),
                            "result": "failed", "exit_code": exc.exit_code, "error": exc.message})
    summary = {key: sum(r["result"] == key for r in results)
               for key in ("changed", "unchanged", "would_change", "failed")}
    return {"operation": operation, "dry_run": dry_run, "results": results, "summary": summary}


def set_accessors(ctx, resource: Resource, desired: list[_Accessor], trail: AuditTrail, *,
                  force: bool = False, dry_run: bool = False) -> dict:
    """Replace the resource's accessor list with `desired`. Returns {"operation", "dry_run",
    "resource", "result" (unchanged|would_change|changed), "before", "after"}."""
    if not owners(desired) and not force:
        raise GuardRefused(f"refused: the new accessor list for {resource.label} has no owner; "
                           "add an accessor with the owner role, or pass --force")
    current = read_accessors(ctx, resource)
    resolver = Resolver(ctx)
    desired = [resolver.resolve(a, current) for a in desired]
    before = [accessor_json(a) for a in current]
    planned = [accessor_json(a) for a in desired]
    if same_state(current, desired):
        result, after = "unchanged", before
    elif dry_run:
        result, after = "would_change", planned
    else:
        trail.ready()
        try:
            write_accessors(ctx, resource, "POST", planned)
        except nexla_ops.OpsError as exc:
            trail.record(operation="set", resource=resource, accessor=None, before=before,
                         after=None, result=failed_result(exc), error=exc.message)
            raise
        readback = read_accessors(ctx, resource)
        after = [accessor_json(a) for a in readback]
        verified = same_state(readback, desired)
        trail.record(operation="set", resource=resource, accessor=None, before=before,
                     after=after, result="ok" if verified else "mismatch")
        if not verified:
            raise nexla_ops.ApiError(f"read-back mismatch on {resource.label}: the accessor list "
                                     "differs from the one sent (see the audit log)")
        result = "changed"
    return {"operation": "set", "dry_run": dry_run, "resource": resource.as_json(),
            "result": result, "before": before, "after": after}
