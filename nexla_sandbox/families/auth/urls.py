"""Auth routes (no bearer token needed)."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/token", ["POST"], r.token, False),
    ("/token/logout", ["POST"], r.logout, False),
]
