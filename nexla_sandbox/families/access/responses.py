"""Accessor handlers: GET/PUT/POST/DELETE /{kind}/{id}/accessors and audit logs."""

from __future__ import annotations

from ... import audit
from ...ctx import Ctx

ACCESSOR_KINDS = ("data_sources", "data_sets", "data_sinks", "data_credentials", "flows",
                  "projects", "teams", "data_maps", "transforms", "attribute_transforms",
                  "notifications", "users", "orgs", "code_containers")


def accessors(kind, mode):
    def handler(c: Ctx):
        need = "collaborator" if mode == "get" else "admin"
        doc = c.dom.get(kind, c.args["id"], c.user, need)
        if kind == "flows":  # flow accessors live on the root node
            doc = c.store.get("flows", doc["origin_node_id"])
        if mode != "get":
            body = c.raw_body()
            if body is None and mode == "remove":
                entries = None
            else:
                f = c.fields()
                raw = f.list("accessors", required=True)
                entries = [c.dom.resolve_accessor(a, f"accessors[{i}]", need_roles=mode != "remove")
                           for i, a in enumerate(raw)]
            doc = c.dom.change_accessors(kind, doc, mode, entries)
        return c.dom.accessor_list(kind, doc)
    return handler


def audit_log(kind):
    def handler(c: Ctx):
        c.dom.get(kind, c.args["id"], c.user)
        return c.page(audit.entries(c.dom, kind, c.args["id"]))
    return handler
