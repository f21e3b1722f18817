"""Check the health of Nexla flows, for cron, Nagios, Prometheus and chat alerts.

One bulk listing (GET /flows?include_run_metrics=1, 100 flows a page) gives every flow's status
and its latest runs. Per-flow calls happen only when that is not enough (a --window longer than
the listing's run history, a last success older than it, --probe-credentials) and run with
bounded concurrency. --credentials also judges each credential the flows use, once, from the
credential listing (or a probe), naming the flows a failing one breaks. --deployments DIR also
(or only) checks deployment files for drift.
Exit codes follow Nagios, not the other scripts: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nexla_ops
from nexla_ops.health.budget import Deadline, arm_watchdog
from nexla_ops.health.deployments import deployment_files
from nexla_ops.health.flags import (
    add_credential_args,
    credential_settings,
    duration_arg,
    rate_arg,
    webhook_url_arg,
)
from nexla_ops.health.guide import EXAMPLES
from nexla_ops.health.model import NAGIOS_KINDS, UNKNOWN
from nexla_ops.health.settings import ConfigProblem, Thresholds, check_rates, load_config
from nexla_ops.parsing import id_flag, number_flag
from nexla_ops.stopping import Terminated, cleanup


class NagiosArgumentParser(argparse.ArgumentParser):
    """Usage errors exit 3 (UNKNOWN): exit 2 would page someone as CRITICAL."""

    def error(self, message):
        self.exit(UNKNOWN, f"{self.prog}: error: UNKNOWN: {message} (see --help)\n")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = NagiosArgumentParser(
        prog=prog or "health_check.py",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    select_group = parser.add_argument_group("which flows")
    select_group.add_argument("--config", metavar="FILE",
                              help="JSON/YAML file listing resources to watch, with per-resource settings")
    select_group.add_argument("--all", action="store_true", help="every flow this key can see")
    select_group.add_argument("--flow", action="append", type=id_flag, metavar="ID",
                              help="this flow (its id, as list_resources shows it); repeatable")
    select_group.add_argument("--tag", action="append", metavar="TAG",
                              help="only flows with a resource carrying this tag (repeatable)")
    select_group.add_argument("--project", action="append", metavar="ID|NAME",
                              help="only flows in this project (repeatable)")
    select_group.add_argument("--expect-paused", action="append", type=id_flag, metavar="FLOW_ID",
                              help="this flow is meant to be paused: PAUSED is OK (repeatable)")
    select_group.add_argument("--deployments", metavar="DIR",
                              help="also (or alone): each deployment file in DIR (*.json, *.yaml, *.yml), "
                                   "read-only: in sync OK, drifted WARNING, uncheckable UNKNOWN")

    limits = parser.add_argument_group("thresholds")
    limits.add_argument("--max-age", type=duration_arg, default=24 * 3600.0, metavar="DURATION",
                        help="last successful run older than this is WARNING, twice this CRITICAL (default 24h)")
    limits.add_argument("--warn-error-rate", "--threshold", dest="warn_error_rate", type=rate_arg,
                        default=0.1, metavar="RATE",
                        help="failed/finished runs in the window above this is WARNING (default 0.1); "
                             "--threshold is the same flag")
    limits.add_argument("--crit-error-rate", type=rate_arg, metavar="RATE",
                        help="error rate above this is CRITICAL (default 0.25, or the warning "
                             "rate when that is higher, so --threshold 0.5 works on its own)")
    limits.add_argument("--window", type=number_flag(int, 1), default=10, metavar="N",
                        help="error rate over the flow's last N runs (default 10)")
    limits.add_argument("--stall-runs", type=number_flag(int, 0), default=3, metavar="N",
                        help="WARNING when the last N finished runs moved zero records (default 3, 0 = off)")
    limits.add_argument("--stuck-after", type=duration_arg, default=2 * 3600.0, metavar="DURATION",
                        help="a run in progress longer than this is WARNING, twice this CRITICAL (default 2h)")
    limits.add_argument("--probe-credentials", action="store_true",
                        help="also probe each credential the flows use (one call per credential); "
                             "with --credentials the probe, not verified_status, gives its verdict")

    add_credential_args(parser)

    speed = parser.add_argument_group("time and concurrency")
    # The whole run's budget, so the shared per-request --timeout is left out (NEXLA_TIMEOUT
    # still sets the per-request limit).
    speed.add_argument("--timeout", dest="check_timeout", type=number_flag(float, 0, above=True),
                       default=60.0, metavar="S",
                       help="total seconds for the whole check; what is unchecked by then is UNKNOWN (default 60)")
    speed.add_argument("--concurrency", type=number_flag(int, 1, maximum=64), default=8,
                       metavar="N", help="requests in flight at once: listing pages, and the "
                                         "per-flow calls the bulk listing leaves (1-64, default 8)")

    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("text", "json", "nagios", "prometheus"), default="text",
                     help="text (default): a line per flow and a summary; json; nagios: one status line "
                          "with perfdata; prometheus: textfile-collector metrics")
    out.add_argument("--json", dest="format", action="store_const", const="json",
                     help="same as --format json")
    out.add_argument("--output", metavar="FILE",
                     help="write the report to FILE atomically instead of stdout (e.g. a .prom file)")

    alerts = parser.add_argument_group("alerts and cron")
    alerts.add_argument("--alert-webhook", metavar="URL", type=webhook_url_arg,
                        help="POST a Slack-compatible JSON message when a flow's state changes")
    alerts.add_argument("--state-file", metavar="PATH",
                        help="where alert state is kept between runs (default: one file per API "
                             "URL in the per-user state directory, $XDG_STATE_HOME/nexla-ops/health)")
    alerts.add_argument("--realert-after", type=duration_arg, default=4 * 3600.0, metavar="DURATION",
                        help="repeat an alert for a flow still failing after this long (default 4h)")
    alerts.add_argument("--lock-file", metavar="PATH",
                        help="lock against overlapping runs (default: the state file + .lock)")
    alerts.add_argument("--lock-wait", type=number_flag(float, 0), default=0.0, metavar="S",
                        help="wait up to S seconds for a running check to finish (default 0: exit 3 at once)")
    nexla_ops.add_common_args(parser, json_flag=False, timeout_flag=False)
    return parser


DEFAULT_CRIT_ERROR_RATE = 0.25


def thresholds_from_args(args) -> Thresholds:
    crit = args.crit_error_rate
    if crit is None:  # derived, so a warning rate alone never conflicts with the default
        crit = max(DEFAULT_CRIT_ERROR_RATE, args.warn_error_rate)
    th = Thresholds(max_age=args.max_age, warn_error_rate=args.warn_error_rate,
                    crit_error_rate=crit, window=args.window,
                    stall_runs=args.stall_runs, stuck_after=args.stuck_after)
    check_rates(th, "--crit-error-rate")
    return th


def run(args, ctx) -> int:
    deadline = Deadline(args.check_timeout)
    watchdog = None
    if args.watchdog:
        watchdog = arm_watchdog(args.check_timeout, prog=args.prog,
                                nagios_stdout=args.format == "nagios" and not args.output)
    try:
        flows = bool(args.config or args.all or args.tag or args.project or args.flow)
        if not (flows or args.deployments):
            raise ConfigProblem("choose the flows: --config FILE, --all, --flow ID, --tag TAG "
                                "or --project ID; or the deployments: --deployments DIR")
        if args.config and args.all:
            raise ConfigProblem("--config and --all: choose one")
        credentials = credential_settings(args, flows)
        nexla_ops.check_output_path(args.output)
        files = deployment_files(args.deployments) if args.deployments else None
        defaults = thresholds_from_args(args)
        targets = load_config(args.config, defaults) if args.config else None
        from nexla_ops.health.alerts import default_state_file

        args.state_file = args.state_file or default_state_file(ctx.target)
        lock_path = args.lock_file or f"{args.state_file}.lock"
        # The lock keeps overlapping cron runs from checking (and alerting) twice.
        try:
            if not args.lock_file:
                Path(lock_path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = nexla_ops.lock_file(lock_path, wait=min(args.lock_wait, args.check_timeout))
        except OSError as exc:
            raise ConfigProblem(f"--lock-file {lock_path}: cannot open ({exc.strerror})") from None
        except nexla_ops.LockBusy:
            raise ConfigProblem(f"another check is running (lock {lock_path} is held)") from None
        with lock:
            return check(args, ctx, deadline, defaults, targets, flows, files, credentials)
    except ConfigProblem as exc:
        return cannot_check(args, ctx, str(exc))
    except nexla_ops.OpsError as exc:
        # Unreachable API, rejected key, missing config: the check could not run at all.
        return cannot_check(args, ctx, exc.message)
    except Terminated:  # SIGTERM (cli raises it): UNKNOWN, as Nagios reads any unfinished check
        return cannot_check(args, ctx, "terminated (SIGTERM)")
    except Exception as exc:
        # Anything unforeseen is still UNKNOWN for Nagios (the shared wrapper would say 1 =
        # WARNING); it keeps printing one line, and the traceback under --debug.
        err = nexla_ops.translate(exc, "the health check")
        raise nexla_ops.OpsError(f"UNKNOWN: {err.message}", exit_code=UNKNOWN) from exc
    finally:
        if watchdog is not None:
            watchdog.cancel()


def check(args, ctx, deadline: Deadline, defaults: Thresholds, targets, flows, files,
          credentials=None) -> int:
    """Flows (if `flows`) and deployment `files`, the report, then the alerts; the Nagios code."""
    # The run's modules load here, not at import: --help stays fast.
    from nexla_ops.health.alerts import WebhookSettings, send_alerts
    from nexla_ops.health.runner import Selection, run_checks

    selection = Selection(tags=args.tag, projects=args.project, flows=args.flow,
                          expect_paused=args.expect_paused,
                          probe_credentials=args.probe_credentials, concurrency=args.concurrency,
                          credentials=credentials)
    report = run_checks(ctx, deadline, defaults, targets, selection, flows=flows,
                        deployment_files=files)
    write_output(args, report)
    if args.alert_webhook:
        webhook = WebhookSettings(args.alert_webhook, args.state_file, args.realert_after)
        with cleanup():  # the report is out: a SIGTERM now waits for the alerts it announced
            send_alerts(report.results, report.summary, webhook=webhook, now=report.now,
                        ctx=ctx, deadline=deadline)
    return report.exit_code


def write_output(args, report):
    colour = (args.format not in ("json", "nagios", "prometheus") and not args.output
              and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    from nexla_ops.health.outputs import render

    text = render(args.format, report.results, report.summary, report.notes, colour=colour,
                  deployments=report.deployments, credentials=report.credentials)
    if args.output:
        nexla_ops.write_output(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def cannot_check(args, ctx, message: str) -> int:
    """One line on stderr; Nagios also needs its status line on stdout, or it shows no output."""
    ctx.progress_done()
    message = nexla_ops.one_line(nexla_ops.redact_text(message))
    nexla_ops.logger.error("UNKNOWN: %s", message)
    if args.format == "nagios" and not args.output:
        sys.stdout.write(f"NEXLA UNKNOWN - {message.replace('|', '/')}\n")
    return UNKNOWN


def main(argv=None, *, prog: str | None = None, watchdog: bool | None = None) -> int:
    """Run the check; the Nagios code. `watchdog` ends the process if the run hangs past
    --timeout: on for scripts/health_check.py and `nexla-ops health-check` (prog given), off
    by default for in-process callers."""
    parser = build_parser(prog)
    parser.set_defaults(watchdog=prog is not None if watchdog is None else watchdog,
                        prog=parser.prog)
    return nexla_ops.main_wrapper(run, parser, argv, failure_kinds=NAGIOS_KINDS)
