"""First run: check the configuration, reach the Nexla API, authenticate, say who you are and
what you can see (one page of each resource type), and suggest the next commands.

Exit codes: 0 ok, 3 configuration missing or malformed, 4 key or token rejected, 6 API not
reachable (after retries), 1 any other failure.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.quickstart import quickstart, render_text

EXAMPLES = """examples:
  python scripts/nexla_quickstart.py --sandbox          # offline, with demo data
  python scripts/nexla_quickstart.py                    # uses NEXLA_* from the environment/.env
  python scripts/nexla_quickstart.py --json
  python scripts/nexla_quickstart.py --env-file prod.env --max-attempts 2
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "nexla_quickstart.py", description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    nexla_ops.add_common_args(parser)
    return parser


def run(args: argparse.Namespace, ctx: nexla_ops.Context) -> int:
    try:
        result = quickstart(ctx)
    except nexla_ops.OpsError as exc:
        if args.json:  # the house failure document, plus what was learnt before the failure
            ctx.out({**getattr(exc, "partial", {}),
                     **nexla_ops.cli.failure_document(exc.exit_code, exc.message, exc)}, "json")
        raise
    ctx.out(result if args.json else render_text(result))
    return nexla_ops.EXIT_OK


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
