"""Org routes: the reference's organizations section (no org create/delete, no member
activate/deactivate or account summary there: those paths 404)."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/orgs", ["GET"], r.list_orgs, True),
    ("/orgs/<int:id>", ["GET"], r.get_org, True),
    ("/orgs/<int:id>", ["PUT"], r.update_org, True),
    ("/orgs/<int:id>/members", ["GET"], r.get_members, True),
    ("/orgs/<int:id>/members", ["PUT"], r.update_members, True),
    ("/orgs/<int:id>/members", ["DELETE"], r.delete_members, True),
    ("/orgs/<int:id>/custodians", ["GET"], r.get_custodians, True),
    ("/orgs/<int:id>/custodians", ["PUT"], r.custodians("replace"), True),
    ("/orgs/<int:id>/custodians", ["POST"], r.custodians("add"), True),
    ("/orgs/<int:id>/custodians", ["DELETE"], r.custodians("remove"), True),
]
