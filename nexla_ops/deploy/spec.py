"""The deployment config: pydantic models of credential, source, nexset, destinations and waits,
and validate_config, which reports every problem as `field.path: what was expected`."""

from __future__ import annotations

import os
import re
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
# Names are shown in listings and logs: control characters (a line break, an escape) would let
# a name forge lines there, so they are bad input.
Name = Annotated[StrictStr, Field(min_length=1, max_length=255,
                                  pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
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
    data_credentials_id: ResourceId | None = Field(
        None, description="existing credential id; null: the connector needs none (a webhook)")
    credential: Name | None = Field(
        None, description="name of an entry in the top-level `credentials` list"
    )
    description: StrictStr | None = None

    @model_validator(mode="after")
    def _one_credential(self):
        if "data_credentials_id" in self.model_fields_set and self.credential is not None:
            raise ValueError("give data_credentials_id or credential, not both")
        return self

    @property
    def without_credential(self) -> bool:
        """`data_credentials_id: null` given: no credential, not even the default one."""
        return "data_credentials_id" in self.model_fields_set and self.data_credentials_id is None


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
    validate_transform: StrictBool = Field(
        True, description="before activation, check the transform on the parent's samples "
                          "(all dropped, silent pass-through, a schema break fail the apply)")
    allow_schema_change: StrictBool = Field(
        False, description="an update may remove fields or change their types")

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
    elif single is None and many is None:
        problems.append("destination: required field is missing (or give destinations; "
                        "`destinations: []` for a flow without one, such as a webhook's)")
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
            "data_credentials_id" not in spec  # an explicit null: the connector needs none
            and spec.get("credential") is None
            and raw.get("credential_id") is None
        ):
            problems.append(
                f"{where}.data_credentials_id: required (or give {where}.credential or a "
                "top-level credential_id; null if the connector needs none)"
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


def _secret_problems(raw: dict, *, require_env: bool, warn_unset: bool = True
                     ) -> tuple[list[str], list[str]]:
    """(problems, warnings) about ${ENV:VAR} references and literal secrets."""
    problems, warnings = [], []
    for path, text in _walk_strings(raw, ""):
        for var in ENV_REF.findall(text):
            if var not in os.environ and (require_env or warn_unset):
                msg = f"{path}: environment variable {var} is not set"
                (problems if require_env else warnings).append(msg)
        key = re.split(r"[.\[]", path)[-1]
        if nexla_ops.is_secret_key(key) and text and not ENV_REF.search(text):
            warnings.append(f"{path}: literal secret in the config file; use ${{ENV:VAR}}")
    return problems, warnings


def validate_config(raw: Any, *, require_env: bool = True, warn_unset: bool = True
                    ) -> tuple[DeploymentConfig, list[str]]:
    """Validate a parsed config. Raises nexla_ops.BadInput listing every problem. Unset
    ${ENV:...} variables are problems with `require_env`, else warnings if `warn_unset` (a
    destroy sends no secret: it passes False)."""
    if not isinstance(raw, dict):
        raise nexla_ops.BadInput(f"config: expected an object (mapping), got {_type_name(raw)}")
    problems: list[str] = []
    config = None
    try:
        config = DeploymentConfig.model_validate(raw)
    except ValidationError as exc:
        problems += [f"{_path(e['loc'])}: {_describe(e)}" for e in exc.errors()]
    problems += _cross_problems(raw)
    secret_problems, warnings = _secret_problems(raw, require_env=require_env,
                                                 warn_unset=warn_unset)
    problems += secret_problems
    if problems:
        unique = list(dict.fromkeys(problems))
        raise nexla_ops.BadInput(
            f"invalid config: {len(unique)} problem(s): " + "; ".join(unique), detail=unique
        )
    return config, warnings


def env_names(value: Any) -> set[str]:
    """The variables a raw config value refers to with ${ENV:NAME}, at any depth."""
    return {name for _path, text in _walk_strings(value, "") for name in ENV_REF.findall(text)}


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
