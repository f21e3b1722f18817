"""Lookup routes beyond CRUD: entries."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/data_maps/<int:id>/entries", ["PUT"], r.upsert_entries, True),
    ("/data_maps/<int:id>/entries/<path:keys>", ["GET"], r.get_entries, True),
    ("/data_maps/<int:id>/entries/<path:keys>", ["DELETE"], r.delete_entries, True),
]
