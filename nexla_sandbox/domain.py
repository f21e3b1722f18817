"""The shared domain base: errors, settings, time helpers, ids, roles, and BaseDomain.

BaseDomain holds what every resource family needs (the clock, the derived-data cache, user and
org lookups, role checks, visibility, generic documents). Each family adds its own rules as a
mixin in families/<family>/models.py; models.Domain is the assembled class. Everything here
runs under the store lock inside one transaction per request (see server.py). Stored docs keep
the API field names; internal fields start with "_" and are never sent.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from .store import Store

ROLE_RANK = {"collaborator": 1, "operator": 2, "admin": 3, "owner": 4}

ROLES = tuple(ROLE_RANK)

FLOW_KINDS = ("data_sources", "data_sets", "data_sinks")

NODE_FIELD = {"data_sources": "data_source_id", "data_sets": "data_set_id",
              "data_sinks": "data_sink_id"}

LABEL = {"data_sources": "Data source", "data_sets": "Nexset", "data_sinks": "Data sink"}

# New ids of a kind start above this floor: clear of the seed's fixed ids, and recognisable.
ID_FLOOR = {"data_credentials": 4000, "data_sources": 5000, "data_sets": 6000,
            "data_sinks": 7000, "flows": 8000, "teams": 100, "projects": 100,
            "transforms": 9000, "attribute_transforms": 9500, "data_maps": 100,
            "async_tasks": 700, "notifications": 600, "users": 10, "webhook_records": 0,
            "gen_ai_integration_configs": 0, "gen_ai_org_settings": 0,
            "notification_settings": 0, "notification_channel_settings": 0, "doc_containers": 0,
            "code_containers": 9700}

RUN_INTERVAL = 3600.0

FIRST_RUN_DELAY = 60.0

MAX_CATCH_UP_RUNS = 48


class ApiError(Exception):
    """An HTTP error in Nexla's body format."""

    def __init__(self, status: int, message: str, *, resource_type=None, resource_id=None,
                 headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.headers = headers or {}

    def body(self) -> dict:
        body = {"message": self.message, "code": self.status}
        if self.resource_type:
            body["resource_type"] = self.resource_type
        if self.resource_id is not None:
            body["resource_id"] = self.resource_id
        return body


def not_found(kind: str, doc_id) -> ApiError:
    return ApiError(404, f"{kind}/{doc_id} not found", resource_type=kind, resource_id=doc_id)


@dataclass
class Settings:
    # Highest accepted values: a day of latency or discovery delay; a page cap no server would
    # exceed. setting_problem() checks against them.
    MAX_LATENCY_MS = 86_400_000.0
    MAX_DISCOVERY_DELAY = 86_400.0
    MAX_PER_PAGE = 1_000_000

    discovery_delay: float = 2.0
    latency_ms: float = 0.0
    max_per_page: int | None = None  # a page cap below the usual one (walkers that must not truncate)
    admin_key: str | None = None  # overrides the seeded admin service key (canary tests)
    debug: bool = False


def setting_problem(key: str, value) -> str | None:
    """What a runtime setting's value should have been ("expected ..."), or None when it is
    usable: one check for the CLI's flags and the control API's config call. `0 <= value`
    also refuses NaN."""
    if key == "max_per_page":
        if value is None or (isinstance(value, int) and not isinstance(value, bool)
                             and 1 <= value <= Settings.MAX_PER_PAGE):
            return None
        return f"expected an integer from 1 to {Settings.MAX_PER_PAGE}"
    top = {"latency_ms": Settings.MAX_LATENCY_MS,
           "discovery_delay": Settings.MAX_DISCOVERY_DELAY}[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= top:
        return None
    return f"expected a finite number from 0 to {top:g}"


@functools.lru_cache(maxsize=1 << 16)  # run/log times repeat on every page that shows them
def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value) -> float | None:
    """ISO string or epoch seconds/ms → epoch seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 1000.0 if value > 1e11 else float(value)
    text = str(value).strip()
    try:
        num = float(text)
        return num / 1000.0 if num > 1e11 else num
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


class BaseDomain:
    """The emulated org's shared rules over one Store; one per server, used under the store lock."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self.tokens: dict[str, dict] = {}
        self._next_due = 0.0
        self._derived: dict = {}
        self._derived_version = -1

    def cached(self, key: tuple, build):
        """`build()`'s result for data derived only from stored state (not from the clock):
        shaped JSON, visible lists, sorted runs. Kept until the next store write — every write
        bumps store.version, which drops all of it, so a read never sees stale state. Results
        are shared: treat them as read-only."""
        derived = self.derived()
        try:
            return derived[key]
        except KeyError:
            value = derived[key] = build()
            return value

    def derived(self) -> dict:
        """The store-version-scoped dict behind cached(), for values only sometimes cacheable."""
        if self._derived_version != self.store.version:
            self._derived = {}
            self._derived_version = self.store.version
        return self._derived
    # == clock ===================================================================================
    def now(self) -> float:
        return time.time() + self.store.meta("clock_offset", 0.0)

    def now_iso(self) -> str:
        return iso(self.now())

    def tick(self, seconds: float) -> dict:
        before = self.store.count("runs")
        self.store.set_meta("clock_offset", self.store.meta("clock_offset", 0.0) + seconds)
        self._next_due = 0.0
        self.advance()
        return {"now": self.now_iso(), "runs_created": self.store.count("runs") - before}

    def advance(self):
        """Materialise everything that became due: discovered nexsets, upstream schema
        changes, scheduled runs and finished async tasks."""
        now = self.now()
        if now < self._next_due:
            return
        next_due = math.inf
        for src in self.store.find("data_sources", "_discovering", True):
            due = src.get("_discovery_due") or 0
            if due <= now:
                self._discover(src)
            else:
                next_due = min(next_due, due)
        for src in self.store.find("data_sources", "_schema_pending", True):
            next_due = min(next_due, self.land_schema_changes(src, now)[1])
        for root in self.store.find("flows", "_scheduled", True):
            next_due = min(next_due, self._run_due(root, now))
        next_due = min(next_due, self.settle_tasks(now))
        self._next_due = next_due

    def note_due(self, when: float):
        self._next_due = min(self._next_due, when)
    # == users, orgs ==============================================================================
    def org(self, org_id) -> dict:
        return self.store.get("orgs", org_id) or {"id": org_id, "name": f"org-{org_id}"}

    def user(self, user_id) -> dict | None:
        return self.store.get("users", user_id)

    def user_by_email(self, email: str) -> dict | None:
        found = self.store.find("users", "email", email.strip().lower())
        return found[0] if found else None
    # == roles ===================================================================================
    def _accessor_matches(self, acc: dict, user: dict) -> bool:
        kind = acc.get("type")
        if kind == "USER":
            return acc.get("id") == user["id"] or (
                acc.get("email") is not None and acc.get("email") == user["email"])
        if kind == "TEAM":
            team = self.store.get("teams", acc.get("id"))
            return bool(team) and any(m["id"] == user["id"] for m in team.get("members", ()))
        if kind == "ORG":
            return acc.get("id") == user["org_id"]
        return False

    def _accessor_roles(self, doc: dict, user: dict) -> set:
        roles = set()
        for acc in doc.get("_accessors", ()):
            if self._accessor_matches(acc, user):
                roles.update(acc.get("access_roles", ()))
        return roles

    def roles(self, kind: str, doc: dict, user: dict) -> set:
        """Caller's roles on a doc: owner, org-admin, own accessors and the flow's accessors."""
        roles = set()
        if doc.get("owner_id") == user["id"]:
            roles.add("owner")
        if user.get("is_org_admin") and doc.get("org_id", user["org_id"]) == user["org_id"]:
            roles.add("admin")
        roles |= self._accessor_roles(doc, user)
        if kind in FLOW_KINDS:
            root = self.root_of(doc)
            if root:
                roles |= self._accessor_roles(root, user)
        elif kind == "flows":
            root = self.store.get("flows", doc["origin_node_id"]) or doc
            roles |= self._accessor_roles(root, user)
            src = self.store.get("data_sources", root.get("data_source_id"))
            if src:
                roles |= self.roles("data_sources", src, user)
        elif kind == "teams":
            for member in doc.get("members", ()):
                if member["id"] == user["id"]:
                    roles.add("admin" if member.get("admin") else "collaborator")
        elif kind == "users":
            if doc["id"] == user["id"]:
                roles.add("owner")
            elif doc.get("org_id") == user["org_id"]:
                roles.add("collaborator")
        elif kind == "orgs" and doc["id"] == user["org_id"]:
            roles.add("admin" if user.get("is_org_admin") else "collaborator")
        return roles

    @staticmethod
    def rank(roles) -> int:
        return max((ROLE_RANK.get(r, 0) for r in roles), default=0)

    def access_roles(self, kind, doc, user) -> list[str]:
        """The caller's roles as shown on a resource; an owner sees just ["owner"]."""
        if doc.get("owner_id") == user["id"] and kind not in ("teams", "users", "orgs"):
            return ["owner"]
        roles = self.roles(kind, doc, user)
        if "owner" in roles:
            roles.discard("admin")
        return sorted(roles, key=lambda r: -ROLE_RANK[r])

    def require(self, kind: str, doc: dict, user: dict, need: str):
        have = self.roles(kind, doc, user)
        if self.rank(have) >= ROLE_RANK[need]:
            return
        allowed = sorted((r for r in ROLES if ROLE_RANK[r] >= ROLE_RANK[need]), key=ROLE_RANK.get)
        allowed_text = (", ".join(allowed[:-1]) + " or " if len(allowed) > 1 else "") + allowed[-1]
        have_text = ", ".join(sorted(have, key=lambda r: -ROLE_RANK[r])) or "no role"
        raise ApiError(403, f"requires {allowed_text} role on {kind}/{doc['id']}; you have: {have_text}",
                       resource_type=kind, resource_id=doc["id"])

    def get(self, kind: str, doc_id, user: dict, need: str = "collaborator") -> dict:
        doc = self.store.get(kind, doc_id)
        if doc is None:
            raise not_found(kind, doc_id)
        self.require(kind, doc, user, need)
        return doc

    def visible(self, kind: str, user: dict, access_role: str | None = None,
                roots_only: bool = False) -> list[dict]:
        """Docs (root flow nodes with `roots_only`) the caller has any role on, or
        `access_role`, in id order. One list per store version: walking 10,000 sources page by
        page slices it instead of re-checking every earlier doc for each page."""
        def build():
            docs = self.store.find("flows", "parent_node_id", None) if roots_only else None
            return list(self._visible(kind, user, access_role, docs))
        return self.cached(("visible", kind, user["id"], access_role, roots_only), build)

    def _visible(self, kind: str, user: dict, access_role: str | None, docs):
        # Owners and org admins skip the full role walk.
        uid, org_id, org_admin = user["id"], user["org_id"], user.get("is_org_admin")
        for doc in self.store.iter_all(kind) if docs is None else docs:
            in_org = doc.get("org_id", org_id) == org_id
            if not in_org and doc.get("owner_id") != uid:
                continue
            if access_role is None and (doc.get("owner_id") == uid or (org_admin and in_org)):
                yield doc
                continue
            roles = self.roles(kind, doc, user)
            if roles and (access_role is None or access_role in roles):
                yield doc
    # == generic documents =======================================================================
    def new_doc(self, kind: str, user: dict, fields: dict, doc_id: int | None = None) -> dict:
        now = self.now_iso()
        doc = {"id": doc_id or self.store.next_id(kind, ID_FLOOR.get(kind, 0)),
               "owner_id": user["id"], "org_id": user["org_id"], "created_at": now,
               "updated_at": now, "tags": [], **fields}
        return self.store.put(kind, doc)

    def update_doc(self, kind: str, doc: dict, fields: dict) -> dict:
        new = {**doc, **fields, "updated_at": self.now_iso()}
        return self.store.put(kind, new)
