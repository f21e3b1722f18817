"""Async task routes beyond CRUD."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/async_tasks/types", ["GET"], r.task_types, True),
    ("/async_tasks/of_type/<value>", ["GET"], r.tasks_of_type, True),
    ("/async_tasks/by_status/<value>", ["GET"], r.tasks_by_status, True),
    ("/async_tasks/explain_arguments/<value>", ["GET"], r.explain_task, True),
    ("/async_tasks/<int:id>/rerun", ["POST"], r.rerun_task, True),
    ("/async_tasks/<int:id>/result", ["GET"], r.task_result, True),
    ("/async_tasks/<int:id>/download_link", ["GET"], r.task_download, True),
    ("/async_tasks/<int:id>/acknowledge", ["POST"], r.task_ack, True),
]
