"""One listed object as a row: summarize() for the table columns, and flows as items."""

from __future__ import annotations

from dataclasses import dataclass, field

import nexla_ops

from .kinds import EXTRA_COLUMNS, Kind

# --------------------------------------------------------------------------- rows


def _owner_of(obj: dict) -> dict | None:
    owner = obj.get("owner")
    return owner if isinstance(owner, dict) else None


def _owner_label(owner: dict | None) -> str | None:
    if not owner:
        return None
    label = owner.get("email") or owner.get("full_name") or owner.get("id")
    return None if label is None else str(label)


def _iso(value):
    """Datetimes stay ISO-8601 strings as served; an epoch number (s or ms) some endpoints send
    becomes one (one out of any date's range stays as served)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = nexla_ops.api_time(value)
        if moment is not None:
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def summarize(kind: Kind, obj: dict) -> dict:
    """The compact row of one resource (flows: see flow_items)."""
    name = obj.get(kind.name_key)
    row = {
        "id": obj.get("id"),
        "name": name if name is not None else obj.get("name"),
        "type": kind.path,
        "status": obj.get(kind.status_key),
        "owner": _owner_label(_owner_of(obj)),
        "tags": obj.get("tags") or [],
        "created_at": _iso(obj.get("created_at")),
        "updated_at": _iso(obj.get("updated_at")),
    }
    extra = EXTRA_COLUMNS[kind.name]
    if "connector" in extra:
        row["connector"] = obj.get(kind.connector_key)
    if "credential_id" in extra:
        row["credential_id"] = obj.get("data_credentials_id")
    if "source_id" in extra:
        row["source_id"] = obj.get("data_source_id")
    if "parent_ids" in extra:
        parents = obj.get("parent_data_sets") or ()
        row["parent_ids"] = [p.get("id") for p in parents if isinstance(p, dict)]
    if "nexset_id" in extra:
        row["nexset_id"] = obj.get("data_set_id")
    if "flows_count" in extra:
        row["flows_count"] = obj.get("flows_count")
    if "member_count" in extra:
        row["member_count"] = len(obj.get("members") or ())
    if "email" in extra:
        row["email"] = obj.get("email")
    return row


def _count_nodes(node: dict) -> int:
    children = node.get("children") or ()
    return 1 + sum(_count_nodes(child) for child in children if isinstance(child, dict))


_ORIGIN_KEYS = (
    ("data_source_id", "data_sources"),
    ("data_set_id", "data_sets"),
    ("data_sink_id", "data_sinks"),
)


@dataclass
class Item:
    row: dict  # summary row (JSON-safe, not yet redacted)
    obj: dict  # the whole object as served (flows: the root node plus its origin resource)
    owner: dict | None = field(default=None)


def flow_items(response) -> list[Item]:
    """One Item per root flow of a GET /flows (or /flows/{id}) response object."""
    if not isinstance(response, dict) or not isinstance(response.get("flows"), list):
        raise nexla_ops.ApiError("GET /flows: expected one object with a `flows` list")
    index = {
        (path, resource.get("id")): resource
        for _, path in _ORIGIN_KEYS
        for resource in response.get(path) or ()
        if isinstance(resource, dict)
    }
    items = []
    for node in response["flows"]:
        if not isinstance(node, dict):
            continue
        origin_type = origin_id = None
        for key, path in _ORIGIN_KEYS:
            if node.get(key) is not None:
                origin_type, origin_id = path, node[key]
                break
        origin = index.get((origin_type, origin_id)) or {}
        row = {
            "id": node.get("id"),
            "name": node.get("name") or origin.get("name"),
            "type": "flows",
            "status": node.get("status") or origin.get("status"),
            "owner": _owner_label(_owner_of(origin)),
            "tags": origin.get("tags") or [],
            "created_at": _iso(node.get("created_at") or origin.get("created_at")),
            "updated_at": _iso(node.get("updated_at") or origin.get("updated_at")),
            "origin_type": origin_type,
            "origin_id": origin_id,
            "origin_name": origin.get("name"),
            "node_count": _count_nodes(node),
            "project_id": node.get("project_id"),
        }
        full = {**node, "origin": origin or None, "node_count": row["node_count"]}
        items.append(Item(row, full, _owner_of(origin)))
    return items
