"""Source handlers: create/update bodies (and the connector fields destinations share)."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ..credentials.responses import credential_ref

# Optional create fields shared by sources and destinations (after the kind's own fields).
CONNECTOR_EXTRAS = {"vendor_endpoint_id": "int", "template_config": "obj", "tags": "strings"}


def connector_changes(c: Ctx, f: Fields, config_key: str) -> dict:
    """The update fields sources and destinations share, in the order they are checked."""
    changes = {**f.present(name="str"), **f.description_update(), **f.present(**{config_key: "obj"})}
    if f.has("data_credentials_id"):  # null detaches the credential
        changes["data_credentials_id"] = credential_ref(c, f)
    return changes


def create_source(c: Ctx, f: Fields):
    fields = {"name": f.str("name", required=True), "source_type": f.code("source_type", required=True),
              "description": f.text("description"),
              "data_credentials_id": credential_ref(c, f),
              "source_config": f.obj("source_config") or {}}
    if f.str("ingest_method") is not None:  # checked non-blank, stored as sent
        fields["ingest_method"] = f.data["ingest_method"]
    fields.update(f.present(**CONNECTOR_EXTRAS))
    return c.dom.create_source(c.user, fields)


def update_source(c: Ctx, f: Fields, doc: dict):
    changes = {**connector_changes(c, f, "source_config"), **f.present(tags="strings")}
    return c.dom.update_doc("data_sources", doc, changes)


CREATORS = {"data_sources": create_source}
UPDATERS = {"data_sources": update_source}
