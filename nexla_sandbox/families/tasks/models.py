"""Async task rules: the published task types, their arguments, the pending -> running ->
completed|failed life cycle and each type's effect (applied once, when the task finishes)."""

from __future__ import annotations

import math

from ... import audit
from ...domain import ApiError, iso
from ..credentials.models import rejected_message

TASK_STEP_SECONDS = 1.0

TASK_STATUSES = ("pending", "running", "completed", "failed", "cancelled")

# The published type enum. Argument names are the sandbox's: the reference names none.
# name -> (JSON type, required, description)
TASK_ARGUMENTS = {
    "BulkDeleteNotifications": {"ids": (list, True, "ids of the notifications to delete")},
    "BulkMarkAsReadNotifications": {"ids": (list, True, "ids of the notifications to mark read")},
    "BulkPauseFlows": {"ids": (list, True, "ids of the flows to pause (every node of each flow)")},
    "CallProbe": {"id": (int, True, "id of the credential to probe"),
                  "type": (str, False, "what to probe: DataCredentials (the default)")},
    # These two check their users but change nothing: the reference does not say what they do.
    "ChownUserResources": {"user_id": (int, True, "the user whose resources change owner "
                                                  "(not emulated)"),
                           "new_owner_id": (int, True, "the user who becomes their owner")},
    "DeactivateUser": {"user_id": (int, True, "the user to deactivate (not emulated)")},
    "GetAuditLogs": {"resource_type": (str, True, "a path kind with an audit log, e.g. "
                                                  "data_sources"),
                     "resource_id": (int, True, "the resource's id")},
}
TASK_TYPES = tuple(TASK_ARGUMENTS)

AUDITED_KINDS = tuple(audit.ITEM_TYPES)  # the kinds with GET /{kind}/{id}/audit_log

_JSON_NAMES = {list: "an array of ids", int: "an integer", str: "a string"}


def unknown_type(value, where: str, status: int = 400) -> ApiError:
    return ApiError(status, f"{where}: unknown task type {value!r}; expected one of: "
                            f"{', '.join(TASK_TYPES)}")


def check_arguments(task_type: str, args: dict):
    """400 naming `arguments.<name>` for a missing or mistyped argument (before any write)."""
    for name, (kind, required, _) in TASK_ARGUMENTS[task_type].items():
        where = f"arguments.{name}"
        if name not in args:
            if required:
                raise ApiError(400, f"{where}: required for {task_type}")
            continue
        value = args[name]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is list:
            ok = ok and all(isinstance(i, int) and not isinstance(i, bool) for i in value)
        if not ok:
            raise ApiError(400, f"{where}: expected {_JSON_NAMES[kind]}")


class TaskModel:
    """Domain mixin for async_tasks."""

    def new_task(self, user: dict, task_type: str, args: dict, priority) -> dict:
        now = self.now()
        task = self.new_doc("async_tasks", user, {
            "type": task_type, "arguments": args, "priority": 0 if priority is None else priority, "_started": now,
            "_settled": False, "_outcome": None, "_acknowledged": False})
        self.note_due(now + 2 * TASK_STEP_SECONDS)
        return task

    def restart_task(self, task: dict) -> dict:
        now = self.now()
        task = self.update_doc("async_tasks", task, {
            "created_at": iso(now), "_started": now, "_settled": False, "_outcome": None,
            "_acknowledged": False})
        self.note_due(now + 2 * TASK_STEP_SECONDS)
        return task

    def settle_tasks(self, now: float) -> float:
        """Finish every task that is due (its effect happens now); return the next due time."""
        next_due = math.inf
        for task in self.store.find("async_tasks", "_settled", False):
            due = task["_started"] + 2 * TASK_STEP_SECONDS
            if due > now:
                next_due = min(next_due, due)
                continue
            try:
                outcome = {"status": "completed", "result": self._run_task(task), "error": None}
            except ApiError as err:
                outcome = {"status": "failed", "result": None, "error": err.message}
            outcome["stopped_at"] = iso(due)
            self.store.put("async_tasks", {**task, "_settled": True, "_outcome": outcome,
                                           "updated_at": iso(due)})
        return next_due

    def task_view(self, task: dict) -> dict:
        """The task's fields as the reference lists them (owner/org/result_url: Shaper.task)."""
        outcome = task.get("_outcome")
        if outcome is None:
            started = self.now() - task["_started"] >= TASK_STEP_SECONDS
            outcome = {"status": "running" if started else "pending", "result": None,
                       "error": None, "stopped_at": None}
        return {"id": str(task["id"]), "type": task["type"], "status": outcome["status"],
                "progress": 100 if task.get("_settled") else 0, "priority": task.get("priority"),
                "arguments": task["arguments"], "created_at": task["created_at"],
                "stopped_at": outcome["stopped_at"], "result": outcome["result"],
                "error": outcome["error"]}

    # -- effects: ApiError (missing resource, missing role) fails the task --------------------------
    def _run_task(self, task: dict):
        user = self.user(task["owner_id"])
        if user is None:
            raise ApiError(403, f"the task's owner (user {task['owner_id']}) no longer exists")
        args = task["arguments"]
        return getattr(self, f"_task_{task['type']}")(user, args)

    def _task_BulkDeleteNotifications(self, user: dict, args: dict) -> dict:
        docs = [self.get("notifications", i, user, "admin") for i in args["ids"]]
        for doc in docs:
            self.store.delete("notifications", doc["id"])
        return {"deleted": [d["id"] for d in docs]}

    def _task_BulkMarkAsReadNotifications(self, user: dict, args: dict) -> dict:
        docs = [self.get("notifications", i, user) for i in args["ids"]]
        for doc in docs:
            self.update_doc("notifications", doc, {"read_at": doc.get("read_at") or self.now_iso()})
        return {"marked_read": [d["id"] for d in docs]}

    def _task_BulkPauseFlows(self, user: dict, args: dict) -> dict:
        nodes = [self.get("flows", i, user, "operator") for i in args["ids"]]
        for node in nodes:
            self.activate_nodes(node, all_nodes=True, status="PAUSED")
        return {"paused": [n["id"] for n in nodes]}

    def _task_CallProbe(self, user: dict, args: dict) -> dict:
        if args.get("type", "DataCredentials") != "DataCredentials":
            raise ApiError(400, f"arguments.type: cannot probe {args['type']!r}; "
                                "expected DataCredentials")
        cred = self.get("data_credentials", args["id"], user, "operator")
        if not self.probe_ok(cred):
            raise ApiError(403, rejected_message(cred["id"]))
        self.update_doc("data_credentials", cred, {"verified_status": "VERIFIED",
                                                   "verified_at": self.now_iso()})
        return {"status": "ok", "message": "Connection successful",
                "connection_type": cred["credentials_type"], "data_credentials_id": cred["id"]}

    def _task_ChownUserResources(self, user: dict, args: dict) -> dict:
        self._org_user(user, args["user_id"], "user_id")
        self._org_user(user, args["new_owner_id"], "new_owner_id")
        return {"user_id": args["user_id"], "new_owner_id": args["new_owner_id"]}

    def _task_DeactivateUser(self, user: dict, args: dict) -> dict:
        self._org_user(user, args["user_id"], "user_id")
        return {"user_id": args["user_id"]}

    def _org_user(self, caller: dict, user_id: int, where: str) -> dict:
        target = self.user(user_id)
        if target is None or target.get("org_id") != caller["org_id"]:
            raise ApiError(404, f"arguments.{where}: users/{user_id} not found")
        if not caller.get("is_org_admin"):
            raise ApiError(403, f"requires the org admin role for users/{user_id}")
        return target

    def _task_GetAuditLogs(self, user: dict, args: dict) -> dict:
        kind, rid = args["resource_type"], args["resource_id"]
        if kind not in AUDITED_KINDS:
            raise ApiError(400, f"arguments.resource_type: no audit log for {kind!r}; expected "
                                f"one of: {', '.join(AUDITED_KINDS)}")
        self.get(kind, rid, user)
        # What GET /{kind}/{id}/audit_log answers, newest first, unpaged.
        return {"resource_type": kind, "resource_id": rid,
                "audit_log": audit.entries(self, kind, rid)}
