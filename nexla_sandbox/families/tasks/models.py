"""Async task rules: a task's view at the current simulated time."""

from __future__ import annotations

import hashlib

from ...domain import iso

TASK_STEP_SECONDS = 1.0


class TaskModel:
    """Domain mixin for async_tasks."""

    def task_view(self, task: dict) -> dict:
        """Status moves pending → running → completed|failed, one step per sim second."""
        elapsed = self.now() - task["_started"]
        view = {k: v for k, v in task.items() if not k.startswith("_")}
        fails = bool((task.get("arguments") or {}).get("fail")) or str(task.get("type", "")).startswith("Fail")
        if elapsed < TASK_STEP_SECONDS:
            view.update(status="pending", started_at=None, finished_at=None, result=None, error=None)
        elif elapsed < 2 * TASK_STEP_SECONDS:
            view.update(status="running", started_at=iso(task["_started"] + TASK_STEP_SECONDS),
                        finished_at=None, result=None, error=None)
        else:
            done = task["_started"] + 2 * TASK_STEP_SECONDS
            view.update(started_at=iso(task["_started"] + TASK_STEP_SECONDS), finished_at=iso(done),
                        updated_at=iso(done))
            if fails:
                view.update(status="failed", result=None,
                            error=f"{task.get('type')} failed: simulated failure requested")
            else:
                args = task.get("arguments") or {}
                view.update(status="completed", error=None, result={
                    "type": task.get("type"), "processed": len(args.get("ids", [])) or 1,
                    "arguments": args,
                    "digest": hashlib.sha1(repr(sorted(args.items(), key=str)).encode()).hexdigest()[:12]})
        return view
