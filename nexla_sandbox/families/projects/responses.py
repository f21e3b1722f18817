"""Project handlers: create/update bodies, the project's flows."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError


def _project_flow_ids(c: Ctx, f: Fields) -> list[int]:
    ids = list(f.list("flows", of=int) or [])
    for i, item in enumerate(f.list("data_flows") or []):
        if not isinstance(item, dict):
            raise ApiError(400, f"data_flows[{i}]: expected an object")
        d = Fields(item, f"data_flows[{i}].")
        src_id, set_id = d.int("data_source_id"), d.int("data_set_id")
        kind, rid = ("data_sources", src_id) if src_id is not None else ("data_sets", set_id)
        if rid is None:
            raise ApiError(400, f"data_flows[{i}]: data_source_id or data_set_id is required")
        doc = c.store.get(kind, rid)
        root = doc and c.dom.root_of(doc)
        if root is None:
            raise ApiError(400, f"data_flows[{i}]: {kind}/{rid} is not in a flow")
        ids.append(root["id"])
    for fid in ids:
        node = c.store.get("flows", fid)
        if node is None:
            raise ApiError(400, f"flows: no flow {fid}")
        c.dom.require("flows", node, c.user, "collaborator")
    return [c.store.get("flows", i)["origin_node_id"] for i in dict.fromkeys(ids)]


def _set_project(c: Ctx, project: dict, ids: list[int]) -> dict:
    old = set(project.get("_flow_ids", []))
    for fid in old - set(ids):
        node = c.store.get("flows", fid)
        if node and node.get("project_id") == project["id"]:
            c.store.put("flows", {**node, "project_id": None})
    for fid in ids:
        node = c.store.get("flows", fid)
        c.store.put("flows", {**node, "project_id": project["id"]})
    return c.dom.update_doc("projects", project, {"_flow_ids": ids})


def create_project(c: Ctx, f: Fields):
    name = f.str("name", required=True)
    desc = f.text("description") or ""
    ids = _project_flow_ids(c, f)
    project = c.dom.new_doc("projects", c.user, {"name": name, "description": desc, "_flow_ids": []})
    return _set_project(c, project, ids)


def update_project(c: Ctx, f: Fields, doc: dict):
    changes = {**f.present(name="str"), **f.description_update("")}
    doc = c.dom.update_doc("projects", doc, changes)
    if f.has("data_flows") or f.has("flows"):
        doc = _set_project(c, doc, _project_flow_ids(c, f))
    return doc


def project_flows(mode):
    def handler(c: Ctx):
        doc = c.dom.get("projects", c.args["id"], c.user, "collaborator" if mode in ("get", "search") else "admin")
        if mode in ("get", "search"):
            if mode == "search":
                f = c.fields(required=False)
                f.list("filters")
            roots = [n for n in (c.store.get("flows", i) for i in doc.get("_flow_ids", [])) if n]
            return c.shaper.flow_response(roots)
        body = c.raw_body()
        ids = None if body is None else _project_flow_ids(c, c.fields())
        current = list(doc.get("_flow_ids", []))
        if mode == "replace":
            current = ids or []
        elif mode == "merge":
            current = list(dict.fromkeys(current + (ids or [])))
        else:
            current = [] if ids is None else [i for i in current if i not in ids]
        doc = _set_project(c, doc, current)
        return [c.shaper.project_flow(doc, i) for i in doc["_flow_ids"]]
    return handler


CREATORS = {"projects": create_project}
UPDATERS = {"projects": update_project}
