"""Org handlers: list/get/update, members (GET/PUT/DELETE) and custodians."""

from __future__ import annotations

from ...ctx import Ctx, deleted
from ...domain import ApiError
from ...shapes import public
from . import models

_UPDATABLE = dict(name="str", email_domain="str", client_identifier="str", email="str",
                  enable_nexla_password_login="bool")


def _user_brief(c: Ctx, user_id) -> dict | None:
    user = c.dom.user(user_id)
    return c.shaper.user_obj(user) if user else None


def shape(c: Ctx, doc: dict) -> dict:
    out = public(doc)
    out.pop("owner_id", None)
    out.update(access_roles=c.dom.access_roles("orgs", doc, c.user),
               owner=_user_brief(c, doc.get("owner_id")),
               billing_owner=_user_brief(c, doc.get("billing_owner_id", doc.get("owner_id"))),
               admins=[c.shaper.user_obj(u) for u in models.members(c.store, doc["id"])
                       if u.get("is_org_admin")],
               description=doc.get("description") or "")
    return out


def member(user: dict) -> dict:
    admin = bool(user.get("is_org_admin"))
    return {"id": user["id"], "full_name": user["full_name"], "email": user["email"],
            "is_admin?": admin, "access_role": ["admin"] if admin else ["collaborator"],
            "org_membership_status": models.membership(user),
            "user_status": user.get("status", "ACTIVE")}


def list_orgs(c: Ctx):
    return [shape(c, d) for d in c.page(c.dom.visible("orgs", c.user, c.access_role()))]


def get_org(c: Ctx):
    return shape(c, c.dom.get("orgs", c.args["id"], c.user))


def update_org(c: Ctx):
    doc = c.dom.get("orgs", c.args["id"], c.user, "admin")
    f = c.fields()
    changes = f.present(**_UPDATABLE)
    changes.update(f.description_update(empty=""))
    for name in ("owner_id", "billing_owner_id"):
        value = f.int(name)
        if value is not None:
            models.resolve_member(c.dom, {"id": value}, name, doc["id"])
            changes[name] = value
    custodians = _entries(c, "custodians", required=False)
    members = _entries(c, "members", required=False)
    if members is not None:
        models.upsert_members(c.dom, c.user, doc["id"], members)
    doc = c.dom.update_doc("orgs", c.store.get("orgs", doc["id"]), changes)
    if custodians is not None:
        doc = models.set_custodians(c.dom, doc, custodians, "replace")
    return shape(c, doc)


def _entries(c: Ctx, name: str, required: bool = True) -> list | None:
    """The body's `name` list; the reference also sends custodians as a bare array."""
    body = c.raw_body()
    if isinstance(body, list):
        return body
    return c.fields(required=required).list(name, required=required)


def get_members(c: Ctx):
    org = c.dom.get("orgs", c.args["id"], c.user)
    return [member(u) for u in models.members(c.store, org["id"])]


def update_members(c: Ctx):
    org = c.dom.get("orgs", c.args["id"], c.user, "admin")
    models.upsert_members(c.dom, c.user, org["id"], _entries(c, "members"))
    return [member(u) for u in models.members(c.store, org["id"])]


def delete_members(c: Ctx):
    org = c.dom.get("orgs", c.args["id"], c.user, "admin")
    removed = models.remove_members(c.dom, c.user, org["id"], _entries(c, "members"))
    return deleted(f"orgs/{org['id']} members {', '.join(map(str, removed))}")


def _custodian_list(c: Ctx, org: dict) -> list[dict]:
    users = (c.dom.user(i) for i in org.get("_custodians", []))
    return [{"id": u["id"], "email": u["email"], "full_name": u["full_name"]} for u in users if u]


def get_custodians(c: Ctx):
    return _custodian_list(c, c.dom.get("orgs", c.args["id"], c.user))


def custodians(mode: str):
    def handler(c: Ctx):
        org = c.dom.get("orgs", c.args["id"], c.user, "admin")
        entries = _entries(c, "custodians")
        if not entries and mode != "remove":
            raise ApiError(400, "custodians: expected at least one user (id or email)")
        return _custodian_list(c, models.set_custodians(c.dom, org, entries, mode))
    return handler
