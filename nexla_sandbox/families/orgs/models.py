"""Org rules (no HTTP): membership (a user's `_membership` in their org) and custodians."""

from __future__ import annotations

from ...domain import ApiError
from ..users import models as user_models

ACTIVE, DEACTIVATED, REMOVED = "ACTIVE", "DEACTIVATED", "REMOVED"


def membership(user: dict) -> str:
    return user.get("_membership", ACTIVE)


def members(store, org_id: int) -> list[dict]:
    return [u for u in store.find("users", "org_id", org_id) if membership(u) != REMOVED]


def resolve_member(dom, raw, where: str, org_id: int, *, create: bool = False) -> dict:
    """The user an entry names by id or email; with `create`, an unknown email becomes a new
    user in the org (the reference: adding an unknown email creates the account)."""
    if not isinstance(raw, dict):
        raise ApiError(400, f"{where}: expected an object with id or email")
    user = None
    if raw.get("id") is not None:
        if not isinstance(raw["id"], int) or isinstance(raw["id"], bool):
            raise ApiError(400, f"{where}.id: expected an integer")
        user = dom.user(raw["id"])
    elif isinstance(raw.get("email"), str) and "@" in raw["email"]:
        user = dom.user_by_email(raw["email"].strip().lower())
        if user is None and create:
            name = raw.get("full_name") if isinstance(raw.get("full_name"), str) else ""
            return {"id": None, "email": raw["email"].strip().lower(),
                    "full_name": name.strip() or raw["email"].split("@")[0]}
    else:
        raise ApiError(400, f"{where}: id or email is required")
    if user is None or user.get("org_id") != org_id:
        raise ApiError(400, f"{where}: no such user in org {org_id}")
    return user


def _admin_flag(raw: dict, where: str):
    """admin (bool) or access_role (a role or a list of roles) → org admin or not; None = keep."""
    if isinstance(raw.get("admin"), bool):
        return raw["admin"]
    role = raw.get("access_role")
    if role is None:
        return None
    roles = [role] if isinstance(role, str) else role
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ApiError(400, f"{where}.access_role: expected a role or a list of roles")
    return "admin" in roles or "owner" in roles


def upsert_members(dom, caller: dict, org_id: int, entries: list) -> None:
    """Add or update members (PUT /orgs/{id}/members)."""
    resolved = [(resolve_member(dom, raw, f"members[{i}]", org_id, create=True),
                 _admin_flag(raw, f"members[{i}]")) for i, raw in enumerate(entries)]
    for user, admin in resolved:
        if user["id"] is None:
            if dom.user_by_email(user["email"]):
                raise ApiError(409, f"A user with email {user['email']} already exists")
            dom.new_doc("users", caller, {"email": user["email"], "full_name": user["full_name"],
                                          "status": "ACTIVE", "is_org_admin": bool(admin),
                                          "user_tier": "PAID"})
            continue
        changes = {"_membership": ACTIVE}
        if admin is not None:
            changes["is_org_admin"] = admin
        dom.update_doc("users", user, changes)


def remove_members(dom, caller: dict, org_id: int, entries: list) -> list[int]:
    """Remove members (DELETE /orgs/{id}/members); an entry's delegate_owner_id first receives
    the member's resources. The org owner cannot be removed."""
    org = dom.org(org_id)
    plan = []
    for i, raw in enumerate(entries):
        user = resolve_member(dom, raw, f"members[{i}]", org_id)
        if user["id"] == org.get("owner_id"):
            raise ApiError(400, f"members[{i}]: user {user['id']} owns org {org_id}; change "
                                "the org owner first")
        delegate = None
        if raw.get("delegate_owner_id") is not None:
            delegate = resolve_member(dom, {"id": raw["delegate_owner_id"]},
                                      f"members[{i}].delegate_owner_id", org_id)
        plan.append((user, delegate))
    for user, delegate in plan:
        if delegate is not None:
            user_models.transfer(dom, user, org_id, delegate)
        dom.update_doc("users", dom.user(user["id"]), {"_membership": REMOVED,
                                                       "is_org_admin": False})
    return [user["id"] for user, _ in plan]


def set_custodians(dom, org: dict, entries: list, mode: str) -> dict:
    """mode: replace (PUT), add (POST), remove (DELETE)."""
    ids = [resolve_member(dom, raw, f"custodians[{i}]", org["id"])["id"]
           for i, raw in enumerate(entries)]
    current = list(org.get("_custodians", []))
    if mode == "replace":
        current = list(dict.fromkeys(ids))
    elif mode == "add":
        current += [i for i in dict.fromkeys(ids) if i not in current]
    else:
        current = [i for i in current if i not in ids]
    return dom.update_doc("orgs", org, {"_custodians": current})
