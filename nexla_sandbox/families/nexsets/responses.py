"""Nexset handlers: derived nexsets and their transforms, samples, docs."""

from __future__ import annotations

from ... import transforms
from ...ctx import Ctx, Fields
from ...domain import ApiError


def _transform_fields(c: Ctx, f: Fields, creating: bool) -> dict:
    out = {}
    custom = f.bool("has_custom_transform", required=creating)
    transform = f.obj("transform")
    transform_id = f.int("transform_id")
    if transform is not None:
        ops = transform.get("operations")
        problem = transforms.validate_operations(ops)
        if problem:
            raise ApiError(400, f"transform.operations{problem if problem.startswith('[') else ': ' + problem}")
        out["transform"] = transform
    if transform_id is not None:
        if c.store.get("transforms", transform_id) is None:
            raise ApiError(400, f"transform_id: no transform {transform_id}")
        out["transform_id"] = transform_id
    if custom is not None:
        out["has_custom_transform"] = custom
        if custom and transform is None and creating:
            raise ApiError(400, "transform: required when has_custom_transform is true")
    return out


NEXSET_EXTRAS = {"output_schema_annotations": "obj", "output_validation_schema": "obj",
                 "custom_config": "obj", "output_schema_validation_enabled": "bool"}


def create_nexset(c: Ctx, f: Fields):
    parent_id = f.int("parent_data_set_id", required=True)
    if c.store.get("data_sets", parent_id) is None:
        raise ApiError(400, f"parent_data_set_id: no nexset {parent_id}")
    fields = {"name": f.str("name", required=True), "parent_data_set_id": parent_id,
              "description": f.text("description"), **_transform_fields(c, f, True),
              **f.present(**NEXSET_EXTRAS)}
    sinks = f.list("data_sinks")
    for i, item in enumerate(sinks or []):
        if not isinstance(item, (int, dict)) or isinstance(item, bool):
            raise ApiError(400, f"data_sinks[{i}]: expected an id or an object")
    fields.update(f.present(tags="strings"))
    return c.dom.create_nexset(c.user, fields)


def update_nexset(c: Ctx, f: Fields, doc: dict):
    changes = {**f.present(name="str"), **f.description_update(), **_transform_fields(c, f, False),
               **f.present(**NEXSET_EXTRAS, tags="strings")}
    doc = c.dom.update_doc("data_sets", doc, changes)
    if doc.get("parent_data_set_id"):
        doc = c.store.put("data_sets", {**doc, "output_schema": c.dom.derived_schema(doc)})
    return doc


SAMPLE_RUNS = 10  # the latest runs a nexset's samples are spread over


def samples(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user)
    count = min(c.qint("count", 10, minimum=0), 500)
    meta = c.qbool("include_metadata")
    c.qbool("live")
    records, errors = c.dom.samples(doc)
    root = c.dom.root_of(doc)
    # The samples came in over the flow's latest runs: record i from the i-th newest (cycling),
    # so each recent run's records carry its own runId and ingest time.
    runs = (c.dom.flow_runs(root["id"], brief=True) if root else [])[:SAMPLE_RUNS]
    now_ms = int(c.dom.now() * 1000)

    def origin(i: int) -> dict:
        if not runs:
            return {"runId": None, "ingestTime": now_ms - i * 1000}
        run = runs[i % len(runs)]
        return {"runId": run["id"], "ingestTime": int(run["started_at"] * 1000) + i}

    out = []
    for i, record in enumerate(records[:count]):
        if meta:
            out.append({"rawMessage": record, "nexlaMetaData": {
                **origin(i), "resourceType": "DATA_SET", "resourceId": doc["id"], "offset": i}})
        else:
            out.append(record)
    if meta:
        for i, err in enumerate(errors[:max(count - len(out), 0)]):
            out.append({"rawMessage": err["record"], "nexlaMetaData": {
                "runId": origin(i)["runId"], "resourceType": "DATA_SET", "resourceId": doc["id"],
                "error": err["error"], "errorRecord": True}})
    return out


def nexset_docs_recommendation(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user)
    fields = ", ".join(sorted((doc.get("output_schema") or {}).get("properties", {})))
    return {"recommendation": f"# {doc.get('name')}\nFields: {fields}", "status": "success"}


def list_docs(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user)
    return [c.shaper.plain(d) for d in doc.get("_docs", [])]


def update_docs(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user, "admin")
    f = c.fields()
    items = f.list("docs", required=True)
    out = []
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise ApiError(400, f"docs[{i}]: expected an object")
        d = Fields(raw, f"docs[{i}].")
        out.append({"id": c.store.next_id("doc_containers", 0), "name": d.str("name", required=True),
                    "text": d.text("text", required=True),
                    "doc_type": d.str("doc_type") or "md", "description": d.text("description"),
                    "access_roles": ["owner"], "tags": [], "created_at": c.dom.now_iso(),
                    "updated_at": c.dom.now_iso()})
    c.dom.update_doc("data_sets", doc, {"_docs": out})
    return out


CREATORS = {"data_sets": create_nexset}
UPDATERS = {"data_sets": update_nexset}
