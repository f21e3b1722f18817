"""Audit: compare many resources with a desired state, and with fix converge them."""

from __future__ import annotations

import nexla_ops

from .api import AuditTrail, GuardRefused, Resolver, check_owner_kept, read_accessors
from .changes import Change, apply_change, drift, fatal_for_run
from .inputs import Resource, _pick, bad, desired_list, parse_resource_type
from .models import _Accessor, identity


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


def audit_resources(ctx, state: list[tuple[Resource, list[_Accessor]]], trail: AuditTrail, *,
                    fix: bool = False, force: bool = False, dry_run: bool = False) -> dict:
    """Compare each resource with its desired accessors (and with fix, converge it). Returns
    {"operation", "fix", "dry_run", "resources", "summary"}; each resource's status is one of
    in_sync, drift, fixed, would_fix, refused, failed."""
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
            elif not fix:
                report["status"] = "drift"
            else:
                changes = fix_changes(resource, found)
                final = current
                for change in changes:
                    final = change.applied_to(final)
                check_owner_kept(resource, current, final, force)
                if dry_run:
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
    return {"operation": "audit", "fix": fix, "dry_run": dry_run, "resources": reports,
            "summary": summary}


def drift_json(d: dict) -> dict:
    return {"kind": d["kind"], "accessor": identity(d["accessor"]), "actual": d["actual"],
            "desired": d["desired"]}
