"""Code-container routes (accessors and audit log come from access/urls.py)."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/code_containers", ["GET"], r.list_containers, True),
    ("/code_containers", ["POST"], r.create_container, True),
    ("/code_containers/public", ["GET"], r.list_public, True),
    ("/code_containers/<int:id>", ["GET"], r.get_container, True),
    ("/code_containers/<int:id>", ["PUT"], r.update_container, True),
    ("/code_containers/<int:id>", ["DELETE"], r.delete_container, True),
    ("/code_containers/<int:id>/copy", ["POST"], r.copy_container, True),
]
