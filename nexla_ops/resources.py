"""The resource-type table: our names, the API's collection paths, and every spelling of both."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import BadInput
from .redact import one_line, redact_text

# Our name for each resource type (the one scripts print and document) -> the API's collection
# path. Each script passes the names it supports to resource_type/resource_path.
RESOURCE_TYPES = {
    "sources": "data_sources",
    "nexsets": "data_sets",
    "destinations": "data_sinks",
    "flows": "flows",
    "credentials": "data_credentials",
    "projects": "projects",
    "teams": "teams",
    "users": "users",
    "transforms": "transforms",
    "attribute_transforms": "attribute_transforms",
    "lookups": "data_maps",
    "code_containers": "code_containers",
    "data_schemas": "data_schemas",
    "doc_containers": "doc_containers",
}
# Every accepted spelling (after lower() and "-" -> "_") -> our name: the name, its API path,
# a few other common names, and the singular of each of those.
_TYPE_SPELLINGS = {
    spelling: name
    for plural, name in (*((n, n) for n in RESOURCE_TYPES),
                         *((path, n) for n, path in RESOURCE_TYPES.items()),
                         ("data_flows", "flows"), ("datasets", "nexsets"),
                         ("sinks", "destinations"))
    for spelling in (plural, plural[:-1])
}


def resource_type(value: Any, allowed: Iterable[str] | None = None, *,
                  field: str = "--resource-type") -> str:
    """Our name ("sources", "nexsets", ...) for any spelling of a resource type: ours or the
    API's (data_sources), plural or singular, any case, "-" or "_". `allowed` (our names)
    limits it to the types a script supports; BadInput names the field and lists them."""
    names = list(RESOURCE_TYPES if allowed is None else allowed)
    key = "" if value is None else str(value).strip().lower().replace("-", "_")
    name = _TYPE_SPELLINGS.get(key)
    if name in names:
        return name
    api_names = [RESOURCE_TYPES[n] for n in names if RESOURCE_TYPES[n] != n]
    also = f" (or the API names {', '.join(api_names)})" if api_names else ""
    shown = None if value is None else one_line(redact_text(str(value)), 40)
    raise BadInput(f"{field}: expected one of {', '.join(names)}{also}, got {shown!r}")


def resource_path(value: Any, allowed: Iterable[str] | None = None, *,
                  field: str = "--resource-type") -> str:
    """The API collection path (data_sources, data_sets, ...) for any spelling resource_type
    accepts."""
    return RESOURCE_TYPES[resource_type(value, allowed, field=field)]
