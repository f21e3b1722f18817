"""Credential routes beyond CRUD: probes."""

from __future__ import annotations

from . import responses as r

ROUTES = [
    ("/data_credentials/<int:id>/probe", ["GET"], r.probe, True),
    ("/data_credentials/<int:id>/probe/tree", ["POST"], r.probe_tree, True),
    ("/data_credentials/<int:id>/probe/sample", ["POST"], r.probe_sample, True),
]
