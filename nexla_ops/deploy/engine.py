"""The deployment engine behind deploy-flow: the config model (pydantic), observing live
state, the plan, the applier with its rollback journal and locks, and run(args, ctx).

Still one module: the split into spec, observe, plan, apply and journal is open work.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

import nexla_ops

TAG_PREFIX = "nexla-ops:deployment="
ENV_REF = re.compile(r"\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}")
CREDENTIALS, SOURCES, NEXSETS, SINKS, FLOWS = (
    "data_credentials",
    "data_sources",
    "data_sets",
    "data_sinks",
    "flows",
)
# Fields whose change alters what the flow reads, transforms or writes: the flow is paused first.
STRUCTURAL_FIELDS = {
    "source_config",
    "data_credentials_id",
    "has_custom_transform",
    "transform",
    "transform_id",
    "data_set_id",
    "sink_config",
}
DEFAULT_DISCOVERY_TIMEOUT = 300.0
DEFAULT_ACTIVATION_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------
# Config models
# --------------------------------------------------------------------------------------------


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected seconds (a number) or a duration like '90s', '5m'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(nexla_ops.parse_duration(value))
        except Exception:
            raise ValueError(
                f"expected seconds (a number) or a duration like '90s', '5m', got {value!r}"
            ) from None
    else:
        raise ValueError("expected seconds (a number) or a duration like '90s', '5m'")
    if seconds <= 0:
        raise ValueError("expected a positive duration")
    return seconds


Duration = Annotated[float, BeforeValidator(_duration)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=255)]
ResourceId = Annotated[StrictInt, Field(gt=0)]
DeploymentName = Annotated[
    StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", min_length=1, max_length=100)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CredentialSpec(_Strict):
    """A credential found by name, or created when `credentials` (the secret config) is given."""

    name: Name
    credentials_type: Name | None = Field(
        None, description="connector code, e.g. s3, postgres; required to create"
    )
    description: StrictStr | None = None
    credentials: dict[str, Any] | None = Field(
        None, description="secret config; give secret values as ${ENV:VAR} references"
    )

    @model_validator(mode="after")
    def _type_needed_to_create(self):
        if self.credentials is not None and not self.credentials_type:
            raise ValueError("credentials_type is required when `credentials` is given")
        return self


class _Endpoint(_Strict):
    data_credentials_id: ResourceId | None = Field(None, description="existing credential id")
    credential: Name | None = Field(
        None, description="name of an entry in the top-level `credentials` list"
    )
    description: StrictStr | None = None

    @model_validator(mode="after")
    def _one_credential(self):
        if self.data_credentials_id is not None and self.credential is not None:
            raise ValueError("give data_credentials_id or credential, not both")
        return self


class SourceSpec(_Endpoint):
    name: Name
    source_type: Name = Field(description="connector code, e.g. s3, postgres, rest")
    source_config: dict[str, Any] = Field(default_factory=dict)


class DestinationSpec(_Endpoint):
    name: Name
    sink_type: Name = Field(description="connector code, e.g. postgres, s3")
    sink_config: dict[str, Any] = Field(default_factory=dict)


class NexsetSpec(_Strict):
    """A derived nexset: the source's detected nexset with a transform applied."""

    name: Name
    transform: dict[str, Any] | None = Field(
        None, description='inline transform, e.g. {"version": 1, "operations": [...]}'
    )
    transform_id: ResourceId | None = Field(None, description="a reusable transform's id")
    description: StrictStr | None = None

    @model_validator(mode="after")
    def _one_transform(self):
        if (self.transform is None) == (self.transform_id is None):
            raise ValueError("give exactly one of transform or transform_id")
        return self


class WaitSpec(_Strict):
    discovery_timeout: Duration = Field(
        DEFAULT_DISCOVERY_TIMEOUT, description="seconds (or '5m') to wait for the detected nexset"
    )
    activation_timeout: Duration = Field(
        DEFAULT_ACTIVATION_TIMEOUT, description="seconds to wait for the flow to report ACTIVE"
    )


class DeploymentConfig(_Strict):
    """One flow deployment. The seed's minimal shape (credential_id, source, destination) is valid."""

    name: DeploymentName | None = Field(
        None, description="deployment name, stamped as a tag on created objects; default: source.name"
    )
    credential_id: ResourceId | None = Field(
        None, description="default credential for source/destinations that name none; probed first"
    )
    credentials: list[CredentialSpec] = Field(default_factory=list)
    source: SourceSpec
    nexset: NexsetSpec | None = None
    destination: DestinationSpec | None = None
    destinations: list[DestinationSpec] = Field(default_factory=list)
    activate: StrictBool = True
    wait: WaitSpec = Field(default_factory=WaitSpec)

    def all_destinations(self) -> list[tuple[str, DestinationSpec]]:
        if self.destination is not None:
            return [("destination", self.destination)]
        return [(f"destinations[{i}]", d) for i, d in enumerate(self.destinations)]

    @property
    def deployment_name(self) -> str:
        return self.name or self.source.name


# --------------------------------------------------------------------------------------------
# Config loading and validation: every problem, as `field.path: what was expected`
# --------------------------------------------------------------------------------------------

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "an object (mapping)",
    "model_type": "an object (mapping)",
    "model_attributes_type": "an object (mapping)",
    "list_type": "a list",
    "float_type": "a number",
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _model_at(loc) -> type[BaseModel] | None:
    """The config model class found at `loc` (for listing allowed keys)."""
    model: Any = DeploymentConfig
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) if model else None
        if info is None:
            return None
        model = _inner_model(info.annotation)
    return model


def _inner_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found:
            return found
    return None


def _describe(err: dict) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(model.model_fields) if model else ""
        return f"unknown key (allowed: {allowed})" if allowed else "unknown key"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_type_name(err.get('input'))}"
    if kind == "greater_than":
        return "expected a positive integer"
    if kind == "string_pattern_mismatch":
        return "expected letters, digits, '.', '_' or '-' (starting with a letter or digit)"
    if kind == "string_too_short":
        return "expected a non-empty string"
    msg = err.get("msg", "invalid value")
    return msg.removeprefix("Value error, ")


def _cross_problems(raw: dict) -> list[str]:
    """Checks that span fields; done on the raw mapping so they add to pydantic's problems."""
    problems = []
    source = raw.get("source") if isinstance(raw.get("source"), dict) else None
    single, many = raw.get("destination"), raw.get("destinations")
    if single is not None and many:
        problems.append("destinations: give destination or destinations, not both")
    elif single is None and not many:
        problems.append("destination: required field is missing (or give a non-empty destinations)")
    cred_list = raw.get("credentials") if isinstance(raw.get("credentials"), list) else []
    cred_names = [c.get("name") for c in cred_list if isinstance(c, dict)]
    for i, name in enumerate(cred_names):
        if name is not None and cred_names.index(name) != i:
            problems.append(f"credentials[{i}].name: duplicate credential name {name!r}")
    endpoints = []
    if source is not None:
        endpoints.append(("source", source))
    if isinstance(single, dict):
        endpoints.append(("destination", single))
    if isinstance(many, list):
        endpoints += [(f"destinations[{i}]", d) for i, d in enumerate(many) if isinstance(d, dict)]
        names = [d.get("name") for d in many if isinstance(d, dict)]
        for i, name in enumerate(names):
            if name is not None and names.index(name) != i:
                problems.append(f"destinations[{i}].name: duplicate destination name {name!r}")
    for where, spec in endpoints:
        ref = spec.get("credential")
        if isinstance(ref, str) and ref not in cred_names:
            problems.append(
                f"{where}.credential: expected the name of an entry in `credentials`, got {ref!r}"
            )
        if (
            spec.get("data_credentials_id") is None
            and spec.get("credential") is None
            and raw.get("credential_id") is None
        ):
            problems.append(
                f"{where}.data_credentials_id: required (or give {where}.credential or a "
                "top-level credential_id)"
            )
    return problems


def _walk_strings(obj: Any, path: str):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _walk_strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _walk_strings(value, f"{path}[{i}]")
    elif isinstance(obj, str):
        yield path, obj


def _secret_problems(raw: dict, *, require_env: bool) -> tuple[list[str], list[str]]:
    """(problems, warnings) about ${ENV:VAR} references and literal secrets."""
    problems, warnings = [], []
    for path, text in _walk_strings(raw, ""):
        for var in ENV_REF.findall(text):
            if var not in os.environ:
                msg = f"{path}: environment variable {var} is not set"
                (problems if require_env else warnings).append(msg)
        key = re.split(r"[.\[]", path)[-1]
        if nexla_ops.is_secret_key(key) and text and not ENV_REF.search(text):
            warnings.append(f"{path}: literal secret in the config file; use ${{ENV:VAR}}")
    return problems, warnings


def validate_config(raw: Any, *, require_env: bool = True) -> tuple[DeploymentConfig, list[str]]:
    """Validate a parsed config. Raises nexla_ops.BadInput listing every problem."""
    if not isinstance(raw, dict):
        raise nexla_ops.BadInput(f"config: expected an object (mapping), got {_type_name(raw)}")
    problems: list[str] = []
    config = None
    try:
        config = DeploymentConfig.model_validate(raw)
    except ValidationError as exc:
        problems += [f"{_path(e['loc'])}: {_describe(e)}" for e in exc.errors()]
    problems += _cross_problems(raw)
    secret_problems, warnings = _secret_problems(raw, require_env=require_env)
    problems += secret_problems
    if problems:
        unique = list(dict.fromkeys(problems))
        raise nexla_ops.BadInput(
            f"invalid config: {len(unique)} problem(s): " + "; ".join(unique), detail=unique
        )
    return config, warnings


def _resolve_env(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _resolve_env(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve_env(v) for v in obj]
    if isinstance(obj, str):
        return ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), obj)
    return obj


def config_schema() -> dict:
    return DeploymentConfig.model_json_schema()


# --------------------------------------------------------------------------------------------
# Reading state
# --------------------------------------------------------------------------------------------


def has_tag(obj: dict, tag: str) -> bool:
    return tag in (obj.get("tags") or [])


class Reader:
    """Reads the account: paged name lookups (cached per pass), gets that map 404 to None."""

    def __init__(self, ctx, tag: str, adopt: bool = False):
        self.ctx, self.tag, self.adopt = ctx, tag, adopt
        self._lists: dict[str, list[dict]] = {}

    def list_all(self, path: str, *, refresh: bool = False) -> list[dict]:
        if refresh or path not in self._lists:
            self._lists[path] = list(self.ctx.paginate(path))
        return self._lists[path]

    def get(self, path: str, params: dict | None = None) -> dict | None:
        try:
            return self.ctx.request("GET", path, params=params)
        except nexla_ops.NotFound:
            return None

    def named(self, path: str, name: str, *, refresh: bool = False) -> list[dict]:
        return [o for o in self.list_all(path, refresh=refresh) if o.get("name") == name]

    def ours(self, path: str, name: str, *, refresh: bool = False) -> list[dict]:
        return [o for o in self.named(path, name, refresh=refresh) if has_tag(o, self.tag)]

    def pick(self, path: str, name: str, where: str, candidates=None) -> tuple[dict | None, bool]:
        """(object, adopted) for `name`: ours by tag, else a single untagged one if adopting."""
        named = self.named(path, name) if candidates is None else candidates
        ours = [o for o in named if has_tag(o, self.tag)]
        if len(ours) > 1:
            ids = ", ".join(str(o["id"]) for o in ours)
            raise nexla_ops.OpsError(
                f"{where}: {len(ours)} {path.strip('/')} named {name!r} carry tag {self.tag} "
                f"(ids {ids}); delete the duplicates, then re-run"
            )
        if ours:
            return ours[0], False
        if not named:
            return None, False
        if self.adopt and len(named) == 1:
            return named[0], True
        ids = ", ".join(str(o["id"]) for o in named)
        raise nexla_ops.OpsError(
            f"{where}: {path.strip('/')} named {name!r} already exists (id {ids}) and is not "
            f"managed by this deployment (no tag {self.tag}); rename it in the config, or pass "
            "--adopt to take it over"
        )


@dataclass
class State:
    """What exists now, for each part of the config (None = absent)."""

    creds: dict[str, dict | None] = field(default_factory=dict)
    source: dict | None = None
    source_adopted: bool = False
    detected: dict | None = None
    derived: dict | None = None
    derived_adopted: bool = False
    sinks: dict[str, dict | None] = field(default_factory=dict)
    sinks_adopted: dict[str, bool] = field(default_factory=dict)
    flow: dict | None = None  # the flow's root node


def detected_nexset_id(source: dict, reader: Reader) -> int | None:
    """The id of the nexset Nexla detected from this source (None until discovery)."""
    ids = [b["id"] for b in source.get("data_sets") or []
           if isinstance(b, dict) and isinstance(b.get("id"), int)]
    if len(ids) > 1:  # derived nexsets may be listed too: the detected one has no parent
        ids = [i for i in ids if parent_id(reader.get(f"/{NEXSETS}/{i}") or {}) is None] or ids
    return ids[0] if ids else None


def parent_id(nexset: dict) -> int | None:
    parents = nexset.get("parent_data_sets") or []
    if parents and isinstance(parents[0], dict):
        return parents[0].get("id")
    return nexset.get("parent_data_set_id")


def read_flow(reader: Reader, source_id: int) -> dict | None:
    body = reader.get(f"/{SOURCES}/{source_id}/flow", params={"flows_only": 1})
    flows = (body or {}).get("flows") or []
    return flows[0] if flows else None


def observe(cfg: DeploymentConfig, reader: Reader) -> State:
    state = State()
    for i, spec in enumerate(cfg.credentials):
        state.creds[spec.name] = _pick_credential(reader, spec, f"credentials[{i}]")
    source, state.source_adopted = reader.pick(f"/{SOURCES}", cfg.source.name, "source")
    if source is not None:
        state.source = reader.get(f"/{SOURCES}/{source['id']}", params={"expand": 1}) or source
        detected_id = detected_nexset_id(state.source, reader)
        if detected_id is not None:
            state.detected = reader.get(f"/{NEXSETS}/{detected_id}")
        state.flow = read_flow(reader, source["id"])
    if cfg.nexset is not None and state.detected is not None:
        named = [
            o for o in reader.named(f"/{NEXSETS}", cfg.nexset.name) if o["id"] != state.detected["id"]
        ]
        derived, state.derived_adopted = reader.pick(f"/{NEXSETS}", cfg.nexset.name, "nexset", named)
        if derived is not None:
            state.derived = reader.get(f"/{NEXSETS}/{derived['id']}") or derived
    for key, spec in cfg.all_destinations():
        sink, adopted = reader.pick(f"/{SINKS}", spec.name, key)
        state.sinks[key] = sink
        state.sinks_adopted[key] = adopted
    return state


def _pick_credential(reader: Reader, spec: CredentialSpec, where: str) -> dict | None:
    named = reader.named(f"/{CREDENTIALS}", spec.name)
    ours = [c for c in named if has_tag(c, reader.tag)]
    if len(ours) == 1 or len(named) == 1:
        return (ours or named)[0]
    if named:
        ids = ", ".join(str(c["id"]) for c in named)
        raise nexla_ops.OpsError(
            f"{where}.name: {len(named)} credentials are named {spec.name!r} (ids {ids}); "
            "refer to one by data_credentials_id instead"
        )
    return None


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


@dataclass
class Step:
    action: str  # create | update | unchanged | replace
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


def _update_config(changes: dict, body: dict, name: str, existing: dict, new: dict,
                   raw_spec: dict) -> None:
    """Changes for the keys the config sets under `name` (keys only the server has are kept);
    any change sends the whole merged mapping."""
    old = existing.get(name) or {}
    raw_new = raw_spec.get(name) or {}
    differing = [key for key, value in new.items() if old.get(key) != value]
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
    if spec.data_credentials_id is not None:
        return spec.data_credentials_id
    if spec.credential is not None:
        return plan.credential_ids[spec.credential]
    return plan.cfg.credential_id


def build_plan(cfg: DeploymentConfig, state: State, tag: str, raw_cfg: dict | None = None) -> Plan:
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
        _update_config(changes, body, "source_config", src, src_config, raw_src)
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
        _update_config(changes, upd, "sink_config", sink, sink_config, raw_dest)
        _update(changes, upd, "data_credentials_id", sink.get("data_credentials_id"), cred)
        _update(changes, upd, "data_set_id", sink.get("data_set_id"), final_nexset)
        _update_common(changes, upd, sink, spec, tag, state.sinks_adopted.get(key))
        plan.steps.append(Step("update" if changes else "unchanged", SINKS, spec.name, key,
                               id=sink["id"], changes=changes, body=upd, existing=sink))

    # The flow's run state.
    want = "ACTIVE" if cfg.activate else "PAUSED"
    flow = state.flow
    restart = flow is not None and flow.get("status") == "ACTIVE" and any(
        s.structural for s in plan.steps)
    if flow is None or source_new:
        plan.steps.append(Step("create", FLOWS, src_spec.name, "flow",
                               changes={"status": {"from": None, "to": want}}))
    elif flow.get("status") != want or restart:
        changes = {"status": {"from": flow.get("status"), "to": want}}
        if restart:
            changes["paused_during_apply"] = True
        plan.steps.append(Step("update", FLOWS, src_spec.name, "flow", id=flow["id"],
                               changes=changes, existing=flow))
    else:
        plan.steps.append(Step("unchanged", FLOWS, src_spec.name, "flow", id=flow["id"],
                               existing=flow))
    return plan


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
# Applying, with a journal for rollback
# --------------------------------------------------------------------------------------------


class Interrupted(BaseException):
    """Raised by the SIGTERM/SIGINT handlers so the apply unwinds into its rollback."""


class DiscoveryTimeout(nexla_ops.OpsError):
    pass


@dataclass
class Entry:
    """One journal entry: something this run did that a rollback must undo."""

    kind: str  # created | in_doubt | updated | paused | activated | destroyed
    resource_type: str
    name: str
    id: int | None = None
    old: dict = field(default_factory=dict)  # updated: the fields' previous values


def _flow_path(flow_id: int, verb: str) -> str:
    return f"/{FLOWS}/{flow_id}/{verb}"


class Applier:
    def __init__(self, ctx, plan: Plan, reader: Reader, *, discovery_timeout: float,
                 activation_timeout: float):
        self.ctx, self.plan, self.reader = ctx, plan, reader
        self.cfg, self.tag = plan.cfg, plan.tag
        self.discovery_timeout = discovery_timeout
        self.activation_timeout = activation_timeout
        self.journal: list[Entry] = []
        self.actions: list[dict] = []
        self.ids: dict[str, Any] = {}  # NewId.what ("source", "nexset x", ...) -> real id
        self.detected_id: int | None = None
        self.flow_id: int | None = None
        self.leftovers: list[dict] = []
        self.unrestored: list[dict] = []
        self.destroyed: list[dict] = []

    # -- small API wrappers ------------------------------------------------------------------
    def _record(self, step: Step, action: str | None = None) -> None:
        self.actions.append({**step.as_action(), "action": action or step.action})

    def _create(self, step: Step, path: str, body: dict) -> dict:
        self.journal.append(Entry("in_doubt", step.resource_type, step.name))

        def find():
            found = self.reader.ours(path, step.name, refresh=True)
            if step.resource_type == NEXSETS:  # a derived nexset: the one on our parent
                found = [o for o in found if parent_id(o) == body.get("parent_data_set_id")]
            return found[0] if found else None

        what = f"POST {path} ({step.name})"
        obj = self.ctx.create_once(
            find, lambda: self.ctx.request("POST", path, json=body, what=what), what=what)
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), int):
            raise nexla_ops.ApiError(f"POST {path} ({step.name}): the response carries no id")
        self.journal[-1] = Entry("created", step.resource_type, step.name, obj["id"])
        step.id = obj["id"]
        self._record(step, "create" if step.action == "create" else "replace")
        self.ctx.log("created %s %s (id %s)", step.resource_type, step.name, obj["id"])
        return obj

    def _update(self, step: Step, body: dict) -> None:
        existing = step.existing or {}
        old = {k: existing.get(k) for k in body}
        self.journal.append(Entry("updated", step.resource_type, step.name, step.id, old))
        self.ctx.request("PUT", f"/{step.resource_type}/{step.id}", json=body)
        self._record(step)
        self.ctx.log("updated %s %s (id %s): %s", step.resource_type, step.name, step.id,
                     ", ".join(step.changes))

    def _set_flow(self, flow_id: int, verb: str, name: str) -> None:
        kind = "activated" if verb == "activate" else "paused"
        self.journal.append(Entry(kind, FLOWS, name, flow_id))
        self.ctx.request("PUT", _flow_path(flow_id, verb), params={"all": 1})
        self.actions.append({"action": verb, "resource_type": FLOWS, "id": flow_id,
                             "name": name, "changes": {}})
        self.ctx.log("%s flow %s", kind, flow_id)

    def _converge(self, step: Step, path: str) -> int:
        """Create (or replace) or update one planned object; its id. NewId placeholders in the
        body become the ids this apply has learned by now."""
        body = {k: self.ids[v.what] if isinstance(v, NewId) else v for k, v in step.body.items()}
        if step.action in ("create", "replace"):
            return self._create(step, path, body)["id"]
        if step.action == "update":
            self._update(step, body)
        return step.id

    # -- the apply ----------------------------------------------------------------------------
    def run(self) -> None:
        steps = {s.key: s for s in self.plan.steps}
        flow_step = steps["flow"]
        state = self.plan.state
        want_active = self.cfg.activate

        # 1. Pause a live flow before a structural change (or when the config wants it paused).
        if state.flow is not None and state.flow.get("status") == "ACTIVE" and (
            flow_step.changes.get("paused_during_apply") or not want_active
            or any(s.action == "replace" for s in self.plan.steps)
        ):
            self.flow_id = state.flow["id"]
            self._set_flow(self.flow_id, "pause", self.cfg.source.name)

        # 2. Replacements: delete the old objects first (they hold the names we need).
        self._destroy_replaced()

        # 3. Credentials.
        for i, spec in enumerate(self.cfg.credentials):
            step = steps[f"credentials[{i}]"]
            cred_id = self._converge(step, f"/{CREDENTIALS}")
            if step.action == "create":
                self.ids[f"credential {spec.name}"] = cred_id
                self._probe(cred_id, f"credentials[{i}]")

        # 4. Source.
        step = steps["source"]
        source_id = self._converge(step, f"/{SOURCES}")
        self.ids["source"] = source_id

        # 5. Discovery.
        if state.detected is not None and step.action in ("update", "unchanged"):
            self.detected_id = state.detected["id"]
        else:
            self.detected_id = self._wait_for_discovery(source_id)
        self.ids["detected nexset"] = self.detected_id

        # 6. Derived nexset.
        if self.cfg.nexset is not None:
            nexset_id = self._converge(steps["nexset"], f"/{NEXSETS}")
            self.ids[f"nexset {self.cfg.nexset.name}"] = nexset_id

        # 7. Destinations, on the final nexset (its planned NewId is now a real id).
        for key, _spec in self.cfg.all_destinations():
            self._converge(steps[key], f"/{SINKS}")

        # 8. The flow: activate and verify, or leave it paused.
        if self.flow_id is None or steps["source"].action == "replace":
            flow = read_flow(self.reader, source_id)
            if flow is None:
                raise nexla_ops.ApiError(f"source {source_id} is not part of a flow")
            self.flow_id = flow["id"]
            status = flow.get("status")
        else:
            status = "PAUSED"  # step 1 paused it
        if want_active and status != "ACTIVE":
            self._set_flow(self.flow_id, "activate", self.cfg.source.name)
            self._verify_active(self.flow_id)
        elif not want_active and status == "ACTIVE":
            self._set_flow(self.flow_id, "pause", self.cfg.source.name)
        for s in self.plan.steps:
            if s.action == "unchanged":
                self._record(s)

    def _probe(self, cred_id: int, where: str) -> None:
        try:
            self.ctx.request("GET", f"/{CREDENTIALS}/{cred_id}/probe")
        except nexla_ops.OpsError as exc:
            raise nexla_ops.ApiError(f"{where}: credential {cred_id} failed its probe: "
                                     f"{exc.message}") from exc

    def _wait_for_discovery(self, source_id: int) -> int:
        started = time.monotonic()
        delay = 0.05
        while True:
            src = self.reader.get(f"/{SOURCES}/{source_id}", params={"expand": 1}) or {}
            found = detected_nexset_id(src, self.reader)
            if found is not None:
                self.ctx.progress_done()
                self.ctx.log("source %s: nexset %s detected after %.1fs", source_id, found,
                             time.monotonic() - started)
                return found
            waited = time.monotonic() - started
            if waited + delay > self.discovery_timeout:
                self.ctx.progress_done()
                raise DiscoveryTimeout(
                    f"source {source_id}: no nexset detected within {self.discovery_timeout:g}s "
                    "(raise --wait-timeout or wait.discovery_timeout)"
                )
            self.ctx.progress(f"waiting for source {source_id} to detect its nexset "
                              f"({waited:.0f}s of {self.discovery_timeout:g}s)")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _verify_active(self, flow_id: int) -> None:
        started = time.monotonic()
        delay = 0.1
        while True:
            body = self.reader.get(f"/{FLOWS}/{flow_id}", params={"flows_only": 1}) or {}
            roots = body.get("flows") or []
            status = roots[0].get("status") if roots else None
            if status == "ACTIVE":
                return
            if time.monotonic() - started + delay > self.activation_timeout:
                raise nexla_ops.ApiError(
                    f"flow {flow_id} reports {status or 'no status'} instead of ACTIVE after "
                    f"{self.activation_timeout:g}s"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _destroy_replaced(self) -> None:
        replaced = [s for s in self.plan.steps if s.action == "replace"]
        order = {SINKS: 0, NEXSETS: 1, SOURCES: 2}
        for step in sorted(replaced, key=lambda s: order.get(s.resource_type, 3)):
            self._delete(step.resource_type, step.id)
            self.destroyed.append({"type": step.resource_type, "id": step.id,
                                   "name": step.name})
            self.journal.append(Entry("destroyed", step.resource_type, step.name, step.id))
            self.actions.append({"action": "delete", "resource_type": step.resource_type,
                                 "id": step.id, "name": step.name, "changes": {}})

    # -- deleting and rollback ----------------------------------------------------------------
    def _delete(self, resource_type: str, obj_id: int) -> None:
        """Delete one object; 404 counts as done; on 409 (active) pause it and try once more."""
        path = f"/{resource_type}/{obj_id}"
        try:
            self.ctx.request("DELETE", path)
        except nexla_ops.NotFound:
            return
        except nexla_ops.OpsError as exc:
            if exc.status != 409 or resource_type == CREDENTIALS:
                raise
            self.ctx.log("%s %s is active; pausing it before deleting", resource_type, obj_id)
            self.ctx.request("PUT", f"{path}/pause", params={"all": 1})
            try:
                self.ctx.request("DELETE", path)
            except nexla_ops.NotFound:
                return

    def rollback(self) -> None:
        """Undo this run's journal in reverse: delete what it created, restore what it changed."""
        for entry in reversed(self.journal):
            try:
                self._undo(entry)
            except Exception as exc:  # keep going: clean up as much as possible
                message = exc.message if isinstance(exc, nexla_ops.OpsError) else str(exc)
                self.ctx.warn("rollback: could not undo %s %s %s (id %s): %s", entry.kind,
                              entry.resource_type, entry.name, entry.id, message)
                if entry.kind in ("created", "in_doubt"):
                    self.leftovers.append({"type": entry.resource_type, "id": entry.id,
                                           "name": entry.name})
                elif entry.kind != "destroyed":
                    self.unrestored.append({"type": entry.resource_type, "id": entry.id,
                                            "name": entry.name,
                                            "problem": f"not restored after {entry.kind}"})

    def _undo(self, entry: Entry) -> None:
        if entry.kind == "created":
            self._delete(entry.resource_type, entry.id)
            self._record_undo("delete", entry)
        elif entry.kind == "in_doubt":
            # The create's outcome is unknown: anything ours by that name is from this run
            # (we hold the deployment lock and saw none before).
            for obj in self.reader.ours(f"/{entry.resource_type}", entry.name, refresh=True):
                if entry.resource_type == NEXSETS and obj.get("id") == self.detected_id:
                    continue
                entry.id = obj["id"]
                self._delete(entry.resource_type, obj["id"])
                self._record_undo("delete", entry)
        elif entry.kind == "updated":
            self.ctx.request("PUT", f"/{entry.resource_type}/{entry.id}", json=entry.old)
            self._record_undo("restore", entry)
        elif entry.kind == "paused":
            if any(e.kind == "destroyed" and e.resource_type == SOURCES for e in self.journal):
                return  # that flow went with the replaced source
            self.ctx.request("PUT", _flow_path(entry.id, "activate"), params={"all": 1})
            self._record_undo("activate", entry)
        elif entry.kind == "activated":
            try:
                self.ctx.request("PUT", _flow_path(entry.id, "pause"), params={"all": 1})
            except nexla_ops.NotFound:
                return
            self._record_undo("pause", entry)
        # "destroyed": objects a replace deleted cannot be brought back; reported in the result.

    def _record_undo(self, action: str, entry: Entry) -> None:
        self.actions.append({"action": action, "resource_type": entry.resource_type,
                             "id": entry.id, "name": entry.name, "changes": {},
                             "rollback": True})



# --------------------------------------------------------------------------------------------
# Lock, signals, result
# --------------------------------------------------------------------------------------------


def default_lock_dir() -> Path:
    base = os.environ.get("NEXLA_OPS_STATE_DIR")
    return Path(base) / "locks" if base else Path.cwd() / ".nexla-ops" / "locks"


def lock_path(directory: Path, name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if safe != name or safe.startswith("."):
        import hashlib

        safe = f"{safe.lstrip('.')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return directory / f"{safe}.lock"


def deployment_lock(directory: Path, name: str, timeout: float, ctx):
    """An exclusive flock per deployment name (nexla_ops.lock_file); use it in a with-block."""
    path = lock_path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    told = False

    def waiting(waited: float) -> None:
        nonlocal told
        if not told:
            ctx.log("waiting for another apply of deployment %r (lock %s)", name, path)
            told = True
        ctx.progress(f"waiting for lock {path} ({waited:.0f}s)")

    try:
        return nexla_ops.lock_file(path, wait=timeout, on_wait=waiting)
    except nexla_ops.LockBusy:
        raise nexla_ops.Transient(f"another apply of deployment {name!r} still holds {path} "
                                  f"after {timeout:g}s; try again later") from None
    finally:
        ctx.progress_done()


def _raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def _defer_signal(signum, _frame):
    nexla_ops.logger.warning("%s received during rollback; finishing the rollback first",
                             signal.Signals(signum).name)


@contextlib.contextmanager
def signal_handlers(handler):
    """SIGINT/SIGTERM -> handler for the duration (main thread only; restored afterwards)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _ids(plan: Plan | None, applier: Applier | None, status: str) -> dict:
    out = {"source_id": None, "nexset_ids": [], "destination_ids": [], "flow_id": None}
    if plan is None:
        return out
    state = plan.state
    if applier is not None and status in ("applied", "partial"):
        ids = applier.ids
        out["source_id"] = ids.get("source")
        out["nexset_ids"] = [i for i in (applier.detected_id, ids.get(
            f"nexset {plan.cfg.nexset.name}") if plan.cfg.nexset else None) if i is not None]
        out["destination_ids"] = [s.id for s in plan.steps if s.resource_type == SINKS and s.id]
        out["flow_id"] = applier.flow_id
        return out
    # planned / unchanged / failed / rolled_back: what exists (rollback restored it)
    out["source_id"] = state.source["id"] if state.source else None
    out["nexset_ids"] = [n["id"] for n in (state.detected, state.derived) if n]
    out["destination_ids"] = [s["id"] for s in state.sinks.values() if s]
    out["flow_id"] = state.flow["id"] if state.flow else None
    return out


def build_result(status: str, *, name: str | None, plan: Plan | None, applier: Applier | None,
                 started: float, error: str | None = None, warnings=()) -> dict:
    if applier is not None:
        actions = applier.actions
    elif plan is not None:
        actions = [s.as_action() for s in plan.steps]
    else:
        actions = []
    result = {
        "status": status,
        "deployment": name,
        "actions": actions,
        **_ids(plan, applier, status),
        "leftovers": (applier.leftovers + applier.unrestored) if applier else [],
        "duration_s": round(time.monotonic() - started, 3),
    }
    if applier is not None and applier.destroyed:
        result["destroyed"] = applier.destroyed
    if error:
        result["error"] = error
    if warnings:
        result["warnings"] = list(warnings)
    return result


_SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "unchanged": "=", "delete": "-",
           "activate": ">", "pause": "||", "restore": "<"}


def render_text(result: dict) -> str:
    status, name = result["status"], result.get("deployment")
    counts: dict[str, int] = {}
    for a in result["actions"]:
        if not a.get("rollback"):
            counts[a["action"]] = counts.get(a["action"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing"
    head = "plan for" if status == "planned" else "deployment"
    lines = [f"{head} {name!r}: {status} ({summary}) in {result['duration_s']:.1f}s"]
    for a in result["actions"]:
        label = f"id {a['id']}" if a.get("id") is not None else ""
        prefix = "rollback " if a.get("rollback") else ""
        lines.append(f"  {_SYMBOL.get(a['action'], '*'):>3} {prefix}{a['action']:<9} "
                     f"{a['resource_type']:<16} {a['name']} {label}".rstrip())
        for fld, change in (a.get("changes") or {}).items():
            if isinstance(change, dict) and "from" in change:
                lines.append(f"        {fld}: {json.dumps(change['from'], default=str)} -> "
                             f"{json.dumps(change['to'], default=str)}")
            else:
                lines.append(f"        {fld}: {json.dumps(change, default=str)}")
    if status != "planned":
        lines.append(f"source {result['source_id']}, nexsets {result['nexset_ids']}, "
                     f"destinations {result['destination_ids']}, flow {result['flow_id']}")
    for item in result.get("leftovers") or []:
        lines.append(f"  LEFT OVER: {item['type']} {item['id']} {item['name']}"
                     + (f" ({item['problem']})" if item.get("problem") else ""))
    if result.get("error"):
        lines.append(f"error: {result['error']}")
    return "\n".join(lines)


def emit_result(ctx, args, result: dict) -> None:
    if args.output:
        nexla_ops.write_atomic(args.output, nexla_ops.dumps(result) + "\n")
    if args.json:
        ctx.out(result, "json")
    else:
        ctx.out(render_text(result), "text")


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def run(args, ctx) -> int:
    started = time.monotonic()
    if args.print_schema:
        # Written as is: redact() would mask the schema's own `credentials` property.
        sys.stdout.write(json.dumps(config_schema(), indent=2) + "\n")
        return nexla_ops.EXIT_OK
    if not args.config:
        raise nexla_ops.BadInput("--config: required (a JSON or YAML deployment file; see "
                                 "--print-schema)")
    wait_override = (nexla_ops.parse_duration(args.wait_timeout, field="--wait-timeout")
                     if args.wait_timeout else None)
    if wait_override is not None and wait_override <= 0:
        raise nexla_ops.BadInput("--wait-timeout: expected a positive duration")
    lock_timeout = nexla_ops.parse_duration(args.lock_timeout, field="--lock-timeout")
    raw = nexla_ops.load_structured_file(args.config)
    try:
        cfg, warnings = validate_config(raw, require_env=not args.plan)
    except nexla_ops.BadInput as exc:
        lines = exc.detail if isinstance(exc.detail, list) else [exc.message]
        for line in lines:
            nexla_ops.logger.error("%s: %s", args.config, line)
        if args.json or args.output:
            result = build_result("failed", name=None, plan=None, applier=None,
                                  started=started, error=exc.message)
            result["problems"] = lines
            emit_result(ctx, args, result)
        return nexla_ops.EXIT_BAD_INPUT
    for warning in warnings:
        ctx.warn("%s", warning)
    name = cfg.deployment_name
    tag = TAG_PREFIX + name
    discovery_timeout = wait_override or cfg.wait.discovery_timeout
    activation_timeout = wait_override or cfg.wait.activation_timeout
    plan: Plan | None = None

    def finish(status: str, code: int, *, applier: Applier | None = None,
               error: str | None = None) -> int:
        if error:
            nexla_ops.logger.error("%s", error)
        emit_result(ctx, args, build_result(status, name=name, plan=plan, applier=applier,
                                            started=started, error=error, warnings=warnings))
        return code

    def read_plan() -> tuple[Plan, Reader]:
        reader = Reader(ctx, tag, adopt=args.adopt)
        new_plan = build_plan(cfg, observe(cfg, reader), tag, raw)
        for note in new_plan.notes:
            ctx.warn("%s", note)
            warnings.append(note)
        return new_plan, reader

    try:
        if args.plan:
            plan, _ = read_plan()
            probe_error = _probe_all(ctx, plan)
            if probe_error:
                return finish("failed", nexla_ops.EXIT_FAILED, error=probe_error)
            return finish("planned", nexla_ops.EXIT_OK)
        lock_dir = Path(args.lock_dir) if args.lock_dir else default_lock_dir()
        with deployment_lock(lock_dir, name, lock_timeout, ctx):
            # Everything is read again under the lock: a concurrent apply may just have finished.
            plan, reader = read_plan()
            probe_error = _probe_all(ctx, plan)
            if probe_error:
                return finish("failed", nexla_ops.EXIT_FAILED, error=probe_error)
            if plan.unchanged:
                return finish("unchanged", nexla_ops.EXIT_OK)
            replaced = [f"{s.resource_type} {s.name}" for s in plan.steps if s.action == "replace"]
            if replaced and not args.allow_replace:
                return finish("failed", nexla_ops.EXIT_FAILED, error=(
                    f"the config needs {', '.join(replaced)} deleted and re-created; re-run "
                    "with --allow-replace to do that"))
            applier = Applier(ctx, plan, reader, discovery_timeout=discovery_timeout,
                              activation_timeout=activation_timeout)
            error = _apply(ctx, applier)
            if error is None:
                return finish("applied", nexla_ops.EXIT_OK, applier=applier)
            return _failed(applier, error, finish)
    except nexla_ops.OpsError as exc:
        # Failed before any write (reading state, a conflict, the lock): nothing to undo.
        return finish("failed", exc.exit_code, error=exc.message)


def _probe_all(ctx, plan: Plan) -> str | None:
    """Probe every existing credential the config uses; the first failure's message."""
    for cred_id in plan.probe_ids:
        try:
            ctx.request("GET", f"/{CREDENTIALS}/{cred_id}/probe")
        except nexla_ops.NotFound:
            return f"credential {cred_id} not found"
        except nexla_ops.OpsError as exc:
            if exc.exit_code in (nexla_ops.EXIT_TRANSIENT, nexla_ops.EXIT_CONFIG,
                                 nexla_ops.EXIT_AUTH):
                raise
            return f"credential {cred_id} failed its probe: {exc.message}"
    return None


def _apply(ctx, applier: Applier) -> BaseException | None:
    """Run the apply; on any failure (Ctrl-C and SIGTERM included) roll back. The error."""
    with signal_handlers(_raise_interrupted):
        try:
            applier.run()
            return None
        except (Exception, Interrupted, KeyboardInterrupt) as exc:
            with signal_handlers(_defer_signal):
                if applier.journal:
                    ctx.warn("apply failed (%s); rolling back what this run did", _message(exc))
                    applier.rollback()
            return exc


def _failed(applier: Applier, error: BaseException, finish) -> int:
    if applier.leftovers or applier.unrestored or applier.destroyed:
        if applier.leftovers or applier.unrestored:
            nexla_ops.logger.error(
                "rollback incomplete: %d object(s) need a person (see leftovers)",
                len(applier.leftovers) + len(applier.unrestored))
        return finish("partial", nexla_ops.EXIT_PARTIAL, applier=applier,
                      error=_message(error))
    code = nexla_ops.EXIT_FAILED
    if isinstance(error, nexla_ops.OpsError) and error.exit_code in (
        nexla_ops.EXIT_CONFIG, nexla_ops.EXIT_AUTH, nexla_ops.EXIT_TRANSIENT
    ):
        code = error.exit_code  # e.g. 6: rolled back cleanly and safe to re-run
    status = "rolled_back" if applier.journal else "failed"
    return finish(status, code, applier=applier, error=_message(error))


def _message(exc: BaseException) -> str:
    if isinstance(exc, nexla_ops.OpsError):
        return exc.message
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return f"interrupted ({exc.args[0] if exc.args else 'SIGINT'})"
    return nexla_ops.translate(exc, "the apply").message
