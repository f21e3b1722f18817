"""Chat/webhook alerts on state changes, with a state file between runs, re-alerts and one
recovery message.

Reusable by any check: ``send_alerts(results, summary, webhook=WebhookSettings(url,
state_file, realert_after), now=..., ctx=ctx)``. A result is anything with ``flow_id`` (the
key in the state file; None is never alerted), ``name``, ``state`` (a Nagios code, see
``model``) and ``reason()``; a summary is a dict with ``state``, ``counts``, ``flows`` (or
the count of another ``subject``, e.g. ``nexsets``) and ``checked_at`` (``checks.summarize``
makes one). Failures are logged and never raised.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime

import nexla_ops

from .model import CRITICAL, OK, STATE_NAMES, WARNING

ALERTING = (WARNING, CRITICAL)
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TEXT_LINES = 20


def default_state_file(api_url: str) -> str:
    """Alert state per target in the per-user state directory, never the working directory:
    cron jobs and shells in different directories share one state for one Nexla."""
    return str(nexla_ops.target_path("health", api_url, "alerts", suffix=".json"))


@dataclass(frozen=True)
class WebhookSettings:
    """Where alerts go and how often: the webhook URL, the state file kept between runs, and
    the seconds after which a still-failing item is alerted again."""

    url: str
    state_file: str  # see default_state_file()
    realert_after: float = 4 * 3600.0
    title: str = "Nexla health check"  # the first line of the message text
    source: str = "nexla-ops health_check"  # the payload's "source"
    subject: str = "flow"  # what a result is: events carry "<subject>_id", lines name it


@dataclass
class AlertOutcome:
    """What send_alerts did: the events due, whether the webhook took them, and whether the
    state file was updated (when not, the same events are due again next run)."""

    events: list = field(default_factory=list)
    delivered: bool = False
    state_saved: bool = False


def load_alert_state(path: str, ctx) -> dict:
    """Last alerted state per flow id (str) from the state file; a broken file starts fresh."""
    from nexla_ops.files import parse_json, read_input_text

    if not os.path.lexists(path):
        return {}
    try:  # bounded like any input: a FIFO or a huge file here must not hang cron
        doc = parse_json(read_input_text(path), f"state file {path}")
    except nexla_ops.BadInput as exc:
        ctx.warn(f"{exc.message}; starting fresh")
        return {}
    flows = doc.get("flows") if isinstance(doc, dict) else None
    return {str(k): v for k, v in flows.items() if isinstance(v, dict)} if isinstance(flows, dict) else {}


def plan_alerts(results, previous: dict, now: datetime, realert_after: float,
                subject: str = WebhookSettings.subject):
    """Decide which flows to report, and the state file content once the report is delivered.

    A flow alerts when it enters WARNING/CRITICAL or moves between them, re-alerts after
    `realert_after` seconds while still failing, and sends one recovery when it is OK again.
    UNKNOWN (not checked in time) leaves a flow's alert state untouched: it is neither a new
    problem nor a recovery.
    """
    state = dict(previous)
    events = []
    stamp = now.isoformat()
    for result in sorted((r for r in results if r.flow_id is not None), key=lambda r: r.flow_id):
        key = str(result.flow_id)
        before = previous.get(key)
        name = STATE_NAMES[result.state]
        if result.state in ALERTING:
            alerted_at = nexla_ops.api_time((before or {}).get("alerted_at"))
            if before is None or before.get("state") != name:
                kind = "alert"
                since = stamp
            elif alerted_at is None or (now - alerted_at).total_seconds() >= realert_after:
                kind = "realert"
                since = before.get("since") or stamp
            else:
                continue
            events.append({
                "event": kind, f"{subject}_id": result.flow_id, "name": result.name, "state": name,
                "previous_state": (before or {}).get("state", "OK"), "since": since,
                "reason": result.reason(),
            })
            state[key] = {"state": name, "since": since, "alerted_at": stamp, "name": result.name}
        elif result.state == OK and before is not None:
            events.append({
                "event": "recovery", f"{subject}_id": result.flow_id, "name": result.name, "state": "OK",
                "previous_state": before.get("state"), "since": before.get("since"),
                "reason": result.reason(),
            })
            del state[key]
    return events, state


def alert_payload(events, summary, *, title: str = WebhookSettings.title,
                  source: str = WebhookSettings.source,
                  subject: str = WebhookSettings.subject) -> dict:
    problems = sum(e["event"] != "recovery" for e in events)
    recoveries = len(events) - problems
    parts = [f"{problems} problem{'s' * (problems != 1)}"] if problems else []
    if recoveries:
        parts.append(f"{recoveries} recover{'ies' if recoveries != 1 else 'y'}")
    lines = [f"{title}: {', '.join(parts)} (overall {summary['state']})"]
    key = f"{subject}_id"
    for event in events[:WEBHOOK_TEXT_LINES]:
        if event["event"] == "recovery":
            lines.append(f"RECOVERED {subject} {event[key]} {event['name']} (was {event['previous_state']})")
        else:
            again = " (still failing)" if event["event"] == "realert" else ""
            lines.append(f"{event['state']} {subject} {event[key]} {event['name']}{again}: {event['reason']}")
    if len(events) > WEBHOOK_TEXT_LINES:
        lines.append(f"... and {len(events) - WEBHOOK_TEXT_LINES} more")
    payload = {
        "text": "\n".join(lines),
        "source": source,
        "checked_at": summary["checked_at"],
        "summary": {k: summary[k] for k in ("state", "counts", f"{subject}s") if k in summary},
        "events": events,
    }
    # Reasons quote API text; never let a secret or a terminal escape ride along to a chat room.
    return nexla_ops.redact(payload)


def webhook_label(url: str) -> str:
    """Scheme and host only: chat webhook URLs carry their secret in the path."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/..."


def post_webhook(url: str, payload: dict, deadline, ctx) -> bool:
    """POST the alert, retried briefly; a failure is logged and reported as False.

    `deadline` is the run's budget (anything with remaining(), e.g. budget.Deadline), or None
    for none: the POST then gets the longest time it ever gets (10 s).
    """
    import requests
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception,
        stop_after_attempt,
        stop_after_delay,
        wait_exponential,
    )

    class WebhookRefused(Exception):
        def __init__(self, status):
            super().__init__(f"HTTP {status}")
            self.retryable = status == 429 or status >= 500

    # Alerts still go out when the checks used up the budget, but never wait long for a chat server.
    budget = max(2.0, min(10.0, 10.0 if deadline is None else deadline.remaining()))
    started = time.monotonic()

    def attempt():
        timeout = max(0.5, min(5.0, budget - (time.monotonic() - started)))
        # No redirects: the payload goes to the configured URL or nowhere.
        response = requests.post(url, json=payload, timeout=timeout, allow_redirects=False)
        if response.status_code >= 300:
            raise WebhookRefused(response.status_code)

    retrying = Retrying(
        stop=stop_after_attempt(WEBHOOK_ATTEMPTS) | stop_after_delay(budget),
        wait=wait_exponential(multiplier=0.25, max=1.0),
        retry=retry_if_exception(lambda exc: isinstance(exc, requests.RequestException)
                                 or getattr(exc, "retryable", False)),
        reraise=False,
    )
    try:
        retrying(attempt)
        return True
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        reason = str(cause) if isinstance(cause, WebhookRefused) else cause.__class__.__name__
        ctx.warn(f"alert webhook {webhook_label(url)} failed after {exc.last_attempt.attempt_number} "
                 f"attempt(s): {reason}; will retry on the next run")
        return False


def send_alerts(results, summary, *, webhook: WebhookSettings, now: datetime, ctx,
                deadline=None) -> AlertOutcome:
    """Post what changed; alerting problems are logged and never change the exit code."""
    previous = load_alert_state(webhook.state_file, ctx)
    events, new_state = plan_alerts(results, previous, now, webhook.realert_after, webhook.subject)
    outcome = AlertOutcome(events)
    if not events:
        return outcome
    payload = alert_payload(events, summary, title=webhook.title, source=webhook.source,
                            subject=webhook.subject)
    if not post_webhook(webhook.url, payload, deadline, ctx):
        return outcome  # state unchanged: the same events are due again next run
    outcome.delivered = True
    doc = {"version": 1, "updated_at": now.isoformat(), "flows": new_state}
    try:
        nexla_ops.write_atomic(webhook.state_file, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        ctx.warn(f"state file {webhook.state_file} not written ({exc.strerror}); these alerts will repeat")
        return outcome
    outcome.state_saved = True
    ctx.debug(f"alert webhook: sent {len(events)} event(s)")
    return outcome
