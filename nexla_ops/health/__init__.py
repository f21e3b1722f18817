"""Flow health: the rules and the run behind ``nexla-ops health-check`` (Nagios states).

    model      OK, WARNING, CRITICAL, UNKNOWN (Nagios codes), STATE_NAMES, SEVERITY, worst();
               Run, Flow, Check, FlowResult
    settings   Thresholds, ConfigProblem, apply_overrides, load_config -> [Target]
    checks     evaluate(flow, thresholds, now) -> FlowResult, needs_history, summarize
    observe    Api, list_flows (bulk GET /flows with run metrics), fetch_history,
               probe_credential, run_bounded
    budget     Deadline (the run's --timeout), arm_watchdog, WATCHDOG_GRACE
    runner     check_flows(ctx, deadline, defaults, targets, Selection) -> Report;
               run_checks(..., flows=, deployment_files=) adds the deployments' drift
    credentials --credentials: credential_usage, credential_tasks, judge_credentials ->
               [CredentialResult] (verified_status, probes, expiry from --expiry-field keys)
    flags      health_check's argument types and --credentials flags
    deployments deployment_files(DIR), check_deployments(ctx, paths, deadline, concurrency)
               -> [DeploymentResult]: drift from nexla_ops.deploy.drift as OK/WARNING/UNKNOWN
    outputs    render(fmt, results, summary, notes) for text, json, nagios, prometheus
    alerts     send_alerts(results, summary, webhook=WebhookSettings(...), now=, ctx=): state
               file, re-alerts and recoveries; reusable by other checks

Nothing here parses arguments or prints a report; results come back as data.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# Each public name -> its module, imported on first use (nexla_ops.lazy).
_EXPORTS = {
    **dict.fromkeys((
        "WEBHOOK_ATTEMPTS", "AlertOutcome", "WebhookSettings", "alert_payload",
        "load_alert_state", "plan_alerts", "post_webhook", "send_alerts",
    ), "alerts"),
    **dict.fromkeys((
        "WATCHDOG_GRACE", "Deadline", "arm_watchdog",
    ), "budget"),
    **dict.fromkeys((
        "evaluate", "human_age", "needs_history", "summarize", "unchecked",
    ), "checks"),
    **dict.fromkeys((
        "CredentialSettings", "credential_usage", "judge_credentials", "parse_expiry",
    ), "credentials"),
    **dict.fromkeys((
        "DeploymentResult", "check_deployments", "deployment_files",
    ), "deployments"),
    **dict.fromkeys((
        "CRITICAL", "OK", "SEVERITY", "STATE_NAMES", "UNKNOWN", "WARNING", "Check",
        "CredentialResult", "Flow", "FlowResult", "Run", "worst",
    ), "model"),
    **dict.fromkeys((
        "BULK_RUNS", "Api", "CredentialListing", "Listing", "flows_from_page",
        "list_credentials", "list_flows", "probe_verdict", "run_from_metric",
    ), "observe"),
    **dict.fromkeys((
        "FORMATS", "render", "result_doc",
    ), "outputs"),
    **dict.fromkeys((
        "Report", "Selection", "check_flows", "run_checks", "select",
    ), "runner"),
    **dict.fromkeys((
        "ConfigProblem", "Target", "Thresholds", "apply_overrides", "load_config",
    ), "settings"),
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, globals(), _EXPORTS)
