"""Orgs (members, custodians), users (quarantine settings, resource transfer) and code
containers: the real SDK (and raw HTTP for status codes) against the demo sandbox."""

from __future__ import annotations

import jsonschema
import requests
from nexla_sdk.exceptions import AuthorizationError, NotFoundError, ResourceConflictError
from nexla_sdk.models.organizations import requests as org_requests

from nexla_ops.contract.loader import schema_for


def token(sb, key=None) -> str:
    resp = requests.post(f"{sb.url}/token", timeout=10,
                         headers={"Authorization": f"Basic {key or sb.service_key}"})
    return resp.json()["access_token"]


def api(sb, method, path, key=None, headers=None, **kw):
    return requests.request(method, f"{sb.url}{path}", timeout=10,
                            headers={"Authorization": f"Bearer {token(sb, key)}", **(headers or {})},
                            **kw)


# == orgs =========================================================================================
def test_org_get_update_and_members(sdk_client):
    org = sdk_client.organizations.get(7)
    assert (org.id, org.name, org.access_roles) == (7, "Demo Org", ["owner"])
    assert [a.id for a in org.admins] == [1] and org.owner.id == 1
    updated = sdk_client.organizations.update(7, {"name": "Demo Org 2", "description": "d"})
    assert (updated.name, updated.description) == ("Demo Org 2", "d")
    assert sdk_client.organizations.get(7).name == "Demo Org 2"
    members = sdk_client.organizations.get_members(7)
    assert [m.id for m in members] == [1, 2, 3, 4]
    assert [m.is_admin for m in members] == [True, False, False, False]
    assert {m.org_membership_status for m in members} == {"ACTIVE"}


def test_org_update_members_adds_new_email_and_promotes(sdk_client):
    body = org_requests.OrgMemberList(members=[
        {"email": "Newbie@demo.example", "full_name": "New Bie"},
        {"id": 2, "access_role": "admin"}])
    members = {m.email: m for m in sdk_client.organizations.update_members(7, body)}
    assert members["newbie@demo.example"].full_name == "New Bie"
    assert members["omar@demo.example"].is_admin is True
    new_id = members["newbie@demo.example"].id
    assert sdk_client.users.get(new_id).default_org.id == 7


def test_org_delete_members_hands_resources_to_delegate(sandbox, sdk_client):
    # Dana (4) owns a team; removing her with a delegate moves it to Omar (2).
    dana_team = api(sandbox, "POST", "/teams", key=sandbox.service_keys["dev"],
                    json={"name": "danas", "description": "x"}).json()["id"]
    out = sdk_client.organizations.delete_members(7, org_requests.OrgMemberDelete(
        members=[{"id": 4, "delegate_owner_id": 2}]))
    assert out["code"] == "200"
    assert [m.id for m in sdk_client.organizations.get_members(7)] == [1, 2, 3]
    assert sdk_client.teams.get(dana_team).owner.id == 2


def test_org_cannot_remove_its_owner_and_non_admin_cannot_change_members(sandbox):
    resp = api(sandbox, "DELETE", "/orgs/7/members", json={"members": [{"id": 1}]})
    assert resp.status_code == 400 and "owns org 7" in resp.json()["message"]
    resp = api(sandbox, "PUT", "/orgs/7/members", key=sandbox.service_keys["operator"],
               json={"members": [{"id": 3, "admin": True}]})
    assert resp.status_code == 403
    resp = api(sandbox, "PUT", "/orgs/7/members", json={"members": [{"id": 999}]})
    assert resp.status_code == 400 and "members[0]" in resp.json()["message"]


def test_org_paths_the_reference_lacks_404(sandbox):
    for method, path in (("GET", "/orgs/7/account_summary"), ("PUT", "/orgs/7/members/activate"),
                         ("GET", "/orgs/7/auth_settings")):
        assert api(sandbox, method, path, json={}).status_code == 404, path


def test_org_custodians(sdk_client):
    from nexla_sdk.models.organizations.custodians import OrgCustodiansPayload

    orgs = sdk_client.organizations
    assert orgs.get_custodians(7) == []
    added = orgs.add_custodians(7, OrgCustodiansPayload(custodians=[{"id": 2}]))
    assert [c.id for c in added] == [2]
    both = orgs.add_custodians(7, OrgCustodiansPayload(custodians=[{"email": "cleo@demo.example"}]))
    assert [c.id for c in both] == [2, 3]
    assert [c.id for c in orgs.update_custodians(
        7, OrgCustodiansPayload(custodians=[{"id": 3}]))] == [3]
    orgs.remove_custodians(7, OrgCustodiansPayload(custodians=[{"id": 3}]))
    assert orgs.get_custodians(7) == []


# == users: quarantine settings, transfer =========================================================
def test_quarantine_settings_lifecycle_matches_reference(sandbox, sdk_client):
    users = sdk_client.users
    assert api(sandbox, "GET", "/users/1/quarantine_settings").status_code == 404
    created = users.create_quarantine_settings(1, 11, {"start.cron": "0 0 * * *",
                                                       "path": "demo-bucket/q/"})
    schema = schema_for("GET /users/{user_id}/quarantine_settings")
    jsonschema.validate(created, schema)
    assert (created["resource_type"], created["resource_id"], created["data_credentials_id"]) == (
        "USER", 1, 11)
    assert created["credentials_type"] == "s3" and created["owner"]["id"] == 1
    assert api(sandbox, "POST", "/users/1/quarantine_settings",
               json={"data_credentials_id": 11, "config": {}}).status_code == 409
    updated = users.update_quarantine_settings(1, {"config": {"path": "demo-bucket/q2/"}})
    assert updated["config"] == {"path": "demo-bucket/q2/"}
    assert users.get_quarantine_settings(1)["config"]["path"] == "demo-bucket/q2/"
    users.delete_quarantine_settings(1)
    try:
        users.get_quarantine_settings(1)
        raise AssertionError("expected 404 after delete")
    except NotFoundError:
        pass


def test_quarantine_settings_are_the_users_own(sandbox):
    resp = api(sandbox, "POST", "/users/1/quarantine_settings", key=sandbox.service_keys["operator"],
               json={"data_credentials_id": 11, "config": {}})
    assert resp.status_code == 403
    resp = api(sandbox, "POST", "/users/1/quarantine_settings", json={"config": {}})
    assert resp.status_code == 400 and "data_credentials_id" in resp.json()["message"]


def test_transfer_moves_everything_and_then_delete_succeeds(sandbox, sdk_client):
    users = sdk_client.users
    new = users.create({"full_name": "Leaver", "email": "leaver@demo.example"})
    team = sdk_client.teams.create({"name": "leaver-team", "description": "x"})
    src = sdk_client.sources.create({"name": "leaver-src", "source_type": "s3",
                                     "data_credentials_id": 11})
    users.transfer_resources(1, 7, new.id)  # everything Ada owns (the new two too) to Leaver
    assert sdk_client.sources.get(src.id).owner.id == new.id
    owned = users.get_transferable_resources(new.id, 7)
    assert team.id in owned["teams"] and src.id in owned["data_sources"]
    assert 123 in owned["data_sources"] and 971 in owned["code_containers"]
    try:
        users.delete(new.id)
        raise AssertionError("a user who owns resources must not be deleted")
    except ResourceConflictError:
        pass
    out = users.transfer_resources(new.id, 7, 1)
    assert out["transfer_user_resources"] == {"previous_owner_id": new.id, "new_owner_id": 1,
                                              "org_id": 7}
    assert src.id in out["data_sources"]
    assert all(v == [] for v in users.get_transferable_resources(new.id, 7).values())
    assert sdk_client.sources.get(src.id).owner.id == 1
    users.delete(new.id)


def test_transfer_needs_org_admin_and_a_member_delegate(sandbox):
    body = {"org_id": 7, "delegate_owner_id": 2}
    assert api(sandbox, "PUT", "/users/1/transfer", key=sandbox.service_keys["operator"],
               json=body).status_code == 403
    resp = api(sandbox, "PUT", "/users/1/transfer", json={"org_id": 7, "delegate_owner_id": 999})
    assert resp.status_code == 400
    assert api(sandbox, "PUT", "/users/1/transfer", json={"org_id": 8,
                                                         "delegate_owner_id": 2}).status_code == 404
    # nothing moved
    assert api(sandbox, "GET", "/data_sources/123").json()["owner"]["id"] == 1


# == code containers ==============================================================================
def test_code_containers_crud_copy_public(sandbox, sdk_client):
    cc = sdk_client.code_containers
    assert [c.id for c in cc.list()] == [971, 972]
    assert [c.id for c in cc.list_public()] == [972]
    got = cc.get(971)
    assert got.access_roles == {"owner": True} and got.code[0].operation == "nexla.custom"
    new = cc.create({"name": "mine", "output_type": "custom", "reusable": True,
                     "code_type": "python", "code_encoding": "base64", "code": "ZGVm",
                     "ai_function_type": "chunker"})
    assert new.id > 9700 and new.code[0].spec == {"script": "ZGVm"}
    assert cc.update(new.id, {"description": "x"}).description == "x"
    copy = cc.copy(new.id)
    assert copy.copied_from_id == new.id and copy.name == "mine (copy)"
    cc.delete(new.id)
    try:
        cc.get(new.id)
        raise AssertionError("deleted container still served")
    except NotFoundError:
        pass


def test_code_container_validation_and_roles(sandbox):
    resp = api(sandbox, "POST", "/code_containers", json={"name": "x"})
    assert resp.status_code == 400 and "required" in resp.json()["message"]
    resp = api(sandbox, "POST", "/code_containers", json={
        "name": "x", "output_type": "record", "reusable": True, "code": [],
        "code_type": "cobol", "code_encoding": "none"})
    assert resp.status_code == 400 and resp.json()["message"].startswith("code_type")
    # Dana sees neither seeded container (no accessor for her); Omar is in team 42.
    dev = api(sandbox, "GET", "/code_containers", key=sandbox.service_keys["dev"]).json()
    assert dev == []
    omar = api(sandbox, "GET", "/code_containers/971", key=sandbox.service_keys["operator"])
    assert omar.status_code == 200 and omar.json()["access_roles"] == {"collaborator": True}
    assert api(sandbox, "PUT", "/code_containers/971", key=sandbox.service_keys["operator"],
               json={"name": "y"}).status_code == 403


def test_collaborator_cannot_read_other_users_quarantine(sandbox):
    try:
        from nexla_sdk import NexlaClient

        NexlaClient(service_key=sandbox.service_keys["collaborator"],
                    base_url=sandbox.url).users.get_quarantine_settings(1)
        raise AssertionError("expected 403")
    except AuthorizationError:
        pass
