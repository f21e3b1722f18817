"""User routes (their CRUD is in resources/urls.py)."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/users/current", ["GET"], r.current_user, True),
    ("/user_settings", ["GET"], r.user_settings, True),
    ("/users/<int:id>/transferable", ["GET"], r.get_transferable, True),
    ("/users/<int:id>/transfer", ["PUT"], r.transfer_resources, True),
    ("/users/<int:id>/quarantine_settings", ["GET"], r.get_quarantine, True),
    ("/users/<int:id>/quarantine_settings", ["POST"], r.create_quarantine, True),
    ("/users/<int:id>/quarantine_settings", ["PUT"], r.update_quarantine, True),
    ("/users/<int:id>/quarantine_settings", ["DELETE"], r.delete_quarantine, True),
]
