"""Project routes beyond CRUD: the project's flows."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/projects/<int:id>/flows", ["GET"], r.project_flows("get"), True),
    ("/projects/<int:id>/flows", ["PUT"], r.project_flows("merge"), True),
    ("/projects/<int:id>/flows", ["POST"], r.project_flows("replace"), True),
    ("/projects/<int:id>/flows", ["DELETE"], r.project_flows("remove"), True),
    ("/projects/<int:id>/flows/search", ["POST"], r.project_flows("search"), True),
]
