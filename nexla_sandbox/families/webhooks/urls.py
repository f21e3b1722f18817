"""The webhook route: outside the API prefix, api-key auth."""

from __future__ import annotations

from . import responses as r

# (path, methods, handler, needs_auth), served under its own endpoint name "webhook".
ROUTE = ("/webhook/<int:id>", ["POST"], r.webhook, False)
