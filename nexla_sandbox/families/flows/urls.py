"""Flow routes: /flows/* and each flow kind's activate/pause/flow."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/flows", ["GET"], r.list_flows, True),
    ("/flows/<int:id>", ["GET"], r.get_flow, True),
    ("/flows/<int:id>", ["DELETE"], r.delete_flow, True),
    ("/flows/<int:id>/activate", ["PUT"], r.flow_status("ACTIVE"), True),
    ("/flows/<int:id>/pause", ["PUT"], r.flow_status("PAUSED"), True),
    ("/flows/<int:id>/copy", ["POST"], r.copy_flow, True),
]
# After the metrics family's /flows/<id>/logs... routes (see nexla_sandbox/urls.py).
DOCS_ROUTES = [
    ("/flows/<int:id>/docs/recommendation", ["POST"], r.docs_recommendation, True),
]


def resource_routes(kind: str) -> list:
    """Routes of a source, nexset or destination that act on its place in a flow."""
    return [
        (f"/{kind}/<int:id>/activate", ["PUT"], r.resource_status(kind, "ACTIVE"), True),
        (f"/{kind}/<int:id>/pause", ["PUT"], r.resource_status(kind, "PAUSED"), True),
        (f"/{kind}/<int:id>/flow", ["GET"], r.resource_flow(kind), True),
        (f"/{kind}/<int:id>/flow", ["DELETE"], r.delete_resource_flow(kind), True),
    ]
