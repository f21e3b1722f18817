"""Nexla async tasks: start, wait with backoff, status and result; run(args, ctx) is what the
async-task command calls."""

from __future__ import annotations

import argparse
import re
from typing import Any

import nexla_ops

SUCCEEDED = frozenset({"completed", "complete", "succeeded", "success", "done", "finished"})
FAILED = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "aborted",
                    "timed_out"})
DEFAULT_WAIT_TIMEOUT = "10m"
FIRST_POLL_S = 0.25  # then x1.5 per poll, capped by --poll-max
_TASK_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")


class TaskTimeout(nexla_ops.Transient):
    """The task had not finished when the wait timed out; .task is its last known state."""

    def __init__(self, message: str, *, task: dict, **kw: Any):
        super().__init__(message, **kw)
        self.task = task


def task_state(task: dict) -> str:
    """'succeeded', 'failed' or 'running' (anything not finished yet)."""
    status = str(task.get("status") or "").strip().lower()
    if status in SUCCEEDED:
        return "succeeded"
    if status in FAILED:
        return "failed"
    return "running"


def get_task(ctx: nexla_ops.Context, task_id: int | str) -> dict:
    """The task as the API sends it (raw JSON: the SDK's model would print its string id as a
    number and add fields the server never sent)."""
    task = ctx.request("GET", f"/async_tasks/{task_id}")
    if not isinstance(task, dict):
        raise nexla_ops.ApiError(f"GET /async_tasks/{task_id}: expected a task object")
    return task


def wait_for_task(ctx: nexla_ops.Context, task_id: int, timeout: float, *,
                  poll_max: float = 10.0) -> dict:
    """Poll a task with exponential backoff until it succeeds or fails; return it as a dict.

    Polls until `timeout` seconds have passed (the last poll at the deadline); raises
    TaskTimeout (exit 6) if the task is still pending/running then. Each poll goes through
    ctx's retry policy, so a transient API error on one poll does not end the wait. A failed
    task is returned, not raised: check task_state(task).
    """
    import tenacity

    def still_running(task: dict) -> bool:
        return task_state(task) == "running"

    def log_poll(state: tenacity.RetryCallState) -> None:
        task = state.outcome.result()
        ctx.progress(f"task {task_id}: {task.get('status')} "
                     f"({state.seconds_since_start:.0f}s of {timeout:.0f}s)")
        ctx.debug("task %s is %s; next poll in %.2fs", task_id, task.get("status"),
                  state.next_action.sleep)

    def timed_out(state: tenacity.RetryCallState) -> dict:
        task = state.outcome.result()
        raise TaskTimeout(
            f"task {task_id} is still {task.get('status') or 'unknown'} after "
            f"{state.seconds_since_start:.1f}s (--wait-timeout {timeout:g}s); it keeps running "
            f"on the server: wait again with `async_task.py wait --id {task_id}`", task=task)

    backoff = tenacity.wait_exponential(multiplier=FIRST_POLL_S, exp_base=1.5,
                                        min=FIRST_POLL_S, max=max(poll_max, FIRST_POLL_S))

    def wait(state: tenacity.RetryCallState) -> float:
        # The last pause is cut short so the final poll happens at the deadline, not before.
        return max(0.0, min(backoff(state), timeout - state.seconds_since_start))

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(still_running), stop=tenacity.stop_after_delay(timeout),
        wait=wait, before_sleep=log_poll, retry_error_callback=timed_out)
    try:
        return retrying(get_task, ctx, task_id)
    finally:
        ctx.progress_done()


def fetch_result(ctx: nexla_ops.Context, task: dict) -> Any:
    """The result endpoint's answer, or the task's own `result` field when it has none."""
    task_id = task["id"]
    result = ctx.call(ctx.client.async_tasks.result, task_id,
                      what=f"GET /async_tasks/{task_id}/result")
    return nexla_ops.to_jsonable(result) if result not in (None, "", {}) else task.get("result")


def report(ctx: nexla_ops.Context, args: argparse.Namespace, task: dict,
           result: Any = None) -> int:
    """Print the task (and result); return the exit code its state means."""
    state = task_state(task)
    doc = {"task": task, "result": result}
    if args.json:
        ctx.out(doc, "json")
    else:
        lines = {"id": task.get("id"), "type": task.get("type"), "status": task.get("status")}
        if task.get("error"):
            lines["error"] = task["error"]
        if result is not None:
            lines["result"] = result
        ctx.out(lines, "text")
    if state == "failed":
        ctx.warn("task %s (%s) failed: %s", task.get("id"), task.get("type"),
                 task.get("error") or "no error message")
        return nexla_ops.EXIT_FAILED
    return nexla_ops.EXIT_OK


def finish(ctx: nexla_ops.Context, args: argparse.Namespace, task_id: int) -> int:
    """Wait for the task, then report it with its result (exit 0/1/6)."""
    try:
        task = wait_for_task(ctx, task_id, args.wait_timeout, poll_max=args.poll_max)
    except TaskTimeout as exc:
        report(ctx, args, exc.task)
        raise
    result = fetch_result(ctx, task) if task_state(task) == "succeeded" else None
    return report(ctx, args, task, result)


def parse_arguments(text: str) -> dict:
    """--arguments: a JSON object inline, or @FILE holding one (JSON or YAML)."""
    if text.startswith("@"):
        value = nexla_ops.load_structured_file(text[1:])
    else:
        from nexla_ops.files import parse_json

        value = parse_json(text, "--arguments")
    if not isinstance(value, dict):
        raise nexla_ops.BadInput("--arguments: expected a JSON object, got "
                                 f"{type(value).__name__}")
    return value


def start_task(ctx: nexla_ops.Context, body: dict) -> dict:
    """POST /async_tasks at most once, even if the answer is lost.

    Tasks have no unique name, so the look-up after a lost answer compares against the tasks
    of the same type that existed before the POST: a new one with the same arguments is ours.
    """

    path = f"/async_tasks/of_type/{body['type']}"

    def find() -> dict | None:
        for task in ctx.request("GET", path) or []:
            if (isinstance(task, dict) and task.get("id") not in before
                    and task.get("arguments", body["arguments"]) == body["arguments"]):
                return task
        return None

    try:  # the look-up's GET refuses an unknown type as the POST does
        before = {t.get("id") for t in (ctx.request("GET", path) or []) if isinstance(t, dict)}
        created = ctx.create_once(
            find, lambda: ctx.client.request("POST", "/async_tasks", json=body),
            what="POST /async_tasks")
    except nexla_ops.ApiError as exc:
        if exc.status == 400:
            refuse_unknown_type(ctx, body["type"], exc)
        raise
    if not isinstance(created, dict):
        raise nexla_ops.ApiError("POST /async_tasks: expected a task object")
    return created


def server_types(ctx: nexla_ops.Context) -> list[str] | None:
    """GET /async_tasks/types: the task types this server accepts (None when its answer is no
    list). Errors reaching it (auth, transient, ...) are raised."""
    types = ctx.request("GET", "/async_tasks/types")
    return [str(t) for t in types] if isinstance(types, list) else None


def refuse_unknown_type(ctx: nexla_ops.Context, task_type: str,
                        exc: nexla_ops.OpsError | None = None):
    """A type the server does not offer: exit 1 naming the types it does offer. After a 400
    (`exc`), a server that cannot list its types leaves that 400 as it was."""
    try:
        types = server_types(ctx)
    except nexla_ops.OpsError:
        if exc is None:
            raise
        return
    if types is None or task_type in types:
        return
    raise nexla_ops.ApiError(f"the server {'refused' if exc else 'does not offer'} task type "
                             f"{task_type!r}{' (400)' if exc else ''}; it accepts: "
                             f"{', '.join(types)}", status=400 if exc else None,
                             detail={"type": task_type, "allowed_types": types}) from exc


def run(args: argparse.Namespace, ctx: nexla_ops.Context) -> int:
    # All input is checked before the first request.
    args.wait_timeout = nexla_ops.parse_duration(args.wait_timeout, field="--wait-timeout")
    if args.poll_max <= 0:
        raise nexla_ops.BadInput("--poll-max: expected a positive number of seconds")
    if args.command == "types":
        types = server_types(ctx)
        if types is None:
            raise nexla_ops.ApiError("GET /async_tasks/types: the server did not list its types")
        ctx.out({"types": types} if args.json else types)
        return nexla_ops.EXIT_OK
    if args.command == "start":
        if not _TASK_TYPE.match(args.type):
            raise nexla_ops.BadInput("--type: expected a task type name like BulkPauseFlows "
                                     "(letters, digits, _ . -)")
        body: dict[str, Any] = {"type": args.type, "arguments": parse_arguments(args.arguments)}
        if args.priority is not None:
            body["priority"] = args.priority
        if args.dry_run:
            refuse_unknown_type(ctx, args.type)  # a read: the preview fails as the run would
            ctx.out({"dry_run": True, "would_send": {"POST /async_tasks": body},
                     "then": "wait for it" if args.wait else "print the new task's id"},
                    "json" if args.json else "text")
            return nexla_ops.EXIT_OK
        task = start_task(ctx, body)
        ctx.log("started task %s (%s), status %s", task.get("id"), task.get("type"),
                task.get("status"))
        if args.wait:
            return finish(ctx, args, task["id"])
        return report(ctx, args, task)
    if args.id <= 0:
        raise nexla_ops.BadInput("--id: expected a positive task id")
    if args.command == "wait":
        return finish(ctx, args, args.id)
    task = get_task(ctx, args.id)
    if args.command == "status":
        return report(ctx, args, task)
    # result
    state = task_state(task)
    if state == "running":
        report(ctx, args, task)
        raise nexla_ops.Transient(f"task {args.id} is still {task.get('status')}; no result "
                                  f"yet: wait with `async_task.py wait --id {args.id}`")
    return report(ctx, args, task, fetch_result(ctx, task) if state == "succeeded" else None)
