"""Destination handlers: create/update bodies, known destination connector types."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError
from ..credentials.responses import credential_ref
from ..sources.responses import CONNECTOR_EXTRAS, connector_changes

DESTINATION_TYPES = frozenset((
    "s3", "gcs", "azure_blb", "azure_data_lake", "ftp", "dropbox", "box", "gdrive", "sharepoint",
    "min_io_s3", "webdav", "mysql", "postgres", "supabase", "sqlserver", "oracle",
    "oracle_autonomous", "redshift", "snowflake", "snowflake_dcr", "bigquery", "databricks",
    "as400", "aws_athena", "azure_synapse", "cloudsql_mysql", "cloudsql_postgres",
    "cloudsql_sqlserver", "db2", "firebolt", "gcp_alloydb", "gcp_spanner", "hana_jdbc", "hive",
    "netsuite_jdbc", "sybase", "teradata", "delta_lake_azure_blb", "delta_lake_azure_data_lake",
    "delta_lake_s3", "s3_iceberg", "mongo", "dynamodb", "firebase", "kafka", "confluent_kafka",
    "google_pubsub", "jms", "tibco", "rest", "soap", "email", "data_map", "nexla_monitor",
    "pinecone"))


def create_sink(c: Ctx, f: Fields):
    sink_type = f.code("sink_type", required=True)
    if sink_type not in DESTINATION_TYPES:
        raise ApiError(400, f"sink_type: unknown destination connector {sink_type!r}")
    cid = credential_ref(c, f, required=True)
    set_id = f.int("data_set_id", required=True)
    if c.store.get("data_sets", set_id) is None:
        raise ApiError(400, f"data_set_id: no nexset {set_id}")
    fields = {"name": f.str("name", required=True), "sink_type": sink_type,
              "data_credentials_id": cid, "data_set_id": set_id,
              "description": f.text("description"),
              "sink_config": f.obj("sink_config") or {}, **f.present(**CONNECTOR_EXTRAS)}
    return c.dom.create_sink(c.user, fields)


def update_sink(c: Ctx, f: Fields, doc: dict):
    changes = connector_changes(c, f, "sink_config")
    new_set = f.int("data_set_id")
    if new_set is not None:
        nexset = c.dom.get("data_sets", new_set, c.user) if c.store.get("data_sets", new_set) else None
        if nexset is None:
            raise ApiError(400, f"data_set_id: no nexset {new_set}")
        changes["data_set_id"] = new_set
    changes.update(f.present(tags="strings"))
    old_set = doc.get("data_set_id")
    doc = c.dom.update_doc("data_sinks", doc, changes)
    if new_set is not None and new_set != old_set:
        c.dom.move_sink(doc, c.store.get("data_sets", new_set))
    return c.store.get("data_sinks", doc["id"])


CREATORS = {"data_sinks": create_sink}
UPDATERS = {"data_sinks": update_sink}
