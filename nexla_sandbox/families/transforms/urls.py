"""Transform routes beyond CRUD: public lists."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/transforms/public", ["GET"], r.public_transforms("transforms"), True),
    ("/attribute_transforms/public", ["GET"], r.public_transforms("attribute_transforms"), True),
]
