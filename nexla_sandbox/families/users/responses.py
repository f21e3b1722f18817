"""User and org handlers: current user, user create/update and the ownership delete rule, settings, limits."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError


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


def limits(c: Ctx):
    return {"rate_limits": {"requests_per_minute": 600, "burst": 100}, "org_id": c.user["org_id"]}


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
