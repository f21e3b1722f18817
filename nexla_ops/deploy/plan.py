"""The plan: what an apply would create, update, replace or leave unchanged, as a value (Plan of
Steps) built from the config and the observed state."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import nexla_ops

from .observe import State, parent_id
from .spec import (
    CREDENTIALS,
    ENV_REF,
    FLOWS,
    NEXSETS,
    SINKS,
    SOURCES,
    STRUCTURAL_FIELDS,
    DeploymentConfig,
    NexsetSpec,
    _Endpoint,
    _resolve_env,
    env_names,
)

# Planning
# --------------------------------------------------------------------------------------------


@dataclass
class Step:
    action: str  # create | update | unchanged | replace | delete (--prune)
    resource_type: str
    name: str
    key: str  # where in the config, e.g. "destinations[1]"
    id: int | None = None
    changes: dict = field(default_factory=dict)  # field -> {"from": old, "to": new}
    body: dict = field(default_factory=dict)  # what to send (never printed)
    existing: dict | None = None

    def as_action(self) -> dict:
        return {
            "action": self.action,
            "resource_type": self.resource_type,
            "id": self.id,
            "name": self.name,
            "changes": self.changes,
        }

    @property
    def structural(self) -> bool:
        if self.resource_type not in (SOURCES, NEXSETS, SINKS):
            return False
        if self.action in ("create", "replace"):
            return True
        return any(f.split(".")[0] in STRUCTURAL_FIELDS for f in self.changes)


class NewId:
    """Stands for the id of an object the apply will create ("known after apply")."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<id of new {self.what}>"


@dataclass
class Plan:
    cfg: DeploymentConfig
    state: State
    tag: str
    steps: list[Step] = field(default_factory=list)
    credential_ids: dict[str, Any] = field(default_factory=dict)  # config key -> id or NewId
    probe_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown as warnings

    @property
    def unchanged(self) -> bool:
        return all(s.action == "unchanged" for s in self.steps)

    def refusal(self) -> str | None:
        """Why this plan must not run: a delete (a replace, --prune) of an object that has
        objects without our tag downstream, which Nexla would refuse half-way or take along."""
        blocked = []
        for step in self.steps:
            if step.action in ("replace", "delete") and step.id is not None:
                under = self.state.foreign_under.get((step.resource_type, step.id))
                if under:
                    names = ", ".join(f"{o['type']} {o['id']} {o['name']!r}" for o in under[:5])
                    blocked.append(f"{step.action} of {step.resource_type} {step.name} (id "
                                   f"{step.id}) would take along {names}")
        if not blocked:
            return None
        return ("; ".join(blocked) + f": objects without tag {self.tag}. Delete or move them "
                "first; nothing was written")


def _new_body(spec: Any, tag: str, **fields: Any) -> dict:
    """What a create sends: the fields, the deployment tag and the config's description."""
    body = {**fields, "tags": [tag]}
    if spec.description is not None:
        body["description"] = spec.description
    return body


def _update(changes: dict, body: dict, name: str, old: Any, new: Any) -> None:
    """Plan `name` old -> new when they differ: shown as a change, sent in the update."""
    if old != new:
        _change(changes, name, old, new)
        body[name] = new


def _update_common(changes: dict, body: dict, existing: dict, spec: Any, tag: str,
                   adopted: bool) -> None:
    """The description the config sets, and our tag on an object taken over by --adopt."""
    if spec.description is not None:
        _update(changes, body, "description", existing.get("description"), spec.description)
    if adopted:
        tags = existing.get("tags") or []
        _update(changes, body, "tags", tags, tags + [tag])


def _unset_variables(raw: Any) -> list[str]:
    """The ${ENV:NAME} variables in a raw config value that are not set (a plan allows it)."""
    return sorted(name for name in env_names(raw) if name not in os.environ)


def _update_config(changes: dict, body: dict, name: str, existing: dict, new: dict,
                   raw_spec: dict, notes: list[str], where: str) -> None:
    """Changes for the keys the config sets under `name` (keys only the server has are kept);
    any change sends the whole merged mapping. A key whose ${ENV:...} variable is not set
    (a plan in CI without the secrets) is not compared: its value is unknown, not drift."""
    old = existing.get(name) or {}
    raw_new = raw_spec.get(name) or {}
    differing = []
    for key, value in new.items():
        unset = _unset_variables(raw_new.get(key))
        if unset:
            notes.append(f"{where}.{name}.{key}: not compared ({', '.join(unset)} not set)")
        elif old.get(key) != value:
            differing.append(key)
    for key in differing:
        raw = raw_new.get(key)
        from_env = isinstance(raw, str) and ENV_REF.search(raw)
        changes[f"{name}.{key}"] = {
            "from": _shown(key, old.get(key)),
            "to": "<from environment>" if from_env else _shown(key, new[key]),
        }
    if differing:
        body[name] = {**old, **new}


def _shown(key: str, value: Any) -> Any:
    """value as safe to print under `key` (a secret-looking key hides it)."""
    return next(iter(nexla_ops.redact({key: value}).values()))


def _change(changes: dict, name: str, old: Any, new: Any) -> None:
    if old != new:
        changes[name] = {
            "from": old,
            "to": new if not isinstance(new, NewId) else repr(new),
        }


def _transform_body(spec: NexsetSpec) -> dict:
    if spec.transform is not None:
        return {"has_custom_transform": True, "transform": _resolve_env(spec.transform)}
    return {"has_custom_transform": False, "transform_id": spec.transform_id}


def _credential_for(plan: Plan, spec: _Endpoint) -> Any:
    if spec.without_credential:
        return None
    if spec.data_credentials_id is not None:
        return spec.data_credentials_id
    if spec.credential is not None:
        return plan.credential_ids[spec.credential]
    return plan.cfg.credential_id


def build_plan(cfg: DeploymentConfig, state: State, tag: str, raw_cfg: dict | None = None, *,
               prune: bool = False) -> Plan:
    plan = Plan(cfg, state, tag)
    raw_cfg = raw_cfg or {}

    # Credentials, found by name or created.
    for i, spec in enumerate(cfg.credentials):
        key = f"credentials[{i}]"
        existing = state.creds.get(spec.name)
        if existing is None:
            if spec.credentials is None:
                raise nexla_ops.NotFound(
                    f"{key}.name: no credential named {spec.name!r}; give `credentials_type` "
                    "and `credentials` to create it"
                )
            body = _new_body(spec, tag, name=spec.name, credentials_type=spec.credentials_type,
                             credentials=_resolve_env(spec.credentials))
            plan.steps.append(Step("create", CREDENTIALS, spec.name, key, body=body))
            plan.credential_ids[spec.name] = NewId(f"credential {spec.name}")
            continue
        if spec.credentials_type and existing.get("credentials_type") != spec.credentials_type:
            raise nexla_ops.OpsError(
                f"{key}.credentials_type: credential {spec.name!r} (id {existing['id']}) is "
                f"{existing.get('credentials_type')!r}, the config says {spec.credentials_type!r}; "
                "use another name"
            )
        if spec.credentials is not None:
            plan.notes.append(
                f"{key}: credential {spec.name!r} exists (id {existing['id']}); its secret values "
                "are not compared (the API never returns them): rotate them with "
                "scripts/rotate_credential.py"
            )
        changes: dict = {}
        body = {}
        _update_common(changes, body, existing, spec, tag, adopted=False)
        plan.steps.append(Step("update" if changes else "unchanged", CREDENTIALS, spec.name, key,
                               id=existing["id"], changes=changes, body=body, existing=existing))
        plan.credential_ids[spec.name] = existing["id"]
        plan.probe_ids.append(existing["id"])

    for spec in [cfg.source] + [d for _, d in cfg.all_destinations()]:
        if spec.data_credentials_id is not None:
            plan.probe_ids.append(spec.data_credentials_id)
    if cfg.credential_id is not None:
        plan.probe_ids.append(cfg.credential_id)
    plan.probe_ids = list(dict.fromkeys(plan.probe_ids))

    # Source.
    src_spec, src = cfg.source, state.source
    raw_src = _raw_at(raw_cfg, "source")
    src_cred = _credential_for(plan, src_spec)
    src_config = _resolve_env(src_spec.source_config)
    source_new = src is None or src.get("source_type") != src_spec.source_type
    if source_new:
        body = _new_body(src_spec, tag, name=src_spec.name, source_type=src_spec.source_type,
                         data_credentials_id=src_cred, source_config=src_config)
        if src is None:
            plan.steps.append(Step("create", SOURCES, src_spec.name, "source", body=body))
        else:
            changes = {}
            _change(changes, "source_type", src.get("source_type"), src_spec.source_type)
            plan.steps.append(Step("replace", SOURCES, src_spec.name, "source", id=src["id"],
                                   changes=changes, body=body, existing=src))
    else:
        changes, body = {}, {}
        _update_config(changes, body, "source_config", src, src_config, raw_src, plan.notes,
                       "source")
        _update(changes, body, "data_credentials_id", src.get("data_credentials_id"), src_cred)
        _update_common(changes, body, src, src_spec, tag, state.source_adopted)
        plan.steps.append(Step("update" if changes else "unchanged", SOURCES, src_spec.name,
                               "source", id=src["id"], changes=changes, body=body, existing=src))

    detected_id: Any = NewId("detected nexset")
    if not source_new and state.detected is not None:
        detected_id = state.detected["id"]

    # Derived nexset.
    final_nexset: Any = detected_id
    upstream_replaced = source_new and src is not None
    if cfg.nexset is not None:
        ns, der = cfg.nexset, state.derived
        transform = _transform_body(ns)
        body = _new_body(ns, tag, name=ns.name, parent_data_set_id=detected_id, **transform)
        if der is None:
            plan.steps.append(Step("create", NEXSETS, ns.name, "nexset", body=body))
            final_nexset = NewId(f"nexset {ns.name}")
        elif source_new or parent_id(der) != detected_id:
            upstream_replaced = True
            changes = {}
            _change(changes, "parent_data_set_id", parent_id(der), detected_id)
            plan.steps.append(Step("replace", NEXSETS, ns.name, "nexset", id=der["id"],
                                   changes=changes, body=body, existing=der))
            final_nexset = NewId(f"nexset {ns.name}")
        else:
            changes, upd = {}, {}
            current = _current_transform(der)
            for k, v in transform.items():
                if current.get(k) != v:
                    _change(changes, k, current.get(k), v)
            if changes:
                upd.update(transform)
            _update_common(changes, upd, der, ns, tag, state.derived_adopted)
            plan.steps.append(Step("update" if changes else "unchanged", NEXSETS, ns.name,
                                   "nexset", id=der["id"], changes=changes, body=upd,
                                   existing=der))
            final_nexset = der["id"]

    # Destinations, on the final nexset (always an int id at apply time).
    for key, spec in cfg.all_destinations():
        raw_dest = _raw_at(raw_cfg, key)
        sink = state.sinks.get(key)
        cred = _credential_for(plan, spec)
        sink_config = _resolve_env(spec.sink_config)
        body = _new_body(spec, tag, name=spec.name, sink_type=spec.sink_type,
                         data_credentials_id=cred, data_set_id=final_nexset,
                         sink_config=sink_config)
        if sink is None:
            plan.steps.append(Step("create", SINKS, spec.name, key, body=body))
            continue
        if sink.get("sink_type") != spec.sink_type or upstream_replaced:
            # What it writes from is being replaced (or its type changed): replace it too.
            changes = {}
            _change(changes, "sink_type", sink.get("sink_type"), spec.sink_type)
            _change(changes, "data_set_id", sink.get("data_set_id"), final_nexset)
            plan.steps.append(Step("replace", SINKS, spec.name, key, id=sink["id"],
                                   changes=changes, body=body, existing=sink))
            continue
        changes, upd = {}, {}
        _update(changes, upd, "name", sink.get("name"), spec.name)  # renamed since (observe)
        _update_config(changes, upd, "sink_config", sink, sink_config, raw_dest, plan.notes,
                       key)
        _update(changes, upd, "data_credentials_id", sink.get("data_credentials_id"), cred)
        _update(changes, upd, "data_set_id", sink.get("data_set_id"), final_nexset)
        _update_common(changes, upd, sink, spec, tag, state.sinks_adopted.get(key))
        plan.steps.append(Step("update" if changes else "unchanged", SINKS, spec.name, key,
                               id=sink["id"], changes=changes, body=upd, existing=sink))

    _plan_strays(plan, prune)

    # The flow's run state.
    want = "ACTIVE" if cfg.activate else "PAUSED"
    flow = state.flow
    restart = flow is not None and flow.get("status") == "ACTIVE" and any(
        s.structural for s in plan.steps)
    if flow is None or source_new:
        plan.steps.append(Step("create", FLOWS, src_spec.name, "flow",
                               changes={"status": {"from": None, "to": want}}))
    elif (flow.get("status") == "ACTIVE") != cfg.activate or restart:
        # `activate: false` means "not running": a flow never activated reports INIT, and
        # wanting PAUSED of it would be drift that no apply can clear.
        changes = {"status": {"from": flow.get("status"), "to": want}}
        if restart:
            changes["paused_during_apply"] = True
        plan.steps.append(Step("update", FLOWS, src_spec.name, "flow", id=flow["id"],
                               changes=changes, existing=flow))
    else:
        plan.steps.append(Step("unchanged", FLOWS, src_spec.name, "flow", id=flow["id"],
                               existing=flow))
    return plan


def _plan_strays(plan: Plan, prune: bool) -> None:
    """Deletes for what carries our tag but left the config (with --prune), else notes; and a
    note for what is in the flow without our tag (never deleted)."""
    for kind, obj in plan.state.strays:
        what = f"{kind} {obj.get('name')!r} (id {obj['id']})"
        if prune:
            plan.steps.append(Step("delete", kind, obj.get("name") or "", f"prune {kind} "
                                   f"{obj['id']}", id=obj["id"], existing=obj))
        else:
            plan.notes.append(f"{what} carries tag {plan.tag} but is no longer in the config; "
                              "--prune deletes it")
    for kind, obj in plan.state.foreign:
        plan.notes.append(f"{kind} {obj.get('name')!r} (id {obj['id']}) is in this flow but "
                          f"not in the config and has no tag {plan.tag}; left alone")


def _raw_at(raw_cfg: dict, key: str) -> dict:
    """The raw (unresolved) mapping at a config key like "destinations[1]" ({} if absent)."""
    name, _, index = key.partition("[")
    value = raw_cfg.get(name)
    if index:
        value = value[int(index.rstrip("]"))] if isinstance(value, list) else None
    return value if isinstance(value, dict) else {}


def _current_transform(nexset: dict) -> dict:
    if nexset.get("has_custom_transform") or (
        nexset.get("transform") is not None and nexset.get("transform_id") is None
    ):
        return {"has_custom_transform": True, "transform": nexset.get("transform")}
    return {"has_custom_transform": False, "transform_id": nexset.get("transform_id")}


# --------------------------------------------------------------------------------------------
