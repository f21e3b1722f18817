"""One resource-type table (nexla_ops.RESOURCE_TYPES) behind every script's --type and
--resource-type: each spelling a script accepted with its own table still resolves the same way,
and each script still refuses the types it does not support, listing the ones it does."""

from __future__ import annotations

import pytest

import nexla_ops
from nexla_ops import listing, logs
from nexla_ops.access import inputs as manage_access
from nexla_ops.commands import get_resource_logs

# The scripts' own tables just before they moved to nexla_ops: spelling -> what it resolved to.
# list_resources (also batch_operations' --type): -> our type name; matched after strip(),
# lower() and "-" -> "_".
LIST_RESOURCES_BEFORE = {
    "sources": "sources", "nexsets": "nexsets", "destinations": "destinations",
    "flows": "flows", "credentials": "credentials", "projects": "projects", "teams": "teams",
    "users": "users", "transforms": "transforms", "attribute_transforms": "attribute_transforms",
    "lookups": "lookups", "source": "sources", "nexset": "nexsets",
    "destination": "destinations", "flow": "flows", "credential": "credentials",
    "project": "projects", "team": "teams", "user": "users", "transform": "transforms",
    "attribute_transform": "attribute_transforms", "lookup": "lookups",
    "data_sources": "sources", "data_sets": "nexsets", "data_sinks": "destinations",
    "data_credentials": "credentials", "data_maps": "lookups", "data_flows": "flows",
    "datasets": "nexsets", "sinks": "destinations",
}
# manage_access (--resource-type, resource_type in files): -> API path; strip(), lower(), "-".
MANAGE_ACCESS_BEFORE = {
    "sources": "data_sources", "nexsets": "data_sets", "destinations": "data_sinks",
    "credentials": "data_credentials", "flows": "flows", "projects": "projects",
    "teams": "teams", "transforms": "transforms", "lookups": "data_maps",
    "attribute_transforms": "attribute_transforms", "code_containers": "code_containers",
    "data_schemas": "data_schemas", "doc_containers": "doc_containers",
    "data_sources": "data_sources", "data_sets": "data_sets", "data_sinks": "data_sinks",
    "data_credentials": "data_credentials", "data_maps": "data_maps",
}
# get_resource_logs (--resource-type): -> API path; strip() and lower() only.
GET_RESOURCE_LOGS_BEFORE = {
    "data_sources": "data_sources", "sources": "data_sources", "source": "data_sources",
    "data_sets": "data_sets", "nexsets": "data_sets", "nexset": "data_sets",
    "data_sinks": "data_sinks", "destinations": "data_sinks", "destination": "data_sinks",
}


def spellings(name: str, *, hyphens: bool) -> set[str]:
    written = {name, name.upper(), name.title(), f"  {name}\t"}
    return written | ({s.replace("_", "-") for s in written} if hyphens else set())


def logs_resource_type(value: str) -> str:
    args = get_resource_logs.build_parser().parse_args(
        ["--resource-type", value, "--resource-id", "1"])
    return logs.parse_options(args).resource_type


RESOLVERS = {
    "list_resources": (listing.normalize_type, LIST_RESOURCES_BEFORE, True),
    "manage_access": (lambda value: manage_access.parse_resource_type(value, "--resource-type"),
                      MANAGE_ACCESS_BEFORE, True),
    "get_resource_logs": (logs_resource_type, GET_RESOURCE_LOGS_BEFORE, False),
}


@pytest.mark.parametrize("script", list(RESOLVERS))
def test_every_spelling_accepted_before_resolves_the_same(script):
    resolve, before, hyphens = RESOLVERS[script]
    wrong = {}
    for name, expected in before.items():
        for spelling in spellings(name, hyphens=hyphens):
            try:
                got = resolve(spelling)
            except nexla_ops.BadInput as exc:
                got = exc
            if got != expected:
                wrong[spelling] = got
    assert wrong == {}


@pytest.mark.parametrize(("script", "refused", "listed"), [
    ("list_resources", ["code_containers", "pipelines", "", None],
     ["--type", "sources", "lookups", "attribute_transforms", "data_sources"]),
    ("manage_access", ["users", "pipelines", ""],
     ["--resource-type", "sources", "code_containers", "doc_containers", "data_maps"]),
    ("get_resource_logs", ["credentials", "data_maps", "pipelines"],
     ["--resource-type", "sources", "nexsets", "destinations", "data_sources", "data_sets",
      "data_sinks"]),
])
def test_unsupported_types_are_bad_input_listing_the_valid_ones(script, refused, listed):
    resolve = RESOLVERS[script][0]
    for value in refused:
        if value is None and script == "get_resource_logs":
            continue
        with pytest.raises(nexla_ops.BadInput) as caught:
            resolve(value)
        assert all(word in caught.value.message for word in listed), caught.value.message


def test_resource_path_takes_every_spelling_of_every_type():
    for name, path in nexla_ops.RESOURCE_TYPES.items():
        for spelling in (name, path, name[:-1], path[:-1], name.upper(), path.replace("_", "-")):
            assert nexla_ops.resource_type(spelling) == name, spelling
            assert nexla_ops.resource_path(spelling) == path, spelling
    # one table: a spelling one script took is now taken by every script supporting the type
    assert manage_access.parse_resource_type("Source", "--resource-type") == "data_sources"
    assert logs_resource_type("data-sinks") == "data_sinks"


def test_resource_type_limited_to_allowed_names_the_field_and_lists_them():
    assert nexla_ops.resource_path("flow", ("flows",)) == "flows"
    with pytest.raises(nexla_ops.BadInput) as caught:
        nexla_ops.resource_path("users", ("sources", "lookups"), field="row 2: type")
    assert caught.value.exit_code == nexla_ops.EXIT_BAD_INPUT
    assert caught.value.message == ("row 2: type: expected one of sources, lookups (or the API "
                                    "names data_sources, data_maps), got 'users'")
    with pytest.raises(nexla_ops.BadInput, match=r"expected one of flows, teams, got None$"):
        nexla_ops.resource_type(None, ("flows", "teams"))
