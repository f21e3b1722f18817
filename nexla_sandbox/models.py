"""Domain rules: resources, the flow tree, roles and accessors, discovery, runs, tasks, clock.

Handlers in responses.py validate the request body and call these methods; everything here
runs under the store lock inside one transaction per request (see server.py). Stored docs keep
the API field names; internal fields start with "_" and are never sent.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import math
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from . import transforms
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
            "notification_settings": 0, "notification_channel_settings": 0, "doc_containers": 0}
RUN_INTERVAL = 3600.0
FIRST_RUN_DELAY = 60.0
MAX_CATCH_UP_RUNS = 48
TASK_STEP_SECONDS = 1.0
TOKEN_TTL = 86400
NOT_COPIED = frozenset(("id", "owner_id", "org_id", "created_at", "updated_at", "flow_node_id",
                        "_accessors", "_discovering", "_discovery_due", "api_keys"))


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
    discovery_delay: float = 2.0
    latency_ms: float = 0.0
    admin_key: str | None = None  # overrides the seeded admin service key (canary tests)
    debug: bool = False


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


# Sample records per kind of data, chosen from the source's name (or type).
def sample_records(source: dict, count: int = 20) -> list[dict]:
    name = (source.get("name") or "").lower()
    rng = random.Random(f"samples:{source['id']}")
    base = 1700000000
    records = []
    for i in range(count):
        ts = datetime.fromtimestamp(base + i * 3600 + rng.randint(0, 3599), timezone.utc)
        stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        if "order" in name:
            records.append({"order_id": 10001 + i, "customer_id": 500 + rng.randint(0, 40),
                            "amount": round(rng.uniform(5, 500), 2), "currency": "USD",
                            "status": rng.choice(["new", "paid", "shipped", "cancelled"]),
                            "country": rng.choice(["us", "de", "fr", "gb"]), "created_at": stamp})
        elif "customer" in name:
            first = rng.choice(["ana", "ben", "chen", "dara", "eli", "fay"])
            records.append({"customer_id": 500 + i, "name": first.title(),
                            "email": f"{first}{i}@example.com",
                            "country": rng.choice(["US", "DE", "FR", "GB"]),
                            "lifetime_value": round(rng.uniform(0, 5000), 2), "updated_at": stamp})
        elif "click" in name or source.get("source_type") == "nexla_rest":
            records.append({"session_id": f"s-{1000 + i}", "page": rng.choice(["/", "/cart", "/pay"]),
                            "referrer": rng.choice(["google", "direct", "newsletter"]),
                            "duration_ms": rng.randint(100, 90000), "ts": stamp})
        elif "event" in name:
            records.append({"event_id": f"evt-{i:05d}", "type": rng.choice(["login", "view", "buy"]),
                            "user_id": rng.randint(1, 300), "ts": stamp,
                            "properties": {"device": rng.choice(["ios", "android", "web"])}})
        else:
            records.append({"id": i + 1, "name": f"item-{i + 1}", "value": rng.randint(0, 1000),
                            "updated_at": stamp})
    return records


FAIL_MESSAGES = {
    "postgres": "org.postgresql.util.PSQLException: Connection to warehouse-db:5432 refused",
    "snowflake": "net.snowflake.client.jdbc.SnowflakeSQLException: Incorrect username or password",
    "s3": "com.amazonaws.services.s3.model.AmazonS3Exception: Access Denied (403)",
    "rest": "HTTP 503 from upstream API after 3 attempts",
}


class Domain:
    """The emulated org's rules over one Store; one per server, used under the store lock."""

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
        """Materialise everything that became due: discovered nexsets and scheduled runs."""
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
        for root in self.store.find("flows", "_scheduled", True):
            next_due = min(next_due, self._run_due(root, now))
        self._next_due = next_due

    def note_due(self, when: float):
        self._next_due = min(self._next_due, when)

    # == users, orgs, auth =======================================================================
    def org(self, org_id) -> dict:
        return self.store.get("orgs", org_id) or {"id": org_id, "name": f"org-{org_id}"}

    def user(self, user_id) -> dict | None:
        return self.store.get("users", user_id)

    def user_by_email(self, email: str) -> dict | None:
        found = self.store.find("users", "email", email.strip().lower())
        return found[0] if found else None

    def login(self, authorization: str) -> dict:
        """POST /token: Basic <service key> (verbatim, or base64 of 'key' / 'key:')."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not value.strip():
            raise ApiError(401, "Authentication failed: a Basic service key is required")
        value = value.strip()
        candidates = [value]
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
            candidates += [decoded, decoded.rstrip(":")]
        except (ValueError, UnicodeDecodeError):
            pass
        for key in candidates:
            found = self.store.find("users", "_service_key", key)
            if found and found[0].get("status") == "ACTIVE":
                user = found[0]
                token = "sbx-tok-" + secrets.token_urlsafe(24)
                self.tokens[token] = {"user_id": user["id"], "expires": time.time() + TOKEN_TTL}
                return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_TTL,
                        "user": {"id": user["id"], "email": user["email"]},
                        "org": {"id": user["org_id"], "name": self.org(user["org_id"])["name"]}}
        raise ApiError(401, "Authentication failed: unknown service key")

    def authenticate(self, authorization: str) -> dict:
        scheme, _, token = (authorization or "").partition(" ")
        entry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry["expires"] < time.time():
            raise ApiError(401, "Unauthorized: missing, unknown or expired access token")
        user = self.user(entry["user_id"])
        if user is None or user.get("status") != "ACTIVE":
            raise ApiError(401, "Unauthorized: user is not active")
        return user

    def logout(self, authorization: str):
        _, _, token = (authorization or "").partition(" ")
        self.tokens.pop(token.strip(), None)

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

    # == credentials =============================================================================
    SECRET_HINTS = ("pass", "secret", "token", "key", "private", "credential", "auth")

    def split_secrets(self, credentials: dict) -> dict:
        return {k: v for k, v in credentials.items()
                if not any(h in k.lower() for h in self.SECRET_HINTS)}

    def probe_ok(self, cred: dict) -> bool:
        """A credential probes bad when any secret value says so (seed 13: 'wrong-password')."""
        for value in (cred.get("_secret") or {}).values():
            if isinstance(value, str) and any(w in value.lower() for w in ("wrong", "invalid", "bad")):
                return False
        return True

    # == flow nodes ==============================================================================
    def add_node(self, kind: str, doc: dict, parent: dict | None, node_id: int | None = None,
                 **extra) -> dict:
        nid = node_id or self.store.next_id("flows", ID_FLOOR["flows"])
        node = {"id": nid, "origin_node_id": parent["origin_node_id"] if parent else nid,
                "parent_node_id": parent["id"] if parent else None,
                "data_source_id": None, "data_set_id": None, "data_sink_id": None,
                "project_id": parent.get("project_id") if parent else None,
                "flow_type": doc.get("flow_type") or "batch",
                "ingestion_mode": doc.get("ingest_method") or "POLL", **extra}
        node[NODE_FIELD[kind]] = doc["id"]
        if parent is None:
            node.update(org_id=doc["org_id"], owner_id=doc["owner_id"], _accessors=[],
                        _scheduled=False, _sim={"interval": RUN_INTERVAL, "fail_rate": 0.0,
                                                "stalled": False, "next_run_at": None,
                                                "run_count": 0})
        self.store.put("flows", node)
        self.store.put(kind, {**doc, "flow_node_id": nid})
        return node

    def node_resource(self, node: dict) -> tuple[str, dict | None]:
        for kind, field in NODE_FIELD.items():
            if node.get(field) is not None:
                return kind, self.store.get(kind, node[field])
        return "data_sources", None

    def children(self, node_id: int) -> list[dict]:
        return self.store.find("flows", "parent_node_id", node_id)

    def subtree(self, node: dict) -> list[dict]:
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(self.children(n["id"])))
        return out

    def root_of(self, doc: dict) -> dict | None:
        """The root node of the flow a source, nexset or destination is in."""
        node = self.store.get("flows", doc.get("flow_node_id"))
        return node and self.store.get("flows", node["origin_node_id"])

    def node_status(self, node: dict) -> str | None:
        _, res = self.node_resource(node)
        return res.get("status") if res else None

    def flow_node_for(self, kind: str, doc_id: int, user: dict, need="collaborator") -> dict:
        doc = self.get(kind, doc_id, user, need)
        node = self.store.get("flows", doc.get("flow_node_id"))
        if node is None:
            raise ApiError(404, f"{kind}/{doc_id} is not part of a flow", resource_type=kind,
                           resource_id=doc_id)
        return node

    def set_status(self, nodes: list[dict], status: str):
        for node in nodes:
            kind, res = self.node_resource(node)
            if res and res.get("status") != status:
                self.update_doc(kind, res, {"status": status})
            if node["parent_node_id"] is None:
                self._schedule(node, status == "ACTIVE")

    def _schedule(self, root: dict, active: bool):
        sim = dict(root["_sim"])
        if active and not root.get("_scheduled"):
            sim["next_run_at"] = self.now() + FIRST_RUN_DELAY
            self.note_due(sim["next_run_at"])
        self.store.put("flows", {**root, "_sim": sim, "_scheduled": active and not sim["stalled"]})

    def activate_nodes(self, node: dict, *, all_nodes: bool, status: str) -> list[dict]:
        """activate/pause: just this node's resource, or (all/full_tree) the whole flow."""
        if all_nodes:
            root = self.store.get("flows", node["origin_node_id"])
            nodes = self.subtree(root)
        else:
            nodes = [node]
        self.set_status(nodes, status)
        return nodes

    def _delete_nodes(self, nodes: list[dict]):
        """Delete flow nodes with their resources, and a root's run history with it."""
        for n in nodes:
            kind, res = self.node_resource(n)
            if res:
                self.store.delete(kind, res["id"])
            if n["parent_node_id"] is None:
                for run in self.store.find("runs", "flow_id", n["id"]):
                    self.store.delete("runs", run["id"])
            self.store.delete("flows", n["id"])

    def delete_flow(self, node: dict):
        nodes = self.subtree(node)
        if any(self.node_status(n) == "ACTIVE" for n in nodes):
            raise ApiError(409, "Flow is active; pause it before deleting", resource_type="flows",
                           resource_id=node["id"])
        self._delete_nodes(nodes)
        for project in self.store.all("projects"):
            if node["id"] in project.get("_flow_ids", []):
                ids = [i for i in project["_flow_ids"] if i != node["id"]]
                self.update_doc("projects", project, {"_flow_ids": ids})

    def delete_resource(self, kind: str, doc: dict):
        """DELETE /{kind}/{id}: refuses ACTIVE resources and resources with downstream nodes."""
        if doc.get("status") == "ACTIVE":
            raise ApiError(409, f"{LABEL[kind]} is active; pause it before deleting",
                           resource_type=kind, resource_id=doc["id"])
        node = self.store.get("flows", doc.get("flow_node_id"))
        if node:
            kids = self.children(node["id"])
            # A source's detected nexsets go with it, as long as nothing hangs off them.
            blocked = (any(self.children(k["id"]) for k in kids) if kind == "data_sources"
                       else bool(kids))
            if blocked:
                raise ApiError(409, f"{LABEL[kind]} {doc['id']} has downstream resources; delete "
                               f"them or delete the flow", resource_type=kind, resource_id=doc["id"])
            self._delete_nodes([node, *kids])
        self.store.delete(kind, doc["id"])  # also when it is in no flow

    # == sources, nexsets, sinks =================================================================
    def create_source(self, user: dict, fields: dict, *, doc_id=None, status="INIT",
                      discover=True, node_id=None) -> dict:
        fields = {"status": status, "description": None, "data_credentials_id": None,
                  "source_config": {}, "ingest_method": "POLL", "flow_type": "batch",
                  "copied_from_id": None, **fields}
        if fields["source_type"] == "nexla_rest":
            fields["ingest_method"] = "API"
            fields["flow_type"] = "streaming"
            fields.setdefault("api_keys", [{"id": self.store.next_id("api_keys", 0),
                                            "api_key": secrets.token_hex(20)}])
        if discover:
            fields["_discovering"] = True
            fields["_discovery_due"] = self.now() + max(self.settings.discovery_delay, 0.001)
            self.note_due(fields["_discovery_due"])
        src = self.new_doc("data_sources", user, fields, doc_id)
        self.add_node("data_sources", src, None, node_id)
        return self.store.get("data_sources", src["id"])

    def _discover(self, src: dict, doc_id=None, name=None, node_id=None) -> dict:
        """The detected nexset of a source (appears `discovery_delay` after creation)."""
        owner = self.user(src["owner_id"]) or {"id": src["owner_id"], "org_id": src["org_id"]}
        samples = sample_records(src)
        nexset = self.new_doc("data_sets", owner, {
            "name": name or (src["name"].rsplit("-", 1)[0] if "-" in src["name"] else src["name"]),
            "description": f"Detected from data source {src['id']}",
            "status": "ACTIVE" if src.get("status") == "ACTIVE" else "PAUSED",
            "data_source_id": src["id"], "parent_data_set_id": None, "transform_id": None,
            "has_custom_transform": False, "flow_type": src.get("flow_type", "batch"),
            "output_schema": transforms.infer_schema(samples), "_samples": samples,
            "copied_from_id": None}, doc_id)
        self.store.put("data_sources", {**self.store.get("data_sources", src["id"]),
                                        "_discovering": False, "_discovery_due": None})
        parent = self.store.get("flows", src["flow_node_id"])
        self.add_node("data_sets", nexset, parent, node_id)
        return self.store.get("data_sets", nexset["id"])

    def transform_ops(self, nexset: dict) -> list | None:
        if nexset.get("has_custom_transform") and isinstance(nexset.get("transform"), dict):
            return nexset["transform"].get("operations", [])
        tr = self.store.get("transforms", nexset.get("transform_id"))
        if tr:
            return tr.get("code") or []
        return None

    def samples(self, nexset: dict, depth: int = 0) -> tuple[list, list]:
        """(records, errors) of a nexset: detected samples or webhook records; derived ones are
        the parent's records with the transform really applied."""
        if depth > 50:
            return [], []
        if nexset.get("parent_data_set_id"):
            parent = self.store.get("data_sets", nexset["parent_data_set_id"])
            if parent is None:
                return [], []
            records, _ = self.samples(parent, depth + 1)
            ops = self.transform_ops(nexset)
            if ops is None:
                return copy.deepcopy(records), []
            return transforms.apply_to_records(ops, records)
        hooked = self.store.find("webhook_records", "data_set_id", nexset["id"])
        if hooked:
            return [copy.deepcopy(r["record"]) for r in hooked[-100:]][::-1], []
        return copy.deepcopy(nexset.get("_samples", [])), []

    def derived_schema(self, nexset: dict) -> dict:
        records, _ = self.samples(nexset)
        return transforms.infer_schema(records)

    def create_nexset(self, user: dict, fields: dict, *, doc_id=None, node_id=None) -> dict:
        parent = self.get("data_sets", fields["parent_data_set_id"], user)
        parent_node = self.store.get("flows", parent.get("flow_node_id"))
        fields = {"status": parent.get("status") if parent.get("status") == "ACTIVE" else "PAUSED",
                  "description": None, "data_source_id": None, "transform_id": None,
                  "flow_type": parent.get("flow_type", "batch"), "copied_from_id": None,
                  **fields}
        nexset = self.new_doc("data_sets", user, fields, doc_id)
        nexset = self.store.put("data_sets", {**nexset, "output_schema": self.derived_schema(nexset)})
        if parent_node:
            self.add_node("data_sets", nexset, parent_node, node_id)
        return self.store.get("data_sets", nexset["id"])

    def create_sink(self, user: dict, fields: dict, *, doc_id=None, node_id=None) -> dict:
        nexset = self.get("data_sets", fields["data_set_id"], user)
        fields = {"status": "PAUSED", "description": None, "sink_config": {},
                  "copied_from_id": None, **fields}
        sink = self.new_doc("data_sinks", user, fields, doc_id)
        parent = self.store.get("flows", nexset.get("flow_node_id"))
        if parent:
            self.add_node("data_sinks", sink, parent, node_id)
        return self.store.get("data_sinks", sink["id"])

    def move_sink(self, sink: dict, nexset: dict):
        """PUT /data_sinks/{id} with a new data_set_id re-parents the sink's flow node."""
        node = self.store.get("flows", sink.get("flow_node_id"))
        parent = self.store.get("flows", nexset.get("flow_node_id"))
        if node and parent:
            self.store.put("flows", {**node, "parent_node_id": parent["id"],
                                     "origin_node_id": parent["origin_node_id"]})
        elif parent:
            self.add_node("data_sinks", sink, parent)

    @staticmethod
    def _copyable(doc: dict) -> dict:
        """A deep copy of the fields a copy inherits (identity, ownership, place in a flow,
        accessors, discovery state and webhook keys are the new object's own)."""
        return {k: copy.deepcopy(v) for k, v in doc.items() if k not in NOT_COPIED}

    def copy_resource(self, kind: str, doc: dict, user: dict, opts: dict) -> dict:
        fields = self._copyable(doc)
        fields["copied_from_id"] = doc["id"]
        fields["name"] = f"{doc.get('name')} (copy)"
        if "status" in fields:
            fields["status"] = "PAUSED"
        if kind in ("data_sources", "data_sinks") and doc.get("data_credentials_id"):
            fields["data_credentials_id"] = self._credential_for_copy(
                doc["data_credentials_id"], user, opts)
        if opts.get("copy_access_controls"):
            fields["_accessors"] = copy.deepcopy(doc.get("_accessors", []))
        if kind == "data_sources":
            return self.create_source(user, fields, status="PAUSED")
        if kind == "data_sets":
            if fields.get("parent_data_set_id"):
                return self.create_nexset(user, fields)
            return self.new_doc("data_sets", user, fields)
        if kind == "data_sinks":
            return self.create_sink(user, fields)
        return self.new_doc(kind, user, fields)

    def _credential_for_copy(self, cred_id: int, user: dict, opts: dict) -> int:
        cred = self.store.get("data_credentials", cred_id)
        if cred is None or opts.get("reuse_data_credentials"):
            return cred_id
        fields = self._copyable(cred)
        fields.update(name=f"{cred['name']} (copy)", copied_from_id=cred_id)
        return self.new_doc("data_credentials", user, fields)["id"]

    def copy_flow(self, node: dict, user: dict, opts: dict) -> dict:
        """Copies the whole tree under `node` (usually a root); returns the new root node."""
        mapping: dict[int, dict] = {}
        cred_map: dict[int, int] = {}
        new_root = None
        for n in self.subtree(node):
            kind, res = self.node_resource(n)
            if res is None:
                continue
            fields = self._copyable(res)
            fields.update(copied_from_id=res["id"], status="PAUSED")
            if opts.get("copy_access_controls"):
                fields["_accessors"] = copy.deepcopy(res.get("_accessors", []))
            cid = res.get("data_credentials_id")
            if cid:
                if cid not in cred_map:
                    cred_map[cid] = self._credential_for_copy(cid, user, opts)
                fields["data_credentials_id"] = cred_map[cid]
            parent_new = mapping.get(n["parent_node_id"])
            if kind == "data_sources":
                fields["name"] = f"{res['name']} (copy)"
                if res.get("source_type") == "nexla_rest":
                    fields["api_keys"] = [{"id": self.store.next_id("api_keys", 0),
                                           "api_key": secrets.token_hex(20)}]
                new = self.new_doc(kind, user, fields)
            elif kind == "data_sets":
                if parent_new and parent_new.get("data_set_id"):
                    fields["parent_data_set_id"] = parent_new["data_set_id"]
                if parent_new and parent_new.get("data_source_id") and fields.get("data_source_id"):
                    fields["data_source_id"] = parent_new["data_source_id"]
                new = self.new_doc(kind, user, fields)
            else:
                if parent_new and parent_new.get("data_set_id"):
                    fields["data_set_id"] = parent_new["data_set_id"]
                new = self.new_doc(kind, user, fields)
            new_node = self.add_node(kind, new, parent_new)
            if parent_new is None:
                new_root = new_node
                if opts.get("copy_access_controls"):
                    root = self.store.get("flows", n["origin_node_id"])
                    self.store.put("flows", {**new_node, "_accessors": copy.deepcopy(
                        root.get("_accessors", []))})
            mapping[n["id"]] = new_node
        return self.store.get("flows", new_root["id"])

    # == runs ====================================================================================
    def flow_runs(self, flow_id: int) -> list[dict]:
        """Runs of a flow visible at the current sim time, newest first."""
        now = self.now()
        runs = self.cached(("runs", flow_id), lambda: sorted(
            self.store.find("runs", "flow_id", flow_id), key=lambda r: r["started_at"], reverse=True))
        return [r for r in runs if r["started_at"] <= now]

    def run_status(self, run: dict, now: float | None = None) -> str:
        return "RUNNING" if (self.now() if now is None else now) < run["finished_at"] else run["status"]

    def _run_due(self, root: dict, now: float) -> float:
        sim = root["_sim"]
        src = self.store.get("data_sources", root.get("data_source_id"))
        if not src or src.get("status") != "ACTIVE" or sim.get("stalled"):
            self.store.put("flows", {**root, "_scheduled": False})
            return math.inf
        due = sim.get("next_run_at") or now + FIRST_RUN_DELAY
        if due > now and sim.get("next_run_at") == due:
            return due  # nothing due yet: no write
        interval = max(float(sim.get("interval") or RUN_INTERVAL), 1.0)
        if due <= now:
            missed = int((now - due) // interval) + 1
            if missed > MAX_CATCH_UP_RUNS:
                due += (missed - MAX_CATCH_UP_RUNS) * interval
            count = sim.get("run_count", 0)
            while due <= now:
                failed = random.Random(f"{root['id']}:{count}").random() < sim.get("fail_rate", 0)
                self.make_run(root, due, failed=failed, seq=count)
                count += 1
                due += interval
            sim = {**sim, "run_count": count}
        self.store.put("flows", {**root, "_sim": {**sim, "next_run_at": due}})
        return due

    def make_run(self, root: dict, started: float, *, failed: bool, seq: int = 0,
                 records: int | None = None) -> dict:
        """One run of a flow, with per-resource metrics and log lines (ERROR lines on failure)."""
        rng = random.Random(f"run:{root['id']}:{seq}:{int(started)}")
        run_id = max(int(started * 1000), self.store.meta("last_run_id", 0) + 1)
        self.store.set_meta("last_run_id", run_id)
        duration = rng.uniform(20, 110)
        records = records if records is not None else rng.randint(200, 5000)
        size = records * rng.randint(180, 420)
        errors = rng.randint(max(1, records // 10), max(2, records // 2)) if failed else 0
        nodes = self.subtree(root)
        resources, logs = [], []
        ms = int(started * 1000)
        _, src = self.node_resource(root)
        src_name = src["name"] if src else "source"

        def log(offset_s, level, message, kind, rid, log_type="RUN"):
            logs.append({"timestamp": ms + int(offset_s * 1000), "level": level, "message": message,
                         "log_type": log_type, "resource_type": kind, "resource_id": rid,
                         "run_id": run_id})

        log(0, "INFO", f"Run {run_id} started for data source {src_name}", "data_sources",
            root.get("data_source_id"))
        step = duration / (len(nodes) + 1)
        for i, node in enumerate(nodes):
            kind, res = self.node_resource(node)
            if res is None:
                continue
            written = records - errors if kind == "data_sinks" else records
            resources.append({"resource_type": kind, "resource_id": res["id"],
                              "records": written, "size": written * (size // max(records, 1)),
                              "errors": errors if kind == "data_sinks" else 0})
            at = step * (i + 1)
            if kind == "data_sources":
                log(at, "INFO", f"Read {records} records from {res['name']}", kind, res["id"])
            elif kind == "data_sets":
                log(at, "INFO", f"Processed {records} records in nexset {res['name']}", kind, res["id"])
            else:
                if failed:
                    ctype = res.get("sink_type", "")
                    msg = FAIL_MESSAGES.get(ctype, f"Write to {ctype or 'destination'} failed")
                    log(at, "WARN", f"Retrying write batch to {res['name']} (attempt 3 of 3)", kind,
                        res["id"])
                    log(at + 0.5, "ERROR", f"{msg}; {errors} records failed writing to "
                        f"{res['name']}", kind, res["id"], "RECORD")
                else:
                    log(at, "INFO", f"Wrote {written} records to {res['name']}", kind, res["id"])
        status = "FAILED" if failed else "SUCCESS"
        log(duration, "ERROR" if failed else "INFO",
            f"Run {run_id} finished with status {status}: {records} records, {errors} errors",
            "data_sources", root.get("data_source_id"))
        run = {"id": run_id, "flow_id": root["id"], "data_source_id": root.get("data_source_id"),
               "status": status, "started_at": started, "finished_at": started + duration,
               "records": records, "size": size, "errors": errors, "resources": resources,
               "logs": logs}
        return self.store.put("runs", run)

    # == accessors ===============================================================================
    def owner_accessor(self, doc: dict) -> dict | None:
        owner = self.user(doc.get("owner_id"))
        if owner is None:
            return None
        return {"type": "USER", "id": owner["id"], "email": owner["email"],
                "org_id": owner["org_id"], "access_roles": ["owner"],
                "created_at": doc.get("created_at"), "updated_at": doc.get("created_at")}

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
            entry.setdefault("created_at", doc.get("created_at"))
            entry.setdefault("updated_at", doc.get("created_at"))
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

    # == async tasks =============================================================================
    def task_view(self, task: dict) -> dict:
        """Status moves pending → running → completed|failed, one step per sim second."""
        elapsed = self.now() - task["_started"]
        view = {k: v for k, v in task.items() if not k.startswith("_")}
        fails = bool((task.get("arguments") or {}).get("fail")) or str(task.get("type", "")).startswith("Fail")
        if elapsed < TASK_STEP_SECONDS:
            view.update(status="pending", started_at=None, finished_at=None, result=None, error=None)
        elif elapsed < 2 * TASK_STEP_SECONDS:
            view.update(status="running", started_at=iso(task["_started"] + TASK_STEP_SECONDS),
                        finished_at=None, result=None, error=None)
        else:
            done = task["_started"] + 2 * TASK_STEP_SECONDS
            view.update(started_at=iso(task["_started"] + TASK_STEP_SECONDS), finished_at=iso(done),
                        updated_at=iso(done))
            if fails:
                view.update(status="failed", result=None,
                            error=f"{task.get('type')} failed: simulated failure requested")
            else:
                args = task.get("arguments") or {}
                view.update(status="completed", error=None, result={
                    "type": task.get("type"), "processed": len(args.get("ids", [])) or 1,
                    "arguments": args,
                    "digest": hashlib.sha1(repr(sorted(args.items(), key=str)).encode()).hexdigest()[:12]})
        return view
