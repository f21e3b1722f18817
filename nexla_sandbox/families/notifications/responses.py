"""Notification handlers: counts, read marks, types, notification and channel settings."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError, parse_time

# The reference's enums.
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "RECOVERED")
EVENT_TYPES = ("SHARE", "CREATE", "DELETE", "UPDATE", "ACTIVATE", "PAUSE", "METRICS", "RESETPASS",
               "ERROR_AGGREGATED", "ERROR", "MONITOR", "WRITE", "EMPTY_DATA", "READ_START",
               "READ_DONE", "WRITE_START", "WRITE_DONE")
RESOURCE_TYPES = ("ORG", "USER", "DATA_FLOW", "CUSTOM_DATA_FLOW", "SOURCE", "DATASET", "SINK")
CHANNELS = ("APP", "EMAIL", "SMS", "SLACK", "WEBHOOKS")
SETTING_STATUSES = ("PAUSED", "ACTIVE")
TYPE_STATUSES = {"ACTIVE": True, "PAUSE": False}  # GET /notification_types?status=


def one_of(value, allowed, where: str):
    """`value` when it is one of `allowed` (or None), else a 400 naming `where`."""
    if value is not None and value not in allowed:
        raise ApiError(400, f"{where}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def by_read(c: Ctx, docs) -> list:
    """Notifications filtered by the `read` query flag, when given."""
    if c.query.get("read") is None:
        return docs
    want = c.qbool("read")
    return [d for d in docs if bool(d.get("read_at")) == want]


def filter_list(c: Ctx, docs) -> list:
    """GET /notifications: read, level, from/to (epoch seconds), newest first."""
    docs = by_read(c, docs)
    if one_of(c.query.get("level") or None, LEVELS, "level"):
        docs = [d for d in docs if d["level"] == c.query["level"]]
    lo, hi = c.qint("from"), c.qint("to")
    if lo is not None:
        docs = [d for d in docs if (parse_time(d["created_at"]) or 0) >= lo]
    if hi is not None:
        docs = [d for d in docs if (parse_time(d["created_at"]) or 0) <= hi]
    return sorted(docs, key=lambda d: d["id"], reverse=True)


def notification_count(c: Ctx):
    return {"count": len(by_read(c, c.dom.visible("notifications", c.user)))}


def mark_notifications(read: bool):
    def handler(c: Ctx):
        body = c.raw_body()
        if c.query.get("notification_id") == "all" or body is None:
            ids = None
        elif isinstance(body, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in body):
            ids = set(body)
        else:
            raise ApiError(400, "body: expected a JSON array of notification ids")
        changed = 0
        for doc in c.dom.visible("notifications", c.user):
            if ids is None or doc["id"] in ids:
                c.dom.update_doc("notifications", doc, {"read_at": c.dom.now_iso() if read else None})
                changed += 1
        return {"code": 200, "message": f"{changed} notifications updated"}
    return handler


def delete_all_notifications(c: Ctx):
    docs = c.dom.visible("notifications", c.user)
    for doc in docs:
        c.store.delete("notifications", doc["id"])
    return {"code": 200, "message": f"{len(docs)} notifications deleted"}


def notification_types(c: Ctx):
    types = c.store.all("notification_types")
    status = one_of(c.query.get("status") or None, tuple(TYPE_STATUSES), "status")
    return types if status is None else [t for t in types if t["status"] == TYPE_STATUSES[status]]


def notification_type(c: Ctx):
    wanted = {}
    for name, allowed in (("event_type", EVENT_TYPES), ("resource_type", RESOURCE_TYPES)):
        if not c.query.get(name):
            raise ApiError(400, f"{name}: required query parameter is missing")
        wanted[name] = one_of(c.query[name], allowed, name)
    for t in c.store.all("notification_types"):
        if all(t[name] == value for name, value in wanted.items()):
            return t
    raise ApiError(404, "No notification type for that event_type and resource_type")


def filter_settings(c: Ctx, docs) -> list:
    """GET /notification_settings: event_type, resource_type, status."""
    for name, allowed in (("event_type", EVENT_TYPES), ("resource_type", RESOURCE_TYPES),
                          ("status", SETTING_STATUSES)):
        value = one_of(c.query.get(name) or None, allowed, name)
        if value is not None:
            docs = [d for d in docs if d.get(name) == value]
    return docs


def create_channel_setting(c: Ctx, f: Fields):
    channel = one_of(f.str("channel", required=True), CHANNELS, "channel")
    return c.dom.new_doc("notification_channel_settings", c.user,
                         {"channel": channel, "config": f.obj("config", required=True)})


def create_notification_setting(c: Ctx, f: Fields):
    type_id = f.int("notification_type_id", required=True)
    ntype = c.store.get("notification_types", type_id)
    if ntype is None:
        raise ApiError(400, f"notification_type_id: no notification type {type_id}")
    return c.dom.new_doc("notification_settings", c.user, {
        "channel": one_of(f.str("channel", required=True), CHANNELS, "channel"),
        "notification_type_id": type_id,
        "status": one_of(f.str("status"), SETTING_STATUSES, "status") or "ACTIVE",
        "config": f.obj("config") or {},
        "notification_resource_type": one_of(f.str("notification_resource_type"), RESOURCE_TYPES,
                                             "notification_resource_type")
        or ntype["resource_type"],
        "resource_id": f.int("resource_id"), "name": ntype["name"],
        "description": ntype["description"], "code": ntype["id"] * 100,
        "category": ntype["category"], "event_type": ntype["event_type"],
        # the reference types priority as an integer and gives no default: 0, as for tasks
        "resource_type": ntype["resource_type"], "priority": f.int("priority") or 0})


def notification_settings_where(c: Ctx):
    docs = c.dom.visible("notification_settings", c.user)
    if "type_id" in c.args:
        docs = [d for d in docs if d["notification_type_id"] == c.args["type_id"]]
    else:
        kind = one_of(c.args["resource_type"].upper(), RESOURCE_TYPES, "resource_type")
        docs = [d for d in docs if d["notification_resource_type"] == kind
                and d.get("resource_id") == c.args["resource_id"]]
    return [c.shaper.plain(d) for d in docs]


def _update_plain(kind, getters: dict, enums: dict | None = None):
    def updater(c: Ctx, f: Fields, doc: dict):
        changes = f.present(**getters)
        for name, allowed in (enums or {}).items():
            one_of(changes.get(name), allowed, name)
        return c.dom.update_doc(kind, doc, changes)
    return updater


CREATORS = {"notification_channel_settings": create_channel_setting,
            "notification_settings": create_notification_setting}
UPDATERS = {
    "notification_channel_settings": _update_plain("notification_channel_settings",
                                                   {"channel": "str", "config": "obj"},
                                                   {"channel": CHANNELS}),
    "notification_settings": _update_plain("notification_settings",
                                           {"status": "str", "config": "obj", "channel": "str",
                                            "checked": "bool"},
                                           {"status": SETTING_STATUSES, "channel": CHANNELS}),
    "notifications": _update_plain("notifications", {}),
}
