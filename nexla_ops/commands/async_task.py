"""Start a Nexla async task, wait for it with backoff, and fetch its result.

Async tasks (POST /async_tasks) run server-side: bulk pauses of flows, bulk deletes of
notifications, credential probes, audit-log reads and the like (`types` lists the server's). A
task goes pending -> running -> completed (with a result) or failed (with an error). This script
starts one, polls it with exponential backoff until it finishes or --wait-timeout passes, and
prints the task and its result. wait_for_task(ctx, task_id, timeout) is importable for other
scripts.

Exit codes: 0 completed; 1 the task failed (its error is printed), or the server refused it
(an unknown type: the types it accepts are printed); 2 bad input; 5 no such task; 6 still
not finished when --wait-timeout passed (the task keeps running: wait again with `wait --id
N`), or the API stayed unavailable.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag, number_flag
from nexla_ops.tasks import DEFAULT_WAIT_TIMEOUT, FIRST_POLL_S

EXAMPLES = """examples:
  # pause flows 1001 and 1002 server-side and wait (up to 10 minutes) for the result
  python scripts/async_task.py start --type BulkPauseFlows --arguments '{"ids": [1001, 1002]}' --wait
  # arguments from a file (args.json: {"resource_type": "data_sources", "resource_id": 123});
  # show what would be sent, send nothing (it reads the server's task types to check --type)
  python scripts/async_task.py start --type GetAuditLogs --arguments @args.json --dry-run
  # probe credential 11 as a task; --json prints one document
  python scripts/async_task.py start --type CallProbe --arguments '{"id": 11}' --wait --json
  # the task types the server accepts
  python scripts/async_task.py types
  # wait for a task started earlier, at most 2 minutes
  python scripts/async_task.py wait --id 701 --wait-timeout 2m --json
  # one look at a task, no waiting
  python scripts/async_task.py status --id 701
  # the result of a finished task
  python scripts/async_task.py result --id 701 --json

exit codes: 0 completed, 1 task failed (error printed) or the server refused the task (an
  unknown type: the types it accepts are printed), 2 bad input, 5 no such task,
  6 not finished within --wait-timeout (it keeps running; wait again with `wait --id N`)
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    waiting = common.add_argument_group("waiting")
    waiting.add_argument("--wait-timeout", default=DEFAULT_WAIT_TIMEOUT, metavar="DURATION",
                         help="stop waiting after this long, e.g. 90, 30s, 10m "
                              f"(default {DEFAULT_WAIT_TIMEOUT}); then exit 6. (--timeout is "
                              "the per-HTTP-request limit)")
    waiting.add_argument("--poll-max", type=number_flag(float, 0, above=True), default=10.0,
                         metavar="S",
                         help="longest pause between polls; polls start at "
                              f"{FIRST_POLL_S}s and grow x1.5 (default 10)")
    nexla_ops.add_common_args(common)

    parser = argparse.ArgumentParser(
        prog=prog or "async_task.py",
        description="Start a Nexla async task, wait for it with backoff, fetch its result.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = commands.add_parser("start", parents=[common], help="start a task (POST)",
                                epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    start.add_argument("--type", required=True,
                       help="task type, e.g. BulkPauseFlows, GetAuditLogs or CallProbe; "
                            "`async_task.py types` lists the server's")
    start.add_argument("--arguments", default="{}", metavar="JSON|@FILE",
                       help="the task's arguments: a JSON object, or @file (JSON/YAML)")
    start.add_argument("--priority", type=number_flag(int, 0), help="task priority (optional)")
    start.add_argument("--wait", action="store_true",
                       help="wait for the task to finish and print its result")
    start.add_argument("--dry-run", action="store_true",
                       help="print the request that would be sent and check --type against the "
                            "server's list (a read); write nothing")
    commands.add_parser("types", parents=[common], epilog=EXAMPLES,
                        help="list the task types the server accepts (GET /async_tasks/types)",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, text in (("wait", "wait for a task to finish, then print its result"),
                       ("status", "print a task's current state (no waiting)"),
                       ("result", "print a finished task's result")):
        sub = commands.add_parser(name, parents=[common], help=text, epilog=EXAMPLES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--id", type=id_flag, required=True, help="task id")
    return parser


def run(args, ctx) -> int:
    from nexla_ops import tasks

    return tasks.run(args, ctx)


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
