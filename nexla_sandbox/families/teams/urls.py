"""Team routes beyond CRUD: members."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/teams/<int:id>/members", ["GET"], r.team_members("get"), True),
    ("/teams/<int:id>/members", ["PUT"], r.team_members("merge"), True),
    ("/teams/<int:id>/members", ["POST"], r.team_members("replace"), True),
    ("/teams/<int:id>/members", ["DELETE"], r.team_members("remove"), True),
]
