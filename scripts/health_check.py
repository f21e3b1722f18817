#!/usr/bin/env python3
"""Check the health of Nexla flows, for cron, Nagios, Prometheus and chat alerts.

One bulk listing (GET /flows?include_run_metrics=1, 100 flows a page) gives every flow's status
and its latest runs. Per-flow calls happen only when that is not enough (a --window longer than
the listing's run history, a last success older than it, --probe-credentials) and run with
bounded concurrency. Exit codes follow Nagios, not the other scripts: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import nexla_ops

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
# Worst-first severity for combining states: a CRITICAL flow must not hide behind an UNKNOWN one.
SEVERITY = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}

# The bulk listing carries at most this many latest runs per flow; a longer --window, or a last
# success older than these runs, needs the flow's own run summary.
BULK_RUNS = 10
HISTORY_PAGE = 100
HISTORY_MAX_PAGES = 5
ERROR_STATUSES = {"ERROR", "FAILED", "SUSPENDED"}
RESOURCE_TYPES = ("data_sources", "data_sets", "data_sinks", "flows")
# Grace after --timeout before the watchdog ends a run stuck where no timeout reaches (e.g. a
# server trickling a response byte by byte: HTTP read timeouts apply per read, not in total).
WATCHDOG_GRACE = 3.0

EXAMPLES = """\
checks (per flow; the flow's state is its worst check):
  status      ACTIVE is OK; PAUSED is WARNING unless expected paused (then OK, and the run
              checks below are skipped); ERROR/FAILED/SUSPENDED on any node is CRITICAL.
  staleness   age of the last successful run: over --max-age WARNING, over 2x CRITICAL.
  error rate  failed runs / finished runs among the flow's last --window runs (runs still in
              progress are not counted). Above --warn-error-rate WARNING, above
              --crit-error-rate CRITICAL. Example: 3 failed of 10 finished = 0.30.
  stall       every one of the last --stall-runs finished runs moved zero records: WARNING.
  stuck       a run in progress longer than --stuck-after: WARNING; over 2x CRITICAL.
  credentials with --probe-credentials, each credential the flow uses is probed; a rejected
              probe is CRITICAL.
  Overall exit code: the worst flow state, ranked CRITICAL > WARNING > UNKNOWN > OK.
  Unreachable API, rejected key, bad config or flag, lock held: 3 (UNKNOWN), one line.
  What --timeout leaves unchecked is UNKNOWN, and the run ends (a watchdog ends it if stuck).

alerts (--alert-webhook): one POST per run, only when a flow enters WARNING/CRITICAL or moves
  between them, is still failing --realert-after later, or recovers (one message). JSON with a
  Slack-compatible "text" plus "events" and "summary". State is kept in --state-file; a failed
  POST is retried briefly, logged, due again next run, and never changes the exit code.

prometheus (--format prometheus --output FILE.prom, written atomically): nexla_flow_up,
  nexla_flow_last_success_timestamp_seconds, nexla_flow_error_rate, nexla_flow_state
  (labels flow_id, name[, state]), nexla_health_check_duration_seconds,
  nexla_health_check_last_run_timestamp_seconds, nexla_health_check_status.

config file (JSON or YAML; the per-resource keys override the flags):
  {"resources": [{"type": "data_sources", "id": 123},
                 {"type": "flows", "id": 1002, "max_age": "6h", "warn_error_rate": 0.2},
                 {"type": "data_sources", "id": 126, "expect": "paused"}]}
  types: data_sources, data_sets, data_sinks (mapped to the flow holding them) or flows.
  keys: max_age, warn_error_rate (or threshold), crit_error_rate, window, stall_runs,
  stuck_after, expect (paused|active), name; a top-level "defaults" object takes the same keys.

examples:
  python scripts/health_check.py --all
  python scripts/health_check.py --config monitors.json --format nagios
  python scripts/health_check.py --project 61 --max-age 6h --format json
  python scripts/health_check.py --all --format prometheus --output /var/lib/node_exporter/nexla.prom
  python scripts/health_check.py --tag prod --alert-webhook https://hooks.example/T000 \\
      --state-file /var/lib/nexla/health-state.json --realert-after 2h
  */5 * * * * cd /opt/nexla-ops && python scripts/health_check.py --all --timeout 50 --lock-wait 0
"""


# ---------------------------------------------------------------- settings and config


@dataclass(frozen=True)
class Thresholds:
    max_age: float
    warn_error_rate: float
    crit_error_rate: float
    window: int
    stall_runs: int
    stuck_after: float
    expect_paused: bool = False


class ConfigProblem(Exception):
    """Bad flag or config value; reported as UNKNOWN (exit 3) in one line naming the field."""


THRESHOLD_KEYS = {
    "max_age": "max_age",
    "warn_error_rate": "warn_error_rate",
    "threshold": "warn_error_rate",
    "crit_error_rate": "crit_error_rate",
    "window": "window",
    "stall_runs": "stall_runs",
    "stuck_after": "stuck_after",
}
INFO_KEYS = {"type", "id", "name", "description", "expect"}


def _duration(value, where):
    try:
        seconds = nexla_ops.parse_duration(str(value))
    except Exception:
        raise ConfigProblem(f"{where}: expected a duration like 30m, 24h or 2d, got {value!r}") from None
    if seconds <= 0:
        raise ConfigProblem(f"{where}: expected a positive duration, got {value!r}")
    return float(seconds)


def _rate(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigProblem(f"{where}: expected a rate between 0 and 1, got {value!r}")
    try:
        rate = float(value)
    except ValueError:
        raise ConfigProblem(f"{where}: expected a rate between 0 and 1, got {value!r}") from None
    if not 0 <= rate <= 1:
        raise ConfigProblem(f"{where}: expected a rate between 0 and 1, got {value!r}")
    return rate


def _count(value, where, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigProblem(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigProblem(f"{where}: expected a whole number >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ConfigProblem(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    return number


def apply_overrides(base: Thresholds, values: dict, where: str) -> Thresholds:
    changes = {}
    for key, value in values.items():
        target = THRESHOLD_KEYS.get(key)
        if target is None:
            continue
        field_name = f"{where}.{key}"
        if target in ("max_age", "stuck_after"):
            changes[target] = _duration(value, field_name)
        elif target in ("warn_error_rate", "crit_error_rate"):
            changes[target] = _rate(value, field_name)
        else:
            changes[target] = _count(value, field_name, 1 if target == "window" else 0)
    if "expect" in values:
        expect = str(values["expect"]).lower()
        if expect not in ("paused", "active"):
            raise ConfigProblem(f"{where}.expect: expected 'paused' or 'active', got {values['expect']!r}")
        changes["expect_paused"] = expect == "paused"
    merged = replace(base, **changes)
    check_rates(merged, where)
    return merged


def check_rates(th: Thresholds, where: str):
    if th.crit_error_rate < th.warn_error_rate:
        raise ConfigProblem(
            f"{where}: crit_error_rate ({th.crit_error_rate}) must not be below "
            f"warn_error_rate ({th.warn_error_rate})"
        )


@dataclass(frozen=True)
class Target:
    """A resource named in the config file, with the thresholds for the flow that holds it."""

    type: str
    id: int
    thresholds: Thresholds

    @property
    def label(self):
        return f"{self.type}/{self.id}"


def load_config(path: str, defaults: Thresholds) -> list[Target]:
    try:
        doc = nexla_ops.load_structured_file(path)
    except nexla_ops.OpsError as exc:
        raise ConfigProblem(f"--config: {exc.message}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        raise ConfigProblem(f"--config {path}: expected an object with a 'resources' list")
    for key in doc:
        if key not in ("resources", "defaults"):
            raise ConfigProblem(f"--config {path}: unknown key {key!r} (expected resources, defaults)")
    base = defaults
    if "defaults" in doc:
        if not isinstance(doc["defaults"], dict):
            raise ConfigProblem("defaults: expected an object")
        unknown = set(doc["defaults"]) - set(THRESHOLD_KEYS) - {"expect"}
        if unknown:
            raise ConfigProblem(f"defaults.{sorted(unknown)[0]}: unknown key")
        base = apply_overrides(defaults, doc["defaults"], "defaults")
    targets = []
    for index, entry in enumerate(doc["resources"]):
        where = f"resources[{index}]"
        if not isinstance(entry, dict):
            raise ConfigProblem(f"{where}: expected an object like {{\"type\": \"data_sources\", \"id\": 123}}")
        unknown = set(entry) - set(THRESHOLD_KEYS) - INFO_KEYS
        if unknown:
            raise ConfigProblem(f"{where}.{sorted(unknown)[0]}: unknown key")
        kind = entry.get("type")
        if kind not in RESOURCE_TYPES:
            raise ConfigProblem(f"{where}.type: expected one of {', '.join(RESOURCE_TYPES)}, got {kind!r}")
        ident = entry.get("id")
        if isinstance(ident, bool) or not isinstance(ident, int) or ident <= 0:
            raise ConfigProblem(f"{where}.id: expected a positive integer, got {ident!r}")
        targets.append(Target(kind, ident, apply_overrides(base, entry, where)))
    if not targets:
        raise ConfigProblem(f"--config {path}: 'resources' is empty")
    return targets


# ---------------------------------------------------------------- deadline


class Deadline:
    """The run's total time budget (--timeout); every wait and HTTP timeout is capped by it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.monotonic()
        self.ends = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started


# ---------------------------------------------------------------- flows and runs


@dataclass
class Run:
    run_id: int
    status: str  # SUCCESS | FAILED | RUNNING (upper-cased as received)
    started_at: datetime | None
    finished_at: datetime | None
    records: int
    errors: int

    @property
    def finished(self) -> bool:
        return self.status in ("SUCCESS", "FAILED")

    @property
    def when(self) -> datetime | None:
        return self.finished_at or self.started_at


def run_from_metric(item: dict) -> Run:
    """One run from a bulk-listing metrics element or a run_summary row (camelCase there)."""
    status = str(item.get("status") or "").upper()
    if not status:
        # FlowMetrics only guarantees counts and reporting_date; without the status extra, a
        # reported run counts as finished, and failed when it reported errors.
        status = "FAILED" if int(item.get("errors") or 0) else "SUCCESS"
    finished = nexla_ops.api_time(item.get("finished_at"))
    if finished is None and status in ("SUCCESS", "FAILED"):
        finished = nexla_ops.api_time(item.get("reporting_date") or item.get("lastWritten"))
    return Run(
        run_id=int(item.get("run_id") or item.get("runId") or 0),
        status=status,
        started_at=nexla_ops.api_time(item.get("started_at")),
        finished_at=finished,
        records=int(item.get("records") or 0),
        errors=int(item.get("errors") or 0),
    )


def _newest_first(runs):
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(runs, key=lambda r: (r.started_at or r.when or epoch, r.run_id), reverse=True)


@dataclass
class Flow:
    flow_id: int
    name: str
    status: str
    project_id: int | None
    source_id: int | None
    resources: set = field(default_factory=set)  # {(type, id)} of every node in the tree
    bad_nodes: list = field(default_factory=list)  # [(node label, status)] in an error state
    tags: set = field(default_factory=set)
    credential_ids: set = field(default_factory=set)
    runs: list = field(default_factory=list)  # newest first
    history_complete: bool = True  # False when older runs may exist beyond `runs`


def flows_from_page(page: dict) -> list[Flow]:
    """Turn one GET /flows page (a FlowResponse object, raw JSON) into Flow records."""
    sources = {s.get("id"): s for s in page.get("data_sources") or []}
    nexsets = {d.get("id"): d for d in page.get("data_sets") or []}
    sinks = {s.get("id"): s for s in page.get("data_sinks") or []}
    by_type = {"data_sources": sources, "data_sets": nexsets, "data_sinks": sinks}
    runs_by_flow: dict[int, list] = {}
    for item in page.get("metrics") or []:
        runs_by_flow.setdefault(item.get("origin_node_id"), []).append(run_from_metric(item))

    flows = []
    for root in page.get("flows") or []:
        flow_id = root.get("id")
        source_id = root.get("data_source_id")
        source = sources.get(source_id) or {}
        flow = Flow(
            flow_id=flow_id,
            name=nexla_ops.redact(str(root.get("name") or source.get("name") or f"flow-{flow_id}")),
            status=str(root.get("status") or source.get("status") or "UNKNOWN").upper(),
            project_id=root.get("project_id"),
            source_id=source_id,
        )
        flow.resources.add(("flows", flow_id))
        stack = [root]
        while stack:
            node = stack.pop()
            stack.extend(node.get("children") or [])
            for kind, key in (("data_sources", "data_source_id"), ("data_sets", "data_set_id"),
                              ("data_sinks", "data_sink_id")):
                rid = node.get(key)
                if rid is None:
                    continue
                flow.resources.add((kind, rid))
                resource = by_type[kind].get(rid) or {}
                flow.tags.update(str(t) for t in resource.get("tags") or [])
                if resource.get("data_credentials_id"):
                    flow.credential_ids.add(resource["data_credentials_id"])
                status = str(node.get("status") or resource.get("status") or "").upper()
                if node is not root and (status in ERROR_STATUSES or "ERROR" in status):
                    flow.bad_nodes.append((f"{kind}/{rid}", status))
        runs = _newest_first(runs_by_flow.get(flow_id, []))
        flow.runs = runs
        flow.history_complete = len(runs) < BULK_RUNS
        flows.append(flow)
    return flows


# ---------------------------------------------------------------- evaluation


@dataclass
class Check:
    name: str
    state: int
    message: str


@dataclass
class FlowResult:
    flow_id: int
    name: str
    status: str
    state: int
    checks: list
    last_success_at: datetime | None = None
    error_rate: float | None = None
    runs_considered: int = 0
    failed_runs: int = 0

    @property
    def title(self):
        """'1002 customers-postgres', or just the resource label when no flow holds it."""
        return self.name if self.flow_id is None else f"{self.flow_id} {self.name}"

    def problems(self):
        return [c for c in self.checks if c.state != OK]

    def reason(self):
        bad = sorted(self.problems(), key=lambda c: -SEVERITY[c.state])
        return "; ".join(c.message for c in bad) or "; ".join(c.message for c in self.checks)


def worst(states) -> int:
    return max(states, key=lambda s: SEVERITY[s], default=OK)


def human_age(seconds: float) -> str:
    """'45m', '24h', '30.5h', '3.2d' (no '.0' noise)."""
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    value, unit = (seconds / 3600, "h") if seconds < 72 * 3600 else (seconds / 86400, "d")
    return f"{value:.1f}".removesuffix(".0") + unit


def _graded(value: float, limit: float) -> int:
    """WARNING over `limit`, CRITICAL over twice it (staleness and stuck runs)."""
    if value > 2 * limit:
        return CRITICAL
    if value > limit:
        return WARNING
    return OK


def evaluate(flow: Flow, th: Thresholds, now: datetime, credentials: dict | None = None) -> FlowResult:
    """Classify one flow. `credentials` maps credential id → (state, message) when probed."""
    checks = []
    paused = flow.status == "PAUSED"
    if flow.status == "ACTIVE":
        checks.append(Check("status", OK, "active"))
    elif paused:
        checks.append(Check("status", OK if th.expect_paused else WARNING,
                            "paused (expected)" if th.expect_paused else "flow is paused"))
    elif flow.status in ERROR_STATUSES or "ERROR" in flow.status:
        checks.append(Check("status", CRITICAL, f"flow status is {flow.status}"))
    else:
        checks.append(Check("status", WARNING, f"flow status is {flow.status}"))
    for label, status in flow.bad_nodes:
        checks.append(Check("status", CRITICAL, f"{label} is {status}"))

    result = FlowResult(flow.flow_id, flow.name, flow.status, OK, checks)
    window = flow.runs[: th.window]
    finished = [r for r in window if r.finished]
    successes = [r for r in flow.runs if r.status == "SUCCESS" and r.when]
    result.last_success_at = successes[0].when if successes else None
    if finished:
        result.failed_runs = sum(r.status == "FAILED" for r in finished)
        result.runs_considered = len(finished)
        result.error_rate = result.failed_runs / len(finished)

    # A paused flow is not expected to run: its run history says nothing about its health now.
    if not paused:
        checks.append(staleness_check(flow, th, now, result.last_success_at))
        checks.append(error_rate_check(th, result))
        if th.stall_runs:
            recent = [r for r in flow.runs if r.finished][: th.stall_runs]
            if len(recent) == th.stall_runs and all(r.records == 0 for r in recent):
                checks.append(Check("stall", WARNING, f"no records in the last {th.stall_runs} runs"))
        for run in flow.runs:
            if run.status == "RUNNING" and run.started_at:
                age = (now - run.started_at).total_seconds()
                state = _graded(age, th.stuck_after)
                if state != OK:
                    checks.append(Check("stuck", state, f"run {run.run_id} in progress for {human_age(age)} "
                                                        f"(stuck after {human_age(th.stuck_after)})"))
    for cred_id in sorted(flow.credential_ids) if credentials is not None else ():
        state, message = credentials.get(cred_id, (UNKNOWN, f"credential {cred_id} not probed before the deadline"))
        checks.append(Check("credentials", state, message))
    result.state = worst(c.state for c in checks)
    return result


def staleness_check(flow: Flow, th: Thresholds, now: datetime, last_success: datetime | None) -> Check:
    limit = f"max age {human_age(th.max_age)}"
    if last_success is not None:
        age = (now - last_success).total_seconds()
        return Check("staleness", _graded(age, th.max_age), f"last success {human_age(max(age, 0))} ago ({limit})")
    if not flow.runs:
        return Check("staleness", WARNING, "no runs on record")
    oldest = flow.runs[-1].when
    if flow.history_complete or oldest is None:
        return Check("staleness", CRITICAL, f"no successful run in {len(flow.runs)} runs on record")
    # Older runs were not read (already past twice the limit, or beyond the pages fetched): the
    # last success is at least as old as the oldest run known.
    age = (now - oldest).total_seconds()
    return Check("staleness", _graded(age, th.max_age) or WARNING,
                 f"no successful run in the last {len(flow.runs)} runs (over {human_age(age)}; {limit})")


def error_rate_check(th: Thresholds, result: FlowResult) -> Check:
    if result.error_rate is None:
        return Check("error_rate", OK, "no finished runs in the window")
    rate = result.error_rate
    state = CRITICAL if rate > th.crit_error_rate else WARNING if rate > th.warn_error_rate else OK
    limit = f"crit > {th.crit_error_rate:g}" if state == CRITICAL else f"warn > {th.warn_error_rate:g}"
    return Check("error_rate", state, f"error rate {rate:.2f} ({result.failed_runs}/{result.runs_considered} "
                                      f"runs failed; {limit})")


def needs_history(flow: Flow, th: Thresholds, now: datetime) -> bool:
    """Whether the bulk listing's runs are not enough to judge this flow."""
    if flow.history_complete or flow.status == "PAUSED" or flow.source_id is None:
        return False
    if th.window > len(flow.runs):
        return True
    if any(r.status == "SUCCESS" for r in flow.runs):
        return False
    oldest = flow.runs[-1].when
    # No success among the known runs: only look further back if it could change the verdict.
    return oldest is None or (now - oldest).total_seconds() <= 2 * th.max_age


def unchecked(flow_id, name, reason) -> FlowResult:
    return FlowResult(flow_id, name, "UNKNOWN", UNKNOWN, [Check("deadline", UNKNOWN, reason)])


# ---------------------------------------------------------------- alerts


ALERTING = (WARNING, CRITICAL)
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TEXT_LINES = 20


def load_alert_state(path: str, ctx) -> dict:
    """Last alerted state per flow id (str) from the state file; a broken file starts fresh."""
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        ctx.warn(f"state file {path} is unreadable ({exc.__class__.__name__}); starting fresh")
        return {}
    flows = doc.get("flows") if isinstance(doc, dict) else None
    return {str(k): v for k, v in flows.items() if isinstance(v, dict)} if isinstance(flows, dict) else {}


def plan_alerts(results, previous: dict, now: datetime, realert_after: float):
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
                "event": kind, "flow_id": result.flow_id, "name": result.name, "state": name,
                "previous_state": (before or {}).get("state", "OK"), "since": since,
                "reason": result.reason(),
            })
            state[key] = {"state": name, "since": since, "alerted_at": stamp, "name": result.name}
        elif result.state == OK and before is not None:
            events.append({
                "event": "recovery", "flow_id": result.flow_id, "name": result.name, "state": "OK",
                "previous_state": before.get("state"), "since": before.get("since"),
                "reason": result.reason(),
            })
            del state[key]
    return events, state


def alert_payload(events, summary) -> dict:
    problems = sum(e["event"] != "recovery" for e in events)
    recoveries = len(events) - problems
    parts = [f"{problems} problem{'s' * (problems != 1)}"] if problems else []
    if recoveries:
        parts.append(f"{recoveries} recover{'ies' if recoveries != 1 else 'y'}")
    lines = [f"Nexla health check: {', '.join(parts)} (overall {summary['state']})"]
    for event in events[:WEBHOOK_TEXT_LINES]:
        if event["event"] == "recovery":
            lines.append(f"RECOVERED flow {event['flow_id']} {event['name']} (was {event['previous_state']})")
        else:
            again = " (still failing)" if event["event"] == "realert" else ""
            lines.append(f"{event['state']} flow {event['flow_id']} {event['name']}{again}: {event['reason']}")
    if len(events) > WEBHOOK_TEXT_LINES:
        lines.append(f"... and {len(events) - WEBHOOK_TEXT_LINES} more")
    payload = {
        "text": "\n".join(lines),
        "source": "nexla-ops health_check",
        "checked_at": summary["checked_at"],
        "summary": {k: summary[k] for k in ("state", "counts", "flows")},
        "events": events,
    }
    # Reasons quote API text; never let a secret or a terminal escape ride along to a chat room.
    return nexla_ops.redact(payload)


def webhook_label(url: str) -> str:
    """Scheme and host only: chat webhook URLs carry their secret in the path."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/..."


def post_webhook(url: str, payload: dict, deadline: Deadline, ctx) -> bool:
    """POST the alert, retried briefly; a failure is logged and reported as False."""
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
    budget = max(2.0, min(10.0, deadline.remaining()))
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


def send_alerts(args, results, summary, now, deadline, ctx):
    """Post what changed; alerting problems are logged and never change the exit code."""
    previous = load_alert_state(args.state_file, ctx)
    events, new_state = plan_alerts(results, previous, now, args.realert_after)
    if not events:
        return
    if not post_webhook(args.alert_webhook, alert_payload(events, summary), deadline, ctx):
        return  # state unchanged: the same events are due again next run
    doc = {"version": 1, "updated_at": now.isoformat(), "flows": new_state}
    try:
        nexla_ops.write_atomic(args.state_file, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        ctx.warn(f"state file {args.state_file} not written ({exc.strerror}); these alerts will repeat")
        return
    ctx.debug(f"alert webhook: sent {len(events)} event(s)")


# ---------------------------------------------------------------- outputs


def summarize(results, started_at: datetime, duration: float, api_calls: int, incomplete: bool) -> dict:
    counts = {name: 0 for name in STATE_NAMES}
    for result in results:
        counts[STATE_NAMES[result.state]] += 1
    overall = worst(r.state for r in results) if results else UNKNOWN
    return {
        "state": STATE_NAMES[overall],
        "exit_code": overall,
        "flows": len(results),
        "counts": counts,
        "complete": not incomplete,
        "checked_at": started_at.isoformat(),
        "duration_seconds": round(duration, 3),
        "api_calls": api_calls,  # not counting the token fetch and retries
    }


def result_doc(result: FlowResult) -> dict:
    return {
        "flow_id": result.flow_id,
        "name": result.name,
        "status": result.status,
        "state": STATE_NAMES[result.state],
        "reason": result.reason(),
        "last_success_at": result.last_success_at,
        "error_rate": None if result.error_rate is None else round(result.error_rate, 4),
        "runs_considered": result.runs_considered,
        "failed_runs": result.failed_runs,
        "checks": [{"check": c.name, "state": STATE_NAMES[c.state], "message": c.message} for c in result.checks],
    }


COLOURS = {OK: "\033[32m", WARNING: "\033[33m", CRITICAL: "\033[31m", UNKNOWN: "\033[35m"}


def render_text(results, summary, notes, colour: bool) -> str:
    lines = []
    for result in results:
        label = f"{STATE_NAMES[result.state]:<8}"
        if colour:
            label = f"{COLOURS[result.state]}{label}\033[0m"
        lines.append(f"{label} {result.title}: {result.reason()}")
    lines.extend(notes)
    counts = summary["counts"]
    lines.append(
        f"{summary['state']}: {summary['flows']} flows checked in {summary['duration_seconds']:.2f}s: "
        + ", ".join(f"{counts[name]} {name.lower()}" for name in ("CRITICAL", "WARNING", "UNKNOWN", "OK"))
    )
    return "\n".join(lines) + "\n"


def render_json(results, summary, notes) -> str:
    doc = {"summary": summary, "notes": notes, "flows": [result_doc(r) for r in results]}
    return json.dumps(nexla_ops.to_jsonable(doc), indent=2) + "\n"


def render_nagios(results, summary, notes) -> str:
    counts = summary["counts"]
    worst_first = sorted((r for r in results if r.state != OK),
                         key=lambda r: (-SEVERITY[r.state], r.flow_id is None, r.flow_id or 0))
    detail = "; ".join(f"{STATE_NAMES[r.state]} {r.title}: {r.reason()}" for r in worst_first[:3])
    if len(worst_first) > 3:
        detail += f"; +{len(worst_first) - 3} more"
    text = f"{summary['flows']} flows: " + ", ".join(
        f"{counts[name]} {name.lower()}" for name in ("CRITICAL", "WARNING", "UNKNOWN", "OK"))
    if detail or notes:
        text += " - " + "; ".join([*notes, detail] if detail else notes)
    # Perfdata per the Nagios plugin guidelines: space-separated 'label=value[UOM]' pairs.
    perf = " ".join(f"{name.lower()}={counts[name]}" for name in STATE_NAMES)
    perf += f" duration={summary['duration_seconds']}s"
    # '|' separates perfdata, and a newline would start Nagios' long output: keep them out of text.
    text = text.replace("|", "/").replace("\n", " ")
    return f"NEXLA {summary['state']} - {text} | {perf}\n"


def render_prometheus(results, summary, finished_ts: float) -> str:
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
        ids = (str(result.flow_id), result.name)
        up.labels(*ids).set(1 if result.state == OK else 0)
        if result.last_success_at is not None:
            last_success.labels(*ids).set(result.last_success_at.timestamp())
        if result.error_rate is not None:
            error_rate.labels(*ids).set(result.error_rate)
        for code, name in enumerate(STATE_NAMES):
            state.labels(*ids, name).set(1 if code == result.state else 0)
    return generate_latest(registry).decode("utf-8")


# ---------------------------------------------------------------- talking to the API


class Api:
    """GETs under the shared retry policy, every attempt, wait and the token fetch fitted into
    what is left of the run's --timeout."""

    def __init__(self, ctx, deadline: Deadline):
        self.ctx = ctx
        self.deadline = deadline
        self.calls = 0
        self._count_lock = threading.Lock()

    def get(self, path: str, params: dict | None = None):
        with self._count_lock:
            self.calls += 1
        return self.ctx.request("GET", path, params=params, budget_ends=self.deadline.ends)


@dataclass
class Listing:
    flows: list
    projects: dict  # project id -> name
    credentials: dict  # credential id -> name
    complete: bool
    problem: str = ""


def list_flows(api: Api, ctx) -> Listing:
    """Every visible flow with its latest runs, one bulk page (100 flows) at a time.

    GET /flows returns one object per page, so paging stops on a short page. An error on the
    first page fails the run (UNKNOWN); a later one keeps what was read and marks it incomplete.
    """
    listing = Listing([], {}, {}, complete=False)
    page = 1
    while True:
        ctx.progress(f"listing flows: page {page}")
        try:
            body = api.get("/flows", {"include_run_metrics": 1, "page": page,
                                      "per_page": nexla_ops.PAGE_SIZE})
        except nexla_ops.OpsError as exc:
            if page == 1:
                raise
            listing.problem = f"flow listing stopped at page {page}: {exc.message}"
            return listing
        if not isinstance(body, dict) or not isinstance(body.get("flows"), list):
            raise nexla_ops.ApiError("GET /flows: unexpected response shape (expected an object with 'flows')")
        flows = flows_from_page(body)
        listing.flows.extend(flows)
        for project in body.get("projects") or []:
            if isinstance(project, dict) and project.get("id") is not None:
                listing.projects[project["id"]] = str(project.get("name") or "")
        for cred in body.get("data_credentials") or []:
            listing.credentials[cred.get("id")] = nexla_ops.redact(str(cred.get("name") or ""))
        if len(body["flows"]) < nexla_ops.PAGE_SIZE:
            listing.complete = True
            return listing
        page += 1


def fetch_history(api: Api, flow: Flow, th: Thresholds, now: datetime) -> tuple[list, bool]:
    """Older runs from the flow source's run summary (newest first), as far back as needed."""
    runs = {}
    for page in range(1, HISTORY_MAX_PAGES + 1):
        body = api.get(f"/data_sources/{flow.source_id}/metrics/run_summary",
                       {"page": page, "size": HISTORY_PAGE})
        rows = ((body or {}).get("metrics") or {}).get("data") or []
        for row in rows:
            run = run_from_metric(row)
            runs.setdefault(run.run_id, run)
        if len(rows) < HISTORY_PAGE:
            return _newest_first(runs.values()), True
        ordered = _newest_first(runs.values())
        enough = len(ordered) >= th.window
        oldest = ordered[-1].when
        settled = any(r.status == "SUCCESS" for r in ordered) or (
            oldest is not None and (now - oldest).total_seconds() > 2 * th.max_age)
        if enough and settled:
            return ordered, False
    return _newest_first(runs.values()), False


def probe_credential(api: Api, cred_id: int, name: str) -> tuple[int, str]:
    label = f"credential {cred_id}{f' ({name})' if name else ''}"
    try:
        api.get(f"/data_credentials/{cred_id}/probe")
    except nexla_ops.NotFound:
        return CRITICAL, f"{label} not found"
    except nexla_ops.AuthError as exc:
        return UNKNOWN, f"{label}: cannot probe ({exc.message})"
    except nexla_ops.ApiError as exc:
        reason = exc.message.rsplit(": ", 1)[-1]
        return CRITICAL, f"{label} probe failed: {reason}"
    return OK, f"{label} probe ok"


def run_bounded(tasks: dict, concurrency: int, deadline: Deadline) -> tuple[dict, dict]:
    """Run {key: fn} on at most `concurrency` threads until done or the deadline.

    Returns (results, errors); keys in neither were not finished in time.
    """
    results, errors = {}, {}
    if not tasks:
        return results, errors
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="health")
    futures = {pool.submit(fn): key for key, fn in tasks.items()}
    try:
        for future in as_completed(futures, timeout=deadline.remaining()):
            key = futures[future]
            try:
                results[key] = future.result()
            except nexla_ops.OpsError as exc:
                errors[key] = exc
    except FuturesTimeout:
        pass
    finally:
        # Queued work is dropped; running calls end on their own (their timeouts fit the budget).
        pool.shutdown(wait=False, cancel_futures=True)
    return results, errors


# ---------------------------------------------------------------- selection


def select(listing: Listing, args, defaults: Thresholds, targets, ctx):
    """[(Flow, Thresholds)] to check, plus results for configured resources not found."""
    expected_paused = set(args.expect_paused or [])
    missing = []
    if targets is not None:
        index = {}
        for flow in listing.flows:
            for resource in flow.resources:
                index.setdefault(resource, flow)
        chosen = {}
        for target in targets:
            flow = index.get((target.type, target.id))
            if flow is None:
                why = ("the flow listing stopped before it was found" if not listing.complete
                       else "not found in any flow visible to this key")
                missing.append(FlowResult(None, target.label, "UNKNOWN", UNKNOWN,
                                          [Check("selection", UNKNOWN, why)]))
            elif flow.flow_id in chosen:
                ctx.warn(f"config: {target.label} is in flow {flow.flow_id}, already selected by an "
                         "earlier entry; its settings are ignored")
            else:
                chosen[flow.flow_id] = (flow, target.thresholds)
        pairs = list(chosen.values())
    else:
        pairs = [(flow, defaults) for flow in listing.flows]
    if args.tag:
        wanted = set(args.tag)
        pairs = [(f, th) for f, th in pairs if f.tags & wanted]
    if args.project:
        ids = set()
        for project in args.project:
            if project.isascii() and project.isdigit():  # "²".isdigit() too; a name then
                ids.add(int(project))
            else:
                ids.update(pid for pid, name in listing.projects.items() if name == project)
        pairs = [(f, th) for f, th in pairs if f.project_id in ids]
    pairs = [(f, replace(th, expect_paused=True) if f.flow_id in expected_paused else th) for f, th in pairs]
    return sorted(pairs, key=lambda pair: pair[0].flow_id), missing


# ---------------------------------------------------------------- the check


def check(args, ctx, deadline: Deadline, defaults: Thresholds, targets) -> int:
    started_at = datetime.now(timezone.utc)
    api = Api(ctx, deadline)
    listing = list_flows(api, ctx)
    now = datetime.now(timezone.utc)
    pairs, missing = select(listing, args, defaults, targets, ctx)

    tasks = {}
    for flow, th in pairs:
        if needs_history(flow, th, now):
            tasks[("history", flow.flow_id)] = lambda f=flow, t=th: fetch_history(api, f, t, now)
    if args.probe_credentials:
        for cred_id in sorted({c for flow, _ in pairs for c in flow.credential_ids}):
            name = listing.credentials.get(cred_id, "")
            tasks[("credential", cred_id)] = lambda c=cred_id, n=name: probe_credential(api, c, n)
    if tasks:
        ctx.progress(f"checking {len(tasks)} flow(s) and credential(s) individually")
    done, failed = run_bounded(tasks, args.concurrency, deadline)
    credentials = None
    if args.probe_credentials:
        credentials = {key[1]: value for key, value in done.items() if key[0] == "credential"}
        for key, exc in failed.items():
            if key[0] == "credential":
                credentials[key[1]] = (UNKNOWN, f"credential {key[1]}: {exc.message}")

    results = list(missing)
    for flow, th in pairs:
        key = ("history", flow.flow_id)
        if key in failed:
            results.append(FlowResult(flow.flow_id, flow.name, flow.status, UNKNOWN,
                                      [Check("history", UNKNOWN, f"run history: {failed[key].message}")]))
            continue
        if key in tasks and key not in done:
            results.append(unchecked(flow.flow_id, flow.name,
                                     f"not checked before the --timeout of {deadline.seconds:g}s"))
            continue
        if key in done:
            flow.runs, flow.history_complete = done[key]
        results.append(evaluate(flow, th, now, credentials))
    results.sort(key=lambda r: (r.flow_id is None, r.flow_id or 0, r.name))

    notes = [listing.problem] if listing.problem else []
    if not results and not notes:
        notes.append("no flows matched the selection")
    duration = deadline.elapsed()
    summary = summarize(results, started_at, duration, api.calls, incomplete=bool(listing.problem))
    if notes:  # an incomplete listing or an empty selection cannot be reported as fine
        overall = worst([summary["exit_code"], UNKNOWN]) if results else UNKNOWN
        summary["state"], summary["exit_code"] = STATE_NAMES[overall], overall
    ctx.progress_done()
    write_output(args, results, summary, notes)
    if args.alert_webhook:
        send_alerts(args, results, summary, now, deadline, ctx)
    return summary["exit_code"]


def write_output(args, results, summary, notes):
    if args.format == "json":
        text = render_json(results, summary, notes)
    elif args.format == "nagios":
        text = nexla_ops.redact_text(render_nagios(results, summary, notes))
    elif args.format == "prometheus":
        text = render_prometheus(results, summary, time.time())
    else:
        colour = not args.output and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        text = nexla_ops.redact_text(render_text(results, summary, notes, colour))
    if args.output:
        nexla_ops.write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


# ---------------------------------------------------------------- CLI


class NagiosArgumentParser(argparse.ArgumentParser):
    """Usage errors exit 3 (UNKNOWN): exit 2 would page someone as CRITICAL."""

    def error(self, message):
        self.exit(UNKNOWN, f"{self.prog}: error: UNKNOWN: {message} (see --help)\n")


def _positive(kind, minimum=0.0):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < minimum or (minimum == 0 and kind is float and value <= 0):
            raise argparse.ArgumentTypeError(f"expected a value >= {minimum}, got {text!r}")
        return value
    return parse


def _duration_arg(text):
    try:
        return float(nexla_ops.parse_duration(text))
    except nexla_ops.OpsError:
        raise argparse.ArgumentTypeError(f"expected a duration like 90, 30m, 24h or 1d, got {text!r}") from None


def _rate_arg(text):
    try:
        return _rate(text, "rate")
    except ConfigProblem:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = NagiosArgumentParser(
        prog="health_check.py",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    select_group = parser.add_argument_group("which flows")
    select_group.add_argument("--config", metavar="FILE",
                              help="JSON/YAML file listing resources to watch, with per-resource settings")
    select_group.add_argument("--all", action="store_true", help="every flow this key can see")
    select_group.add_argument("--tag", action="append", metavar="TAG",
                              help="only flows with a resource carrying this tag (repeatable)")
    select_group.add_argument("--project", action="append", metavar="ID|NAME",
                              help="only flows in this project (repeatable)")
    select_group.add_argument("--expect-paused", action="append", type=int, metavar="FLOW_ID",
                              help="this flow is meant to be paused: PAUSED is OK (repeatable)")

    limits = parser.add_argument_group("thresholds")
    limits.add_argument("--max-age", type=_duration_arg, default=24 * 3600.0, metavar="DURATION",
                        help="last successful run older than this is WARNING, twice this CRITICAL (default 24h)")
    limits.add_argument("--warn-error-rate", "--threshold", dest="warn_error_rate", type=_rate_arg,
                        default=0.1, metavar="RATE",
                        help="failed/finished runs in the window above this is WARNING (default 0.1); "
                             "--threshold is the same flag")
    limits.add_argument("--crit-error-rate", type=_rate_arg, default=0.25, metavar="RATE",
                        help="error rate above this is CRITICAL (default 0.25)")
    limits.add_argument("--window", type=_positive(int, 1), default=10, metavar="N",
                        help="error rate over the flow's last N runs (default 10)")
    limits.add_argument("--stall-runs", type=_positive(int, 0), default=3, metavar="N",
                        help="WARNING when the last N finished runs moved zero records (default 3, 0 = off)")
    limits.add_argument("--stuck-after", type=_duration_arg, default=2 * 3600.0, metavar="DURATION",
                        help="a run in progress longer than this is WARNING, twice this CRITICAL (default 2h)")
    limits.add_argument("--probe-credentials", action="store_true",
                        help="also probe each credential the flows use (one call per credential)")

    speed = parser.add_argument_group("time and concurrency")
    # The whole run's budget, so the shared per-request --timeout is left out (NEXLA_TIMEOUT
    # still sets the per-request limit).
    speed.add_argument("--timeout", dest="check_timeout", type=_positive(float), default=60.0, metavar="S",
                       help="total seconds for the whole check; what is unchecked by then is UNKNOWN (default 60)")
    speed.add_argument("--concurrency", type=_positive(int, 1), default=8, metavar="N",
                       help="parallel per-flow calls when the bulk listing is not enough (default 8)")

    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("text", "json", "nagios", "prometheus"), default="text",
                     help="text (default): a line per flow and a summary; json; nagios: one status line "
                          "with perfdata; prometheus: textfile-collector metrics")
    out.add_argument("--json", dest="format", action="store_const", const="json",
                     help="same as --format json")
    out.add_argument("--output", metavar="FILE",
                     help="write the report to FILE atomically instead of stdout (e.g. a .prom file)")

    alerts = parser.add_argument_group("alerts and cron")
    alerts.add_argument("--alert-webhook", metavar="URL",
                        help="POST a Slack-compatible JSON message when a flow's state changes")
    alerts.add_argument("--state-file", default=".nexla-health-state.json", metavar="PATH",
                        help="where alert state is kept between runs (default .nexla-health-state.json)")
    alerts.add_argument("--realert-after", type=_duration_arg, default=4 * 3600.0, metavar="DURATION",
                        help="repeat an alert for a flow still failing after this long (default 4h)")
    alerts.add_argument("--lock-file", metavar="PATH",
                        help="lock against overlapping runs (default: the state file + .lock)")
    alerts.add_argument("--lock-wait", type=_positive(float, 0), default=0.0, metavar="S",
                        help="wait up to S seconds for a running check to finish (default 0: exit 3 at once)")
    nexla_ops.add_common_args(parser, json_flag=False, timeout_flag=False)
    return parser


def thresholds_from_args(args) -> Thresholds:
    th = Thresholds(max_age=args.max_age, warn_error_rate=args.warn_error_rate,
                    crit_error_rate=args.crit_error_rate, window=args.window,
                    stall_runs=args.stall_runs, stuck_after=args.stuck_after)
    check_rates(th, "--crit-error-rate")
    return th


def arm_watchdog(args):
    """Last resort for cron: end the process if something blocks past --timeout."""

    def fire():
        message = f"health check still running {WATCHDOG_GRACE:g}s past its --timeout; giving up"
        if args.format == "nagios" and not args.output:
            sys.stdout.write(f"NEXLA UNKNOWN - {message}\n")
            sys.stdout.flush()
        sys.stderr.write(f"health_check.py: error: {message}\n")
        sys.stderr.flush()
        os._exit(UNKNOWN)

    timer = threading.Timer(args.check_timeout + WATCHDOG_GRACE, fire)
    timer.daemon = True
    timer.start()
    return timer


def run(args, ctx) -> int:
    deadline = Deadline(args.check_timeout)
    watchdog = arm_watchdog(args) if args.watchdog else None
    try:
        if not (args.config or args.all or args.tag or args.project):
            raise ConfigProblem("choose the flows: --config FILE, --all, --tag TAG or --project ID")
        if args.config and args.all:
            raise ConfigProblem("--config and --all: choose one")
        defaults = thresholds_from_args(args)
        targets = load_config(args.config, defaults) if args.config else None
        lock_path = args.lock_file or f"{args.state_file}.lock"
        # The lock keeps overlapping cron runs from checking (and alerting) twice.
        try:
            lock = nexla_ops.lock_file(lock_path, wait=min(args.lock_wait, args.check_timeout))
        except OSError as exc:
            raise ConfigProblem(f"--lock-file {lock_path}: cannot open ({exc.strerror})") from None
        except nexla_ops.LockBusy:
            raise ConfigProblem(f"another check is running (lock {lock_path} is held)") from None
        with lock:
            return check(args, ctx, deadline, defaults, targets)
    except ConfigProblem as exc:
        return cannot_check(args, ctx, str(exc))
    except nexla_ops.OpsError as exc:
        # Unreachable API, rejected key, missing config: the check could not run at all.
        return cannot_check(args, ctx, exc.message)
    except Exception as exc:
        # Anything unforeseen is still UNKNOWN for Nagios (the shared wrapper would say 1 =
        # WARNING); it keeps printing one line, and the traceback under --debug.
        err = nexla_ops.translate(exc, "the health check")
        raise nexla_ops.OpsError(f"UNKNOWN: {err.message}", exit_code=UNKNOWN) from exc
    finally:
        if watchdog is not None:
            watchdog.cancel()


def cannot_check(args, ctx, message: str) -> int:
    """One line on stderr; Nagios also needs its status line on stdout, or it shows no output."""
    ctx.progress_done()
    message = nexla_ops.one_line(nexla_ops.redact_text(message))
    nexla_ops.logger.error("UNKNOWN: %s", message)
    if args.format == "nagios" and not args.output:
        sys.stdout.write(f"NEXLA UNKNOWN - {message.replace('|', '/')}\n")
    return UNKNOWN


def main(argv=None, *, watchdog: bool = False) -> int:
    parser = build_parser()
    parser.set_defaults(watchdog=watchdog)
    return nexla_ops.main_wrapper(run, parser, argv)


if __name__ == "__main__":
    sys.exit(main(watchdog=True))
