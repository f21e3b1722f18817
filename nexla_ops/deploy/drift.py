"""Drift: how a deployment's live objects differ from its file, as one entry per field.

`deploy_flow --plan --detailed-exitcode` and `health_check --deployments DIR` both ask the same
question through here: read the state the way a plan does (GETs only, no probes) and list
what an apply would change."""

from __future__ import annotations

from dataclasses import dataclass, field

import nexla_ops

from .observe import Reader, observe
from .plan import Plan, build_plan
from .spec import TAG_PREFIX, validate_config

_HOW_NOT_WHAT = {"paused_during_apply"}


def drift_of(plan: Plan) -> list[dict]:
    """Each pending change as one entry: the field, its live value and the config's (secret
    values already masked by the plan); a create or delete is one entry without a field."""
    out = []
    for step in plan.steps:
        if step.action == "unchanged":
            continue
        head = {"action": step.action, "resource_type": step.resource_type, "name": step.name,
                "id": step.id}
        if not step.changes:
            out.append({**head, "field": None, "live": None, "config": None})
        for name, change in step.changes.items():
            if name in _HOW_NOT_WHAT or (isinstance(change, dict) and "from" in change
                                         and change["from"] == change.get("to")):
                continue  # how the apply goes (pause around a change), not a difference
            if isinstance(change, dict) and "from" in change:
                out.append({**head, "field": name, "live": change["from"],
                            "config": change["to"]})
            else:
                out.append({**head, "field": name, "live": None, "config": change})
    return out


@dataclass
class DeploymentDrift:
    """One deployment file checked against the live account."""

    path: str
    deployment: str | None
    drift: list[dict] = field(default_factory=list)
    error: str | None = None  # could not be checked (bad file, a read failed)
    exit_code: int = nexla_ops.EXIT_OK  # the error's house exit code

    @property
    def in_sync(self) -> bool:
        return self.error is None and not self.drift

    def as_dict(self) -> dict:
        return {"path": self.path, "deployment": self.deployment, "in_sync": self.in_sync,
                "drift": self.drift, "error": self.error}


def check_file(ctx, path: str, *, prune: bool = False) -> DeploymentDrift:
    """Plan one deployment file read-only; never raises OpsError (it is in the result)."""
    try:
        raw = nexla_ops.load_structured_file(path)
        cfg, _warnings = validate_config(raw, require_env=False)
    except nexla_ops.OpsError as exc:
        return DeploymentDrift(path, None, error=exc.message, exit_code=exc.exit_code)
    name = cfg.deployment_name
    try:
        tag = TAG_PREFIX + name
        plan = build_plan(cfg, observe(cfg, Reader(ctx, tag)), tag, raw, prune=prune)
    except nexla_ops.OpsError as exc:
        return DeploymentDrift(path, name, error=exc.message, exit_code=exc.exit_code)
    return DeploymentDrift(path, name, drift=drift_of(plan))
