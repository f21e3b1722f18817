"""Rate-limit routes."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/limits", ["GET"], r.limits, True),
]
