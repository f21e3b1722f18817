"""The audit log: one entry per changed resource per API write, written centrally.

server.dispatch calls `record` at the end of every authenticated non-GET request, inside the
request's transaction: it diffs each doc the request wrote (store.touched) against its state
before the request. So every write path (create, update, delete, activate, pause, accessor
changes, copy, transfer, member changes) is logged without per-handler code, a rejected request
logs nothing (its transaction rolls back), and reads write nothing. Entries follow the
reference's audit-log entry (`GET /data_sources/{id}/audit_log`). Secret-named values are masked
as in the request log, and internal fields (`_secret`, `_service_key`, ...) never appear.
"""

from __future__ import annotations

from .faults import redact, secret_name

KIND = "audit_entries"

# kind -> item_type (Nexla names the model class).
ITEM_TYPES = {"data_sources": "DataSource", "data_sets": "DataSet", "data_sinks": "DataSink",
              "data_credentials": "DataCredentials", "flows": "FlowNode", "projects": "Project",
              "teams": "Team", "data_maps": "DataMap", "transforms": "CodeContainer",
              "attribute_transforms": "CodeContainer", "code_containers": "CodeContainer",
              "notifications": "Notification", "users": "User", "orgs": "Org"}

_SKIPPED = frozenset(("id", "created_at", "updated_at"))


def _visible_fields(doc: dict | None) -> dict:
    if doc is None:
        return {}
    out = {k: v for k, v in doc.items() if not k.startswith("_") and k not in _SKIPPED}
    if doc.get("_accessors"):
        out["accessors"] = doc["_accessors"]
    return out


def _changes(old: dict | None, new: dict | None) -> dict:
    """{field: [before, after]} for the fields that differ, secrets masked. Only nested values
    are walked (the write path pays for this on every API write)."""
    before, after = _visible_fields(old), _visible_fields(new)
    changes = {}
    for key in sorted(before.keys() | after.keys()):
        pair = [before.get(key), after.get(key)]
        if pair[0] == pair[1]:
            continue
        if key == "credentials" or secret_name(key):
            pair = [redact(v, hide=True) for v in pair]
        elif isinstance(pair[0], (dict, list)) or isinstance(pair[1], (dict, list)):
            pair = [redact(v) for v in pair]
        changes[key] = pair
    return changes


def _entry(dom, kind: str, doc: dict, event: str, changes: dict, user: dict, where: dict) -> dict:
    """`where`: request_ip, request_user_agent, request_url and created_at."""
    owner = dom.user(doc.get("owner_id")) or {}
    return {"id": dom.store.next_id(KIND), "item_type": ITEM_TYPES[kind], "item_id": doc["id"],
            "event": event, "change_summary": list(changes), "object_changes": changes,
            "association_resource": None, "user": {"id": user["id"], "email": user["email"]},
            "impersonator_id": None, "org_id": doc.get("org_id", user["org_id"]),
            "owner_id": doc.get("owner_id", user["id"]), "owner_email": owner.get("email", ""),
            "_item": f"{kind}:{doc['id']}", **where}


def record(dom, user: dict, request):
    """Append an entry for every audited doc this request created, changed or deleted."""
    where = {"request_ip": request.remote_addr or "127.0.0.1",
             "request_user_agent": request.headers.get("User-Agent", ""),
             "request_url": request.url, "created_at": dom.now_iso()}
    for kind, doc_id, old in dom.store.touched():
        if kind not in ITEM_TYPES:
            continue
        new = dom.store.get(kind, doc_id)
        if kind == "flows" and (old or {}).get("_accessors") == (new or {}).get("_accessors"):
            continue  # a flow node mirrors its resource (logged itself) except for accessors
        changes = _changes(old, new)
        if not changes:
            continue  # e.g. only updated_at moved
        event = "create" if old is None else "destroy" if new is None else "update"
        dom.store.put(KIND, _entry(dom, kind, new or old, event, changes, user, where))


def record_seed(dom, user: dict):
    """A "create" entry for every seeded object, as if `user` had created it."""
    where = {"request_ip": "127.0.0.1", "request_user_agent": "nexla-sandbox seed",
             "request_url": "", "created_at": dom.now_iso()}
    for kind in ITEM_TYPES:
        for doc in dom.store.all(kind):
            dom.store.put(KIND, _entry(dom, kind, doc, "create", _changes(None, doc), user, where))


def entries(dom, kind: str, doc_id: int) -> list[dict]:
    """The entries about one object, newest first (internal fields stripped)."""
    return [{k: v for k, v in e.items() if not k.startswith("_")}
            for e in reversed(dom.store.find(KIND, "_item", f"{kind}:{doc_id}"))]
