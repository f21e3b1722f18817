"""Deploy a Nexla flow declaratively: credential -> source -> nexset -> destinations -> active flow.

A JSON/YAML config describes the deployment. `--plan` reads the current state and prints what an
apply would create, update, replace or leave unchanged, and sends nothing but GETs and credential
probes. An apply converges the account to the config, in dependency order, and is idempotent: a
second apply of the same config makes zero write requests. Every create is lost-response safe
(found again by name and deployment tag, never sent twice). Any failure, including Ctrl-C and
SIGTERM, rolls back exactly what this run created and restores what it changed or paused; objects
that existed before the run are never deleted.

Objects this script creates carry the tag `nexla-ops:deployment=<name>`, which is how it finds its
own objects again. Two applies of the same deployment to the same API are serialised by a lock
file in the per-user state directory (`$XDG_STATE_HOME/nexla-ops/locks/`, whatever the working
directory), and the second one re-reads the state under the lock. Applies on two hosts cannot
share a lock: each checks after every create that only one object of that name and tag exists,
and when a racing run made a twin first it deletes its own and uses the older one.
"""

from __future__ import annotations

import argparse

import nexla_ops

EXAMPLES = """examples:
  # the JSON Schema of the config file
  python scripts/deploy_flow.py --print-schema

  # what would change (only GETs and credential probes are sent)
  python scripts/deploy_flow.py --config examples/deploy/minimal.json --plan

  # apply, machine-readable result on stdout and in a file
  python scripts/deploy_flow.py --config examples/deploy/full.yaml --json --output result.json

  # rehearse against the local sandbox
  python scripts/deploy_flow.py --config examples/deploy/full.yaml --sandbox

  # CI: exit 8 when the live flow drifted from the file; save the plan for review
  python scripts/deploy_flow.py --config flow.yaml --plan --detailed-exitcode --out plan.json
  # later: apply exactly that plan (refused if the flow changed since)
  python scripts/deploy_flow.py --apply plan.json

  # every deployment in a directory, one summary table; go on past failures
  python scripts/deploy_flow.py --config-dir deployments/ --plan --detailed-exitcode
  python scripts/deploy_flow.py --config-dir deployments/ --keep-going

  # promote: the dev config to prod, credentials mapped by name (plan first)
  python scripts/deploy_flow.py --config flow.yaml --env-file prod.env \\
      --credential-map prod-credentials.yaml --plan

  # delete the deployment (a backup is written first; only tagged objects go)
  python scripts/deploy_flow.py --config flow.yaml --destroy --plan
  python scripts/deploy_flow.py --config flow.yaml --destroy --yes

exit codes: 0 applied/unchanged/planned (in sync), 1 failed and rolled back, or a saved plan
refused (state changed since plan), 2 bad config (nothing sent), 3 configuration missing,
4 auth/permission, 5 a credential id that does not exist, 6 transient (safe to re-run),
7 partial (see leftovers; re-run a destroy to finish it), 8 with --detailed-exitcode:
changes pending (drift)
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "deploy_flow.py",
        description="Plan and apply a Nexla flow deployment (credential -> source -> nexset -> "
        "destinations -> active flow): idempotent, lost-response safe, rolled back on failure.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", "-c", metavar="FILE",
                        help="deployment config, JSON or YAML (.yaml/.yml); see --print-schema")
    parser.add_argument("--config-dir", metavar="DIR",
                        help="every deployment file (*.json, *.yaml, *.yml) in DIR, in name "
                        "order, with one summary table; all are validated before anything "
                        "is sent")
    parser.add_argument("--keep-going", action="store_true",
                        help="with --config-dir: go on after a failed deployment")
    parser.add_argument("--credential-map", metavar="FILE",
                        help="promote to another environment: a YAML/JSON mapping of the "
                        "config's credential names or ids to this environment's")
    parser.add_argument("--plan", "--dry-run", dest="plan", action="store_true",
                        help="show what would change; sends only GETs and credential probes "
                        "(after signing in)")
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="with --plan: exit 8 when changes are pending, 0 when in sync")
    parser.add_argument("--out", metavar="PLAN",
                        help="with --plan: save the plan (config, actions and a fingerprint "
                        "of the live state; mode 0600) for --apply; with --config-dir, a "
                        "directory that gets one NAME.plan.json per file")
    parser.add_argument("--apply", metavar="PLAN",
                        help="apply a saved plan exactly; refused, with nothing written, if "
                        "the live state changed since it was made")
    parser.add_argument("--prune", action="store_true",
                        help="delete destinations and derived nexsets that carry this "
                        "deployment's tag but are no longer in the config (planned first)")
    parser.add_argument("--destroy", action="store_true",
                        help="delete every object that carries this deployment's tag, children "
                        "first, after writing a backup (the flow as a config); needs --yes, "
                        "or --plan to review it")
    parser.add_argument("--yes", action="store_true",
                        help="with --destroy: go ahead without a saved plan")
    parser.add_argument("--backup", metavar="FILE",
                        help="with --destroy: write the backup here (default: backups/ in the "
                        "per-user state directory; the path is printed)")
    parser.add_argument("--print-schema", action="store_true",
                        help="print the config's JSON Schema and exit")
    parser.add_argument("--wait-timeout", metavar="DURATION",
                        help="overrides wait.discovery_timeout and wait.activation_timeout "
                        "(seconds, or 90s, 5m)")
    parser.add_argument("--allow-replace", action="store_true",
                        help="allow deleting and re-creating objects whose type changed")
    parser.add_argument("--adopt", action="store_true",
                        help="take over same-named objects that this deployment did not "
                        "create (they get its tag; a rollback never deletes them)")
    parser.add_argument("--lock-dir", metavar="DIR",
                        help="where the lock files live, one per API URL and deployment name "
                        "(default: locks/ in the per-user state directory, "
                        "$NEXLA_OPS_STATE_DIR or $XDG_STATE_HOME/nexla-ops or "
                        "~/.local/state/nexla-ops)")
    parser.add_argument("--lock-timeout", metavar="DURATION", default="10m",
                        help="how long to wait for another apply of the same deployment "
                        "(default 10m)")
    parser.add_argument("--output", metavar="FILE",
                        help="also write the JSON result to FILE (atomically)")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops.deploy import runner  # pydantic and the engine load only when a run starts

    return runner.run(args, ctx)


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
