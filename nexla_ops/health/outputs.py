"""The report as text (a line per flow and deployment), JSON, a Nagios status line with
perfdata, or Prometheus textfile-collector metrics. Rendering only: the caller writes the text.

`deployments` is None unless deployment files were checked (deployments.DeploymentResult);
then the summary holds a "deployments" part, and flows may not have been checked at all.
`credentials` is None unless --credentials judged the credentials the flows use
(model.CredentialResult); then the summary holds a "credentials" part."""

from __future__ import annotations

import json
import time

import nexla_ops
from nexla_ops.redact import escape_text

from .model import (
    CRITICAL,
    OK,
    SEVERITY,
    STATE_NAMES,
    UNKNOWN,
    WARNING,
    CredentialResult,
    FlowResult,
)

FORMATS = ("text", "json", "nagios", "prometheus")


def result_doc(result: FlowResult) -> dict:
    return {
        "flow_id": result.flow_id,
        "name": result.name,
        "status": result.status,
        "state": STATE_NAMES[result.state],
        "pending": any(c.pending for c in result.checks),
        "reason": result.reason(),
        "last_success_at": result.last_success_at,
        "error_rate": None if result.error_rate is None else round(result.error_rate, 4),
        "runs_considered": result.runs_considered,
        "failed_runs": result.failed_runs,
        "checks": [{"check": c.name, "state": STATE_NAMES[c.state], "message": c.message} for c in result.checks],
    }


def credential_doc(result: CredentialResult) -> dict:
    return {
        "id": result.cred_id,
        "name": result.name,
        "state": STATE_NAMES[result.state],
        "counted": result.counted,
        "source": result.source,
        "verified_status": result.verified_status,
        "verified_at": result.verified_at,
        "expires_at": result.expires_at,
        "flows": [use.flow_id for use in result.flows],
        "paused_flows": [use.flow_id for use in result.flows if use.paused],
        "message": result.message,
    }


def _described(result) -> str:
    """'<title>: <reason>' for a flow or deployment; a credential's message names itself."""
    if isinstance(result, CredentialResult):
        return escape_text(result.message)
    return f"{escape_text(result.title)}: {escape_text(result.reason())}"


def _credential_counts(summary) -> str:
    part = summary["credentials"]
    text = (f"{part['checked']} credentials: "
            + ", ".join(f"{part['counts'][name]} {name.lower()}"
                        for name in ("CRITICAL", "WARNING", "UNKNOWN", "OK")))
    if part["not_counted"]:
        text += f" ({part['not_counted']} used only by paused flows, not counted)"
    return text


COLOURS = {OK: "\033[32m", WARNING: "\033[33m", CRITICAL: "\033[31m", UNKNOWN: "\033[35m"}


def flows_checked(results, summary, notes) -> bool:
    """Whether this run checked flows: a flow selection always leaves results or a note (even
    "no flows matched the selection"), so only a --deployments run alone leaves neither."""
    return "deployments" not in summary or bool(results or notes)


def _flow_counts(summary) -> str:
    counts = summary["counts"]
    return ", ".join(f"{counts[name]} {name.lower()}" for name in ("CRITICAL", "WARNING", "UNKNOWN", "OK"))


def _deployment_counts(summary) -> str:
    counts = summary["deployments"]
    return (f"{counts['drifted']} drifted, {counts['unknown']} unknown, "
            f"{counts['in_sync']} in sync")


def render_text(results, summary, notes, colour: bool, deployments=None, credentials=None) -> str:
    lines = []
    for result in [*results, *(credentials or ()), *(deployments or ())]:
        label = f"{STATE_NAMES[result.state]:<8}"
        if colour:
            label = f"{COLOURS[result.state]}{label}\033[0m"
        lines.append(f"{label} {_described(result)}")
    lines.extend(escape_text(note) for note in notes)
    took = f"checked in {summary['duration_seconds']:.2f}s"
    if not flows_checked(results, summary, notes):
        tally = f"{summary['deployments']['checked']} deployments {took}: {_deployment_counts(summary)}"
    else:
        tally = f"{summary['flows']} flows {took}: {_flow_counts(summary)}"
        if credentials is not None:
            tally += f"; {_credential_counts(summary)}"
        if deployments is not None:
            tally += f"; {summary['deployments']['checked']} deployments: {_deployment_counts(summary)}"
    lines.append(f"{summary['state']}: {tally}")
    return "\n".join(lines) + "\n"


def one_a_line(docs) -> str:
    lines = [json.dumps(doc, default=nexla_ops.to_jsonable) for doc in docs]
    return "[\n    " + ",\n    ".join(lines) + "\n  ]" if lines else "[]"


def render_json(results, summary, notes, deployments=None, credentials=None) -> str:
    """One document: the summary and notes indented, then one flow (and deployment) a line. An
    indented dump runs json's pure-Python encoder, ten times slower than the C one that writes
    each flow's line; at 10,000 flows that was most of the client's time. A line a flow also
    greps and diffs well."""
    head = json.dumps({"summary": nexla_ops.to_jsonable(summary),
                       "notes": nexla_ops.to_jsonable(notes)}, indent=2)
    body = f',\n  "flows": {one_a_line(result_doc(r) for r in results)}'
    if credentials is not None:
        body += f',\n  "credentials": {one_a_line(credential_doc(c) for c in credentials)}'
    if deployments is not None:
        body += f',\n  "deployments": {one_a_line(d.as_doc() for d in deployments)}'
    return head.removesuffix("\n}") + body + "\n}\n"


def render_nagios(results, summary, notes, deployments=None, credentials=None) -> str:
    counts = summary["counts"]
    flows = flows_checked(results, summary, notes)
    problems = sorted((r for r in results if r.state != OK),
                      key=lambda r: (-SEVERITY[r.state], r.flow_id is None, r.flow_id or 0))
    # Stable: within a state, flows come first, then credentials (those that count), then
    # deployments in file order.
    worst_first = sorted([*problems, *(c for c in credentials or () if c.state != OK and c.counted),
                          *(d for d in deployments or () if d.state != OK)],
                         key=lambda r: -SEVERITY[r.state])
    detail = "; ".join(f"{STATE_NAMES[r.state]} {_described(r)}" for r in worst_first[:3])
    if len(worst_first) > 3:
        detail += f"; +{len(worst_first) - 3} more"
    tallies = [f"{summary['flows']} flows: {_flow_counts(summary)}"] if flows else []
    if credentials is not None:
        tallies.append(_credential_counts(summary))
    if deployments is not None:
        tallies.append(f"{summary['deployments']['checked']} deployments: {_deployment_counts(summary)}")
    text = "; ".join(tallies)
    if detail or notes:
        notes = [escape_text(note) for note in notes]
        text += " - " + "; ".join([*notes, detail] if detail else notes)
    # Perfdata per the Nagios plugin guidelines: space-separated 'label=value[UOM]' pairs.
    perf = [f"{name.lower()}={counts[name]}" for name in STATE_NAMES] if flows else []
    if credentials is not None:
        perf += [f"credentials_{name.lower()}={summary['credentials']['counts'][name]}"
                 for name in STATE_NAMES]
    if deployments is not None:
        perf += [f"deployments_{key}={summary['deployments'][key]}"
                 for key in ("in_sync", "drifted", "unknown")]
    perf = " ".join([*perf, f"duration={summary['duration_seconds']}s"])
    # '|' separates perfdata, and a newline would start Nagios' long output: keep them out of text.
    text = text.replace("|", "/").replace("\n", " ")
    return f"NEXLA {summary['state']} - {text} | {perf}\n"


def render_prometheus(results, summary, finished_ts: float, deployments=None,
                      credentials=None) -> str:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry()
    labels = ["flow_id", "name"]
    up = Gauge("nexla_flow_up", "1 when the flow's health check is OK, else 0", labels, registry=registry)
    last_success = Gauge("nexla_flow_last_success_timestamp_seconds",
                         "Unix time of the flow's last successful run (absent when none is known)",
                         labels, registry=registry)
    error_rate = Gauge("nexla_flow_error_rate",
                       "Failed runs / finished runs among the flow's last --window runs",
                       labels, registry=registry)
    state = Gauge("nexla_flow_state", "1 for the flow's current health state, 0 for the others",
                  [*labels, "state"], registry=registry)
    Gauge("nexla_health_check_duration_seconds", "Wall time of the last health check run",
          registry=registry).set(summary["duration_seconds"])
    Gauge("nexla_health_check_last_run_timestamp_seconds", "Unix time the last health check run finished",
          registry=registry).set(finished_ts)
    # Also counts what has no flow to label (a configured resource not found, an unfinished listing).
    Gauge("nexla_health_check_status", "Overall result as a Nagios code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
          registry=registry).set(summary["exit_code"])
    for result in (r for r in results if r.flow_id is not None):
        # escaped as the text output is: U+2028 and the like would split a line for some readers
        ids = (str(result.flow_id), escape_text(result.name))
        up.labels(*ids).set(1 if result.state == OK else 0)
        if result.last_success_at is not None:
            last_success.labels(*ids).set(result.last_success_at.timestamp())
        if result.error_rate is not None:
            error_rate.labels(*ids).set(result.error_rate)
        set_state(state, ids, result.state)
    if deployments is not None:
        deployment_metrics(registry, deployments)
    if credentials is not None:
        credential_metrics(registry, credentials)
    return generate_latest(registry).decode("utf-8")


def deployment_metrics(registry, deployments) -> None:
    """nexla_deployment_in_sync and _drift_changes (absent when the file could not be checked)
    and _state, labelled by deployment name and file (two files may name one deployment)."""
    from prometheus_client import Gauge

    labels = ["deployment", "file"]
    in_sync = Gauge("nexla_deployment_in_sync",
                    "1 when the deployment's live objects match its file, 0 when they drifted",
                    labels, registry=registry)
    changes = Gauge("nexla_deployment_drift_changes",
                    "Fields and objects an apply of the deployment file would change",
                    labels, registry=registry)
    state = Gauge("nexla_deployment_state",
                  "1 for the deployment's current health state, 0 for the others",
                  [*labels, "state"], registry=registry)
    for result in deployments:
        ids = (escape_text(nexla_ops.redact_text(result.name or "")), escape_text(result.file))
        if result.state != UNKNOWN:
            in_sync.labels(*ids).set(1 if result.state == OK else 0)
            changes.labels(*ids).set(len(result.drift))
        set_state(state, ids, result.state)


def credential_metrics(registry, credentials) -> None:
    """nexla_credential_state (one-hot) and nexla_credential_expiry_timestamp_seconds (only
    where --expiry-field found a date), labelled by credential id and name; `counted` is 0
    for a credential only paused flows use (left out of the overall state)."""
    from prometheus_client import Gauge

    labels = ["credential_id", "name"]
    state = Gauge("nexla_credential_state",
                  "1 for the credential's current health state, 0 for the others",
                  [*labels, "state", "counted"], registry=registry)
    expiry = Gauge("nexla_credential_expiry_timestamp_seconds",
                   "Unix time the credential expires, from the credentials_non_secure_data "
                   "key named by --expiry-field (a date the team records; Nexla publishes none)",
                   labels, registry=registry)
    for result in credentials:
        ids = (str(result.cred_id), escape_text(nexla_ops.redact_text(result.name)))
        for code, name in enumerate(STATE_NAMES):
            state.labels(*ids, name, "1" if result.counted else "0").set(1 if code == result.state else 0)
        if result.expires_at is not None:
            expiry.labels(*ids).set(result.expires_at.timestamp())


def set_state(gauge, ids: tuple, current: int) -> None:
    """A one-hot state gauge: 1 for the labelled object's current state, 0 for the others."""
    for code, name in enumerate(STATE_NAMES):
        gauge.labels(*ids, name).set(1 if code == current else 0)


def render(fmt: str, results, summary, notes, *, colour: bool = False, deployments=None,
           credentials=None) -> str:
    """The report in `fmt` (one of FORMATS; anything else is text), redacted where it quotes
    API text outside JSON. `colour` adds ANSI colours to the text format's state labels;
    `deployments` adds the deployment files' results (see the module docstring)."""
    if fmt == "json":
        return render_json(results, summary, notes, deployments, credentials)
    if fmt == "nagios":
        return nexla_ops.redact_text(render_nagios(results, summary, notes, deployments, credentials))
    if fmt == "prometheus":
        return render_prometheus(results, summary, time.time(), deployments, credentials)
    return nexla_ops.redact_text(render_text(results, summary, notes, colour, deployments, credentials))
