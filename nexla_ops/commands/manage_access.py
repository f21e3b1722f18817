"""Manage who can access Nexla resources: list, grant, revoke, set and audit accessors.

Every change is idempotent (a grant that is already in place writes nothing), verified (the
accessor list is read back after each write; a mismatch exits 1), guarded (the last owner of a
resource is never removed without --force) and recorded: each write appends one JSON line to an
audit log (--audit-log, default ./nexla-access-audit.jsonl) with the acting user, the accessor,
the roles before and after, and the result.

Accessors are read and written through the client's raw request path, not the SDK's accessor
methods: nexla-sdk 1.0.8 parses accessor lists with `AccessorResponse.model_validate`, a
`typing.Union` with no such method, so every non-empty list raises AttributeError (even after a
write has been applied). The bare JSON arrays are parsed with the models below instead.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.access import DEFAULT_AUDIT_LOG, ROLES

EXAMPLES = """\
examples:
  # who can access source 123
  python scripts/manage_access.py --operation list --resource-type sources --resource-id 123

  # give team 42 the operator role on source 123 (a re-run changes nothing)
  python scripts/manage_access.py --operation grant --resource-type sources --resource-id 123 \\
      --accessor-type TEAM --accessor-id 42 --role operator

  # preview taking the operator role away from a user, then do it
  python scripts/manage_access.py --operation revoke --resource-type nexsets --resource-id 223 \\
      --accessor-type USER --accessor-email omar@demo.example --role operator --dry-run
  python scripts/manage_access.py --operation revoke --resource-type nexsets --resource-id 223 \\
      --accessor-type USER --accessor-email omar@demo.example --role operator

  # remove a team's access entirely (revoke without --role)
  python scripts/manage_access.py --operation revoke --resource-type flows --resource-id 1001 \\
      --accessor-type TEAM --accessor-name analytics

  # many grants at once; rows: resource_type,resource_id,accessor_type,accessor_id,
  # accessor_email,accessor_name,roles (roles separated by ';')
  python scripts/manage_access.py --operation grant --from-file grants.csv --json

  # replace every accessor of a destination with the list in a file (must include an owner)
  python scripts/manage_access.py --operation set --resource-type destinations --resource-id 301 \\
      --from-file accessors.json

  # compare many resources with a desired-state file, then converge them
  python scripts/manage_access.py --operation audit --from-file desired-access.yaml
  python scripts/manage_access.py --operation audit --from-file desired-access.yaml --fix

files:
  set:   a JSON/YAML list of accessors, e.g. [{"type": "USER", "id": 1, "access_roles": ["owner"]}]
         (or {"accessors": [...]}, or CSV rows with accessor_type,accessor_id,...,roles)
  audit: {"resources": [{"resource_type": "sources", "resource_id": 123,
                         "accessors": [{"type": "USER", "id": 1, "access_roles": ["owner"]}]}]}

exit codes: 0 ok (or nothing to do); 1 refused by a guard, API refused, or read-back mismatch;
  2 bad input (nothing sent); 3 configuration missing; 4 not allowed (401/403); 5 not found;
  6 transient, still failing after retries (safe to re-run); 7 some rows failed (bulk) or
  drift remains (audit); the output lists them.
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "manage_access.py",
        description="List, grant, revoke, set and audit who can access Nexla resources: "
                    "idempotent, verified by reading back, guarded, and recorded in an audit log.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operation", required=True,
                        choices=["list", "grant", "revoke", "set", "audit"])
    parser.add_argument("--resource-type", metavar="TYPE",
                        help="sources, nexsets, destinations, credentials, flows, projects, teams, "
                             "transforms, lookups, or an API name (data_sources, data_sets, ...)")
    parser.add_argument("--resource-id", metavar="ID")
    parser.add_argument("--accessor-type", metavar="USER|TEAM|ORG")
    parser.add_argument("--accessor-id", metavar="ID", help="USER, TEAM or ORG id")
    parser.add_argument("--accessor-email", metavar="EMAIL", help="USER only")
    parser.add_argument("--accessor-name", metavar="NAME", help="TEAM only")
    parser.add_argument("--role", action="append", metavar="ROLE",
                        help=f"{'|'.join(ROLES)}; repeat for several. revoke without --role "
                             "removes the accessor entirely")
    parser.add_argument("--from-file", metavar="FILE",
                        help="grant/revoke: CSV or JSON rows; set: the accessor list; "
                             "audit: the desired state (JSON or YAML)")
    parser.add_argument("--fix", action="store_true", help="audit: apply the changes")
    parser.add_argument("--force", action="store_true",
                        help="allow removing the last owner / setting a list without an owner")
    parser.add_argument("--dry-run", action="store_true",
                        help="show before and after; write nothing")
    parser.add_argument("--audit-log", metavar="FILE", default=DEFAULT_AUDIT_LOG,
                        help=f"append one JSON line per write here (default ./{DEFAULT_AUDIT_LOG})")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    # pydantic and the engine load only when a run starts
    from nexla_ops.access import audit, operations, report
    from nexla_ops.access.api import AuditTrail
    from nexla_ops.access.inputs import bad, desired_list, read_rows

    # Everything the user gave is validated here, before the first request.
    trail = AuditTrail(ctx, args.audit_log)
    op = args.operation
    if op in ("set", "audit") and not args.from_file:
        raise bad("--from-file", f"required for --operation {op}")
    if args.fix and op != "audit":
        raise bad("--fix", "only valid with --operation audit")
    if op == "list":
        resource = operations.parse_resource(args.resource_type, args.resource_id, op)
        result = operations.list_accessors(ctx, resource)
        if args.json:
            ctx.out(result)
        elif result["accessors"]:
            ctx.out(report.list_table(result))
        else:
            ctx.log("%s has no accessors", resource.label)
        return nexla_ops.EXIT_OK
    if op in ("grant", "revoke"):
        items = operations.grant_revoke_items(
            op, roles=args.role, from_file=args.from_file, resource_type=args.resource_type,
            resource_id=args.resource_id, accessor_type=args.accessor_type,
            accessor_id=args.accessor_id, accessor_email=args.accessor_email,
            accessor_name=args.accessor_name)
        result = operations.grant_revoke(ctx, op, items, trail, bulk=bool(args.from_file),
                                         force=args.force, dry_run=args.dry_run)
        ctx.out(result if args.json else report.changes_table(result, bool(args.from_file)))
        failed = report.failed_rows(result)
        if failed:
            for r in failed:
                ctx.warn("row %s failed: %s", r.get("row"), r["error"])
            ctx.warn("%d of %d rows failed; %s", len(failed), len(result["results"]),
                     "nothing was written (--dry-run)" if args.dry_run
                     else "the others were applied (a re-run leaves them unchanged)")
            return nexla_ops.EXIT_PARTIAL
        return nexla_ops.EXIT_OK
    if op == "set":
        resource = operations.parse_resource(args.resource_type, args.resource_id, op)
        desired = desired_list(read_rows(args.from_file, "accessors"), "--from-file ")
        result = operations.set_accessors(ctx, resource, desired, trail, force=args.force,
                                          dry_run=args.dry_run)
        for part in [result] if args.json else report.set_text(result):
            ctx.out(part)
        return nexla_ops.EXIT_OK
    result = audit.audit_resources(ctx, audit.desired_state_from_file(args.from_file), trail,
                                   fix=args.fix, force=args.force, dry_run=args.dry_run)
    ctx.out(result if args.json else report.audit_table(result))
    unresolved = report.unresolved(result)
    if unresolved:
        ctx.warn("%d of %d resources are not in the desired state%s", len(unresolved),
                 len(result["resources"]), "" if args.fix else " (run with --fix to converge them)")
        return nexla_ops.EXIT_PARTIAL
    return nexla_ops.EXIT_OK


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
