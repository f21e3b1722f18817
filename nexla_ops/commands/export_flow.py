"""Export existing flows as deployment configs that deploy_flow accepts (flows as code).

Each export holds the source, the derived nexset with its transform, every destination and
whether the flow is active; credentials by name; settings whose key looks secret as ${ENV:VAR}
placeholders, never their values; no ids, and keys in a stable order, so exports diff cleanly
in git. `deploy_flow --plan` on an export shows nothing to change. A flow the exporter has not
deployed carries no deployment tag: the first apply of its export needs `--adopt`, which only
stamps the tag.

Only GETs are sent.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag

EXAMPLES = """examples:
  # one flow, as YAML on stdout
  python scripts/export_flow.py --flow-id 1001

  # the flow of source 124, as JSON in a file
  python scripts/export_flow.py --source-id 124 --output customers.json

  # every flow, one file per flow (the directory is created if missing)
  python scripts/export_flow.py --all --output-dir flows/

  # then: nothing to change
  python scripts/deploy_flow.py --config flows/orders-s3.yaml --plan --adopt

exit codes: 0 exported; 1 a flow's shape has no deployment-config equivalent (reason given);
  2 bad input; 3 configuration; 4 auth; 5 nothing matched; 6 transient;
  7 some flows exported and others not (listed)
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "export_flow.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pick = parser.add_argument_group("which flows (combine freely; at least one)")
    pick.add_argument("--flow-id", type=id_flag, action="append", default=[],
                      metavar="ID", help="a flow (any node id of it); repeatable")
    pick.add_argument("--source-id", type=id_flag, action="append", default=[],
                      metavar="ID", help="the flow of this source; repeatable")
    pick.add_argument("--name", metavar="NAME", help="flows whose source has this name")
    pick.add_argument("--tag", metavar="TAG", help="flows whose source carries this tag")
    pick.add_argument("--all", action="store_true", help="every flow of the account")
    parser.add_argument("--output", metavar="FILE",
                        help="write the config here (atomically) instead of stdout; one flow")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="one file per flow, named after its deployment; needed when more "
                        "than one flow is chosen")
    parser.add_argument("--format", choices=("yaml", "json"),
                        help="default: json for an --output ending in .json, else yaml")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.deploy import export_run

    return export_run.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
