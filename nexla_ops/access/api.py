"""Reading and writing accessor lists, resolving emails and names to ids, the last-owner guard
and the append-only audit trail."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import nexla_ops

from .inputs import Resource
from .models import _Accessor, describe, find_accessor, owners, parse_accessor_list

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
