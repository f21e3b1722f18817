"""Operation: what one item needs (Decision) and how it is applied, for every operation."""

from __future__ import annotations

from dataclasses import dataclass, field

import nexla_ops

from . import DELETE_ROLES, STATEFUL, TARGET_STATUS
from .api import Api, ItemFailed
from .spec import Spec

READ_BACK_ATTEMPTS = 5
READ_BACK_MAX_SETTLE = 1.0  # seconds: the longest wait before reading a write back

# --------------------------------------------------------------------------- operations


@dataclass
class Decision:
    """What an item needs: None change means it already has it."""

    change: str | None
    current: dict
    detail: str = ""
    pre: dict = field(default_factory=dict)


def subset(patch, current) -> bool:
    """True when every value in patch is already in current (nested objects compared deeply)."""
    if isinstance(patch, dict):
        return isinstance(current, dict) and all(
            k in current and subset(v, current[k]) for k, v in patch.items())
    return patch == current


class Operation:
    """decide() reads state and says what is missing; apply() makes the writes."""

    def __init__(self, spec: Spec, api: Api):
        self.spec = spec
        self.api = api
        self.op = spec.op

    def decide(self, item_id: int, *, in_doubt_pre: dict | None,
               listed: dict | None = None) -> Decision:
        """`listed`: the item as its list page showed it ({id, name, status}); pause and
        activate decide from it instead of reading the item again."""
        op, api = self.op, self.api
        if op in TARGET_STATUS and listed is not None:
            status = str(listed.get("status") or "").upper()
            want = TARGET_STATUS[op]
            if status == want:
                return Decision(None, listed, f"already {want}")
            return Decision(f"{status or '?'} -> {want}", listed)
        try:
            obj = api.read(item_id)
        except nexla_ops.NotFound:
            if op == "delete":
                return Decision(None, {}, "already absent")
            raise ItemFailed(f"{self.spec.kind.name} {item_id} not found") from None
        status = str(obj.get("status") or "").upper()
        if op in TARGET_STATUS:
            want = TARGET_STATUS[op]
            if status == want:
                return Decision(None, obj, f"already {want}")
            return Decision(f"{status or '?'} -> {want}", obj)
        if op == "delete":
            pause_first = self.spec.kind.name in STATEFUL and status == "ACTIVE"
            roles = obj.get("access_roles")
            if api.is_flow and pause_first:  # flow nodes carry no roles; their origin does
                path, origin_id = api.origin(obj)
                roles = api.ctx.request("GET", f"/{path}/{origin_id}").get("access_roles")
            # The caller's roles say the delete will be refused: send the DELETE before pausing,
            # so a 403 leaves the item as it was instead of paused and not deleted. (The server
            # decides: a 409 "pause it first" means the delete is allowed after all.)
            delete_first = pause_first and isinstance(roles, list) and \
                not DELETE_ROLES & {str(r).lower() for r in roles}
            return Decision("pause, then delete" if pause_first else "delete", obj,
                            pre={"pause_first": pause_first, "delete_first": delete_first})
        if op in ("tag", "untag"):
            holder = obj
            target = (self.spec.kind.path, item_id)
            if api.is_flow:
                target = api.origin(obj)
                holder = api.ctx.request("GET", f"/{target[0]}/{target[1]}")
            tags = list(holder.get("tags") or [])
            wanted = self.spec.params["tags"]
            if op == "tag":
                missing = [t for t in wanted if t not in tags]
                if not missing:
                    return Decision(None, obj, "tags already present")
                new = tags + missing
                change = "add tags " + ",".join(missing)
            else:
                present = [t for t in wanted if t in tags]
                if not present:
                    return Decision(None, obj, "tags already absent")
                new = [t for t in tags if t not in wanted]
                change = "remove tags " + ",".join(present)
            where = f" on {target[0]}/{target[1]}" if api.is_flow else ""
            return Decision(change + where, obj, pre={"target": list(target), "tags": new})
        if op == "update":
            patch = self.spec.params["patch"]
            if subset(patch, obj):
                return Decision(None, obj, "fields already set")
            changed = [k for k, v in patch.items() if not subset(v, obj.get(k))]
            return Decision("set " + ",".join(changed), obj)
        if op == "copy":
            path, original_id = api.copy_path(obj)
            if in_doubt_pre is not None:
                # The previous process may have copied it before dying: any copy that did not
                # exist when it wrote its intent is that copy.
                before = set(in_doubt_pre.get("existing_copies") or ())
                new = api.copies_of(path, original_id, fresh=True) - before
                if new:
                    copy_id = api.copy_result_id(path, min(new))
                    return Decision(None, obj, f"copy {copy_id} already made",
                                    pre={"copy_id": copy_id})
                existing = before
            else:
                existing = api.copies_of(path, original_id)
                if existing and not self.spec.params["extra_copy"]:
                    copy_id = api.copy_result_id(path, min(existing))
                    return Decision(None, obj, f"already copied ({copy_id}); --extra-copy makes "
                                    "another", pre={"copy_id": copy_id})
            return Decision("copy", obj, pre={"path": path, "original_id": original_id,
                                             "existing_copies": sorted(existing)})
        raise AssertionError(op)

    def _tags_body(self, holder: dict) -> dict | None:
        """The PUT body that makes `holder`'s tags what this run wants; None when they are."""
        tags = list(holder.get("tags") or [])
        wanted = self.spec.params["tags"]
        if self.op == "tag":
            missing = [t for t in wanted if t not in tags]
            return {"tags": tags + missing} if missing else None
        return {"tags": [t for t in tags if t not in wanted]} if set(wanted) & set(tags) \
            else None

    def _write_and_read_back(self, path: str, item_id: int, body: dict,
                             still_needed) -> tuple[int, dict]:
        """Tags and fields are written whole (the API has no add-one-tag call), so a concurrent
        run's read-modify-write can undo ours. After each write, wait one to two times as long
        as that write took (a racing run's read-to-write window is about one round trip), read
        back, and write again from the fresh state until ours holds; ItemFailed after
        READ_BACK_ATTEMPTS."""
        import random
        import time

        started = time.monotonic()
        self.api.put(path, item_id, body)
        round_trip = time.monotonic() - started
        writes = 1
        for _ in range(READ_BACK_ATTEMPTS):
            time.sleep(min(READ_BACK_MAX_SETTLE, round_trip * random.uniform(1.0, 2.0)))
            body = still_needed(self.api.ctx.request("GET", f"/{path}/{item_id}") or {})
            if body is None:
                return writes, {"reapplied": writes - 1} if writes > 1 else {}
            self.api.ctx.warn(f"{path}/{item_id}: a concurrent change undid ours; writing "
                              "it again")
            started = time.monotonic()
            self.api.put(path, item_id, body)
            round_trip = time.monotonic() - started
            writes += 1
        raise ItemFailed(f"{path}/{item_id}: the change did not hold after {writes} writes "
                         "(another writer keeps changing it); check it by hand")

    def apply(self, item_id: int, decision: Decision) -> tuple[int, dict]:
        """Make the writes; returns (writes sent, result fields)."""
        op, api = self.op, self.api
        if op in TARGET_STATUS:
            api.set_status(item_id, op)
            return 1, {}
        if op == "delete":
            writes = 0
            if decision.pre.get("delete_first"):
                try:
                    api.delete(item_id)
                    return 1, {}
                except nexla_ops.ApiError as exc:
                    if exc.status != 409:  # anything but "pause it first" is the answer
                        raise
                writes += 1
            if decision.pre.get("pause_first"):
                api.set_status(item_id, "pause")
                writes += 1
            try:
                api.delete(item_id)
            except nexla_ops.OpsError as exc:
                if decision.pre.get("pause_first"):  # a person must know it is paused now
                    raise ItemFailed(f"paused, but not deleted: {exc.message}") from None
                raise
            return writes + 1, {}
        if op in ("tag", "untag"):
            path, target_id = decision.pre["target"]
            return self._write_and_read_back(path, target_id, {"tags": decision.pre["tags"]},
                                             self._tags_body)
        if op == "update":
            path, patch = self.spec.kind.path, self.spec.params["patch"]
            return self._write_and_read_back(path, item_id, patch,
                                             lambda obj: None if subset(patch, obj) else patch)
        if op == "copy":
            pre = decision.pre
            copy_id = api.copy(item_id, self.spec.params["copy_options"], pre["path"],
                               pre["original_id"], set(pre["existing_copies"]))
            return 1, {"copy_id": copy_id}
        raise AssertionError(op)
