"""The operations behind manage-access (list, grant, revoke, set, audit) and run(args, ctx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from .changes import Change, apply_change, failed_result, plan, result_row, roles_text
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
    describe,
    find_accessor,
    identity,
    owners,
    sorted_roles,
)

# ---------------------------------------------------------------- operations


@dataclass
class Item:
    """One requested grant/revoke: a command line, or one row of --from-file."""

    row: int | None
    resource: Resource
    accessor: _Accessor  # its access_roles are the roles to grant or revoke


def items_from_args(args) -> list[Item]:
    """Validate every grant/revoke request up front (bad input exits 2 before any request)."""
    roles = parse_roles(args.role, "--role") if args.role else []
    if not args.from_file:
        resource = resource_from_args(args)
        if args.operation == "grant" and not roles:
            raise bad("--role", "at least one role is required to grant "
                      f"(one of {', '.join(ROLES)})")
        accessor = build_accessor(
            args.accessor_type,
            {"id": args.accessor_id, "email": args.accessor_email, "name": args.accessor_name},
            roles, cli_label)
        return [Item(None, resource, accessor)]
    defaults = {"type": args.accessor_type, "id": args.accessor_id, "email": args.accessor_email,
                "name": args.accessor_name, "roles": roles}
    rows = read_rows(args.from_file)
    if not rows:
        raise bad("--from-file", "no rows")
    items = []
    for number, row in enumerate(rows, start=1):
        where = f"--from-file row {number}: "
        if not isinstance(row, dict):
            raise bad(where + "row", f"expected an object, got {type(row).__name__}")
        rtype = _pick(row, "resource_type") or args.resource_type
        rid = _pick(row, "resource_id")
        if rid is None:
            rid = args.resource_id
        if rtype is None:
            raise bad(where + "resource_type", "required (in the row or as --resource-type)")
        if rid is None:
            raise bad(where + "resource_id", "required (in the row or as --resource-id)")
        resource = Resource(parse_resource_type(rtype, where + "resource_type"),
                            nexla_ops.parse_id(rid, where + "resource_id"))
        accessor = accessor_from_row(row, where, defaults)
        if args.operation == "grant" and not accessor.access_roles:
            raise bad(where + "roles", "at least one role is required to grant")
        items.append(Item(number, resource, accessor))
    return items


def resource_from_args(args) -> Resource:
    if not args.resource_type:
        raise bad("--resource-type", f"required for --operation {args.operation}")
    if args.resource_id is None:
        raise bad("--resource-id", f"required for --operation {args.operation}")
    return Resource(parse_resource_type(args.resource_type, "--resource-type"),
                    nexla_ops.parse_id(args.resource_id, "--resource-id"))


def op_list(args, ctx) -> int:
    resource = resource_from_args(args)
    accessors = read_accessors(ctx, resource)
    rows = [accessor_json(a) for a in accessors]
    if args.json:
        ctx.out({"resource": resource.as_json(), "accessors": rows})
    elif rows:
        ctx.out(nexla_ops.format_table(
            [{"type": a.type, "id": a.id, "email/name": getattr(a, "email", None)
              or getattr(a, "name", None), "roles": ",".join(sorted_roles(a.access_roles))}
             for a in accessors], ["type", "id", "email/name", "roles"]))
    else:
        ctx.log("%s has no accessors", resource.label)
    return nexla_ops.EXIT_OK


def fatal_for_run(exc: nexla_ops.OpsError) -> bool:
    """Failures that would hit every row alike (bad key, no config, API unreachable): stop
    instead of failing each row after its own retries."""
    unreachable = isinstance(exc, nexla_ops.Transient) and getattr(exc.failure, "kind", "") == "not_sent"
    return isinstance(exc, nexla_ops.ConfigError) or exc.status == 401 or unreachable


def op_grant_revoke(args, ctx, items: list[Item], trail: AuditTrail) -> int:
    bulk = bool(args.from_file)
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
                          args.operation, sorted_roles(item.accessor.access_roles))
            if not change.needed:
                results.append(result_row(change, "unchanged", **extra))
                known[item.resource] = current
                continue
            check_owner_kept(item.resource, current, change.applied_to(current), args.force)
            if args.dry_run:
                known[item.resource] = change.applied_to(current)
                results.append(result_row(change, "would_change", **extra))
                continue
            known[item.resource] = apply_change(ctx, trail, args.operation, change)
            results.append(result_row(change, "changed", **extra))
        except nexla_ops.OpsError as exc:
            if not bulk or fatal_for_run(exc):
                raise
            known.pop(item.resource, None)  # re-read: a failed write may have half-happened
            results.append({"row": item.row, "resource": item.resource.as_json(),
                            "accessor": identity(item.accessor),
                            "roles": sorted_roles(item.accessor.access_roles),
                            "result": "failed", "exit_code": exc.exit_code, "error": exc.message})
    return report_changes(args, ctx, results)


def report_changes(args, ctx, results: list[dict]) -> int:
    summary = {key: sum(r["result"] == key for r in results)
               for key in ("changed", "unchanged", "would_change", "failed")}
    failed = [r for r in results if r["result"] == "failed"]
    if args.json:
        ctx.out({"operation": args.operation, "dry_run": args.dry_run, "results": results,
                 "summary": summary})
    else:
        columns = (["row"] if args.from_file else []) + ["result", "resource", "accessor",
                                                         "before", "after"]
        if failed:
            columns.append("error")
        ctx.out(nexla_ops.format_table([text_row(r) for r in results], columns))
    if failed:
        for r in failed:
            ctx.warn("row %s failed: %s", r.get("row"), r["error"])
        ctx.warn("%d of %d rows failed; %s", len(failed), len(results),
                 "nothing was written (--dry-run)" if args.dry_run
                 else "the others were applied (a re-run leaves them unchanged)")
        return nexla_ops.EXIT_PARTIAL
    return nexla_ops.EXIT_OK


def text_row(r: dict) -> dict:
    ident = r["accessor"]
    return {
        "row": r.get("row"),
        "result": r["result"],
        "resource": f"{r['resource']['type']}/{r['resource']['id']}",
        "accessor": " ".join(str(v) for v in ident.values()),  # as describe(), from JSON
        "before": roles_text(r.get("before")) if "before" in r else "",
        "after": roles_text(r.get("after")) if "after" in r else "",
        "error": r.get("error", ""),
    }


def desired_list(rows: Any, where: str) -> list[_Accessor]:
    """A full desired accessor list from a file (each entry needs roles; no duplicates)."""
    if not isinstance(rows, list):
        raise bad(where.rstrip(": "), "expected a list of accessors")
    accessors: list[_Accessor] = []
    for number, row in enumerate(rows, start=1):
        entry_where = f"{where}accessor {number}: "
        accessor = accessor_from_row(row, entry_where)
        if not accessor.access_roles:
            raise bad(entry_where + "access_roles",
                      "at least one role is required (leave the accessor out to remove it)")
        if find_accessor(accessors, accessor):
            raise bad(entry_where + "accessor", f"{describe(accessor)} is listed twice")
        accessors.append(accessor)
    return accessors


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


def op_set(args, ctx, resource: Resource, desired: list[_Accessor], trail: AuditTrail) -> int:
    if not owners(desired) and not args.force:
        raise GuardRefused(f"refused: the new accessor list for {resource.label} has no owner; "
                           "add an accessor with the owner role, or pass --force")
    current = read_accessors(ctx, resource)
    resolver = Resolver(ctx)
    desired = [resolver.resolve(a, current) for a in desired]
    before = [accessor_json(a) for a in current]
    planned = [accessor_json(a) for a in desired]
    if same_state(current, desired):
        result, after = "unchanged", before
    elif args.dry_run:
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
    report = {"operation": "set", "dry_run": args.dry_run, "resource": resource.as_json(),
              "result": result, "before": before, "after": after}
    if args.json:
        ctx.out(report)
    else:
        ctx.out(f"{result}: {resource.label}")
        ctx.out(nexla_ops.format_table(
            [{"": "before", "accessors": accessors_text(before)},
             {"": "after", "accessors": accessors_text(after)}], ["", "accessors"]))
    return nexla_ops.EXIT_OK


def accessors_text(entries: list[dict]) -> str:
    return "; ".join(f"{e['type']} {e.get('id') or e.get('email') or e.get('name')}="
                     f"{','.join(e['access_roles'])}" for e in entries) or "(none)"


def desired_state_from_file(path: str) -> list[tuple[Resource, list[_Accessor]]]:
    data = nexla_ops.load_structured_file(path)
    if isinstance(data, dict):
        data = data.get("resources")
    if not isinstance(data, list) or not data:
        raise bad("--from-file", 'expected {"resources": [{"resource_type", "resource_id", '
                  '"accessors": [...]}, ...]} with at least one resource')
    state: list[tuple[Resource, list[_Accessor]]] = []
    for number, entry in enumerate(data, start=1):
        where = f"--from-file resource {number}: "
        if not isinstance(entry, dict):
            raise bad(where.rstrip(": "), "expected an object")
        rtype, rid = _pick(entry, "resource_type", "type"), _pick(entry, "resource_id", "id")
        if rtype is None or rid is None:
            raise bad(where + "resource_type/resource_id", "both are required")
        resource = Resource(parse_resource_type(rtype, where + "resource_type"),
                            nexla_ops.parse_id(rid, where + "resource_id"))
        if any(resource == seen for seen, _ in state):
            raise bad(where + "resource", f"{resource.label} is listed twice")
        state.append((resource, desired_list(entry.get("accessors"), where)))
    return state


def fix_changes(resource: Resource, found: list[dict]) -> list[Change]:
    """Merge writes (PUT) for missing/different accessors first, then removals (DELETE), so an
    owner hand-over never passes through a moment without an owner."""
    puts = [Change(resource, d["accessor"], d["actual"], d["desired"])
            for d in found if d["kind"] != "extra"]
    deletes = [Change(resource, d["accessor"], d["actual"], None)
               for d in found if d["kind"] == "extra"]
    return puts + deletes


def op_audit(args, ctx, state: list[tuple[Resource, list[_Accessor]]], trail: AuditTrail) -> int:
    reports = []
    resolver = Resolver(ctx)
    for number, (resource, desired) in enumerate(state, start=1):
        ctx.progress(f"resource {number}/{len(state)}: {resource.label}")
        report: dict = {"resource": resource.as_json()}
        try:
            current = read_accessors(ctx, resource)
            desired = [resolver.resolve(a, current) for a in desired]
            found = drift(current, desired)
            report["drift"] = [drift_json(d) for d in found]
            if not found:
                report["status"] = "in_sync"
            elif not args.fix:
                report["status"] = "drift"
            else:
                changes = fix_changes(resource, found)
                final = current
                for change in changes:
                    final = change.applied_to(final)
                check_owner_kept(resource, current, final, args.force)
                if args.dry_run:
                    report["status"] = "would_fix"
                else:
                    for change in changes:
                        readback = apply_change(ctx, trail, "audit-fix", change)
                    left = drift(readback, desired)  # the last write's read-back is the end state
                    report["status"] = "fixed" if not left else "drift"
                    report["left"] = [drift_json(d) for d in left]
        except GuardRefused as exc:
            report.update(status="refused", error=exc.message)
        except nexla_ops.OpsError as exc:
            if fatal_for_run(exc):
                raise
            report.update(status="failed", error=exc.message, exit_code=exc.exit_code)
        reports.append(report)
    summary = {key: sum(r["status"] == key for r in reports)
               for key in ("in_sync", "drift", "fixed", "would_fix", "refused", "failed")}
    if args.json:
        ctx.out({"operation": "audit", "fix": args.fix, "dry_run": args.dry_run,
                 "resources": reports, "summary": summary})
    else:
        rows = []
        for r in reports:
            label = f"{r['resource']['type']}/{r['resource']['id']}"
            for d in r.get("drift") or [{}]:
                rows.append({"resource": label, "status": r["status"], "drift": d.get("kind"),
                             "accessor": " ".join(str(v) for v in d.get("accessor", {}).values()),
                             "actual": roles_text(d["actual"]) if d else "",
                             "desired": roles_text(d["desired"]) if d else "",
                             "error": r.get("error", "")})
        columns = ["resource", "status", "drift", "accessor", "actual", "desired"]
        if any(r.get("error") for r in reports):
            columns.append("error")
        ctx.out(nexla_ops.format_table(rows, columns))
    unresolved = [r for r in reports if r["status"] not in ("in_sync", "fixed")]
    if unresolved:
        ctx.warn("%d of %d resources are not in the desired state%s", len(unresolved),
                 len(reports), "" if args.fix else " (run with --fix to converge them)")
        return nexla_ops.EXIT_PARTIAL
    return nexla_ops.EXIT_OK


def drift_json(d: dict) -> dict:
    return {"kind": d["kind"], "accessor": identity(d["accessor"]), "actual": d["actual"],
            "desired": d["desired"]}


# ---------------------------------------------------------------- CLI


def run(args, ctx) -> int:
    # Everything the user gave is validated here, before the first request.
    trail = AuditTrail(ctx, args.audit_log)
    op = args.operation
    if op in ("set", "audit") and not args.from_file:
        raise bad("--from-file", f"required for --operation {op}")
    if args.fix and op != "audit":
        raise bad("--fix", "only valid with --operation audit")
    if op == "list":
        return op_list(args, ctx)
    if op in ("grant", "revoke"):
        return op_grant_revoke(args, ctx, items_from_args(args), trail)
    if op == "set":
        resource = resource_from_args(args)
        return op_set(args, ctx, resource, desired_list(read_rows(args.from_file, "accessors"),
                                                  "--from-file "),
                      trail)
    return op_audit(args, ctx, desired_state_from_file(args.from_file), trail)
