"""Next steps for a finding, as data an agent can act on: what to do, why, and the command that
does it (read-only or --plan first; a person or agent runs it, triage never does). Commands are
spelled the way triage itself was run (`nexla-ops x` or `python scripts/x.py`, with --sandbox
when it had it), so they paste as they are."""

from __future__ import annotations

import re

# What an error message's wording says about its cause.
AUTH = re.compile(r"password|authenticat|unauthori[sz]ed|forbidden|access denied|\b40[13]\b|"
                  r"credential|permission denied|invalid (?:key|token)|expired token", re.I)
NETWORK = re.compile(r"refused|timed? ?out|unreachable|unknown host|name resolution|\b50[234]\b|"
                     r"connection reset|could not connect|no route", re.I)
TRANSFORM = re.compile(r"transform|schema|jolt|pars(?:e|ing) error|deserial|type mismatch|"
                       r"cannot cast|invalid record", re.I)
RATE = re.compile(r"rate limit|\b429\b|quota|too many requests|throttl", re.I)


def _step(action: str, reason: str, command: str | None, **extra) -> dict:
    return {"action": action, "reason": reason, "command": command, **extra}


def _group_text(group: dict) -> str:
    return f"{group['pattern']} {group['example']}"


def next_steps(finding, evidence, window: str, *, sandbox: bool = False) -> list[dict]:
    from nexla_ops.commands import command_line

    def run(module: str, args: str) -> str:
        return f"{command_line(module)} {args}{' --sandbox' if sandbox else ''}"

    flow = finding.flow
    steps: list[dict] = []
    seen_creds: set[int] = set()

    def rotate(cred_id: int, reason: str):
        if cred_id in seen_creds:
            return
        seen_creds.add(cred_id)
        steps.append(_step(
            "rotate_credential", reason,
            run("rotate_credential", f"--old {cred_id} --new NEW_CREDENTIAL_ID --plan"),
            needs={"NEW_CREDENTIAL_ID": "a credential holding the corrected secret"}))

    for cred in finding.credentials:
        if cred.state == "failed":
            rotate(cred.id, f"credential {cred.id} ({cred.name}) failed verification")
    for group in finding.details.get("error_groups", []):
        text = _group_text(group)
        resource = group["resource"]
        where = f"{resource['type']}/{resource['id']}" if resource.get("id") else "the flow"
        cred_id = evidence.credential_of.get((resource["type"], resource["id"]))
        if AUTH.search(text) and cred_id:
            rotate(cred_id, f"{where} was refused its credentials: {group['example']}")
        elif NETWORK.search(text):
            steps.append(_step(
                "check_connectivity", f"{where} could not be reached: {group['example']}",
                run("health_check", f"--flow {flow.flow_id} --credentials --probe-credentials")))
        elif TRANSFORM.search(text) and resource["type"] == "data_sets":
            parent = evidence.parent_of.get(resource["id"])
            steps.append(_step(
                "validate_transform", f"{where} rejected records: {group['example']}",
                run("validate_transform", f"--nexset {parent or 'PARENT_NEXSET_ID'} "
                    "--transform-file TRANSFORM.json --dry-run"),
                needs={"TRANSFORM.json": f"the transform nexset {resource['id']} runs ("
                       f"{run('export_flow', f'--flow-id {flow.flow_id}')} shows it)"}))
        elif RATE.search(text):
            steps.append(_step("reduce_load", f"{where} hit a rate limit: {group['example']}",
                               None))
    if any(p["kind"] == "error_state" for p in finding.problems):
        steps.append(_step("inspect_node", "a node of the flow is in an error state",
                           run("list_resources", f"--type flows --id {flow.flow_id} --full "
                               "--format json")))
    if any(p["kind"] == "stale" for p in finding.problems) and not finding.failed_runs:
        steps.append(_step(
            "check_source", "the flow is active but has stopped delivering",
            run("get_resource_logs", f"--resource-type data_sources "
                f"--resource-id {flow.source_id} --list-runs")))
    if finding.failed_runs:
        steps.append(_step("compare_runs", "set the last good run against the last failed one",
                           run("triage", f"--flow {flow.flow_id}")))
    steps.append(_step("read_logs", "the flow's error lines in the window, grouped",
                       run("get_resource_logs", f"--resource-type flows "
                           f"--resource-id {flow.flow_id} --since {window} --summary")))
    return steps
