"""Accessor and audit-log routes, for every kind in ACCESSOR_KINDS."""

from __future__ import annotations

from . import responses as r


def routes() -> list:
    out = []
    for kind in r.ACCESSOR_KINDS:
        for method, mode in (("GET", "get"), ("PUT", "merge"), ("POST", "replace"),
                             ("DELETE", "remove")):
            out.append((f"/{kind}/<int:id>/accessors", [method], r.accessors(kind, mode), True))
        out.append((f"/{kind}/<int:id>/audit_log", ["GET"], r.audit_log(kind), True))
    return out
