"""Async task handlers: create, queries by type/status, rerun, result, download, acknowledge."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError

TASK_TYPES = ["BulkDeleteNotifications", "BulkPauseFlows", "BulkActivateFlows", "ExportFlows",
              "CallDataCredentialsProbe", "FailDemoTask"]


def create_task(c: Ctx, f: Fields):
    task_type = f.str("type", required=True)
    args = f.obj("arguments", required=True)
    priority = f.int("priority")
    now = c.dom.now()
    return c.dom.new_doc("async_tasks", c.user, {
        "type": task_type, "arguments": args, "priority": priority, "status": "pending",
        "acknowledged": False, "_started": now})


def tasks_where(field):
    def handler(c: Ctx):
        views = [c.dom.task_view(t) for t in c.dom.visible("async_tasks", c.user)]
        return [v for v in views if v[field] == c.args["value"]]
    return handler


def task_types(c: Ctx):
    return list(TASK_TYPES)


def explain_task(c: Ctx):
    return {"type": c.args["value"], "arguments": {"ids": "array of ids", "fail": "bool (sandbox)"}}


def rerun_task(c: Ctx):
    doc = c.dom.get("async_tasks", c.args["id"], c.user, "operator")
    doc = c.dom.update_doc("async_tasks", doc, {"_started": c.dom.now(), "acknowledged": False})
    return c.dom.task_view(doc)


def task_result(c: Ctx):
    view = c.dom.task_view(c.dom.get("async_tasks", c.args["id"], c.user))
    if view["status"] not in ("completed", "failed"):
        raise ApiError(409, f"Task {view['id']} is {view['status']}; no result yet",
                       resource_type="async_tasks", resource_id=view["id"])
    return view["result"] if view["status"] == "completed" else {"error": view["error"]}


def task_download(c: Ctx):
    view = c.dom.task_view(c.dom.get("async_tasks", c.args["id"], c.user))
    if view["status"] != "completed":
        raise ApiError(409, f"Task {view['id']} is {view['status']}; nothing to download",
                       resource_type="async_tasks", resource_id=view["id"])
    return f"{c.root_url}/_sandbox/downloads/{view['id']}.json"


def task_ack(c: Ctx):
    doc = c.dom.get("async_tasks", c.args["id"], c.user)
    c.dom.update_doc("async_tasks", doc, {"acknowledged": True})
    return {"code": 200, "message": "Acknowledged"}


CREATORS = {"async_tasks": create_task}
UPDATERS: dict = {}
