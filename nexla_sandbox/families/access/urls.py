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
    # The reference also publishes a flow's accessors under /data_flows/{id}/accessors.
    for method, mode in (("GET", "get"), ("PUT", "merge"), ("POST", "replace"),
                         ("DELETE", "remove")):
        out.append(("/data_flows/<int:id>/accessors", [method], r.accessors("flows", mode), True))
    return out
