"""The resource kinds a listing knows (Kind, KINDS), their columns, and type-name spelling."""

from __future__ import annotations

from dataclasses import dataclass

import nexla_ops

FORMATS = ("text", "json", "jsonl", "csv")
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Kind:
    name: str  # our type name (nexla_ops.RESOURCE_TYPES), used on our command line
    connector_key: str | None = None  # field holding the connector / code type, if any
    status_key: str = "status"
    name_key: str = "name"

    @property
    def path(self) -> str:
        """API collection path; also the `type` value of rows."""
        return nexla_ops.RESOURCE_TYPES[self.name]


# Only types whose list endpoint is served (the sandbox has no /code_containers list).
KINDS = {
    kind.name: kind
    for kind in (
        Kind("sources", "source_type"),
        Kind("nexsets"),
        Kind("destinations", "sink_type"),
        Kind("flows"),
        Kind("credentials", "credentials_type", status_key="verified_status"),
        Kind("projects"),
        Kind("teams"),
        Kind("users", name_key="full_name"),
        Kind("transforms", "code_type"),
        Kind("attribute_transforms", "code_type"),
        Kind("lookups", "data_type"),
    )
}

# Columns of the summary row per kind: the JSON keys, the CSV header and the valid --fields.
COMMON_COLUMNS = ("id", "name", "type", "status", "owner", "tags", "created_at", "updated_at")
EXTRA_COLUMNS = {
    "sources": ("connector", "credential_id"),
    "nexsets": ("source_id", "parent_ids"),
    "destinations": ("connector", "nexset_id", "credential_id"),
    "flows": ("origin_type", "origin_id", "origin_name", "node_count", "project_id"),
    "credentials": ("connector",),
    "projects": ("flows_count",),
    "teams": ("member_count",),
    "users": ("email",),
    "transforms": ("connector",),
    "attribute_transforms": ("connector",),
    "lookups": ("connector",),
}
TEXT_COLUMNS = {
    "flows": ("id", "name", "status", "origin_type", "origin_id", "node_count", "updated_at"),
    "users": ("id", "name", "email", "status", "updated_at"),
    "nexsets": ("id", "name", "status", "source_id", "updated_at"),
    "teams": ("id", "name", "member_count", "owner", "updated_at"),
    "projects": ("id", "name", "flows_count", "owner", "updated_at"),
}
DEFAULT_TEXT_COLUMNS = ("id", "name", "status", "connector", "updated_at")
FULL_TEXT_COLUMNS = ("id", "name", "type", "status", "updated_at")


def columns_for(kind: Kind) -> tuple[str, ...]:
    return COMMON_COLUMNS + EXTRA_COLUMNS[kind.name]


def normalize_type(text: str | None) -> str:
    """Our type name ("sources", "flows", ...) for any spelling nexla_ops.resource_type takes."""
    return nexla_ops.resource_type(text, KINDS, field="--type")
