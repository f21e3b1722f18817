"""Reading a deployment's live state: its objects found by name and deployment tag."""

from __future__ import annotations

from dataclasses import dataclass, field

import nexla_ops

from .spec import CREDENTIALS, NEXSETS, SINKS, SOURCES, CredentialSpec, DeploymentConfig

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
    # (resource type, object): destinations and derived nexsets that carry this deployment's
    # tag but are no longer in the config; --prune deletes them.
    strays: list[tuple[str, dict]] = field(default_factory=list)
    foreign: list[tuple[str, dict]] = field(default_factory=list)  # in the flow, not tagged
    # (resource type, id) of an object in the flow -> the foreign objects downstream of it,
    # which a delete of it would take along (so a replace or prune of it is refused).
    foreign_under: dict[tuple[str, int], list[dict]] = field(default_factory=dict)


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
    state.strays = _strays(cfg, state, reader)
    _pair_renamed(cfg, state)
    return state


def flow_nodes(root: dict):
    """Every nexset and destination node under a flow's root node, depth first, as (resource
    type, id, ancestors): ancestors are the (type, id) of the nodes above it, the root's child
    first. A node of any other kind is skipped with what hangs off it."""
    todo = [(child, ()) for child in root.get("children") or []]
    while todo:
        node, ancestors = todo.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("data_sink_id"), int):
            key = (SINKS, node["data_sink_id"])
        elif isinstance(node.get("data_set_id"), int):
            key = (NEXSETS, node["data_set_id"])
        else:
            continue
        yield (*key, ancestors)
        todo += [(child, (*ancestors, key)) for child in node.get("children") or []]


def _pair_renamed(cfg: DeploymentConfig, state: State) -> None:
    """A configured destination not found by name, and a destination of ours (by tag) in this
    flow that the config does not name, of the same type: renamed since the last apply (in the
    UI, say). Paired only when that is unambiguous (one of each per type), so the plan shows
    a rename of the same object instead of a create and a stray."""
    specs = dict(cfg.all_destinations())
    missing: dict[str, list[str]] = {}
    for key, sink in state.sinks.items():
        if sink is None:
            missing.setdefault(specs[key].sink_type, []).append(key)
    for sink_type, keys in missing.items():
        found = [o for kind, o in state.strays if kind == SINKS and o.get("sink_type") == sink_type]
        if len(keys) == 1 and len(found) == 1:
            state.sinks[keys[0]] = found[0]
            state.strays = [(k, o) for k, o in state.strays if o is not found[0]]


def _strays(cfg: DeploymentConfig, state: State, reader: Reader) -> list[tuple[str, dict]]:
    """Objects in this deployment's flow that carry its tag but that the config no longer
    names: destinations first, then derived nexsets (the order they can be deleted in). Ones
    without the tag (added in the UI, say) are not ours: noted, never deleted."""
    if state.flow is None:
        return []
    kept = {(NEXSETS, n["id"]) for n in (state.detected, state.derived) if n}
    kept |= {(SINKS, s["id"]) for s in state.sinks.values() if s}
    source = ((SOURCES, state.source["id"]),) if state.source else ()
    # (kind, id, ancestors) of the objects the config does not name
    unnamed = [(kind, obj_id, source + ancestors)
               for kind, obj_id, ancestors in flow_nodes(state.flow)
               if (kind, obj_id) not in kept]
    strays = []
    order = {SINKS: 0, NEXSETS: 1}  # destinations first: the order they can be deleted in
    for kind, obj_id, ancestors in sorted(unnamed, key=lambda u: (order[u[0]], u[1])):
        obj = reader.get(f"/{kind}/{obj_id}")
        if obj is None:
            continue
        if has_tag(obj, reader.tag):
            strays.append((kind, obj))
            continue
        state.foreign.append((kind, obj))
        item = {"type": kind, "id": obj_id, "name": obj.get("name", "")}
        for ancestor in ancestors:
            state.foreign_under.setdefault(ancestor, []).append(item)
    return strays


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
