"""User and org routes (their CRUD is in resources/urls.py)."""

from __future__ import annotations

from ..resources import responses as resources
from . import responses as r

ROUTES = [
    ("/users/current", ["GET"], r.current_user, True),
    ("/user_settings", ["GET"], r.user_settings, True),
    ("/orgs", ["GET"], resources.list_kind("orgs"), True),
    ("/orgs/<int:id>", ["GET"], resources.get_kind("orgs"), True),
    ("/limits", ["GET"], r.limits, True),
]
