"""Audit logs: every API write appends an entry (who, when, before/after) in the reference's
shape; reads and rejected writes append nothing; secrets never appear."""

from __future__ import annotations

import json

import jsonschema
from nexla_sdk import NexlaClient
from nexla_sdk.models.common import LogEntry

from nexla_ops.contract.loader import schema_for
from tests import test_sandbox_orgs_users as orgs_users
from tests.conftest import CANARY


def api(sb, method, path, key=None, **kw):
    # a known User-Agent, which the audit entries must record
    return orgs_users.api(sb, method, path, key, headers={"User-Agent": "audit-test/1"}, **kw)


def log(sb, path, **params):
    resp = api(sb, "GET", f"{path}/audit_log", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def entry_schema() -> dict:
    """The reference's audit-log schema with one artefact read as meant: the 2-item bound sits
    on each [before, after] pair, not on the values inside it (a list value is any length)."""
    schema = schema_for("GET /data_sources/{source_id}/audit_log")
    array = next(s for s in schema["anyOf"] if s.get("type") == "array")
    pair = array["items"]["properties"]["object_changes"]["additionalProperties"]
    value = pair["items"]
    pair.update(minItems=value.pop("minItems"), maxItems=value.pop("maxItems"))
    return schema


def test_seeded_objects_have_a_create_entry_in_the_reference_shape(sandbox):
    schema = entry_schema()
    for path in ("/data_sources/123", "/orgs/7", "/users/2", "/code_containers/971",
                 "/data_credentials/11", "/teams/42", "/projects/61", "/data_maps/55"):
        entries = log(sandbox, path)
        jsonschema.validate(entries, schema)
        assert [e["event"] for e in entries] == ["create"], path
        for entry in entries:
            LogEntry.model_validate(entry)
    src = log(sandbox, "/data_sources/123")[0]
    assert (src["item_type"], src["item_id"], src["user"]["id"], src["owner_email"]) == (
        "DataSource", 123, 1, "ada@demo.example")
    assert src["object_changes"]["name"] == [None, "orders-s3"]


def test_update_records_who_when_and_before_after(sandbox):
    resp = api(sandbox, "PUT", "/data_sources/123", json={"description": "new words"})
    assert resp.status_code == 200
    newest = log(sandbox, "/data_sources/123")[0]
    assert newest["event"] == "update"
    assert newest["object_changes"] == {"description": ["Demo s3 source", "new words"]}
    assert newest["change_summary"] == ["description"]
    assert newest["user"] == {"id": 1, "email": "ada@demo.example"}
    assert newest["request_user_agent"] == "audit-test/1"
    assert newest["request_url"].endswith("/nexla-api/data_sources/123")
    assert newest["request_ip"] == "127.0.0.1"
    assert newest["created_at"] > log(sandbox, "/data_sources/123")[1]["created_at"]


def test_entry_time_is_the_simulated_clock(sandbox):
    sandbox.control.tick(86400 * 3)
    api(sandbox, "PUT", "/teams/42", json={"description": "later"})
    entries = log(sandbox, "/teams/42")
    assert entries[0]["created_at"] > entries[1]["created_at"]
    seeded = entries[1]["created_at"][:10]
    assert entries[0]["created_at"][:10] != seeded  # three simulated days on


def test_activate_pause_accessors_copy_delete_are_logged(sandbox):
    api(sandbox, "PUT", "/data_sources/126/activate")
    api(sandbox, "PUT", "/data_sources/126/pause")
    api(sandbox, "PUT", "/data_sources/126/accessors",
        json={"accessors": [{"type": "TEAM", "id": 42, "access_roles": ["operator"]}]})
    events = [(e["event"], e["change_summary"]) for e in log(sandbox, "/data_sources/126")]
    assert events[:3] == [("update", ["accessors"]), ("update", ["status"]),
                          ("update", ["status"])]
    changes = log(sandbox, "/data_sources/126")[1]["object_changes"]
    assert changes == {"status": ["ACTIVE", "PAUSED"]}
    copy = api(sandbox, "POST", "/transforms/901/copy", json={}).json()
    assert [e["event"] for e in log(sandbox, f"/transforms/{copy['id']}")] == ["create"]
    cc = api(sandbox, "POST", "/code_containers", json={
        "name": "gone", "output_type": "record", "reusable": True, "code": "x",
        "code_type": "python", "code_encoding": "none"}).json()
    assert api(sandbox, "DELETE", f"/code_containers/{cc['id']}").status_code == 200
    # The object is gone, so its log is not readable by id; the entry exists in the store.
    store = sandbox.app.store
    entries = store.find("audit_entries", "_item", f"code_containers:{cc['id']}")
    assert [e["event"] for e in entries] == ["create", "destroy"]


def test_member_and_transfer_changes_land_on_user_and_org_logs(sandbox):
    api(sandbox, "PUT", "/orgs/7/members", json={"members": [{"id": 3, "admin": True}]})
    assert log(sandbox, "/users/3")[0]["object_changes"] == {"is_org_admin": [False, True]}
    api(sandbox, "PUT", "/orgs/7", json={"name": "Renamed Org"})
    assert log(sandbox, "/orgs/7")[0]["object_changes"] == {"name": ["Demo Org", "Renamed Org"]}
    api(sandbox, "PUT", "/users/1/transfer", json={"org_id": 7, "delegate_owner_id": 2})
    entry = log(sandbox, "/data_credentials/12")[0]
    assert entry["object_changes"] == {"owner_id": [1, 2]} and entry["owner_id"] == 2


def test_sdk_audit_log_readers_parse(sdk_client):
    sdk_client.sources.update(124, {"description": "x"})
    entries = sdk_client.sources.get_audit_log(124)
    assert entries[0]["event"] == "update"
    org_entries = sdk_client.organizations.get_audit_log(7)
    assert isinstance(org_entries[0], LogEntry) and org_entries[0].event == "create"
    assert sdk_client.users.get_audit_log(1)[0]["item_type"] == "User"
    assert sdk_client.code_containers.get_audit_log(971)[0]["item_id"] == 971


def test_reads_and_rejected_writes_append_nothing(sandbox):
    count = sandbox.app.store.count
    before = count("audit_entries")
    for path in ("/data_sources", "/data_sources/123", "/users", "/orgs/7/members",
                 "/code_containers", "/data_sources/123/audit_log"):
        assert api(sandbox, "GET", path).status_code == 200
    assert count("audit_entries") == before
    # 400 (bad body) and 403 (operator may not update) write nothing, entries included
    assert api(sandbox, "PUT", "/data_sources/123", json={"name": 5}).status_code == 400
    assert api(sandbox, "PUT", "/data_sources/123", key=sandbox.service_keys["collaborator"],
               json={"name": "x"}).status_code == 403
    assert count("audit_entries") == before


def test_audit_log_pages_newest_first(sandbox):
    for i in range(3):
        api(sandbox, "PUT", "/data_maps/55", json={"description": f"v{i}"})
    page1 = log(sandbox, "/data_maps/55", per_page=2)
    page2 = log(sandbox, "/data_maps/55", per_page=2, page=2)
    assert [e["object_changes"]["description"][1] for e in page1] == ["v2", "v1"]
    assert [e["event"] for e in page2] == ["update", "create"]
    assert log(sandbox, "/data_maps/55", per_page=2, page=3) == []


def test_secrets_never_in_audit_entries(canary_sandbox):
    sb = canary_sandbox
    cred = api(sb, "POST", "/data_credentials", json={
        "name": "leaky", "credentials_type": "postgres",
        "credentials": {"password": CANARY, "host": "db"}}).json()
    api(sb, "PUT", f"/data_credentials/{cred['id']}",
        json={"credentials": {"password": CANARY + "2", "host": "db2"}})
    src = api(sb, "POST", "/data_sources", json={"name": "hook", "source_type": "nexla_rest"}).json()
    api(sb, "PUT", f"/data_sources/{src['id']}", json={"description": "d"})
    keys = [k["api_key"] for d in sb.app.store.all("data_sources") for k in d.get("api_keys", [])]
    stored = json.dumps(sb.app.store.all("audit_entries"))
    for secret in [CANARY, *keys]:
        assert secret not in stored
    client = NexlaClient(service_key=CANARY, base_url=sb.url)
    assert CANARY not in json.dumps(client.users.get_audit_log(1))
    hook = log(sb, f"/data_sources/{src['id']}")[-1]["object_changes"]
    assert hook["api_keys"][1] != [] and keys[-1] not in json.dumps(hook)
