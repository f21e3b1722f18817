"""Destroying a deployment: every object that carries its tag, and nothing else.

Nexla deletes are permanent and a lost response cannot be told from a refusal, so a destroy
is planned like an apply (read_destroy, a value that can be shown, saved and fingerprinted),
then carried out in this order:

1. a backup: the flow exported as a deploy_flow config (restorable with --config), written
   before the first write;
2. each of the deployment's flows paused;
3. deletes, children before parents: destinations, derived nexsets, sources (with the nexset
   Nexla detected for them), then credentials.

Ownership is the deployment tag. An object without it is never deleted; when one hangs off an
object of ours (a destination added in the UI, say), the whole destroy is refused before any
write, because ours cannot go without taking it along. A DELETE that answers 404 is done (a
retried request whose first try committed). A credential still in use elsewhere (409) is
kept and reported: deleting it would break someone else's flow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import nexla_ops

from .apply import delete_object
from .observe import Reader, flow_nodes, has_tag, parent_id, read_flow
from .spec import CREDENTIALS, FLOWS, NEXSETS, SINKS, SOURCES, TAG_PREFIX, env_names

# Children first: a parent with anything downstream cannot be deleted.
_ORDER = {SINKS: 0, NEXSETS: 1, SOURCES: 2, CREDENTIALS: 4}
_DETECTED = 3  # after its source: usually gone with it; deleted when it is not


@dataclass
class Doomed:
    """One object a destroy deletes."""

    resource_type: str
    id: int
    name: str
    rank: int  # delete order; deeper tree nodes first within a type
    with_source: bool = False  # the nexset Nexla detected: normally deleted with its source

    def as_action(self) -> dict:
        return {"action": "delete", "resource_type": self.resource_type, "id": self.id,
                "name": self.name,
                "changes": {"with_source": True} if self.with_source else {}}

    def as_item(self) -> dict:
        return {"type": self.resource_type, "id": self.id, "name": self.name}


@dataclass
class DestroyPlan:
    deployment: str
    tag: str
    flows: list[dict] = field(default_factory=list)  # our flows' roots: {id, name, status}
    deletes: list[Doomed] = field(default_factory=list)  # in the order they go
    foreign: list[dict] = field(default_factory=list)  # not ours, downstream of ours
    seen: list = field(default_factory=list)  # what the plan read, for its fingerprint

    @property
    def pauses(self) -> list[dict]:
        return [f for f in self.flows if f.get("status") == "ACTIVE"]

    @property
    def empty(self) -> bool:
        return not self.deletes

    def actions(self) -> list[dict]:
        return ([{"action": "pause", "resource_type": FLOWS, "id": f["id"], "name": f["name"],
                  "changes": {}} for f in self.pauses]
                + [d.as_action() for d in self.deletes])

    def refusal(self) -> str | None:
        """Why this destroy cannot start (objects that are not ours hang off ours)."""
        if not self.foreign:
            return None
        listed = "; ".join(f"{o['type']} {o['id']} {o['name']!r} (under {o['under']})"
                           for o in self.foreign[:10])
        return (f"{len(self.foreign)} object(s) in this deployment's flow do not carry tag "
                f"{self.tag} and would have to go with it: {listed}. Delete them or move them "
                "to another flow first; nothing was deleted")


def _seen(kind: str, obj: dict) -> list:
    return [kind, obj.get("id"), obj.get("name"), sorted(map(str, obj.get("tags") or [])),
            obj.get("status"), obj.get("updated_at")]


def read_destroy(ctx, deployment: str) -> DestroyPlan:
    """What destroying `deployment` would delete: GETs only. Sources, destinations, nexsets
    and credentials are found by tag in their listings (renamed ones too); each source's flow
    tree gives the delete order and anything foreign downstream."""
    tag = TAG_PREFIX + deployment
    reader = Reader(ctx, tag)
    plan = DestroyPlan(deployment, tag)
    doomed: dict[tuple[str, int], Doomed] = {}
    for source in (s for s in reader.list_all(f"/{SOURCES}") if has_tag(s, tag)):
        plan.seen.append(_seen(SOURCES, source))
        doomed[SOURCES, source["id"]] = Doomed(SOURCES, source["id"], source.get("name", ""),
                                              _ORDER[SOURCES] * 100)
        root = read_flow(reader, source["id"])
        if root is not None:
            plan.flows.append({"id": root["id"], "name": source.get("name", ""),
                               "status": root.get("status")})
            plan.seen.append(_seen(FLOWS, root))
            _walk(reader, plan, doomed, root, f"source {source['id']}")
    outside: list[dict] = []  # tagged nexsets in flows whose source is not ours
    for kind in (SINKS, NEXSETS, CREDENTIALS):
        for obj in reader.list_all(f"/{kind}"):
            if has_tag(obj, tag) and (kind, obj["id"]) not in doomed:
                plan.seen.append(_seen(kind, obj))
                doomed[kind, obj["id"]] = Doomed(kind, obj["id"], obj.get("name", ""),
                                                 _ORDER[kind] * 100)
                if kind == NEXSETS:
                    outside.append(obj)
    if outside:
        _outside_flows(reader, plan, doomed, outside)
    plan.deletes = sorted(doomed.values(), key=lambda d: (d.rank, d.id))
    plan.seen.sort(key=str)
    return plan


def _walk(reader: Reader, plan: DestroyPlan, doomed: dict, root: dict, where: str) -> None:
    """Every nexset and destination under a source of ours: ours by tag (the detected nexset
    by its source), or foreign. Deeper nodes sort first, so children go before parents."""
    for kind, obj_id, ancestors in flow_nodes(root):
        obj = reader.get(f"/{kind}/{obj_id}")
        if obj is None:
            continue
        plan.seen.append(_seen(kind, obj))
        depth = len(ancestors) + 1
        detected = kind == NEXSETS and depth == 1
        if detected or has_tag(obj, plan.tag):
            rank = _DETECTED * 100 if detected else _ORDER[kind] * 100 - depth
            doomed[kind, obj_id] = Doomed(kind, obj_id, obj.get("name", ""), rank,
                                          with_source=detected)
        else:
            parent = (f"{'nexset' if ancestors[-1][0] == NEXSETS else 'destination'} "
                      f"{ancestors[-1][1]}") if ancestors else where
            plan.foreign.append({"type": kind, "id": obj_id, "name": obj.get("name", ""),
                                 "under": parent})


def _outside_flows(reader: Reader, plan: DestroyPlan, doomed: dict, outside: list[dict]) -> None:
    """Tagged nexsets under someone else's source (re-parented in the UI, or the source lost
    its tag): their children come from the listings. Untagged ones are foreign, as in our own
    flows; deeper nexsets of ours go first."""
    children: dict[int, list[tuple[str, dict]]] = {}
    for sink in reader.list_all(f"/{SINKS}"):
        if isinstance(sink.get("data_set_id"), int):
            children.setdefault(sink["data_set_id"], []).append((SINKS, sink))
    parents: dict[int, int] = {}
    for nexset in reader.list_all(f"/{NEXSETS}"):
        parent = parent_id(nexset)
        if isinstance(parent, int):
            children.setdefault(parent, []).append((NEXSETS, nexset))
            parents[nexset["id"]] = parent
    for nexset in outside:
        for kind, child in children.get(nexset["id"], []):
            if not has_tag(child, plan.tag):
                plan.seen.append(_seen(kind, child))
                plan.foreign.append({"type": kind, "id": child["id"],
                                     "name": child.get("name", ""),
                                     "under": f"nexset {nexset['id']}"})
        depth, node = 0, nexset["id"]
        while node in parents and depth < 100:  # bounded: a listing could loop
            depth, node = depth + 1, parents[node]
        doomed[NEXSETS, nexset["id"]].rank = _ORDER[NEXSETS] * 100 - depth


def fingerprint(plan: DestroyPlan) -> str:
    from .saved import digest_of

    return digest_of({"deployment": plan.deployment, "seen": plan.seen})


# Backup
# --------------------------------------------------------------------------------------------


def default_backup_path(api: str, deployment: str) -> str:
    """A new file in backups/ of the state directory: never one an earlier run wrote (a
    re-run after a partial destroy must not overwrite the only complete backup)."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    for attempt in range(1, 1000):
        suffix = f"-{stamp}{'' if attempt == 1 else f'-{attempt}'}.yaml"
        path = nexla_ops.target_path("backups", api, deployment, prefix="destroy-",
                                     suffix=suffix)
        if not path.exists():
            return str(path)
    raise nexla_ops.OpsError(f"backup: no free file name in {path.parent}")


def _placeholders_back(text: str, raw_config: dict) -> str:
    """`text` with the values of the config's ${ENV:NAME} references put back as references:
    a secret the config keeps in an ordinary field (a path, a table) is stored in clear by
    the API, so the export of it would be too."""
    import os

    for name in sorted(env_names(raw_config)):
        value = os.environ.get(name, "")
        if len(value) >= 4:  # shorter values would match by chance
            text = text.replace(value, f"${{ENV:{name}}}")
    return text


def backup_text(ctx, plan: DestroyPlan, api: str, raw_config: dict | None = None
                ) -> tuple[str, str]:
    """(kind, text) of a backup of what is about to be deleted.

    One flow that exports cleanly: its deploy_flow config, restorable as it is with
    `deploy_flow --config PATH` (secrets as ${ENV:...} placeholders). Anything else (twins, a
    shape no config describes, only credentials left): the objects as read, secrets redacted,
    which a person can rebuild from but deploy_flow does not read."""
    from .export import Unexportable, export_flow, render

    header = (f"# nexla-ops backup of deployment {plan.deployment!r} before --destroy, "
              f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, from {api}\n")
    if len(plan.flows) == 1:
        try:
            exported = export_flow(ctx, plan.flows[0]["id"])
        except (Unexportable, nexla_ops.NotFound) as exc:  # NotFound: another run's destroy
            ctx.warn("backup: %s; writing the objects as read instead", exc.message)
        else:
            text = render(exported.config, "yaml")
            return "config", (header + _credentials_note(plan) + "# restore: deploy_flow "
                              "--config THIS_FILE (set the ${ENV:...} variables first)\n"
                              + _placeholders_back(text, raw_config or {}))
    objects = []
    for doomed in plan.deletes:
        try:
            obj = None if doomed.with_source else ctx.request(
                "GET", f"/{doomed.resource_type}/{doomed.id}")
        except nexla_ops.NotFound:
            obj = None  # gone since the plan was read
        objects.append({**doomed.as_item(), "object": nexla_ops.redact(obj)})
    import yaml

    text = yaml.safe_dump({"deployment": plan.deployment, "objects": objects},
                          sort_keys=False, allow_unicode=True)
    return "snapshot", (header + "# objects as read (secrets redacted); not a deploy_flow "
                        "config\n" + _placeholders_back(text, raw_config or {}))


def _credentials_note(plan: DestroyPlan) -> str:
    """The credentials this destroy deletes: the API never returns their secrets, so a
    restore needs them given again (the deployment's own config has them as ${ENV:...})."""
    names = [d.name for d in plan.deletes if d.resource_type == CREDENTIALS]
    if not names:
        return ""
    return (f"# credentials deleted with it: {', '.join(names)}; to restore, add their "
            "credentials_type and `credentials:` settings below (or deploy from the "
            "deployment's own config)\n")


# Carrying it out
# --------------------------------------------------------------------------------------------


class Destroyer:
    """Pauses and deletes a DestroyPlan in order; stops at the first failure (what is left
    is for a re-run, which plans again)."""

    def __init__(self, ctx, plan: DestroyPlan):
        self.ctx, self.plan = ctx, plan
        self.actions: list[dict] = []
        self.destroyed: list[dict] = []
        self.kept: list[dict] = []  # ours, deliberately not deleted (a shared credential)

    def run(self) -> None:
        for flow in self.plan.pauses:
            try:
                self.ctx.request("PUT", f"/{FLOWS}/{flow['id']}/pause", params={"all": 1})
            except nexla_ops.NotFound:
                continue  # deleted meanwhile (a destroy racing from another host)
            self.actions.append({"action": "pause", "resource_type": FLOWS, "id": flow["id"],
                                 "name": flow["name"], "changes": {}})
            self.ctx.log("paused flow %s", flow["id"])
        for doomed in self.plan.deletes:
            try:
                delete_object(self.ctx, doomed.resource_type, doomed.id)
            except nexla_ops.OpsError as exc:
                if doomed.resource_type != CREDENTIALS or exc.status != 409:
                    raise
                self.kept.append({**doomed.as_item(), "problem": exc.message})
                self.ctx.warn("credential %s %r is still in use, so it was kept: %s",
                              doomed.id, doomed.name, exc.message)
                continue
            self.destroyed.append(doomed.as_item())
            self.actions.append(doomed.as_action())
            self.ctx.log("deleted %s %s %r", doomed.resource_type, doomed.id, doomed.name)

    def left(self, after: DestroyPlan | None) -> list[dict]:
        """What is still there: from a fresh read when there is one, else what was not done."""
        kept = {(k["type"], k["id"]) for k in self.kept}
        if after is not None:
            return [d.as_item() for d in after.deletes if (d.resource_type, d.id) not in kept]
        gone = {(d["type"], d["id"]) for d in self.destroyed} | kept
        return [d.as_item() for d in self.plan.deletes if (d.resource_type, d.id) not in gone]
