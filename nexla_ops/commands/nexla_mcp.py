"""Serve nexla-ops to an agent over MCP (stdio), with a permission ceiling and plan-bound writes.

Read tools (whoami, list_resources, get_logs, health, triage, flow_metrics, validate_transform,
export_flow) answer with the same JSON documents as the commands' --json. Writes take two
calls: a plan_* tool (plan_deploy, plan_access, plan_batch, plan_rotation) returns the plan
and its plan_hash, and apply_plan(plan_hash) applies exactly that plan: refused at --scope read,
for an unknown or expired hash, when the live state changed since, and for a plan that deletes
below --scope read-write-delete. Every call is logged to --audit-log (JSON lines).
"""

from __future__ import annotations

import argparse

import nexla_ops

EXAMPLES = """examples:
  # an MCP client starts it; read-only against the offline sandbox
  nexla-ops mcp --sandbox
  # writes allowed (after a plan), deletes not, and no transform validation
  nexla-ops mcp --scope read-write --deny validate_transform

exit codes: 0 the client closed the connection; 2 bad input; 3 configuration.
"""


def tool_list(text: str) -> frozenset:
    from nexla_ops.mcp.tools import BY_NAME

    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(names - set(BY_NAME))
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected tool names from: {', '.join(sorted(BY_NAME))}"
            + (f"; unknown: {nexla_ops.one_line(', '.join(unknown), 120)}" if unknown else ""))
    return names


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog or "nexla_mcp.py",
                                     description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scope", choices=("read", "read-write", "read-write-delete"),
                        default="read", help="the most the agent may do (default read: "
                                             "apply_plan is refused)")
    parser.add_argument("--deny", type=tool_list, action="append", metavar="TOOL[,TOOL]",
                        help="tools the agent does not get (repeatable)")
    parser.add_argument("--audit-log", metavar="FILE",
                        help="one JSON line per call (default: per Nexla in the per-user "
                             "state directory, $XDG_STATE_HOME/nexla-ops/mcp)")
    nexla_ops.add_common_args(parser, json_flag=False)
    return parser


def run(args, ctx) -> int:
    import os

    from nexla_ops.mcp.calls import Calls
    from nexla_ops.mcp.server import serve

    config = ctx.config  # a bad .env or URL ends it here (exit 3), before any client call
    _ = ctx.client  # and so do missing credentials (build_client refuses; none is sent)
    target = ctx.target
    if ctx.sandbox is not None:  # the tools' commands reach this process's sandbox
        os.environ["NEXLA_SERVICE_KEY"] = config.service_key.get_secret_value()
    connection = ["--api-url", config.api_url]
    if args.env_file:
        connection += ["--env-file", args.env_file]
    audit_log = args.audit_log or str(nexla_ops.target_path("mcp", target, "calls",
                                                            suffix=".jsonl"))
    try:  # every call is audited: a log that cannot be written ends it before any call
        os.makedirs(os.path.dirname(audit_log) or ".", mode=0o700, exist_ok=True)
        os.close(os.open(audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    except OSError as exc:
        raise nexla_ops.BadInput(f"--audit-log: cannot append to {audit_log} "
                                 f"({exc.strerror or exc})") from None
    deny = frozenset().union(*(args.deny or ()))
    serve(Calls(args.scope, target, connection, deny, audit_log))
    return 0


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
