"""Flow health: the rules and the run behind ``nexla-ops health-check`` (Nagios states).

    model      OK, WARNING, CRITICAL, UNKNOWN (Nagios codes), STATE_NAMES, SEVERITY, worst();
               Run, Flow, Check, FlowResult
    settings   Thresholds, ConfigProblem, apply_overrides, load_config -> [Target]
    checks     evaluate(flow, thresholds, now) -> FlowResult, needs_history, summarize
    observe    Api, list_flows (bulk GET /flows with run metrics), fetch_history,
               probe_credential, run_bounded
    budget     Deadline (the run's --timeout), arm_watchdog, WATCHDOG_GRACE
    runner     check_flows(ctx, deadline, defaults, targets, Selection) -> Report
    outputs    render(fmt, results, summary, notes) for text, json, nagios, prometheus
    alerts     send_alerts(results, summary, webhook=WebhookSettings(...), now=, ctx=): state
               file, re-alerts and recoveries; reusable by other checks

Nothing here parses arguments or prints a report; results come back as data.
"""

from __future__ import annotations

from .alerts import (
    WEBHOOK_ATTEMPTS,
    AlertOutcome,
    WebhookSettings,
    alert_payload,
    load_alert_state,
    plan_alerts,
    post_webhook,
    send_alerts,
)
from .budget import WATCHDOG_GRACE, Deadline, arm_watchdog
from .checks import evaluate, human_age, needs_history, summarize, unchecked
from .model import (
    CRITICAL,
    OK,
    SEVERITY,
    STATE_NAMES,
    UNKNOWN,
    WARNING,
    Check,
    Flow,
    FlowResult,
    Run,
    worst,
)
from .observe import BULK_RUNS, Api, Listing, flows_from_page, list_flows, run_from_metric
from .outputs import FORMATS, render, result_doc
from .runner import Report, Selection, check_flows, select
from .settings import ConfigProblem, Target, Thresholds, apply_overrides, load_config

__all__ = [
    "BULK_RUNS", "CRITICAL", "FORMATS", "OK", "SEVERITY", "STATE_NAMES", "UNKNOWN",
    "WARNING", "WATCHDOG_GRACE", "WEBHOOK_ATTEMPTS", "AlertOutcome", "Api", "Check",
    "ConfigProblem", "Deadline", "Flow", "FlowResult", "Listing", "Report", "Run", "Selection",
    "Target", "Thresholds", "WebhookSettings", "alert_payload", "apply_overrides",
    "arm_watchdog", "check_flows", "evaluate", "flows_from_page", "human_age", "list_flows",
    "load_alert_state", "load_config", "needs_history", "plan_alerts", "post_webhook", "render",
    "result_doc", "run_from_metric", "select", "send_alerts", "summarize", "unchecked", "worst",
]
