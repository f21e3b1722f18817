"""Async task handlers: create, queries by type/status, types and their arguments, rerun,
result, download link, acknowledge, delete."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError
from .models import TASK_ARGUMENTS, TASK_STATUSES, TASK_TYPES, check_arguments, unknown_type


def create_task(c: Ctx, f: Fields):
    task_type = f.str("type", required=True)
    if task_type not in TASK_ARGUMENTS:
        raise unknown_type(task_type, "type")
    args = f.obj("arguments", required=True)
    priority = f.int("priority")
    check_arguments(task_type, args)
    return c.dom.new_task(c.user, task_type, args, priority)


def _task(c: Ctx, need: str = "collaborator") -> dict:
    return c.dom.get("async_tasks", c.args["id"], c.user, need)


def filter_list(c: Ctx, docs) -> list:
    """The reference lists the current user's tasks: an org admin's list is theirs too."""
    return [d for d in docs if d["owner_id"] == c.user["id"]]


def _mine(c: Ctx) -> list:
    return [c.shaper.task(t) for t in filter_list(c, c.dom.visible("async_tasks", c.user))]


def tasks_of_type(c: Ctx):
    if c.args["value"] not in TASK_ARGUMENTS:
        raise unknown_type(c.args["value"], "task_type")
    return [t for t in _mine(c) if t["type"] == c.args["value"]]


def tasks_by_status(c: Ctx):
    if c.args["value"] not in TASK_STATUSES:
        raise ApiError(400, f"status: unknown task status {c.args['value']!r}; expected one of: "
                            f"{', '.join(TASK_STATUSES)}")
    return [t for t in _mine(c) if t["status"] == c.args["value"]]


def task_types(c: Ctx):
    return list(TASK_TYPES)


def explain_task(c: Ctx):
    """{argument name: description} (the reference: 404 for a type it does not know)."""
    spec = TASK_ARGUMENTS.get(c.args["value"])
    if spec is None:
        raise unknown_type(c.args["value"], "task_type", status=404)
    return {name: f"{desc} ({'required' if required else 'optional'})"
            for name, (_, required, desc) in spec.items()}


def rerun_task(c: Ctx):
    """The same task (same id and arguments) runs again from `pending`."""
    doc = _task(c, "operator")
    if not doc.get("_settled"):
        raise ApiError(400, f"Task {doc['id']} is still running; rerun it once it has finished",
                       resource_type="async_tasks", resource_id=doc["id"])
    return c.shaper.task(c.dom.restart_task(doc))


def _finished(c: Ctx, doc: dict, what: str) -> dict:
    view = c.shaper.task(doc)
    if view["status"] in ("pending", "running"):
        raise ApiError(400, f"Task {doc['id']} is {view['status']}; {what}",
                       resource_type="async_tasks", resource_id=doc["id"])
    return view


def task_result(c: Ctx):
    view = _finished(c, _task(c), "no result yet")
    if view["status"] != "completed":
        raise ApiError(400, f"Task {view['id']} {view['status']}: {view['error']}",
                       resource_type="async_tasks", resource_id=c.args["id"])
    return view["result"]


def task_download(c: Ctx):
    view = _finished(c, _task(c), "nothing to download yet")
    if not view["result_url"]:
        reason = "failed" if view["status"] == "failed" else \
            "was acknowledged, so its stored result was deleted"
        raise ApiError(400, f"Task {view['id']} {reason}; nothing to download",
                       resource_type="async_tasks", resource_id=c.args["id"])
    return view["result_url"]


def task_ack(c: Ctx):
    doc = c.dom.update_doc("async_tasks", _task(c), {"_acknowledged": True})
    return c.shaper.task(doc)


def delete_task(c: Ctx, kind: str, doc: dict):
    """A pending or running task is not deleted (400, as the reference lists)."""
    if not doc.get("_settled"):
        raise ApiError(400, f"Task {doc['id']} is running; delete it once it has finished",
                       resource_type=kind, resource_id=doc["id"])
    c.store.delete(kind, doc["id"])


CREATORS = {"async_tasks": create_task}
UPDATERS: dict = {}
