"""Exporting a live flow as the deployment config that describes it, so that `deploy_flow
--plan` on the export has nothing to do: credentials by name, secret-looking settings as
${ENV:VAR} placeholders (never values), no ids, and keys in a stable order for git diffs.

A deployment config is one chain: source -> detected nexset -> at most one derived nexset ->
destinations (none, or any number) on the last nexset. A flow of another shape (two derived nexsets, destinations on
both nexsets, a shared origin) is refused with the reason rather than exported lossily."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import nexla_ops

from .spec import CREDENTIALS, ENV_REF, NEXSETS, SOURCES, TAG_PREFIX

# The order keys appear in an export: the config model's own order, so files read top-down
# like the flow (credentials -> source -> nexset -> destinations).
_TOP_ORDER = ("name", "credentials", "source", "nexset", "destinations", "activate")


class Unexportable(nexla_ops.OpsError):
    """The flow's shape has no deployment-config equivalent; the message says why."""


@dataclass
class Export:
    flow_id: int
    source_id: int
    deployment: str  # the deployment name: its tag's, else the source's name
    config: dict
    env: list[str] = field(default_factory=list)  # variables the placeholders name
    credentials: list[dict] = field(default_factory=list)  # {name, credentials_type} it needs
    untagged: bool = False  # not yet deployed by us: the first apply needs --adopt

    def summary(self) -> dict:
        return {"flow_id": self.flow_id, "source_id": self.source_id,
                "deployment": self.deployment, "env": self.env,
                "credentials": self.credentials, "needs_adopt": self.untagged}


def deployment_of(source: dict) -> str | None:
    """The deployment name in a source's nexla-ops tag, if it has one."""
    for tag in source.get("tags") or []:
        if isinstance(tag, str) and tag.startswith(TAG_PREFIX):
            return tag[len(TAG_PREFIX):]
    return None


def sorted_tree(value: Any) -> Any:
    """Mappings with their keys sorted, all the way down (list order is meaning: kept)."""
    if isinstance(value, dict):
        return {k: sorted_tree(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [sorted_tree(v) for v in value]
    return value


def _env_name(deployment: str, where: str, key: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{deployment}_{where}_{key}").strip("_").upper()
    return f"NEXLA_{words}"


def _placeholders(settings: Any, deployment: str, where: str, env: list[str]) -> Any:
    """`settings` with every secret-looking string replaced by an ${ENV:VAR} placeholder."""
    if isinstance(settings, dict):
        out = {}
        for key, value in settings.items():
            if (nexla_ops.is_secret_key(str(key)) and isinstance(value, str) and value
                    and not ENV_REF.fullmatch(value)):
                var = _env_name(deployment, where, str(key))
                env.append(var)
                out[key] = f"${{ENV:{var}}}"
            else:
                out[key] = _placeholders(value, deployment, where, env)
        return out
    if isinstance(settings, list):
        return [_placeholders(v, deployment, where, env) for v in settings]
    return settings


def _children(node: dict) -> list[dict]:
    return [c for c in node.get("children") or [] if isinstance(c, dict)]


def _chain(root: dict) -> tuple[int, int | None, list[int]]:
    """(detected nexset id, derived nexset id or None, destination ids) of a flow tree, or
    Unexportable naming what does not fit one chain."""
    where = f"flow {root.get('id')}"
    if root.get("shared_origin_node_id"):
        raise Unexportable(f"{where}: a shared flow (origin {root['shared_origin_node_id']}) "
                           "is exported from the flow that owns it")
    detected = [c for c in _children(root) if c.get("data_set_id")]
    if len(detected) != 1:
        raise Unexportable(f"{where}: its source has {len(detected)} detected nexsets; a "
                           "deployment config describes exactly one")
    detected_node = detected[0]
    derived = [c for c in _children(detected_node) if c.get("data_set_id")]
    sinks = [c for c in _children(detected_node) if c.get("data_sink_id")]
    if len(derived) > 1:
        raise Unexportable(f"{where}: nexset {detected_node['data_set_id']} has {len(derived)} "
                           "derived nexsets; a deployment config describes at most one")
    derived_id = None
    if derived:
        if sinks:
            raise Unexportable(f"{where}: destinations on both the detected nexset and the "
                               "derived one; a deployment config writes from one nexset")
        derived_node = derived[0]
        derived_id = derived_node["data_set_id"]
        deeper = [c for c in _children(derived_node) if c.get("data_set_id")]
        if deeper:
            raise Unexportable(f"{where}: nexset {derived_id} has derived nexsets of its own; "
                               "a deployment config describes one transform step")
        sinks = [c for c in _children(derived_node) if c.get("data_sink_id")]
    return detected_node["data_set_id"], derived_id, [s["data_sink_id"] for s in sinks]


def _by_id(items: Any) -> dict[int, dict]:
    return {o["id"]: o for o in items or [] if isinstance(o, dict) and isinstance(o.get("id"), int)}


def export_flow(ctx, flow_id: int) -> Export:
    """The deployment config of flow `flow_id` (any node id of it), read with one GET of the
    flow and one per derived nexset (the flow's nexset list carries no transform)."""
    body = ctx.request("GET", f"/flows/{flow_id}") or {}
    roots = body.get("flows") or []
    if not roots or not isinstance(roots[0], dict):
        raise nexla_ops.NotFound(f"flow {flow_id}: the API returned no flow")
    root = roots[0]
    source_id = root.get("data_source_id")
    if not isinstance(source_id, int):
        raise Unexportable(f"flow {root.get('id')}: it does not start at a source")
    sources, sinks = _by_id(body.get(SOURCES)), _by_id(body.get("data_sinks"))
    creds = _by_id(body.get(CREDENTIALS))
    source = sources.get(source_id) or ctx.request("GET", f"/{SOURCES}/{source_id}")
    _detected_id, derived_id, sink_ids = _chain(root)

    deployment = deployment_of(source) or source["name"]
    env: list[str] = []
    needed: dict[str, dict] = {}

    def credential_ref(obj: dict) -> dict:
        cred_id = obj.get("data_credentials_id")
        if cred_id is None:
            return {"data_credentials_id": None}  # the connector needs none (a webhook)
        cred = creds.get(cred_id) or ctx.request("GET", f"/{CREDENTIALS}/{cred_id}")
        needed[cred["name"]] = {"name": cred["name"],
                                "credentials_type": cred.get("credentials_type")}
        return {"credential": cred["name"]}

    def described(obj: dict) -> dict:
        return {"description": obj["description"]} if obj.get("description") is not None else {}

    config: dict[str, Any] = {}
    if deployment != source["name"]:
        config["name"] = deployment
    config["source"] = {
        "name": source["name"], "source_type": source.get("source_type"),
        **credential_ref(source), **described(source),
        "source_config": sorted_tree(_placeholders(source.get("source_config") or {},
                                                   deployment, "source", env))}
    if derived_id is not None:
        nexset = ctx.request("GET", f"/{NEXSETS}/{derived_id}") or {}
        custom = nexset.get("has_custom_transform") or (
            nexset.get("transform") is not None and nexset.get("transform_id") is None)
        config["nexset"] = {"name": nexset.get("name"), **described(nexset),
                            **({"transform": sorted_tree(nexset.get("transform"))} if custom
                               else {"transform_id": nexset.get("transform_id")})}
    destinations = []
    for sink_id in sink_ids:
        sink = sinks.get(sink_id) or ctx.request("GET", f"/data_sinks/{sink_id}")
        destinations.append({
            "name": sink["name"], "sink_type": sink.get("sink_type"), **credential_ref(sink),
            **described(sink),
            "sink_config": sorted_tree(_placeholders(sink.get("sink_config") or {}, deployment,
                                                     f"destination {sink['name']}", env))})
    config["destinations"] = sorted(destinations, key=lambda d: d["name"])
    config["activate"] = root.get("status") == "ACTIVE"
    if needed:
        config["credentials"] = [needed[name] for name in sorted(needed)]
    ordered = {key: config[key] for key in _TOP_ORDER if key in config}
    return Export(flow_id=root["id"], source_id=source_id, deployment=deployment,
                  config=ordered, env=sorted(set(env)),
                  credentials=[needed[name] for name in sorted(needed)],
                  untagged=deployment_of(source) is None)


def render(config: dict, fmt: str) -> str:
    """The config as YAML or JSON text, keys in the order given (already stable)."""
    if fmt == "json":
        import json

        return json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)


def select_flows(ctx, *, flow_ids=(), source_ids=(), name: str | None = None,
                 tag: str | None = None, every: bool = False) -> list[int]:
    """Root flow ids chosen by id, by source id, or from the source listing by name, by tag
    or all of it; in the order given (listing order for the filters), without repeats."""
    chosen = list(flow_ids)
    for source_id in source_ids:
        body = ctx.request("GET", f"/{SOURCES}/{source_id}/flow", params={"flows_only": 1})
        roots = (body or {}).get("flows") or []
        if not roots:
            raise nexla_ops.NotFound(f"source {source_id} is not part of a flow")
        chosen.append(roots[0]["id"])
    if name is not None or tag is not None or every:
        for source in ctx.paginate(f"/{SOURCES}"):
            if name is not None and source.get("name") != name:
                continue
            if tag is not None and tag not in (source.get("tags") or []):
                continue
            flow_id = source.get("origin_node_id") or source.get("flow_node_id")
            if isinstance(flow_id, int):
                chosen.append(flow_id)
    return list(dict.fromkeys(chosen))
