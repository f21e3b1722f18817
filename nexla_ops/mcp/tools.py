"""The tools: for each, when to use it, its input model (the JSON Schema the agent sees), the
scope it needs, and the command line it runs. Arguments are checked twice: by the model here,
and by the command's own parser, as on a terminal."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import scopes

Id = Field(gt=0, lt=2**63)


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(Args):
    pass


class ListResources(Args):
    type: Literal["flows", "sources", "nexsets", "destinations", "credentials", "projects",
                  "teams", "users", "transforms", "lookups"]
    name: str | None = Field(None, max_length=500, description="exact name")
    tag: str | None = Field(None, max_length=500)
    status: str | None = Field(None, max_length=40)
    limit: int = Field(100, ge=1, le=10000, description="at most this many")


class GetLogs(Args):
    resource_type: Literal["sources", "nexsets", "destinations", "flows"]
    resource_id: int = Id
    since: str = Field("1d", max_length=40, description="e.g. 1h, 1d, 2026-12-01")
    summary: bool = Field(True, description="group errors by pattern instead of raw lines")


class Health(Args):
    flows: list[int] = Field(default_factory=list, max_length=1000,
                             description="flow ids; empty: every flow")


class Triage(Args):
    since: str = Field("24h", max_length=40)
    flow: int | None = Field(None, gt=0, lt=2**63,
                             description="one flow: its last good run against its last failed")


class FlowMetrics(Args):
    flow: int = Id
    from_date: str | None = Field(None, pattern=r"^\d{4}-\d\d-\d\d$", description="YYYY-MM-DD")
    to_date: str | None = Field(None, pattern=r"^\d{4}-\d\d-\d\d$")


class ValidateTransform(Args):
    nexset: int = Id
    transform: dict = Field(description='{"version": 1, "operations": [...]} as for '
                                        'validate_transform.py --transform-file')
    expect_fields: list[str] = Field(default_factory=list, max_length=500)


class ExportFlow(Args):
    flow: int = Id


class PlanDeploy(Args):
    config: dict = Field(description="a deploy_flow config (deploy_flow.py --print-schema)")


def plan_deploy_schema(schema: dict) -> dict:
    """The config's schema is deploy_flow's own (--print-schema, from its pydantic models),
    which validates the config again when it is planned."""
    from nexla_ops.deploy.spec import config_schema

    deploy = dict(config_schema())
    deploy.pop("$schema", None)
    schema.setdefault("$defs", {}).update(deploy.pop("$defs", {}))
    schema["properties"]["config"] = {**deploy, "description": "a deploy_flow config"}
    return schema


class PlanAccess(Args):
    operation: Literal["grant", "revoke"]  # set needs a desired-state file: the CLI's
    resource_type: Literal["sources", "nexsets", "destinations", "credentials", "flows",
                           "projects", "teams"]
    resource_id: int = Id
    accessor_type: Literal["USER", "TEAM", "ORG"]
    accessor_id: int = Id
    role: Literal["collaborator", "operator", "admin", "owner"] | None = None


class PlanBatch(Args):
    operation: Literal["pause", "activate", "delete"]
    type: Literal["flows", "sources", "nexsets", "destinations"]
    ids: list[int] = Field(min_length=1, max_length=10000)


class PlanRotation(Args):
    old: int = Id
    new: int = Id
    retire_old: bool = False


class ApplyPlan(Args):
    plan_hash: str = Field(pattern="^[0-9a-f]{64}$", description="a plan tool's plan_hash")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    model: type[Args]
    command: str  # the nexla_ops.commands module
    # (arguments, a directory for the files it needs) -> the command line; a plan tool's
    # without the planning flag (PLAN_FLAGS), which is the command line that applies it
    argv: Callable[[Any, str], list[str]]
    kind: str = "read"  # read, plan or apply
    # (arguments, the plan document) -> does applying it delete anything?
    deletes: Callable[[Any, Any], bool] = lambda args, plan: False
    # A command with saved plans of its own (deploy_flow --plan --out / --apply) is planned
    # and applied through them: it refuses a plan the state has moved past by itself.
    saves_plans: bool = False
    schema_hook: Callable[[dict], dict] = lambda schema: schema  # finishes its JSON Schema

    @property
    def scope(self) -> str:
        return scopes.READ_WRITE if self.kind == "apply" else scopes.READ

    def schema(self) -> dict:
        return self.schema_hook(self.model.model_json_schema())


def _file(directory: str, name: str, value: Any) -> str:
    path = os.path.join(directory, name)  # 0600: a config may name a secret
    with open(path, "w", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as out:
        json.dump(value, out)
    return path


def _plans_a_delete(plan: Any) -> bool:
    """Does a deploy plan delete or replace anything (a replace deletes first)?"""
    actions = plan.get("actions") if isinstance(plan, dict) else None
    return any(isinstance(a, dict) and str(a.get("action")) not in ("create", "update",
                                                                    "unchanged", "noop")
               for a in actions or ())


def _opt(flag: str, value) -> list[str]:
    """--flag=value in one word: a value that starts with "-" stays a value, never a flag."""
    return [] if value is None else [f"{flag}={value}"]


TOOLS = [
    Tool("whoami", "Who the configured key is, its org, and that the API answers. Use first.",
         NoArgs, "nexla_quickstart", lambda a, d: ["--json"]),
    Tool("list_resources", "A complete listing of one resource type (every page), filtered. "
         "Use to find ids by name, tag or status.", ListResources, "list_resources",
         lambda a, d: ["--type", a.type, *_opt("--name", a.name), *_opt("--tag", a.tag),
                       *_opt("--status", a.status), *_opt("--limit", a.limit),
                       "--format", "json"]),
    Tool("get_logs", "A resource's recent log lines, or its errors grouped by pattern. Use "
         "when a flow or resource fails.", GetLogs, "get_resource_logs",
         lambda a, d: ["--resource-type", a.resource_type, "--resource-id",
                       str(a.resource_id), *_opt("--since", a.since),
                       *(["--summary"] if a.summary else []), "--json"]),
    Tool("health", "Each flow's health (status, staleness, error rate, stalls), as "
         "health_check.py judges it. Use to monitor.", Health, "health_check",
         lambda a, d: [*([f for i in a.flows for f in ("--flow", str(i))] or ["--all"]),
                       "--format", "json", "--state-file", os.path.join(d, "state.json")]),
    Tool("triage", "What is broken right now, ranked, with error groups and next steps. Use "
         "first when asked what is wrong.", Triage, "triage",
         lambda a, d: [*_opt("--since", a.since), *_opt("--flow", a.flow), "--json"]),
    Tool("flow_metrics", "A flow's daily records and errors, run p50/p95 and SLA attainment. "
         "Use for trends.", FlowMetrics, "flow_metrics",
         lambda a, d: ["--flow", str(a.flow), *_opt("--from", a.from_date),
                       *_opt("--to", a.to_date), "--json"]),
    Tool("validate_transform", "Run a transform on a nexset's real samples (through a "
         "temporary nexset, always deleted) and diff. Use before deploying a transform.",
         ValidateTransform, "validate_transform",
         lambda a, d: ["--nexset", str(a.nexset), "--transform-file",
                       _file(d, "transform.json", a.transform),
                       *(_opt("--expect-fields", ",".join(a.expect_fields))
                         if a.expect_fields else []), "--json"]),
    Tool("export_flow", "An existing flow as a deploy_flow config (flows as code). Use before "
         "changing a flow by plan_deploy.", ExportFlow, "export_flow",
         lambda a, d: ["--flow-id", str(a.flow), "--format", "json", "--json"]),
    Tool("plan_deploy", "Plan a deployment from a deploy_flow config: every create, update and "
         "delete, and a plan_hash for apply_plan. Writes nothing. Use before deploying.", PlanDeploy, "deploy_flow",
         lambda a, d: ["--config", _file(d, "deploy.json", a.config), "--json"],
         kind="plan", saves_plans=True, schema_hook=plan_deploy_schema,
         deletes=lambda a, plan: _plans_a_delete(plan)),
    Tool("plan_access", "Plan an access change (grant, revoke) and get a plan_hash for "
         "apply_plan. Writes nothing. Use before changing who may do what.", PlanAccess, "manage_access",
         lambda a, d: ["--operation", a.operation, "--resource-type", a.resource_type,
                       "--resource-id", str(a.resource_id), "--accessor-type",
                       a.accessor_type, "--accessor-id", str(a.accessor_id),
                       *_opt("--role", a.role), "--audit-log",
                       # beside the plans, not in one: a plan's files go once it is applied
                       os.path.join(os.path.dirname(d), "access-audit.jsonl"), "--json"],
         kind="plan", deletes=lambda a, plan: a.operation == "revoke"),
    Tool("plan_batch", "Plan one change (pause, activate, delete) to many resources and get a "
         "plan_hash for apply_plan. Writes nothing. Use before pausing or deleting.", PlanBatch, "batch_operations",
         lambda a, d: [a.operation, "--type", a.type, "--ids", ",".join(map(str, a.ids)),
                       "--json"],
         kind="plan", deletes=lambda a, plan: a.operation == "delete"),
    Tool("plan_rotation", "Plan moving every source and destination from one credential to "
         "another (probing the new one) and get a plan_hash. Writes nothing. Use to rotate.", PlanRotation,
         "rotate_credential",
         lambda a, d: ["--old", str(a.old), "--new", str(a.new),
                       *(["--retire-old"] if a.retire_old else []), "--json"],
         kind="plan", deletes=lambda a, plan: a.retire_old),
    Tool("apply_plan", "Use after showing a plan: applies it by its plan_hash; refused when the hash "
         "is unknown or expired, or the live state changed since. Needs --scope read-write "
         "(read-write-delete when the plan deletes anything).", ApplyPlan, "", lambda a, d: [],
         kind="apply"),
]
BY_NAME = {tool.name: tool for tool in TOOLS}
# What each plan tool's command takes to plan rather than apply.
PLAN_FLAGS = {"deploy_flow": "--plan", "manage_access": "--dry-run",
              "batch_operations": "--dry-run", "rotate_credential": "--plan"}

