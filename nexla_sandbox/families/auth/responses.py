"""Auth handlers: POST /token, POST /token/logout."""

from __future__ import annotations

from ...ctx import Ctx


def token(c: Ctx):
    return c.dom.login(c.req.headers.get("Authorization", ""))


def logout(c: Ctx):
    c.dom.logout(c.req.headers.get("Authorization", ""))
    return {"code": 200, "message": "Logged out"}
