"""Run, log and metrics routes."""

from __future__ import annotations

from . import account_responses as a
from . import responses as r

FLOW_ROUTES = [
    ("/flows/<int:id>/logs", ["GET"], r.flow_logs, True),
    ("/flows/<int:id>/logs_v2", ["POST"], r.flow_logs_v2, True),
    ("/flows/<int:id>/run_status/<int:run_id>", ["GET"], r.run_status, True),
]

# The reference's account-level metrics, plus the status_metrics paths SDK 1.0.8 calls.
ACCOUNT_ROUTES = [
    ("/users/<int:id>/flows/account_metrics", ["GET"], a.user_account_metrics, True),
    ("/orgs/<int:id>/flows/account_metrics", ["GET"], a.org_account_metrics, True),
    ("/users/<int:id>/flows/dashboard", ["GET"], a.user_dashboard, True),
    ("/users/<int:id>/metrics", ["GET"], a.user_daily_metrics, True),
    ("/users/<int:id>/flows/status_metrics", ["GET"], a.user_status_metrics, True),
    ("/orgs/<int:id>/flows/status_metrics", ["GET"], a.org_status_metrics, True),
]


def resource_routes(kind: str) -> list:
    """Logs and metrics of a source, nexset or destination: the SDK's /{kind}/{id}/flow/... paths
    and the reference's /data_flows/{kind}/{id}/... ones."""
    return [
        (f"/{kind}/<int:id>/flow/logs", ["GET"], r.resource_flow_logs(kind), True),
        (f"/{kind}/<int:id>/flow/metrics", ["GET"], r.resource_flow_metrics(kind), True),
        (f"/data_flows/{kind}/<int:id>/logs", ["GET"],
         r.resource_flow_logs(kind, reference=True), True),
        (f"/data_flows/{kind}/<int:id>/metrics", ["GET"],
         r.resource_flow_metrics(kind, reference=True), True),
        (f"/{kind}/<int:id>/metrics", ["GET"], r.daily_metrics(kind), True),
        (f"/{kind}/<int:id>/metrics/run_summary", ["GET"], r.run_summary(kind), True),
    ]
