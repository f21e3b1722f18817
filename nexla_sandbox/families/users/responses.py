"""User and org handlers: current user, user create/update and the ownership delete rule, settings."""

from __future__ import annotations

from ...ctx import Ctx, Fields, deleted
from ...domain import ApiError
from . import models


def current_user(c: Ctx):
    return c.shaper.current_user()


def create_user(c: Ctx, f: Fields):
    if not c.user.get("is_org_admin"):
        raise ApiError(403, "requires org admin role to create users; you have: member",
                       resource_type="users")
    email = f.str("email", required=True).lower()
    name = f.str("full_name", required=True)
    if "@" not in email:
        raise ApiError(400, "email: expected an email address")
    if c.dom.user_by_email(email):
        raise ApiError(409, f"A user with email {email} already exists", resource_type="users")
    return c.dom.new_doc("users", c.user, {
        "email": email, "full_name": name, "status": f.str("status") or "ACTIVE",
        "is_org_admin": bool(f.bool("admin")), "user_tier": f.str("user_tier") or "PAID"})


def update_user(c: Ctx, f: Fields, doc: dict):
    changes = {}
    if f.str("name") is not None:
        changes["full_name"] = f.str("name")
    if f.str("email") is not None:
        changes["email"] = f.str("email").lower()
    if f.str("status") is not None:
        changes["status"] = f.str("status")
    if f.bool("admin") is not None:
        changes["is_org_admin"] = f.data["admin"]
    return c.dom.update_doc("users", doc, changes)


def user_settings(c: Ctx):
    return [{"id": f"ui-{c.user['id']}", "owner": {"id": c.user["id"]},
             "org": {"id": c.user["org_id"]}, "user_settings_type": "UI", "settings": {}}]


def delete_user(c: Ctx, kind: str, doc: dict):
    """A user who still owns resources is not deleted (409)."""
    owned = [f"{k}/{d['id']}" for k in ("data_sources", "data_sets", "data_sinks",
                                       "data_credentials", "teams", "projects")
             for d in c.store.find(k, "owner_id", doc["id"])]
    if owned:
        raise ApiError(409, f"User {doc['id']} still owns {len(owned)} resources (e.g. "
                            f"{owned[0]}); transfer them first", resource_type=kind,
                       resource_id=doc["id"])
    c.store.delete(kind, doc["id"])


CREATORS = {"users": create_user}
UPDATERS = {"users": update_user}


def _org_arg(c: Ctx, org_id, where: str) -> int:
    if org_id is None:
        raise ApiError(400, f"{where}: required")
    if org_id != c.user["org_id"]:
        raise ApiError(404, f"orgs/{org_id} not found", resource_type="orgs", resource_id=org_id)
    return org_id


def get_transferable(c: Ctx):
    doc = c.dom.get("users", c.args["id"], c.user, "admin")
    org_id = _org_arg(c, c.qint("org_id", c.user["org_id"]), "org_id")
    return models.transferable(c.store, doc["id"], org_id)


def transfer_resources(c: Ctx):
    """PUT /users/{id}/transfer: an org admin moves a user's resources to a delegate."""
    doc = c.dom.get("users", c.args["id"], c.user)
    f = c.fields()
    org_id = _org_arg(c, f.int("org_id", required=True), "org_id")
    delegate_id = f.int("delegate_owner_id", required=True)
    if not c.user.get("is_org_admin"):
        raise ApiError(403, f"requires org admin role on orgs/{org_id} to transfer resources",
                       resource_type="users", resource_id=doc["id"])
    delegate = c.dom.user(delegate_id)
    if delegate is None:
        raise ApiError(400, f"delegate_owner_id: no such user {delegate_id}")
    return models.transfer(c.dom, doc, org_id, delegate)


# -- quarantine settings (one per user: resource_type USER) ------------------------------------
QUARANTINE = "quarantine_settings"


def _quarantine_doc(c: Ctx, user_id: int):
    found = c.store.find(QUARANTINE, "resource_id", user_id)
    return next((d for d in found if d.get("resource_type") == "USER"), None)


def _quarantine_shape(c: Ctx, doc: dict) -> dict:
    cred = c.store.get("data_credentials", doc["data_credentials_id"])
    out = {k: v for k, v in doc.items() if not k.startswith("_") and k != "owner_id"}
    out.update(owner=c.shaper.owner(doc), org=c.shaper.org(doc),
               credentials_type=cred["credentials_type"] if cred else None,
               data_credentials=c.shaper.credential(cred) if cred else None)
    return out


def _quarantine_fields(c: Ctx, f: Fields, *, creating: bool) -> dict:
    out = {}
    cred_id = f.int("data_credentials_id", required=creating)
    if cred_id is not None:
        c.dom.get("data_credentials", cred_id, c.user)
        out["data_credentials_id"] = cred_id
    config = f.obj("config", required=creating)
    if config is not None:
        out["config"] = config
    return out


def _existing_quarantine(c: Ctx, user: dict) -> dict:
    doc = _quarantine_doc(c, user["id"])
    if doc is None:
        raise ApiError(404, f"users/{user['id']}/quarantine_settings not found",
                       resource_type="users", resource_id=user["id"])
    return doc


def get_quarantine(c: Ctx):
    user = c.dom.get("users", c.args["id"], c.user, "admin")
    doc = _existing_quarantine(c, user)
    return _quarantine_shape(c, doc)


def create_quarantine(c: Ctx):
    user = c.dom.get("users", c.args["id"], c.user, "admin")
    fields = _quarantine_fields(c, c.fields(), creating=True)
    if _quarantine_doc(c, user["id"]) is not None:
        raise ApiError(409, f"users/{user['id']} already has quarantine settings; use PUT",
                       resource_type="users", resource_id=user["id"])
    doc = c.dom.new_doc(QUARANTINE, user, {"resource_type": "USER", "resource_id": user["id"],
                                            **fields})
    return _quarantine_shape(c, doc)


def update_quarantine(c: Ctx):
    user = c.dom.get("users", c.args["id"], c.user, "admin")
    fields = _quarantine_fields(c, c.fields(), creating=False)
    doc = _existing_quarantine(c, user)
    return _quarantine_shape(c, c.dom.update_doc(QUARANTINE, doc, fields))


def delete_quarantine(c: Ctx):
    user = c.dom.get("users", c.args["id"], c.user, "admin")
    doc = _existing_quarantine(c, user)
    c.store.delete(QUARANTINE, doc["id"])
    return deleted(f"users/{user['id']}/quarantine_settings")
