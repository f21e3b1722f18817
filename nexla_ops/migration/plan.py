"""The migration plan as a value: what the user asked for (Inputs), the live state it was
built from, and every write applying it makes. A plan is shown (--plan), saved and hashed
(--plan --out FILE) and applied later (--apply FILE), refused when the state moved since."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import nexla_ops
from nexla_ops.deploy.saved import check_plan_format, digest_of

FORMAT = "nexla-ops migration plan"
VERSION = 1
NAME_SUFFIX = "-v2"
MAX_NAME = 255
# What a plan reads from each live object: a change to any of them since --plan refuses --apply.
_DESTINATION_FIELDS = ("id", "name", "status", "data_set_id", "updated_at")
# The new nexset's description names its transform's digest: Nexla's nexset answer carries no
# inline transform, so this is how a re-run knows a nexset of that name is its own.
TRANSFORM_MARK = "transform sha256:"


def transform_digest(transform: dict | None) -> str:
    return digest_of(transform)[:16]


def description_for(old_id: int, transform: dict | None) -> str:
    return (f"Migration of nexset {old_id} (nexla-ops migrate_nexset); "
            f"{TRANSFORM_MARK}{transform_digest(transform)}")


def made_from(nexset: dict) -> str | None:
    """The transform digest a nexset's description records (None: not made by us)."""
    text = nexset.get("description")
    if not isinstance(text, str) or TRANSFORM_MARK not in text:
        return None
    return text.rsplit(TRANSFORM_MARK, 1)[1][:16]


@dataclass(frozen=True)
class Inputs:
    """The command's arguments that decide the plan, checked before the first request."""

    nexset: int
    transform: dict | None = None  # the new nexset's transform (from --transform-file)
    adopt: int | None = None  # or an existing derived nexset
    name: str | None = None
    destinations: tuple[int, ...] = ()  # empty: every destination on the old nexset
    samples: int = 20
    expect_fields: tuple[str, ...] = ()
    expect_schema: dict = field(default_factory=dict)  # field -> sorted list of JSON types
    allow_breaking: bool = False
    verify_timeout: float = 10.0

    def to_doc(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> Inputs:
        if not isinstance(doc, dict):
            raise nexla_ops.BadInput(f"{where}: inputs: expected an object")
        try:
            inputs = cls(**{**doc, "destinations": tuple(doc.get("destinations") or ()),
                            "expect_fields": tuple(doc.get("expect_fields") or ())})
            nexla_ops.parse_id(inputs.nexset, f"{where}: inputs.nexset")
        except TypeError as exc:
            raise nexla_ops.BadInput(f"{where}: inputs: {exc}") from None
        return inputs


@dataclass
class Plan:
    api_url: str
    inputs: Inputs
    old_nexset: dict  # {id, name, parent_id, updated_at}
    new_nexset: dict  # {name, parent_id, id (None: to be created), adopted, updated_at}
    destinations: list[dict]  # {id, name, status, data_set_id, updated_at}: before the switch
    created_at: str = ""

    def body(self) -> dict:
        return {"api_url": self.api_url, "inputs": self.inputs.to_doc(),
                "old_nexset": self.old_nexset, "new_nexset": self.new_nexset,
                "destinations": self.destinations, "writes": self.writes()}

    @property
    def digest(self) -> str:
        return digest_of(self.body())

    def document(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "created_at": self.created_at,
                **self.body(), "plan_sha256": self.digest}

    @property
    def creates(self) -> bool:
        return self.new_nexset.get("id") is None

    def create_body(self) -> dict:
        return {"name": self.new_nexset["name"],
                "parent_data_set_id": self.new_nexset["parent_id"],
                "has_custom_transform": True, "transform": self.inputs.transform,
                "description": description_for(self.old_nexset["id"], self.inputs.transform)}

    def writes(self) -> list[dict]:
        """Every write applying makes when nothing has been done yet, in order."""
        new = self.new_nexset.get("id") or f"<new nexset {self.new_nexset['name']}>"
        writes = []
        if self.creates:
            writes.append({"method": "POST", "path": "/data_sets",
                           "body": self.create_body(),
                           "when": "first; validated before anything else, deleted again "
                                   "if validation or the migration fails"})
        for sink in self.destinations:
            active = sink["status"] == "ACTIVE"
            if active:
                writes.append({"method": "PUT", "path": f"/data_sinks/{sink['id']}/pause"})
            writes.append({"method": "PUT", "path": f"/data_sinks/{sink['id']}",
                           "body": {"data_set_id": new}})
            if active:
                writes.append({"method": "PUT", "path": f"/data_sinks/{sink['id']}/activate"})
        return writes


# ------------------------------------------------------------------------------ reads

def get_nexset(ctx, nexset_id: int, flag: str) -> dict:
    try:
        body = ctx.request("GET", f"/data_sets/{nexset_id}")
    except nexla_ops.NotFound:
        raise nexla_ops.NotFound(f"{flag}: nexset {nexset_id} not found") from None
    return body if isinstance(body, dict) else {}


def parent_of(nexset: dict) -> int | None:
    parent = nexset.get("parent_data_set_id")
    if parent is None:
        parents = nexset.get("parent_data_sets") or []
        parent = parents[0].get("id") if parents and isinstance(parents[0], dict) else None
    return nexla_ops.api_id(parent)


def find_nexset_by_name(ctx, name: str) -> dict | None:
    return next((n for n in ctx.paginate("/data_sets")
                 if isinstance(n, dict) and n.get("name") == name), None)


def get_destination(ctx, sink_id: int) -> dict:
    try:
        body = ctx.request("GET", f"/data_sinks/{sink_id}")
    except nexla_ops.NotFound:
        raise nexla_ops.NotFound(f"--destination: destination {sink_id} not found") from None
    return body if isinstance(body, dict) else {}


def _destination_view(sink: dict) -> dict:
    view = {key: sink.get(key) for key in _DESTINATION_FIELDS}
    view["status"] = str(view["status"] or "").upper()
    return view


def destinations_on(ctx, nexset_id: int) -> list[dict]:
    """Every destination whose data_set_id is `nexset_id` (all pages)."""
    return [_destination_view(s) for s in ctx.paginate("/data_sinks")
            if isinstance(s, dict) and s.get("data_set_id") == nexset_id]


def build_plan(ctx, inputs: Inputs) -> Plan:
    """Read the live state (no writes) and return what applying `inputs` would do."""
    old = get_nexset(ctx, inputs.nexset, "--nexset")
    old_view = {"id": inputs.nexset, "name": old.get("name"), "parent_id": parent_of(old),
                "updated_at": old.get("updated_at")}
    if inputs.adopt is not None:
        new = get_nexset(ctx, inputs.adopt, "--adopt")
        new_view = {"id": inputs.adopt, "name": new.get("name"), "parent_id": parent_of(new),
                    "adopted": True, "updated_at": new.get("updated_at")}
    else:
        name = inputs.name or f"{old.get('name') or inputs.nexset}{NAME_SUFFIX}"
        # Next to the old one: same parent (a nexset without one gets the new one beneath it).
        parent = old_view["parent_id"] or inputs.nexset
        existing = find_nexset_by_name(ctx, name)
        if existing is not None and parent_of(existing) != parent:
            raise nexla_ops.BadInput(f"--name: a nexset named {name!r} already exists (id "
                                     f"{existing.get('id')}) and is not derived from nexset "
                                     f"{parent}; choose another --name or --adopt it")
        if existing is not None and existing.get("id") == inputs.nexset:
            raise nexla_ops.BadInput(f"--name: {name!r} is the old nexset's own name")
        if existing is not None and made_from(existing) != transform_digest(inputs.transform):
            # Only a nexset an earlier run made from this very transform is re-used: anything
            # else of that name would be migrated to with a shape nobody asked for.
            why = ("was made from another transform" if made_from(existing) else
                   "was not made by migrate_nexset")
            raise nexla_ops.BadInput(f"--name: a nexset named {name!r} already exists (id "
                                     f"{existing.get('id')}) and {why}; choose another --name, "
                                     "or --adopt it to use it as it is")
        new_view = {"id": existing.get("id") if existing else None, "name": name,
                    "parent_id": parent, "adopted": existing is not None,
                    "updated_at": existing.get("updated_at") if existing else None}
    if inputs.destinations:
        sinks = []
        for sink_id in inputs.destinations:
            sink = _destination_view(get_destination(ctx, sink_id))
            if sink["data_set_id"] not in (inputs.nexset, new_view["id"]):
                raise nexla_ops.BadInput(f"--destination: destination {sink_id} reads nexset "
                                         f"{sink['data_set_id']}, not {inputs.nexset}")
            sinks.append(sink)
    else:
        sinks = destinations_on(ctx, inputs.nexset)
    return Plan(api_url=ctx.target, inputs=inputs, old_nexset=old_view,
                new_nexset=new_view, destinations=sorted(sinks, key=lambda s: s["id"]))


# ------------------------------------------------------------------------------ saved plans

def save(path: str, plan: Plan) -> None:
    """--out: 0600, written as --output writes (a FIFO or device written through)."""
    plan.created_at = plan.created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps(nexla_ops.to_jsonable(plan.document()), indent=2, default=str) + "\n"
    nexla_ops.write_output(path, text, "--out", private=True)


def load(path: str) -> Plan:
    """A saved plan; BadInput when it is not one of ours or was edited after saving."""
    return load_document(nexla_ops.load_structured_file(path), path, flag="--apply")


def load_document(doc, path: str, *, flag: str = "--resume") -> Plan:
    """The Plan in a plan document (a saved plan, or the one a journal recorded)."""
    check_plan_format(doc, path, flag=flag, fmt=FORMAT, version=VERSION,
                      what="a migration plan", made_by="migrate_nexset")
    try:
        plan = Plan(api_url=doc["api_url"], inputs=Inputs.from_doc(doc["inputs"], flag),
                    old_nexset=doc["old_nexset"], new_nexset=doc["new_nexset"],
                    destinations=doc["destinations"], created_at=doc.get("created_at", ""))
    except KeyError as exc:
        raise nexla_ops.BadInput(f"{flag}: {path}: {exc.args[0]} is missing") from None
    if not (isinstance(plan.old_nexset, dict) and isinstance(plan.new_nexset, dict)
            and isinstance(plan.destinations, list)
            and all(isinstance(d, dict) for d in plan.destinations)):
        raise nexla_ops.BadInput(f"{flag}: {path}: old_nexset, new_nexset or destinations "
                                 "has the wrong type")
    try:
        digest = plan.digest
    except (KeyError, TypeError, AttributeError):
        digest = None
    if digest is None or doc.get("plan_sha256") != digest:
        raise nexla_ops.BadInput(f"{flag}: {path} was changed after it was saved "
                                 "(plan_sha256 does not match); plan again")
    return plan


def changed_since(saved: Plan, now: Plan) -> str | None:
    """Why the state just read is not the one `saved` was made against (None: it is)."""
    if saved.api_url != now.api_url:
        return f"the plan was made against {saved.api_url}, not {now.api_url}"
    if saved.body() != now.body():
        return "the nexsets or destinations differ from those the plan was made against"
    return None
