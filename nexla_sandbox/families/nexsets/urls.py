"""Nexset routes beyond CRUD: samples and docs."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/data_sets/<int:id>/samples", ["GET"], r.samples, True),
    ("/data_sets/<int:id>/docs", ["GET"], r.list_docs, True),
    ("/data_sets/<int:id>/docs", ["POST"], r.update_docs, True),
    ("/data_sets/<int:id>/docs/recommendation", ["POST"], r.nexset_docs_recommendation, True),
]
