"""Accessor rules: listing, resolving and changing a resource's accessor entries."""

from __future__ import annotations

import copy

from ...domain import ROLE_RANK, ApiError


class AccessModel:
    """Domain mixin: accessors are stored in a doc's `_accessors` (flows: on the root node)."""

    def owner_accessor(self, doc: dict) -> dict | None:
        owner = self.user(doc.get("owner_id"))
        if owner is None:
            return None
        return {"type": "USER", "id": owner["id"], "email": owner["email"],
                "org_id": owner["org_id"], "access_roles": ["owner"],
                "created_at": self._granted_at(doc), "updated_at": self._granted_at(doc)}

    def _granted_at(self, doc: dict) -> str | None:
        # A flow node stores no times of its own; its resource's creation stands in.
        if doc.get("created_at") or "origin_node_id" not in doc:
            return doc.get("created_at")
        _, resource = self.node_resource(doc)
        return (resource or {}).get("created_at")

    def accessor_list(self, kind: str, doc: dict) -> list[dict]:
        """The owner first, then stored entries with identity fields filled from current data."""
        own = self.owner_accessor(doc) if kind not in ("users", "orgs") else None
        out = [own] if own else []
        for acc in doc.get("_accessors", []):
            entry = copy.deepcopy(acc)
            if acc["type"] == "USER" and self.user(acc.get("id")):
                user = self.user(acc["id"])
                entry.update(email=user["email"], org_id=user["org_id"])
            elif acc["type"] == "TEAM" and self.store.get("teams", acc.get("id")):
                entry["name"] = self.store.get("teams", acc["id"])["name"]
            elif acc["type"] == "ORG" and self.store.get("orgs", acc.get("id")):
                org = self.store.get("orgs", acc["id"])
                entry.update(client_identifier=org.get("client_identifier"),
                             email_domain=org.get("email_domain"))
            entry.setdefault("created_at", self._granted_at(doc))
            entry.setdefault("updated_at", self._granted_at(doc))
            out.append(entry)
        return out

    def resolve_accessor(self, raw: dict, where: str, *, need_roles: bool) -> dict:
        """Validate one accessor entry and resolve it to a stored identity (400 names the field)."""
        if not isinstance(raw, dict):
            raise ApiError(400, f"{where}: expected an object")
        kind = raw.get("type", "USER")
        if kind not in ("USER", "TEAM", "ORG"):
            raise ApiError(400, f"{where}.type: expected USER, TEAM or ORG")
        roles = raw.get("access_roles")
        if roles is None and need_roles:
            raise ApiError(400, f"{where}.access_roles: required")
        if roles is not None and (
                not isinstance(roles, list) or not roles or any(r not in ROLE_RANK for r in roles)):
            raise ApiError(400, f"{where}.access_roles: expected a non-empty list of "
                                f"owner, admin, operator, collaborator")
        entry: dict = {"type": kind}
        if kind == "USER":
            user = self._accessor_identity(raw, where, "users", "email")
            entry.update(id=user["id"], email=user["email"], org_id=user["org_id"])
        elif kind == "TEAM":
            team = self._accessor_identity(raw, where, "teams", "name")
            entry.update(id=team["id"], name=team["name"])
        else:
            org = None
            for org_doc in self.store.all("orgs"):
                if (raw.get("id") is not None and raw.get("id") == org_doc["id"]) or (
                        raw.get("client_identifier") and raw.get("client_identifier") ==
                        org_doc.get("client_identifier")) or (
                        raw.get("email_domain") and raw.get("email_domain") == org_doc.get("email_domain")):
                    org = org_doc
            if org is None:
                raise ApiError(400, f"{where}: no such org (give id, client_identifier or email_domain)")
            entry.update(id=org["id"], client_identifier=org.get("client_identifier"),
                         email_domain=org.get("email_domain"))
        if roles is not None:
            entry["access_roles"] = list(dict.fromkeys(roles))
        return entry

    def _accessor_identity(self, raw: dict, where: str, kind: str, alt: str) -> dict:
        """The user or team an accessor entry names by `id` or else by `alt` (email / name)."""
        label = kind[:-1]  # "user", "team"
        if raw.get("id") is not None:
            key = raw["id"]
            if not isinstance(key, int) or isinstance(key, bool):
                raise ApiError(400, f"{where}.id: expected an integer")
            found = self.store.get(kind, key)
        elif isinstance(raw.get(alt), str):
            key = raw[alt]
            found = self.user_by_email(key) if alt == "email" else next(
                iter(self.store.find(kind, alt, key)), None)
        else:
            raise ApiError(400, f"{where}: a {label.upper()} accessor needs id or {alt}")
        if found is None:
            raise ApiError(400, f"{where}: no such {label} {key}")
        return found

    @staticmethod
    def _same_identity(a: dict, b: dict) -> bool:
        return a["type"] == b["type"] and a.get("id") == b.get("id")

    def change_accessors(self, kind: str, doc: dict, mode: str, entries: list[dict] | None) -> dict:
        """mode: merge (PUT), replace (POST), remove (DELETE; None = remove all)."""
        now = self.now_iso()
        current = [a for a in doc.get("_accessors", [])]
        owner_id = doc.get("owner_id")

        def is_owner_entry(e):
            return e["type"] == "USER" and e.get("id") == owner_id and kind not in ("users", "orgs")

        if mode == "remove":
            if entries is None:
                current = []
            else:
                for e in entries:
                    if is_owner_entry(e) and (not e.get("access_roles") or "owner" in e["access_roles"]):
                        raise ApiError(400, f"cannot remove the owner of {kind}/{doc['id']}; "
                                            f"transfer ownership first",
                                       resource_type=kind, resource_id=doc["id"])
                    kept = []
                    for a in current:
                        if self._same_identity(a, e):
                            if e.get("access_roles"):
                                left = [r for r in a["access_roles"] if r not in e["access_roles"]]
                                if left:
                                    kept.append({**a, "access_roles": left, "updated_at": now})
                            continue
                        kept.append(a)
                    current = kept
        else:
            if mode == "replace":
                current = []
            for e in entries or []:
                if is_owner_entry(e):
                    continue  # the owner is intrinsic to the resource
                for i, a in enumerate(current):
                    if self._same_identity(a, e):
                        current[i] = {**a, **e, "updated_at": now}
                        break
                else:
                    current.append({**e, "created_at": now, "updated_at": now})
        return self.update_doc(kind, doc, {"_accessors": current})
