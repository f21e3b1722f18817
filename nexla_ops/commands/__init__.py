"""``nexla-ops <command>``: one console entry point over every command.

Each command is a module here holding its argparse shell: ``build_parser(prog=None)`` and
``main(argv=None, *, prog=None)``. ``scripts/<module>.py`` runs the same ``main``, so
``python scripts/health_check.py --all`` and ``nexla-ops health-check --all`` are one program.
Only the chosen command's module is imported, so ``nexla-ops --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys

# subcommand -> (module in this package, one line for the listing). The subcommand is the
# script's name with "_" as "-" (and without the "nexla_" prefix).
COMMANDS = {
    "quickstart": ("nexla_quickstart", "check config, connectivity and auth; who you are"),
    "list-resources": ("list_resources", "complete, filterable listing of any resource type"),
    "get-resource-logs": ("get_resource_logs", "a run's logs, error summaries, follow mode"),
    "deploy-flow": ("deploy_flow", "declarative, idempotent plan/apply of a flow, with rollback"),
    "export-flow": ("export_flow", "existing flows as deploy-flow configs (flows as code)"),
    "flow-metrics": ("flow_metrics", "daily records/errors, run p50/p95 and SLA attainment; "
                                     "chart, HTML"),
    "manage-access": ("manage_access", "grant, revoke, set, list and audit accessors"),
    "triage": ("triage", "what is broken right now, ranked, with next steps (read-only)"),
    "health-check": ("health_check", "cron-ready flow monitor (Nagios exit codes)"),
    "retry-helpers": ("retry_helpers", "describe the retry policy; re-run a command while it "
                                       "exits 6"),
    "batch-operations": ("batch_operations", "pause/activate/delete/tag/update/copy many "
                                             "resources, resumable"),
    "rotate-credential": ("rotate_credential", "move sources and destinations to a new "
                                               "credential, with roll-back"),
    "check-nexset": ("check_nexset", "schema drift against a baseline and data-quality rules "
                                     "on samples (Nagios exit codes)"),
    "migrate-nexset": ("migrate_nexset", "move destinations to a new derived nexset: plan, "
                                         "validate, switch, verify, roll back"),
    "validate-transform": ("validate_transform", "run a transform on a nexset's samples and "
                                                 "diff"),
    "push-webhook": ("push_webhook", "send records from a file to a webhook source, resumable"),
    "async-task": ("async_task", "start an async task, wait for it, fetch the result"),
    "mcp": ("nexla_mcp", "serve the commands to an agent over MCP (stdio), with scopes and "
                   "plan-bound writes"),
    "contract-check": ("contract_check", "check the API's answers against the published "
                                         "reference and SDK 1.0.8 (read-only)"),
}


_dispatched = False  # True once main() below runs a command: suggestions then use its form


def command_line(module: str) -> str:
    """How to run the command in `module` the way the user ran this one: `nexla-ops x` under
    the nexla-ops command, `python scripts/x.py` from a checkout."""
    if _dispatched:
        return f"nexla-ops {module.removeprefix('nexla_').replace('_', '-')}"
    return f"python scripts/{module}.py"


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: nexla-ops <command> [options]   (nexla-ops <command> --help for more)",
             "", "Operate production Nexla data pipelines. Commands:"]
    lines += [f"  {name.ljust(width)}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Each command is also scripts/<module>.py in a checkout (deploy-flow is "
              "scripts/deploy_flow.py).", "Exit codes: 0 ok, 1 failed, 2 bad input, "
              "3 configuration, 4 auth, 5 not found, 6 transient, 7 partial;",
              "health-check uses Nagios codes (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    global _dispatched
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        try:
            print(usage(), flush=True)
        except BrokenPipeError:  # `nexla-ops --help | head`: the reader is gone, stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0 if args else 2
    name = args[0]
    if name == "--version":
        from importlib.metadata import version

        print(f"nexla-ops {version('nexla-ops')}")
        return 0
    entry = COMMANDS.get(name) or COMMANDS.get(name.replace("_", "-").removeprefix("nexla-"))
    if entry is None:
        sys.stderr.write(f"nexla-ops: unknown command {name[:60]!r}; expected one of "
                         f"{', '.join(COMMANDS)}\n")
        return 2
    module = importlib.import_module(f"{__name__}.{entry[0]}")
    _dispatched = True
    return module.main(args[1:], prog=f"nexla-ops {name}")
