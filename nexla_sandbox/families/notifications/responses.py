"""Notification handlers: counts, read marks, types, notification and channel settings."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError, parse_time


def by_read(c: Ctx, docs) -> list:
    """Notifications filtered by the `read` query flag, when given."""
    if c.query.get("read") is None:
        return docs
    want = c.qbool("read")
    return [d for d in docs if bool(d.get("read_at")) == want]


def filter_list(c: Ctx, docs) -> list:
    """GET /notifications: read, level, from/to (epoch seconds), newest first."""
    docs = by_read(c, docs)
    if c.query.get("level"):
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
    return list(c.store.all("notification_types"))


def notification_type(c: Ctx):
    for t in c.store.all("notification_types"):
        if t["event_type"] == c.query.get("event_type") and t["resource_type"] == c.query.get("resource_type"):
            return t
    raise ApiError(404, "No notification type for that event_type and resource_type")


def create_channel_setting(c: Ctx, f: Fields):
    channel = f.str("channel", required=True)
    if channel not in ("APP", "EMAIL", "SMS", "SLACK", "WEBHOOKS"):
        raise ApiError(400, "channel: expected APP, EMAIL, SMS, SLACK or WEBHOOKS")
    return c.dom.new_doc("notification_channel_settings", c.user,
                         {"channel": channel, "config": f.obj("config", required=True)})


def create_notification_setting(c: Ctx, f: Fields):
    type_id = f.int("notification_type_id", required=True)
    ntype = c.store.get("notification_types", type_id)
    if ntype is None:
        raise ApiError(400, f"notification_type_id: no notification type {type_id}")
    return c.dom.new_doc("notification_settings", c.user, {
        "channel": f.str("channel", required=True), "notification_type_id": type_id,
        "status": f.str("status") or "ACTIVE", "config": f.obj("config") or {},
        "notification_resource_type": f.str("notification_resource_type") or ntype["resource_type"],
        "resource_id": f.int("resource_id"), "name": ntype["name"],
        "description": ntype["description"], "code": ntype["id"] * 100,
        "category": ntype["category"], "event_type": ntype["event_type"],
        "resource_type": ntype["resource_type"], "priority": None})


def notification_settings_where(c: Ctx):
    docs = c.dom.visible("notification_settings", c.user)
    if "type_id" in c.args:
        docs = [d for d in docs if d["notification_type_id"] == c.args["type_id"]]
    else:
        docs = [d for d in docs if d["notification_resource_type"] == c.args["resource_type"].upper()
                and d.get("resource_id") == c.args["resource_id"]]
    return [c.shaper.plain(d) for d in docs]


def _update_plain(kind, getters: dict):
    def updater(c: Ctx, f: Fields, doc: dict):
        return c.dom.update_doc(kind, doc, f.present(**getters))
    return updater


CREATORS = {"notification_channel_settings": create_channel_setting,
            "notification_settings": create_notification_setting}
UPDATERS = {
    "notification_channel_settings": _update_plain("notification_channel_settings",
                                                   {"channel": "str", "config": "obj"}),
    "notification_settings": _update_plain("notification_settings",
                                           {"status": "str", "config": "obj", "channel": "str",
                                            "checked": "bool"}),
    "notifications": _update_plain("notifications", {}),
}
