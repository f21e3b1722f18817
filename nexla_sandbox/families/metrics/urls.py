"""Run, log and metrics routes."""

from __future__ import annotations

from . import responses as r

FLOW_ROUTES = [
    ("/flows/<int:id>/logs", ["GET"], r.flow_logs, True),
    ("/flows/<int:id>/logs_v2", ["POST"], r.flow_logs_v2, True),
    ("/flows/<int:id>/run_status/<int:run_id>", ["GET"], r.run_status, True),
]


def resource_routes(kind: str) -> list:
    """Logs and metrics of a source, nexset or destination."""
    return [
        (f"/{kind}/<int:id>/flow/logs", ["GET"], r.resource_flow_logs(kind), True),
        (f"/{kind}/<int:id>/flow/metrics", ["GET"], r.resource_flow_metrics(kind), True),
        (f"/{kind}/<int:id>/metrics", ["GET"], r.daily_metrics(kind), True),
        (f"/{kind}/<int:id>/metrics/run_summary", ["GET"], r.run_summary(kind), True),
    ]
