"""Lookup (data map) handlers: create/update bodies, entries."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError


def _entries(f: Fields, key: str, name="data_map") -> list[dict]:
    items = f.list(name) or []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(400, f"{name}[{i}]: expected an object")
        if key not in item:
            raise ApiError(400, f"{name}[{i}].{key}: the map primary key is missing")
    return items


def create_lookup(c: Ctx, f: Fields):
    key = f.str("map_primary_key", required=True)
    fields = {"name": f.str("name", required=True), "data_type": f.str("data_type", required=True),
              "map_primary_key": key, "description": f.text("description") or "",
              "data_defaults": f.obj("data_defaults") or {},
              "emit_data_default": bool(f.bool("emit_data_default")),
              "_entries": {str(e[key]): e for e in _entries(f, key)}, **f.present(tags="strings")}
    return c.dom.new_doc("data_maps", c.user, fields)


def update_lookup(c: Ctx, f: Fields, doc: dict):
    changes = {**f.present(name="str", map_primary_key="str"), **f.description_update(""),
               **f.present(data_defaults="obj", emit_data_default="bool", tags="strings")}
    return c.dom.update_doc("data_maps", doc, changes)


def upsert_entries(c: Ctx):
    doc = c.dom.get("data_maps", c.args["id"], c.user, "admin")
    items = _entries(c.fields(), doc["map_primary_key"], "entries")
    entries = dict(doc.get("_entries", {}))
    for e in items:
        entries[str(e[doc["map_primary_key"]])] = e
    c.dom.update_doc("data_maps", doc, {"_entries": entries})
    return items


def get_entries(c: Ctx):
    doc = c.dom.get("data_maps", c.args["id"], c.user)
    keys = [k for k in c.args["keys"].split(",") if k]
    entries = doc.get("_entries", {})
    return [entries[k] for k in keys if k in entries]


def delete_entries(c: Ctx):
    doc = c.dom.get("data_maps", c.args["id"], c.user, "admin")
    keys = [k for k in c.args["keys"].split(",") if k]
    entries = {k: v for k, v in doc.get("_entries", {}).items() if k not in keys}
    removed = len(doc.get("_entries", {})) - len(entries)
    c.dom.update_doc("data_maps", doc, {"_entries": entries})
    return {"code": 200, "message": f"{removed} entries deleted"}


CREATORS = {"data_maps": create_lookup}
UPDATERS = {"data_maps": update_lookup}
