"""Code-container handlers: list/get/create/update/delete/copy and the public list."""

from __future__ import annotations

from ...ctx import Ctx, deleted
from ...shapes import public
from ..resources.responses import copy_options
from .models import KIND, container_fields, public_containers


def shape(c: Ctx, doc: dict) -> dict:
    out = public(doc)
    out.pop("owner_id", None)
    roles = c.dom.access_roles(KIND, doc, c.user)
    cred = c.store.get("data_credentials", doc.get("data_credentials_id"))
    # SDK 1.0.8 types access_roles as an object here (a list fails the whole object).
    out.update(owner=c.shaper.owner(doc), org=c.shaper.org(doc),
               access_roles={r: True for r in roles} or None, managed=False,
               data_credentials={k: cred.get(k) for k in ("id", "name", "description",
                                                          "created_at", "updated_at")}
               if cred else None,
               runtime_data_credentials=None, data_sets=[], tags=list(doc.get("tags") or []))
    return out


def list_containers(c: Ctx):
    docs = c.dom.visible(KIND, c.user, c.access_role())
    return [shape(c, d) for d in c.page(docs)]


def list_public(c: Ctx):
    return [shape(c, d) for d in c.page(public_containers(c.store))]


def get_container(c: Ctx):
    return shape(c, c.dom.get(KIND, c.args["id"], c.user))


def _check_credential(c: Ctx, fields: dict):
    for name in ("data_credentials_id", "runtime_data_credentials_id"):
        if fields.get(name) is not None:
            c.dom.get("data_credentials", fields[name], c.user)


def create_container(c: Ctx):
    fields = container_fields(c.fields(), creating=True)
    _check_credential(c, fields)
    return shape(c, c.dom.new_doc(KIND, c.user, fields))


def update_container(c: Ctx):
    doc = c.dom.get(KIND, c.args["id"], c.user, "admin")
    fields = container_fields(c.fields(), creating=False)
    _check_credential(c, fields)
    return shape(c, c.dom.update_doc(KIND, doc, fields))


def delete_container(c: Ctx):
    doc = c.dom.get(KIND, c.args["id"], c.user, "admin")
    c.store.delete(KIND, doc["id"])
    return deleted(f"{KIND}/{doc['id']}")


def copy_container(c: Ctx):
    doc = c.dom.get(KIND, c.args["id"], c.user)
    new = c.dom.copy_resource(KIND, doc, c.user, copy_options(c))
    return shape(c, new)
