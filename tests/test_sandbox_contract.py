"""Contract tests: the unmodified nexla-sdk 1.0.8 parses every sandbox response it asks for.

Each case is one SDK call (or a raw client.request where the SDK itself is broken) against the
running sandbox over HTTP; a pydantic/TypeError/AttributeError here means the sandbox sent a
shape the SDK rejects.
"""

from __future__ import annotations

import pytest
from nexla_sdk.models.access.responses import (
    OrgAccessorResponse,
    TeamAccessorResponse,
    UserAccessorResponse,
)
from nexla_sdk.models.attribute_transforms.responses import AttributeTransform
from nexla_sdk.models.credentials.requests import ProbeSampleRequest, ProbeTreeRequest
from nexla_sdk.models.credentials.responses import (
    Credential,
    ProbeSampleResponse,
    ProbeTreeResponse,
)
from nexla_sdk.models.destinations.requests import DestinationCopyOptions
from nexla_sdk.models.destinations.responses import Destination
from nexla_sdk.models.flows.requests import FlowCopyOptions
from nexla_sdk.models.flows.responses import (
    FlowLogsResponse,
    FlowMetricsApiResponse,
    FlowResponse,
)
from nexla_sdk.models.lookups.responses import Lookup
from nexla_sdk.models.metrics.responses import MetricsByRunResponse, MetricsResponse
from nexla_sdk.models.nexsets.responses import Nexset, NexsetSample
from nexla_sdk.models.notifications.requests import (
    NotificationChannelSettingCreate,
    NotificationSettingCreate,
)
from nexla_sdk.models.notifications.responses import Notification, NotificationCount
from nexla_sdk.models.projects.requests import ProjectFlowList
from nexla_sdk.models.projects.responses import Project, ProjectDataFlow
from nexla_sdk.models.sources.responses import Source
from nexla_sdk.models.teams.requests import TeamMemberList
from nexla_sdk.models.teams.responses import Team, TeamMember
from nexla_sdk.models.transforms.responses import Transform
from nexla_sdk.models.users.responses import User

ACCESSOR_MODELS = {"USER": UserAccessorResponse, "TEAM": TeamAccessorResponse,
                   "ORG": OrgAccessorResponse}


def _all(items, model):
    assert isinstance(items, list) and items, f"expected a non-empty list of {model.__name__}"
    assert all(isinstance(i, model) for i in items)
    return items


def _value(enum_or_str):
    return getattr(enum_or_str, "value", enum_or_str)


def _latest_run(c, kind="data_sources", rid=124):
    return c.metrics.get_resource_metrics_by_run(kind, rid).metrics["data"][0]["runId"]


# (name, call, check) — check receives the SDK's return value.
READ_CASES = [
    ("sources.list", lambda c: c.sources.list(), lambda r: _all(r, Source)),
    ("sources.list paged", lambda c: c.sources.list(page=1, per_page=2), lambda r: len(r) == 2),
    ("sources.get expand", lambda c: c.sources.get(123, expand=True),
     lambda r: r.data_sets[0].id == 123 and r.data_credentials.id == 11 and r.run_ids),
    ("nexsets.list", lambda c: c.nexsets.list(), lambda r: _all(r, Nexset)),
    ("nexsets.get derived", lambda c: c.nexsets.get(223),
     lambda r: r.parent_data_sets[0].id == 123 and r.data_sinks[0].id == 301 and r.output_schema),
    ("nexsets.get expand", lambda c: c.nexsets.get(123, expand=True),
     lambda r: r.data_source.id == 123),
    ("nexsets.get_samples", lambda c: c.nexsets.get_samples(223, count=3),
     lambda r: len(r) == 3 and all(isinstance(s, NexsetSample) for s in r)),
    ("nexsets.get_samples meta", lambda c: c.nexsets.get_samples(123, count=2, include_metadata=True),
     lambda r: len(r) == 2 and r[0].nexla_metadata),
    ("destinations.list", lambda c: c.destinations.list(), lambda r: _all(r, Destination)),
    ("destinations.get expand", lambda c: c.destinations.get(301, expand=True),
     lambda r: r.sink_format is None and r.data_set.id == 223 and r.data_credentials.id == 12),
    ("destinations.get s3", lambda c: c.destinations.get(304), lambda r: _value(r.sink_format) == "csv"),
    ("credentials.list", lambda c: c.credentials.list(), lambda r: _all(r, Credential)),
    ("credentials.list type", lambda c: c.credentials.list(credentials_type="postgres"),
     lambda r: [x.id for x in r] == [12]),
    ("credentials.get", lambda c: c.credentials.get(12),
     lambda r: r.credentials_non_secure_data["host"] == "warehouse-db"),
    ("credentials.probe", lambda c: c.credentials.probe(11), lambda r: r["status"] == "ok"),
    ("credentials.probe_tree", lambda c: c.credentials.probe_tree(11, ProbeTreeRequest(depth=2)),
     lambda r: isinstance(r, ProbeTreeResponse)),
    ("credentials.probe_sample", lambda c: c.credentials.probe_sample(11, ProbeSampleRequest(path="/x")),
     lambda r: isinstance(r, ProbeSampleResponse)),
    ("flows.list", lambda c: c.flows.list(), lambda r: len(r) == 1 and len(r[0].flows) == 5),
    ("flows.list metrics", lambda c: c.flows.list(include_run_metrics=True),
     lambda r: r[0].metrics and all(m.run_id for m in r[0].metrics)),
    ("flows.list flows_only", lambda c: c.flows.list(flows_only=True),
     lambda r: r[0].data_sources is None),
    ("flows.get", lambda c: c.flows.get(1001),
     lambda r: r.flows[0].children[0].children[0].children[0].data_sink_id == 301),
    ("flows.get_by_resource", lambda c: c.flows.get_by_resource("data_sinks", 301),
     lambda r: r.flows[0].id == 1001),
    ("flows.get_logs", lambda c: c.flows.get_logs("data_sources", 124, run_id=_latest_run(c),
                                                 from_ts=0),
     lambda r: isinstance(r, FlowLogsResponse) and any(e.level == "ERROR" for e in r.logs)),
    ("flows.get_metrics", lambda c: c.flows.get_metrics("data_sources", 123, from_date="2000-01-01"),
     lambda r: isinstance(r, FlowMetricsApiResponse) and any(
         [s["id"] for s in e["data_sources"]] == [123] for e in r.metrics.data.values())),
    ("flows.get_flow_logs", lambda c: c.flows.get_flow_logs(1002, severity="ERROR"),
     lambda r: r["logs"]["data"] and {e["level"] for e in r["logs"]["data"]} == {"ERROR"}),
    ("flows.search_flow_logs", lambda c: c.flows.search_flow_logs(1002, search_string="refused"),
     lambda r: r["logs"]["data"]),
    ("flows.get_run_status", lambda c: c.flows.get_run_status(1001, _latest_run(c, "data_sources", 123)),
     lambda r: r["run_status"] == "SUCCESS"),
    ("metrics.daily", lambda c: c.metrics.get_resource_daily_metrics("data_sinks", 302, "2000-01-01"),
     lambda r: isinstance(r, MetricsResponse) and r.metrics),
    ("metrics.by_run", lambda c: c.metrics.get_resource_metrics_by_run("data_sets", 223, size=5),
     lambda r: isinstance(r, MetricsByRunResponse) and len(r.metrics["data"]) == 5),
    ("metrics.flow_logs", lambda c: c.metrics.get_flow_logs("data_sets", 123, run_id=_latest_run(c, "data_sets", 123), from_ts=0),
     lambda r: r.logs),
    ("metrics.flow_metrics", lambda c: c.metrics.get_flow_metrics("data_sinks", 301, from_date="2000-01-01"),
     lambda r: r.metrics.data),
    ("metrics.rate_limits", lambda c: c.metrics.get_rate_limits(), lambda r: set(r) == {"second", "day"}),
    ("teams.list", lambda c: c.teams.list(), lambda r: _all(r, Team)),
    ("teams.get", lambda c: c.teams.get(42), lambda r: r.member and len(r.members) == 2),
    ("teams.get_members", lambda c: c.teams.get_members(43),
     lambda r: [m.id for m in _all(r, TeamMember)] == [3, 4]),
    ("users.list", lambda c: c.users.list(), lambda r: len(_all(r, User)) == 4),
    ("users.list expand", lambda c: c.users.list(expand=True), lambda r: r[0].account_summary),
    ("users.get", lambda c: c.users.get(2), lambda r: r.email == "omar@demo.example"),
    ("users.get_current", lambda c: c.users.get_current(),
     lambda r: r["id"] == 1 and r["org"] == {"id": 7, "name": "Demo Org"} and r["full_name"]),
    ("users.get_settings", lambda c: c.users.get_settings(), lambda r: isinstance(r, list)),
    ("projects.list", lambda c: c.projects.list(), lambda r: _all(r, Project)[0].flows[0].id == 1001),
    ("projects.list expand", lambda c: c.projects.list(expand=True), lambda r: r),
    ("projects.get_flows", lambda c: c.projects.get_flows(61),
     lambda r: isinstance(r, FlowResponse) and r.flows[0].id == 1001),
    ("transforms.list", lambda c: c.transforms.list(), lambda r: _all(r, Transform)),
    ("transforms.get", lambda c: c.transforms.get(901),
     lambda r: isinstance(r.access_roles, dict) and r.code[0].operation == "shift"),
    ("transforms.list_public", lambda c: c.transforms.list_public(), lambda r: r),
    ("attribute_transforms.list", lambda c: c.attribute_transforms.list(),
     lambda r: _all(r, AttributeTransform)),
    ("lookups.list", lambda c: c.lookups.list(), lambda r: _all(r, Lookup)),
    ("lookups.get_entries", lambda c: c.lookups.get_entries(55, ["US", "DE"]),
     lambda r: [e["name"] for e in r] == ["United States", "Germany"]),
    ("notifications.list", lambda c: c.notifications.list(level="ERROR"),
     lambda r: len(_all(r, Notification)) == 2),
    ("notifications.get_count", lambda c: c.notifications.get_count(read=0),
     lambda r: isinstance(r, NotificationCount) and r.count == 4),
    ("notifications.get_types", lambda c: c.notifications.get_types(), lambda r: r),
    ("notifications.get_type", lambda c: c.notifications.get_type("ERROR", "DATA_FLOW"),
     lambda r: r.id == 1),
    ("async_tasks.types", lambda c: c.async_tasks.types(), lambda r: "BulkPauseFlows" in r),
    # The reference's embedded objects and connector fields (GET by id embeds the credential).
    ("sources.get embeds", lambda c: c.sources.get(123),
     lambda r: r.data_credentials.id == 11 and r.vendor["name"] == "s3"
     and r.flow_type == "batch" and r.ingestion_mode == "POLL" and r.vendor_endpoint["name"] == "s3_default"),
    ("destinations.get embeds", lambda c: c.destinations.get(301),
     lambda r: r.data_credentials.id == 12 and r.data_set.id == 223 and r.flow_type == "batch"
     and r.vendor["connection_type"] == "database"),
    ("nexsets.get data_source", lambda c: c.nexsets.get(124),
     lambda r: r.data_source.id == 124 and r.data_source.source_type == "postgres"),
    ("sources.list no credential", lambda c: c.sources.list(),
     lambda r: all(s.data_credentials is None and s.vendor for s in r)),
    ("genai.list_configs", lambda c: c.genai.list_configs(), lambda r: r == []),
]


@pytest.mark.parametrize("name,call,check", READ_CASES, ids=[c[0] for c in READ_CASES])
def test_sdk_read_calls_parse(sdk_client, name, call, check):
    result = call(sdk_client)
    assert check(result), f"{name}: unexpected {result!r}"[:500]


def test_sdk_write_calls_parse(sdk_client, sandbox):
    c = sdk_client
    cred = c.credentials.create({"name": "c1", "credentials_type": "s3",
                                 "credentials": {"region": "eu-west-1", "secret_key": "S"}})
    assert isinstance(cred, Credential) and cred.credentials_non_secure_data == {"region": "eu-west-1"}
    assert c.credentials.update(cred.id, {"name": "c1b"}).name == "c1b"
    src = c.sources.create({"name": "s1", "source_type": "s3", "data_credentials_id": cred.id,
                            "tags": ["t:1"]})
    assert isinstance(src, Source) and src.tags == ["t:1"] and src.status == "INIT"
    assert c.sources.update(src.id, {"description": "d"}).description == "d"
    copy = c.sources.copy(src.id)
    assert copy.copied_from_id == src.id
    derived = c.nexsets.create({"name": "d1", "parent_data_set_id": 123,
                                "has_custom_transform": True,
                                "transform": {"version": 1, "operations": [
                                    {"operation": "shift", "spec": {"order_id": "id"}}]}})
    assert isinstance(derived, Nexset) and derived.output_schema["properties"] == {
        "id": {"type": "integer"}}
    assert c.nexsets.update(derived.id, {"description": "x"}).description == "x"
    assert c.nexsets.copy(derived.id).copied_from_id == derived.id
    sink = c.destinations.create({"name": "k1", "sink_type": "s3", "data_credentials_id": 11,
                                  "data_set_id": derived.id, "sink_config": {"format": "CSV"}})
    assert isinstance(sink, Destination) and _value(sink.sink_format) == "csv"
    assert c.destinations.update(sink.id, {"name": "k2"}).name == "k2"
    assert c.destinations.copy(
        sink.id, DestinationCopyOptions(reuse_data_credentials=True)).data_credentials_id == 11
    assert c.destinations.activate(sink.id).status == "ACTIVE"
    assert c.destinations.pause(sink.id).status == "PAUSED"
    assert c.nexsets.activate(derived.id).status == "ACTIVE"
    assert c.nexsets.pause(derived.id).status == "PAUSED"
    assert c.sources.activate(123).status == "ACTIVE"
    flow = c.flows.pause_by_resource("data_sources", 123, all=True)
    assert flow.flows[0].status == "PAUSED"
    assert c.flows.activate(1001, all=True).flows[0].children[0].status == "ACTIVE"
    new_flow = c.flows.copy(1004, FlowCopyOptions(reuse_data_credentials=True))
    assert new_flow.data_sources[0].copied_from_id == 126
    assert c.flows.delete(new_flow.flows[0].id) is not None
    assert c.flows.docs_recommendation(1001).status == "success"
    team = c.teams.create({"name": "t1", "members": [{"email": "cleo@demo.example"}]})
    assert isinstance(team, Team) and team.description == ""
    assert [m.id for m in c.teams.add_members(
        team.id, TeamMemberList(members=[{"id": 2, "admin": True}]))] == [3, 2]
    assert [m.id for m in c.teams.replace_members(
        team.id, TeamMemberList(members=[{"id": 4}]))] == [4]
    assert c.teams.remove_members(team.id) == []
    assert c.teams.update(team.id, {"description": "dd"}).description == "dd"
    project = c.projects.create({"name": "p1", "data_flows": [{"data_source_id": 124}]})
    assert isinstance(project, Project) and project.flows[0].id == 1002
    added = c.projects.add_flows(project.id, ProjectFlowList(flows=[1003]))
    assert all(isinstance(f, ProjectDataFlow) for f in added) and [f.id for f in added] == [1002, 1003]
    assert [f.id for f in c.projects.remove_flows(project.id, ProjectFlowList(flows=[1002]))] == [1003]
    assert c.projects.search_flows(project.id, [{"field": "name", "value": "x"}]).flows
    transform = c.transforms.create({"name": "tr", "output_type": "record",
                                     "code_type": "jolt_standard", "code_encoding": "none",
                                     "code": [{"operation": "shift", "spec": {"*": "&"}}]})
    assert isinstance(transform, Transform) and transform.reusable is True
    attr = c.attribute_transforms.create({"name": "at", "output_type": "attribute",
                                          "code_type": "python", "code_encoding": "none",
                                          "code": "def f(x): return x"})
    assert isinstance(attr, AttributeTransform)
    lookup = c.lookups.create({"name": "l1", "data_type": "string", "map_primary_key": "k",
                               "data_map": [{"k": "a", "v": 1}]})
    assert isinstance(lookup, Lookup) and lookup.map_entry_count == 1
    c.lookups.upsert_entries(lookup.id, [{"k": "b", "v": 2}])
    assert [e["v"] for e in c.lookups.get_entries(lookup.id, ["a", "b"])] == [1, 2]
    c.lookups.delete_entries(lookup.id, ["a"])
    assert c.lookups.get(lookup.id).map_entry_count == 1
    c.notifications.mark_read([601])
    assert c.notifications.get_count(read=1).count == 1
    config = c.genai.create_config({"name": "g", "type": "genai_openai", "config": {"m": 1},
                                    "data_credentials_id": 11})
    assert config.provider == "genai_openai"
    c.destinations.pause(sink.id)  # flows.activate(1001, all=True) above activated it too
    for deleter, rid in ((c.destinations.delete, sink.id), (c.teams.delete, team.id),
                         (c.projects.delete, project.id), (c.lookups.delete, lookup.id)):
        deleter(rid)
    assert sandbox.control.state("data_sinks")[-1]["id"] != sink.id


def test_accessor_lists_are_real_and_the_sdk_read_crash_reproduces(sdk_client):
    """Nexla sends non-empty accessor arrays; the SDK 1.0.8 reader crashes on them (contract §11),
    so our scripts read accessors through raw client.request — which must parse per model."""
    with pytest.raises(AttributeError, match="model_validate"):
        sdk_client.sources.get_accessors(123)
    for path in ("/data_sources/123", "/data_sets/123", "/data_sinks/301", "/data_credentials/11",
                 "/flows/1001", "/projects/61", "/teams/42", "/data_maps/55", "/transforms/901",
                 "/attribute_transforms/951"):
        raw = sdk_client.request("GET", f"{path}/accessors")
        assert isinstance(raw, list) and len(raw) >= 2, path
        for entry in raw:
            ACCESSOR_MODELS[entry["type"]].model_validate(entry)
    raw = sdk_client.request("GET", "/data_sources/123/accessors")
    assert [(a["type"], a["id"], a["access_roles"]) for a in raw] == [
        ("USER", 1, ["owner"]), ("USER", 2, ["operator"]), ("USER", 3, ["collaborator"]),
        ("TEAM", 43, ["collaborator"])]


def test_accessor_mutations_merge_replace_delete(sdk_client):
    c = sdk_client
    team42 = {"type": "TEAM", "id": 42, "access_roles": ["operator"]}
    # The SDK's add/replace/delete also crash on the (non-empty) reply, after the server applied it.
    with pytest.raises(AttributeError):
        c.sources.add_accessors(123, [team42])
    after = c.request("GET", "/data_sources/123/accessors")
    assert ("TEAM", 42, ["operator"]) in [(a["type"], a["id"], a["access_roles"]) for a in after]
    merged = c.request("PUT", "/data_sources/123/accessors", json={"accessors": [
        {"type": "USER", "email": "omar@demo.example", "access_roles": ["admin"]}]})
    assert [a["access_roles"] for a in merged if a["type"] == "USER" and a["id"] == 2] == [["admin"]]
    assert len(merged) == 5
    removed = c.request("DELETE", "/data_sources/123/accessors",
                        json={"accessors": [{"type": "TEAM", "id": 42}]})  # no access_roles
    assert 42 not in [a["id"] for a in removed if a["type"] == "TEAM"]
    replaced = c.request("POST", "/data_sources/123/accessors", json={"accessors": [
        {"type": "ORG", "id": 7, "access_roles": ["collaborator"]}]})
    assert [(a["type"], a["id"]) for a in replaced] == [("USER", 1), ("ORG", 7)]
    cleared = c.request("DELETE", "/data_sources/123/accessors")  # no body: remove all
    assert [(a["type"], a["id"]) for a in cleared] == [("USER", 1)]
    for entry in replaced:
        ACCESSOR_MODELS[entry["type"]].model_validate(entry)


def test_notification_settings_docs_and_genai_calls_parse(sdk_client):
    c = sdk_client
    setting = c.notifications.create_setting(NotificationSettingCreate(
        channel="APP", notification_type_id=2, notification_resource_type="SOURCE",
        resource_id=124))
    assert setting.name == "Source error" and setting.config == {}
    assert [s.id for s in c.notifications.get_settings_by_type(2)] == [setting.id]
    assert [s.id for s in c.notifications.get_resource_settings("SOURCE", 124)] == [setting.id]
    channel = c.notifications.create_channel_setting(NotificationChannelSettingCreate(
        channel="EMAIL", config={"emails": ["ada@demo.example"]}))
    assert [ch.id for ch in c.notifications.list_channel_settings()] == [channel.id]
    docs = c.nexsets.update_docs(223, [{"name": "Overview", "text": "# Orders"}])
    assert [d.name for d in docs] == ["Overview"] and c.nexsets.list_docs(223)[0].text == "# Orders"
    assert "Fields:" in c.nexsets.docs_recommendation(223)["recommendation"]
    config = c.genai.create_config({"name": "g", "type": "genai_openai", "config": {},
                                    "data_credentials_id": 11})
    c.genai.create_org_setting({"gen_ai_config_id": config.id, "gen_ai_usage": "all"})
    assert c.genai.show_active_config("gen_docs").active_config["id"] == config.id
