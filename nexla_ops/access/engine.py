"""The access engine behind manage-access: accessor models (pydantic, a workaround for SDK
1.0.8's accessor parsing), resolving names, planning role changes, verified writes, the
last-owner guard, the audit log and bulk rows; run(args, ctx).

Still one module: the split into models, resolve, plan, apply and audit is open work.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

import nexla_ops
from nexla_ops.access import (  # noqa: F401 - re-exported for callers of the engine
    ACCESS_RESOURCE_TYPES,
    ACCESSOR_TYPES,
    DEFAULT_AUDIT_LOG,
    IDENTITY_FIELDS,
    INPUT_FIELDS,
    ROLES,
)

Role = Literal["owner", "admin", "operator", "collaborator"]


# ---------------------------------------------------------------- accessor models


class _Accessor(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    id: int | None = Field(default=None, gt=0)
    access_roles: tuple[Role, ...] = ()

    @model_validator(mode="after")
    def _has_identity(self):
        if all(getattr(self, name) is None for name in IDENTITY_FIELDS[self.type]):
            raise ValueError(f"{self.type} accessor needs one of: {', '.join(IDENTITY_FIELDS[self.type])}")
        return self


class UserAccessor(_Accessor):
    type: Literal["USER"] = "USER"
    email: str | None = None


class TeamAccessor(_Accessor):
    type: Literal["TEAM"] = "TEAM"
    name: str | None = None


class OrgAccessor(_Accessor):
    type: Literal["ORG"] = "ORG"
    client_identifier: str | None = None
    email_domain: str | None = None


Accessor = Annotated[UserAccessor | TeamAccessor | OrgAccessor, Field(discriminator="type")]
_ACCESSOR_LIST = TypeAdapter(list[Accessor])


def _normalised(item: Any) -> Any:
    """Accessor JSON with the type upper-cased and roles lower-cased, so parsing is exact."""
    if not isinstance(item, dict):
        return item
    item = dict(item)
    if isinstance(item.get("type"), str):
        item["type"] = item["type"].strip().upper()
    if isinstance(item.get("access_roles"), list):
        item["access_roles"] = [r.strip().lower() if isinstance(r, str) else r for r in item["access_roles"]]
    return item


def parse_accessor_list(body: Any, where: str) -> list[_Accessor]:
    """Parse the API's bare accessor array (a 204/empty body means no accessors)."""
    if body is None:
        return []
    if not isinstance(body, list):
        raise nexla_ops.ApiError(f"unexpected accessor response from {where}: expected a JSON array")
    try:
        return _ACCESSOR_LIST.validate_python([_normalised(item) for item in body])
    except ValidationError as exc:
        first = exc.errors()[0]
        raise nexla_ops.ApiError(
            f"unexpected accessor in response from {where}: "
            f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


def same_accessor(a: _Accessor, b: _Accessor) -> bool:
    """True when a and b name the same principal (the first identity field both carry decides)."""
    if a.type != b.type:
        return False
    for name in IDENTITY_FIELDS[a.type]:
        left, right = getattr(a, name), getattr(b, name)
        if left is not None and right is not None:
            if isinstance(left, str):
                return left.casefold() == right.casefold()
            return left == right
    return False


def find_accessor(accessors: list[_Accessor], wanted: _Accessor) -> _Accessor | None:
    return next((a for a in accessors if same_accessor(a, wanted)), None)


def sorted_roles(roles) -> list[str]:
    return sorted(set(roles), key=ROLES.index)


def identity(a: _Accessor) -> dict:
    """The accessor's identifying fields as JSON (what requests and reports carry)."""
    out = {"type": a.type}
    for name in IDENTITY_FIELDS[a.type]:
        value = getattr(a, name)
        if value is not None:
            out[name] = value
    return out


def describe(a: _Accessor) -> str:
    return " ".join(str(value) for value in identity(a).values())


def accessor_json(a: _Accessor) -> dict:
    return {**identity(a), "access_roles": sorted_roles(a.access_roles)}


def with_roles(a: _Accessor, roles) -> _Accessor:
    return a.model_copy(update={"access_roles": tuple(sorted_roles(roles))})


def owners(accessors: list[_Accessor]) -> list[_Accessor]:
    return [a for a in accessors if "owner" in a.access_roles]


# ---------------------------------------------------------------- input parsing


@dataclass(frozen=True)
class Resource:
    type: str  # the API collection name, e.g. data_sources
    id: int

    @property
    def accessors_path(self) -> str:
        return f"/{self.type}/{self.id}/accessors"

    @property
    def label(self) -> str:
        return f"{self.type}/{self.id}"

    def as_json(self) -> dict:
        return {"type": self.type, "id": self.id}


def bad(field_name: str, problem: str) -> nexla_ops.BadInput:
    return nexla_ops.BadInput(f"{field_name}: {problem}")


def parse_resource_type(value: Any, field_name: str) -> str:
    """The API collection path (data_sources, ...) of a resource type we manage access to."""
    return nexla_ops.resource_path(value, ACCESS_RESOURCE_TYPES, field=field_name)


def parse_roles(values: Any, field_name: str) -> list[str]:
    if values is None or values == "":
        return []
    if isinstance(values, str):
        values = values.replace("|", ";").replace(",", ";").replace(" ", ";").split(";")
    if not isinstance(values, list | tuple):
        raise bad(field_name, f"expected a list of roles, got {values!r}")
    roles = []
    for value in values:
        role = str(value).strip().lower()
        if not role:
            continue
        if role not in ROLES:
            raise bad(field_name, f"unknown role {value!r}; expected one of {', '.join(ROLES)}")
        roles.append(role)
    return sorted_roles(roles)


def build_accessor(kind: Any, ident: dict, roles: list[str], label) -> _Accessor:
    """An accessor from user input. label(name) spells a field the way the user wrote it:
    '--accessor-email' on the command line, 'row 3: accessor_email' in a file."""
    if kind in (None, ""):
        raise bad(label("type"), f"required ({', '.join(ACCESSOR_TYPES)})")
    kind_text = str(kind).strip().upper()
    if kind_text not in ACCESSOR_TYPES:
        raise bad(label("type"), f"expected one of {', '.join(ACCESSOR_TYPES)}, got {kind!r}")
    allowed = INPUT_FIELDS[kind_text]
    given = {name: value for name, value in ident.items() if value not in (None, "")}
    for name in given:
        if name not in allowed:
            raise bad(label(name), f"not valid for {kind_text} accessors "
                      f"(use {' or '.join(label(n) for n in allowed)})")
    if not given:
        raise bad(" or ".join(label(n) for n in allowed), f"required to name the {kind_text} accessor")
    if len(given) > 1:
        raise bad(" / ".join(label(n) for n in given), "give only one way to name the accessor")
    if "id" in given:
        given["id"] = nexla_ops.parse_id(given["id"], label("id"))
    else:
        given = {name: str(value).strip() for name, value in given.items()}
    if "@" not in given.get("email", "@"):
        raise bad(label("email"), f"expected an email address, got {given['email']!r}")
    model = {"USER": UserAccessor, "TEAM": TeamAccessor, "ORG": OrgAccessor}[kind_text]
    return model(**given, access_roles=tuple(roles))


def _pick(row: dict, *names: str) -> Any:
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
    return None


def accessor_from_row(row: Any, where: str, defaults: dict | None = None) -> _Accessor:
    """Accessor from a file row; keys may be `type/id/email/name/access_roles` or the
    `accessor_*`/`roles` spellings of the command-line flags."""
    if not isinstance(row, dict):
        raise bad(where.rstrip(": "), f"expected an object, got {type(row).__name__}")
    defaults = defaults or {}
    kind = _pick(row, "accessor_type", "type") or defaults.get("type")
    ident = {name: _pick(row, f"accessor_{name}", name) for name in ("id", "email", "name")}
    if not any(value is not None for value in ident.values()):
        ident = {name: defaults.get(name) for name in ("id", "email", "name")}
    roles_value = _pick(row, "access_roles", "roles", "role")
    roles = (parse_roles(roles_value, f"{where}roles") if roles_value is not None
             else list(defaults.get("roles", [])))
    return build_accessor(kind, ident, roles, lambda name: f"{where}accessor_{name}")


def cli_label(name: str) -> str:
    return f"--accessor-{name}"


def read_rows(path: str, what: str = "rows") -> list:
    """Rows from a CSV file (header line) or a JSON/YAML file (a list, or {"rows"/"accessors": [...]})."""
    if path.lower().endswith(".csv"):
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                        for row in csv.DictReader(handle)]
        except OSError as exc:
            raise bad("--from-file", f"cannot read {path}: {exc.strerror}") from None
    data = nexla_ops.load_structured_file(path)
    if isinstance(data, dict):
        for key in ("rows", "accessors"):
            if isinstance(data.get(key), list):
                return data[key]
    if not isinstance(data, list):
        raise bad("--from-file", f"expected a list of {what}")
    return data


# ---------------------------------------------------------------- API access


def read_accessors(ctx, resource: Resource) -> list[_Accessor]:
    # Raw request, not `<resource>.get_accessors()`: see the module docstring (SDK 1.0.8 bug).
    return parse_accessor_list(ctx.request("GET", resource.accessors_path), resource.label)


def write_accessors(ctx, resource: Resource, method: str, entries: list[dict]) -> None:
    # PUT merges (an existing accessor gets exactly the roles sent), POST replaces the whole
    # list, DELETE removes the named accessors. Each is idempotent, so a retry after a lost
    # response cannot do anything a single successful call would not. Raw request for the same
    # reason as reads: the SDK would apply the change and then crash parsing the answer.
    ctx.request(method, resource.accessors_path, json={"accessors": entries}, idempotent=True)


class Resolver:
    """Turns an accessor named by email (USER) or name (TEAM) into one with its id, when needed.

    An accessor list may carry only ids (the API's email/name fields are optional), so "is
    omar@... already an accessor?" cannot be answered from the list alone. Guessing "no" would be
    dangerous: the merge write would then replace the roles he already has. So, only when the
    list has entries of that type without the field, the id is looked up (GET /users or /teams,
    cached for the run); if that is impossible the change is refused rather than guessed.
    """

    COLLECTIONS = {"USER": ("/users", "email"), "TEAM": ("/teams", "name")}

    def __init__(self, ctx):
        self.ctx = ctx
        self._ids: dict[tuple[str, str], int | None] = {}

    def resolve(self, accessor: _Accessor, current: list[_Accessor]) -> _Accessor:
        if accessor.id is not None or accessor.type not in self.COLLECTIONS:
            return accessor
        path, field_name = self.COLLECTIONS[accessor.type]
        if find_accessor(current, accessor) or all(
                getattr(a, field_name) is not None for a in current if a.type == accessor.type):
            return accessor
        wanted = getattr(accessor, field_name).casefold()
        key = (accessor.type, wanted)
        if key not in self._ids:
            try:
                self._ids[key] = next(
                    (item["id"] for item in self.ctx.paginate(path)
                     if isinstance(item, dict) and str(item.get(field_name, "")).casefold() == wanted),
                    None)
            except nexla_ops.OpsError as exc:
                raise nexla_ops.OpsError(
                    f"cannot tell whether {describe(accessor)} already has access (the list names "
                    f"accessors by id and looking up the id failed: {exc.message}); name the "
                    "accessor by id instead", exit_code=exc.exit_code) from None
        if self._ids[key] is None:
            # Not visible to us is not the same as not existing: refuse rather than guess.
            raise nexla_ops.NotFound(
                f"cannot tell whether {describe(accessor)} already has access: the list names "
                f"accessors by id and GET {path} has no {field_name} {wanted!r}; name the "
                "accessor by id instead")
        return accessor.model_copy(update={"id": self._ids[key]})


class GuardRefused(nexla_ops.OpsError):
    """A change that would leave a resource without an owner (exit 1)."""


def check_owner_kept(resource: Resource, before: list[_Accessor], after: list[_Accessor], force: bool):
    if force or not owners(before) or owners(after):
        return
    raise GuardRefused(
        f"refused: {resource.label} would be left without an owner "
        f"(owners now: {', '.join(describe(a) for a in owners(before))}); "
        "grant owner to someone else first, or pass --force"
    )


class AuditTrail:
    """Append-only JSON-lines record of every write (nexla_ops.append_jsonl: O_APPEND, one
    write per line, fsynced, redacted). The actor and a writable file are settled before the
    first write, so no change can go unrecorded."""

    def __init__(self, ctx, path: str):
        self.ctx = ctx
        self.path = path
        self._actor: dict | None = None

    def ready(self) -> None:
        if self._actor is not None:
            return
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
        except OSError as exc:
            raise nexla_ops.OpsError(f"--audit-log: cannot append to {self.path}: "
                                     f"{exc.strerror}") from None
        user = self.ctx.current_user() or {}
        self._actor = {"id": user.get("id"), "email": user.get("email")}

    def record(self, *, operation: str, resource: Resource, accessor: dict | None,
               before: Any, after: Any, result: str, error: str | None = None) -> None:
        self.ready()
        entry = {
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "actor": self._actor,
            "operation": operation,
            "resource": resource.as_json(),
            "accessor": accessor,
            "before": before,
            "after": after,
            "result": result,
        }
        if error:
            entry["error"] = error
        nexla_ops.append_jsonl(self.path, entry)


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
