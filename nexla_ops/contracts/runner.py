"""check_nexset.py's run: read, judge, report, alert; the Nagios exit code.

Bad input (flags, baseline and rules files) is refused before the first request (exit 2). A
check that cannot run at all (configuration, auth, the API down) is UNKNOWN (exit 3), with
Nagios' status line on stdout when it expects one; a nexset that cannot be read is UNKNOWN
on its own line while the others are still judged.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import nexla_ops
from nexla_ops.health.model import UNKNOWN
from nexla_ops.stopping import cleanup


def summarize(results, started_at: datetime, duration: float, api_calls: int,
              complete: bool) -> dict:
    from nexla_ops.health.checks import summarize as summarize_flows

    summary = summarize_flows(results, started_at, duration, api_calls, not complete)
    summary["nexsets"] = summary.pop("flows")
    return summary


def default_state_file(api_url: str, check: str) -> str:
    """Alert state per target and check in the per-user state directory (as health_check's)."""
    return str(nexla_ops.target_path("contracts", api_url, f"{check}-alerts", suffix=".json"))


def cannot_check(args, message: str) -> int:
    message = nexla_ops.one_line(nexla_ops.redact_text(message))
    nexla_ops.logger.error("UNKNOWN: %s", message)
    if args.format == "nagios" and not args.output:
        sys.stdout.write(f"NEXLA UNKNOWN - {message.replace('|', '/')}\n")
    return UNKNOWN


def _prepare(args):
    """What the check needs from disk, read and validated before anything is sent."""
    if args.check == "schema":
        from . import schema_check

        return schema_check.prepare(args)
    from . import quality

    return quality.prepare(args)


def _check(args, ctx, api, deadline, prepared):
    if args.check == "schema":
        from . import schema_check

        return schema_check.check(args, ctx, api, deadline, prepared)
    from . import quality

    return quality.check(args, ctx, api, deadline, prepared)


def print_rules_schema(args) -> int:
    from . import rules

    text = nexla_ops.dumps(rules.json_schema()) + "\n"
    if args.output:
        nexla_ops.write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def run(args, ctx) -> int:
    from nexla_ops.health.budget import Deadline
    from nexla_ops.health.observe import Api

    if args.check == "quality" and args.print_schema:
        return print_rules_schema(args)
    deadline = Deadline(args.check_timeout)
    nexla_ops.check_output_path(args.output)
    prepared = _prepare(args)
    api_url = ctx.target  # a configuration problem ends the run here, not per nexset
    started = datetime.now(timezone.utc)
    api = Api(ctx, deadline)
    try:
        results, notes, complete = _check(args, ctx, api, deadline, prepared)
    except nexla_ops.BadInput:
        raise
    except nexla_ops.OpsError as exc:
        ctx.progress_done()
        return cannot_check(args, exc.message)
    ctx.progress_done()
    summary = summarize(results, started, deadline.elapsed(), api.calls, complete)
    write_report(args, results, summary, notes)
    if args.alert_webhook:
        send(args, ctx, results, summary, deadline, api_url)
    return summary["exit_code"]


def write_report(args, results, summary, notes) -> None:
    from .report import render

    colour = (args.format == "text" and not args.output and sys.stdout.isatty()
              and not os.environ.get("NO_COLOR"))
    text = render(args.format, results, summary, notes, check=args.check, colour=colour)
    if args.output:
        nexla_ops.write_output(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def send(args, ctx, results, summary, deadline, api_url: str) -> None:
    """health_check's alerts, keyed by nexset id in this check's own state file; a lock keeps
    two overlapping runs from alerting twice (the second skips its alerts and says so)."""
    from nexla_ops.health.alerts import WebhookSettings, send_alerts

    state_file = args.state_file or default_state_file(api_url, args.check)
    webhook = WebhookSettings(args.alert_webhook, state_file, args.realert_after,
                              title=f"Nexla nexset {args.check} check",
                              source=f"nexla-ops check_nexset {args.check}", subject="nexset")
    lock_path = f"{state_file}.lock"
    try:
        os.makedirs(os.path.dirname(lock_path) or ".", mode=0o700, exist_ok=True)
        lock = nexla_ops.lock_file(lock_path, wait=min(5.0, deadline.remaining()))
    except (OSError, nexla_ops.LockBusy) as exc:
        ctx.warn(f"alerts not sent: the alert state {lock_path} is busy or unusable ({exc}); "
                 "they are due again next run")
        return
    with lock, cleanup():  # the report is out: a SIGTERM now waits for the alerts it announced
        send_alerts(results, summary, webhook=webhook, now=datetime.now(timezone.utc), ctx=ctx,
                    deadline=deadline)
