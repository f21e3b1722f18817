"""GenAI routes beyond CRUD."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/gen_ai_org_settings/active_config", ["GET"], r.active_genai_config, True),
]
