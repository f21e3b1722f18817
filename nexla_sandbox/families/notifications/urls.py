"""Notification routes beyond CRUD."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/notifications/count", ["GET"], r.notification_count, True),
    ("/notifications/all", ["DELETE"], r.delete_all_notifications, True),
    ("/notifications/mark_read", ["PUT"], r.mark_notifications(True), True),
    ("/notifications/mark_unread", ["PUT"], r.mark_notifications(False), True),
    ("/notification_types", ["GET"], r.notification_types, True),
    ("/notification_types/list", ["GET"], r.notification_type, True),
    ("/notification_settings/notification_types/<int:type_id>", ["GET"],
     r.notification_settings_where, True),
    ("/notification_settings/<resource_type>/<int:resource_id>", ["GET"],
     r.notification_settings_where, True),
]
