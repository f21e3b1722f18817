"""Team handlers: create/update bodies, member lists."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError


def _members(c: Ctx, items, where="members") -> list[dict]:
    out = []
    for i, raw in enumerate(items or []):
        if not isinstance(raw, dict):
            raise ApiError(400, f"{where}[{i}]: expected an object with id or email")
        m = Fields(raw, f"{where}[{i}].")
        user = None
        if m.int("id") is not None:
            user = c.dom.user(raw["id"])
        elif m.str("email") is not None:
            user = c.dom.user_by_email(raw["email"])
        else:
            raise ApiError(400, f"{where}[{i}]: id or email is required")
        if user is None:
            raise ApiError(400, f"{where}[{i}]: no such user")
        out.append({"id": user["id"], "admin": bool(m.bool("admin"))})
    return out


def _team_name_free(c: Ctx, name: str, except_id=None):
    for team in c.store.find("teams", "name", name):
        if team["id"] != except_id and team["org_id"] == c.user["org_id"]:
            raise ApiError(409, f"A team named {name!r} already exists", resource_type="teams",
                           resource_id=team["id"])


def create_team(c: Ctx, f: Fields):
    name = f.str("name", required=True)
    members = _members(c, f.list("members"))
    desc = f.text("description") or ""
    _team_name_free(c, name)
    return c.dom.new_doc("teams", c.user, {"name": name, "description": desc, "members": members})


def update_team(c: Ctx, f: Fields, doc: dict):
    changes = {}
    if f.str("name") is not None:
        _team_name_free(c, f.str("name"), doc["id"])
        changes["name"] = f.str("name")
    changes.update(f.description_update(""))
    if f.list("members") is not None:
        changes["members"] = _members(c, f.data["members"])
    return c.dom.update_doc("teams", doc, changes)


def team_members(mode):
    def handler(c: Ctx):
        doc = c.dom.get("teams", c.args["id"], c.user, "collaborator" if mode == "get" else "admin")
        if mode != "get":
            body = c.raw_body()
            incoming = None if body is None else _members(c, c.fields().list("members", required=True))
            current = list(doc.get("members", []))
            if mode == "replace":
                current = incoming or []
            elif mode == "merge":
                for m in incoming or []:
                    current = [x for x in current if x["id"] != m["id"]] + [m]
            else:
                gone = {m["id"] for m in incoming} if incoming is not None else None
                current = [] if gone is None else [x for x in current if x["id"] not in gone]
            doc = c.dom.update_doc("teams", doc, {"members": current})
        return [c.shaper.member(m) for m in doc.get("members", [])]
    return handler


CREATORS = {"teams": create_team}
UPDATERS = {"teams": update_team}
