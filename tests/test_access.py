"""manage_access.py against the sandbox over real HTTP.

Demo seed (DESIGN.md): source 123 has four accessors (USER 1 owner, USER 2 operator, USER 3
collaborator, TEAM 43 collaborator); team 42 "data-ops" has no role on it yet. User 2 (Omar) only
holds operator/collaborator roles, so his key gets 403 on accessor writes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from conftest import CANARY, writes
from nexla_ops.access import api, changes, inputs, models
from nexla_ops.commands import manage_access

SOURCE_123 = "/data_sources/123/accessors"
SEEDED_123 = {("USER", 1): ["owner"], ("USER", 2): ["operator"], ("USER", 3): ["collaborator"],
              ("TEAM", 43): ["collaborator"]}


def server_roles(sdk_client, path=SOURCE_123):
    """The accessor list as the API returns it, read raw (independent of the script's parser)."""
    return {(a["type"], a["id"]): sorted(a["access_roles"]) for a in sdk_client.request("GET", path)}


def audit_lines(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


GRANT_TEAM_42 = ("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
                 "--accessor-type", "TEAM", "--accessor-id", "42", "--role", "operator")


# ------------------------------------------------------------------ the SDK bug we work around


def test_sdk_accessor_read_crashes_on_the_seed(sdk_client):
    # Why the script reads raw: nexla-sdk 1.0.8 cannot parse a non-empty accessor list.
    with pytest.raises(AttributeError, match="model_validate"):
        sdk_client.sources.get_accessors(123)


def test_accessor_named_by_email_or_name_is_matched_even_in_an_id_only_list(sandbox, api_env):
    # The API's email/name fields are optional (contract §11): against a list that names
    # accessors by id only, "omar@..." must still be recognised as USER 2, or a merge write
    # would replace roles he already has. The lookup is real HTTP against the sandbox.
    import nexla_ops

    resolver = api.Resolver(nexla_ops.Context())
    id_only = models.parse_accessor_list(
        [{"type": "USER", "id": 2, "access_roles": ["operator"]},
         {"type": "TEAM", "id": 42, "access_roles": ["collaborator"]}], "test")
    omar = inputs.build_accessor("USER", {"email": "Omar@demo.example"}, ["admin"],
                                        inputs.cli_label)
    ops_team = inputs.build_accessor("TEAM", {"name": "data-ops"}, ["admin"],
                                            inputs.cli_label)
    resource = inputs.Resource("data_sources", 123)
    change = changes.plan(resource, id_only, resolver.resolve(omar, id_only), "grant",
                                ["admin"])
    assert (change.before, change.after) == (["operator"], ["admin", "operator"])
    assert resolver.resolve(ops_team, id_only).id == 42
    lookups = [r["path"] for r in sandbox.control.requests() if r["path"] in ("/users", "/teams")]
    assert lookups == ["/users", "/teams"]
    # someone the look-up cannot see: refuse rather than guess "not an accessor yet"
    stranger = inputs.build_accessor("USER", {"email": "nobody@demo.example"}, ["admin"],
                                            inputs.cli_label)
    with pytest.raises(nexla_ops.NotFound, match="name the accessor by id"):
        resolver.resolve(stranger, id_only)
    # a list that already carries emails needs no look-up
    sandbox.control.clear_requests()
    named = models.parse_accessor_list(
        [{"type": "USER", "id": 2, "email": "omar@demo.example", "access_roles": ["operator"]}],
        "test")
    assert api.Resolver(nexla_ops.Context()).resolve(omar, named) is omar
    assert sandbox.control.requests() == []


# ------------------------------------------------------------------ list


def test_list_json_shows_all_seeded_accessors(run_main, sandbox):
    result = run_main(manage_access, "--operation", "list", "--resource-type", "sources",
                      "--resource-id", 123, "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["resource"] == {"type": "data_sources", "id": 123}
    assert {(a["type"], a["id"]): a["access_roles"] for a in doc["accessors"]} == SEEDED_123
    assert writes(sandbox) == []


def test_list_text_table_and_api_type_name(run_main):
    result = run_main(manage_access, "--operation", "list", "--resource-type", "data_sources",
                      "--resource-id", 123)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["TYPE", "ID", "EMAIL/NAME", "ROLES"]
    assert any(line.split()[:2] == ["TEAM", "43"] and line.endswith("collaborator")
               for line in lines)
    assert any(line.split()[:2] == ["USER", "1"] and line.endswith("owner") for line in lines)
    assert len(lines) == 5


# ------------------------------------------------------------------ grant / revoke round trips


def test_seed_grant_command_works_as_written(run_main, sandbox, sdk_client, tmp_path):
    result = run_main(manage_access, *GRANT_TEAM_42, "--json")
    assert result.code == 0, result.err
    [row] = result.json()["results"]
    assert row["result"] == "changed"
    assert row["accessor"] == {"type": "TEAM", "id": 42}
    assert row["before"] is None and row["after"] == ["operator"]
    # one merge write, then a read-back; the other four accessors are untouched
    assert writes(sandbox) == [("PUT", SOURCE_123)]
    log = [(r["method"], r["path"]) for r in sandbox.control.requests()]
    assert log.index(("GET", SOURCE_123), log.index(("PUT", SOURCE_123))) > 0
    assert server_roles(sdk_client) == {**SEEDED_123, ("TEAM", 42): ["operator"]}
    assert len(audit_lines(tmp_path / "nexla-access-audit.jsonl")) == 1


def test_grant_rerun_makes_zero_writes(run_main, sandbox, tmp_path):
    assert run_main(manage_access, *GRANT_TEAM_42).code == 0
    sandbox.control.clear_requests()
    again = run_main(manage_access, *GRANT_TEAM_42, "--json")
    assert again.code == 0, again.err
    assert again.json()["results"][0]["result"] == "unchanged"
    assert writes(sandbox) == []
    assert len(audit_lines(tmp_path / "nexla-access-audit.jsonl")) == 1  # only the first run


def test_grant_adds_a_role_and_keeps_the_existing_one(run_main, sdk_client):
    result = run_main(manage_access, "--operation", "grant", "--resource-type", "sources",
                      "--resource-id", 123, "--accessor-type", "USER", "--accessor-id", 2,
                      "--role", "admin", "--json")
    assert result.code == 0, result.err
    row = result.json()["results"][0]
    assert (row["before"], row["after"]) == (["operator"], ["admin", "operator"])
    assert server_roles(sdk_client)[("USER", 2)] == ["admin", "operator"]


def test_revoke_one_role_keeps_the_others(run_main, sandbox, sdk_client):
    assert run_main(manage_access, "--operation", "grant", "--resource-type", "sources",
                    "--resource-id", 123, "--accessor-type", "USER",
                    "--accessor-email", "omar@demo.example", "--role", "admin",
                    "--role", "collaborator").code == 0
    sandbox.control.clear_requests()
    result = run_main(manage_access, "--operation", "revoke", "--resource-type", "sources",
                      "--resource-id", 123, "--accessor-type", "USER",
                      "--accessor-email", "omar@demo.example", "--role", "operator", "--json")
    assert result.code == 0, result.err
    row = result.json()["results"][0]
    assert (row["before"], row["after"]) == (["admin", "operator", "collaborator"],
                                             ["admin", "collaborator"])
    assert writes(sandbox) == [("PUT", SOURCE_123)]  # merge, not replace-all or delete
    assert server_roles(sdk_client) == {**SEEDED_123, ("USER", 2): ["admin", "collaborator"]}


def test_revoke_absent_role_or_accessor_is_unchanged(run_main, sandbox):
    for accessor in (("--accessor-type", "USER", "--accessor-id", 3, "--role", "admin"),
                     ("--accessor-type", "TEAM", "--accessor-id", 42, "--role", "operator")):
        result = run_main(manage_access, "--operation", "revoke", "--resource-type", "sources",
                                         "--resource-id", 123, *accessor, "--json")
        assert result.code == 0, result.err
        assert result.json()["results"][0]["result"] == "unchanged"
    assert writes(sandbox) == []


def test_revoke_without_role_removes_the_accessor_with_a_delete(run_main, sandbox, sdk_client):
    result = run_main(manage_access, "--operation", "revoke", "--resource-type", "sources",
                      "--resource-id", 123, "--accessor-type", "TEAM",
                      "--accessor-name", "analytics", "--json")
    assert result.code == 0, result.err
    row = result.json()["results"][0]
    assert (row["before"], row["after"]) == (["collaborator"], None)
    assert writes(sandbox) == [("DELETE", SOURCE_123)]
    expected = dict(SEEDED_123)
    del expected[("TEAM", 43)]
    assert server_roles(sdk_client) == expected


def test_grant_on_other_resource_types(run_main, sdk_client):
    for rtype, path in (("nexsets", "/data_sets/223/accessors"),
                        ("destinations", "/data_sinks/301/accessors"),
                        ("flows", "/flows/1001/accessors")):
        rid = path.split("/")[2]
        result = run_main(manage_access, "--operation", "grant", "--resource-type", rtype,
                          "--resource-id", rid, "--accessor-type", "USER",
                          "--accessor-email", "dana@demo.example", "--role", "collaborator")
        assert result.code == 0, (rtype, result.err)
        assert server_roles(sdk_client, path)[("USER", 4)] == ["collaborator"]


# ------------------------------------------------------------------ set


def test_set_replaces_all_and_rerun_is_unchanged(run_main, sandbox, sdk_client, tmp_path):
    desired = [{"type": "USER", "id": 1, "access_roles": ["owner"]},
               {"type": "TEAM", "name": "data-ops", "access_roles": ["operator", "collaborator"]},
               {"type": "USER", "email": "dana@demo.example", "access_roles": ["admin"]}]
    (tmp_path / "acl.json").write_text(json.dumps(desired))
    args = ("--operation", "set", "--resource-type", "sources", "--resource-id", 123,
            "--from-file", tmp_path / "acl.json", "--json")
    result = run_main(manage_access, *args)
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["result"] == "changed"
    assert len(doc["before"]) == 4 and len(doc["after"]) == 3
    assert writes(sandbox) == [("POST", SOURCE_123)]  # set is the one replace-all write
    assert server_roles(sdk_client) == {("USER", 1): ["owner"],
                                        ("TEAM", 42): ["collaborator", "operator"],
                                        ("USER", 4): ["admin"]}
    sandbox.control.clear_requests()
    again = run_main(manage_access, *args)
    assert again.code == 0 and again.json()["result"] == "unchanged"
    assert writes(sandbox) == []
    [line] = audit_lines(tmp_path / "nexla-access-audit.jsonl")
    assert line["operation"] == "set" and line["result"] == "ok"
    assert len(line["before"]) == 4 and len(line["after"]) == 3


def test_set_without_an_owner_is_refused_before_any_request(run_main, sandbox, tmp_path):
    (tmp_path / "acl.yaml").write_text("- {type: TEAM, id: 42, access_roles: [admin]}\n")
    result = run_main(manage_access, "--operation", "set", "--resource-type", "sources",
                      "--resource-id", 123, "--from-file", tmp_path / "acl.yaml")
    assert result.code == 1
    assert "no owner" in result.err and "--force" in result.err
    assert sandbox.control.requests() == []


# ------------------------------------------------------------------ guards and dry-run


def test_last_owner_guard(run_main, sandbox, sdk_client):
    revoke_owner = ("--operation", "revoke", "--resource-type", "sources", "--resource-id", 123,
                    "--accessor-type", "USER", "--accessor-id", 1, "--role", "owner")
    refused = run_main(manage_access, *revoke_owner)
    assert refused.code == 1
    assert "without an owner" in refused.err and "USER 1" in refused.err
    assert writes(sandbox) == []
    assert server_roles(sdk_client) == SEEDED_123
    # with a second owner the same revoke is not the last owner, so the guard lets it through
    assert run_main(manage_access, "--operation", "grant", "--resource-type", "sources",
                    "--resource-id", 123, "--accessor-type", "USER", "--accessor-id", 2,
                    "--role", "owner").code == 0
    demote = run_main(manage_access, "--operation", "revoke", "--resource-type", "sources",
                      "--resource-id", 123, "--accessor-type", "USER", "--accessor-id", 2,
                      "--role", "owner")
    assert demote.code == 0, demote.err


def test_dry_run_shows_before_and_after_and_writes_nothing(run_main, sandbox, tmp_path):
    (tmp_path / "acl.json").write_text(json.dumps(
        [{"type": "USER", "id": 1, "access_roles": ["owner"]}]))
    runs = [
        run_main(manage_access, *GRANT_TEAM_42, "--dry-run", "--json"),
        run_main(manage_access, "--operation", "revoke", "--resource-type", "sources",
                 "--resource-id", 123, "--accessor-type", "USER", "--accessor-id", 2, "--dry-run",
                 "--json"),
        run_main(manage_access, "--operation", "set", "--resource-type", "sources",
                 "--resource-id", 123, "--from-file", tmp_path / "acl.json", "--dry-run", "--json"),
    ]
    assert [r.code for r in runs] == [0, 0, 0], [r.err for r in runs]
    grant, revoke, replace = (r.json() for r in runs)
    assert grant["dry_run"] is True
    assert grant["results"][0] == {"resource": {"type": "data_sources", "id": 123},
                                        "accessor": {"type": "TEAM", "id": 42},
                                        "before": None, "after": ["operator"],
                                        "result": "would_change"}
    assert (revoke["results"][0]["before"], revoke["results"][0]["after"]) == (["operator"], None)
    assert replace["result"] == "would_change" and len(replace["after"]) == 1
    assert writes(sandbox) == []
    assert not (tmp_path / "nexla-access-audit.jsonl").exists()


def test_read_back_mismatch_exits_1(run_main, sandbox, sdk_client, tmp_path):
    # --force passes our guard, but the API keeps a resource's owner whatever the new list says,
    # so what is read back differs from what was sent: that must fail loudly, not report success.
    (tmp_path / "acl.json").write_text(json.dumps(
        [{"type": "TEAM", "id": 42, "access_roles": ["admin"]}]))
    result = run_main(manage_access, "--operation", "set", "--resource-type", "sources",
                      "--resource-id", 123, "--from-file", tmp_path / "acl.json", "--force")
    assert result.code == 1
    assert "read-back mismatch" in result.err
    assert writes(sandbox) == [("POST", SOURCE_123)]
    assert server_roles(sdk_client) == {("USER", 1): ["owner"], ("TEAM", 42): ["admin"]}
    [line] = audit_lines(tmp_path / "nexla-access-audit.jsonl")
    assert line["result"] == "mismatch" and len(line["after"]) == 2


def test_lost_answer_to_a_write_is_retried_safely(run_main, sandbox, sdk_client, tmp_path):
    # The server applies the PUT, then the connection drops: the write is idempotent (it names
    # the accessor's full role set), so sending it again is safe and the result is verified.
    sandbox.control.add_fault(method="PUT", path="/accessors$", action="commit_then_fail",
                              fail_with="drop", times=1)
    result = run_main(manage_access, *GRANT_TEAM_42, "--json")
    assert result.code == 0, result.err
    assert writes(sandbox) == [("PUT", SOURCE_123), ("PUT", SOURCE_123)]
    assert server_roles(sdk_client) == {**SEEDED_123, ("TEAM", 42): ["operator"]}
    [line] = audit_lines(tmp_path / "nexla-access-audit.jsonl")
    assert line["result"] == "ok"


# ------------------------------------------------------------------ audit trail


def test_audit_log_one_valid_line_per_change(run_main, tmp_path):
    log = tmp_path / "trail" / "access.jsonl"
    log.parent.mkdir()
    log.write_text('{"earlier": "line kept"}\n')
    assert run_main(manage_access, *GRANT_TEAM_42, "--audit-log", log).code == 0
    # unchanged: no line
    assert run_main(manage_access, *GRANT_TEAM_42, "--audit-log", log).code == 0
    assert run_main(manage_access, "--operation", "revoke", "--resource-type", "sources",
                    "--resource-id", 123, "--accessor-type", "USER", "--accessor-id", 3,
                    "--audit-log", log).code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0] == {"earlier": "line kept"}  # appended, never rewritten
    grant, revoke = lines[1:]
    for line in (grant, revoke):
        assert set(line) >= {"timestamp", "actor", "operation", "resource", "accessor", "before",
                             "after", "result"}
        stamp = datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
        assert stamp.utcoffset().total_seconds() == 0
        assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60
        assert line["actor"] == {"id": 1, "email": "ada@demo.example"}
        assert line["resource"] == {"type": "data_sources", "id": 123}
        assert line["result"] == "ok"
    assert (grant["operation"], grant["accessor"], grant["before"], grant["after"]) == (
        "grant", {"type": "TEAM", "id": 42}, None, ["operator"])
    assert (revoke["operation"], revoke["before"], revoke["after"]) == (
        "revoke", ["collaborator"], None)
    assert revoke["accessor"]["id"] == 3


def test_audit_log_and_output_never_contain_the_service_key(canary_sandbox, run_script,
                                                            script_cwd):
    env = {"NEXLA_API_URL": canary_sandbox.url, "NEXLA_SERVICE_KEY": CANARY}
    runs = [run_script("manage_access", *GRANT_TEAM_42, env=env, sandbox=False),
            run_script("manage_access", *GRANT_TEAM_42, "--json", env=env, sandbox=False),
            run_script("manage_access", "--operation", "revoke", "--resource-type", "sources",
                       "--resource-id", 123, "--accessor-type", "TEAM", "--accessor-id", 42,
                       "--debug", env=env, sandbox=False),
            run_script("manage_access", "--operation", "grant", "--resource-type", "sources",
                       "--resource-id", 99999, "--accessor-type", "TEAM", "--accessor-id", 42,
                       "--role", "admin", "--debug", env=env, sandbox=False)]
    assert [r.code for r in runs] == [0, 0, 0, 5], [r.err for r in runs]
    trail = (script_cwd / "nexla-access-audit.jsonl").read_text()
    assert len(trail.splitlines()) == 2
    for text in [trail, *(r.out + r.err for r in runs)]:
        assert CANARY not in text


def test_operator_key_gets_403_exit_4_naming_the_role(run_main, sandbox, sdk_client, tmp_path):
    result = run_main(manage_access, *GRANT_TEAM_42, key=sandbox.service_keys["operator"])
    assert result.code == 4
    [line] = result.err.strip().splitlines()
    assert "admin" in line and "operator" in line  # the role needed and the role held
    assert sandbox.service_keys["operator"] not in result.err
    assert server_roles(sdk_client) == SEEDED_123
    [attempt] = audit_lines(tmp_path / "nexla-access-audit.jsonl")
    assert attempt["actor"]["id"] == 2 and attempt["result"] == "denied"
    assert "admin" in attempt["error"]


# ------------------------------------------------------------------ bulk


def test_bulk_csv_grant_reports_per_row_and_continues_past_failures(run_main, sandbox, sdk_client,
                                                                    tmp_path):
    rows = tmp_path / "grants.csv"
    rows.write_text(
        "resource_type,resource_id,accessor_type,accessor_id,accessor_email,accessor_name,roles\n"
        "sources,123,TEAM,42,,,operator\n"
        "sources,99999,TEAM,42,,,operator\n"          # no such source: 404
        "nexsets,223,USER,,dana@demo.example,,collaborator;operator\n"
        "sources,123,USER,2,,,operator\n"             # already has it
        "destinations,301,TEAM,,,no-such-team,admin\n"  # the API refuses: 400
    )
    result = run_main(manage_access, "--operation", "grant", "--from-file", rows, "--json")
    assert result.code == 7
    doc = result.json()
    assert [r["result"] for r in doc["results"]] == ["changed", "failed", "changed",
                                                      "unchanged", "failed"]
    assert [r["row"] for r in doc["results"] if r["result"] == "failed"] == [2, 5]
    assert doc["results"][1]["exit_code"] == 5
    assert doc["summary"] == {"changed": 2, "unchanged": 1, "would_change": 0, "failed": 2}
    assert "row 2" in result.err and "row 5" in result.err
    assert server_roles(sdk_client)[("TEAM", 42)] == ["operator"]
    assert server_roles(sdk_client, "/data_sets/223/accessors")[("USER", 4)] == [
        "collaborator", "operator"]
    sandbox.control.clear_requests()
    again = run_main(manage_access, "--operation", "grant", "--from-file", rows, "--json")
    assert again.code == 7
    assert [r["result"] for r in again.json()["results"]] == ["unchanged", "failed", "unchanged",
                                                              "unchanged", "failed"]
    assert [w for w in writes(sandbox) if "/data_sinks/" not in w[1]] == []


def test_bulk_json_revoke(run_main, sdk_client, tmp_path):
    rows = tmp_path / "revokes.json"
    rows.write_text(json.dumps([
        {"resource_type": "sources", "resource_id": 123, "accessor_type": "USER",
         "accessor_id": 3},
        {"resource_type": "data_sources", "resource_id": "123", "type": "TEAM", "id": 43,
         "roles": ["collaborator"]},
    ]))
    result = run_main(manage_access, "--operation", "revoke", "--from-file", rows)
    assert result.code == 0, result.err
    assert server_roles(sdk_client) == {("USER", 1): ["owner"], ("USER", 2): ["operator"]}
    assert result.out.splitlines()[0].split()[:2] == ["ROW", "RESULT"]


def test_bulk_bad_row_exits_2_before_any_request(run_main, sandbox, tmp_path):
    rows = tmp_path / "grants.csv"
    rows.write_text("resource_type,resource_id,accessor_type,accessor_id,roles\n"
                    "sources,123,TEAM,42,operator\n"
                    "sources,123,TEAM,43,superuser\n")
    result = run_main(manage_access, "--operation", "grant", "--from-file", rows)
    assert result.code == 2
    assert "row 2" in result.err and "superuser" in result.err
    assert sandbox.control.requests() == []


# ------------------------------------------------------------------ audit (desired state)


DESIRED = """\
resources:
  - resource_type: sources
    resource_id: 123
    accessors:
      - {type: USER, id: 1, access_roles: [owner]}
      - {type: USER, email: omar@demo.example, access_roles: [admin, operator]}
      - {type: TEAM, name: data-ops, access_roles: [operator]}
      - {type: TEAM, id: 43, access_roles: [collaborator]}
  - resource_type: flows
    resource_id: 1001
    accessors: ACTUAL_1001
"""


def desired_file(tmp_path, sdk_client):
    # flow 1001 is declared exactly as it is, so it must come out in sync
    actual = [{k: a[k] for k in ("type", "id", "access_roles")}
              for a in sdk_client.request("GET", "/flows/1001/accessors")]
    path = tmp_path / "desired.yaml"
    path.write_text(DESIRED.replace("ACTUAL_1001", json.dumps(actual)))
    return path


def test_audit_reports_drift_and_fix_converges(run_main, sandbox, sdk_client, tmp_path):
    desired = desired_file(tmp_path, sdk_client)
    report = run_main(manage_access, "--operation", "audit", "--from-file", desired, "--json")
    assert report.code == 7, report.err
    doc = report.json()
    source, flow = doc["resources"]
    assert flow["status"] == "in_sync" and flow["drift"] == []
    assert source["status"] == "drift"
    found = {(d["kind"], d["accessor"]["type"], d["accessor"].get("name") or d["accessor"]["id"]):
             (d["actual"], d["desired"]) for d in source["drift"]}
    assert found == {
        ("different", "USER", 2): (["operator"], ["admin", "operator"]),
        ("missing", "TEAM", "data-ops"): (None, ["operator"]),
        ("extra", "USER", 3): (["collaborator"], None),
    }
    assert writes(sandbox) == []

    fixed = run_main(manage_access, "--operation", "audit", "--from-file", desired, "--fix",
                     "--json")
    assert fixed.code == 0, fixed.err
    assert [r["status"] for r in fixed.json()["resources"]] == ["fixed", "in_sync"]
    # merges first, the removal last; never replace-all
    assert writes(sandbox) == [("PUT", SOURCE_123), ("PUT", SOURCE_123), ("DELETE", SOURCE_123)]
    assert server_roles(sdk_client) == {("USER", 1): ["owner"], ("USER", 2): ["admin", "operator"],
                                        ("TEAM", 42): ["operator"], ("TEAM", 43): ["collaborator"]}
    trail = audit_lines(tmp_path / "nexla-access-audit.jsonl")
    assert [line["operation"] for line in trail] == ["audit-fix"] * 3
    assert all(line["result"] == "ok" for line in trail)

    sandbox.control.clear_requests()
    clean = run_main(manage_access, "--operation", "audit", "--from-file", desired, "--fix",
                     "--json")
    assert clean.code == 0, clean.err
    assert [r["status"] for r in clean.json()["resources"]] == ["in_sync", "in_sync"]
    assert writes(sandbox) == []


def test_audit_fix_dry_run_and_owner_guard(run_main, sandbox, tmp_path):
    desired = tmp_path / "desired.json"
    desired.write_text(json.dumps({"resources": [
        {"resource_type": "sources", "resource_id": 123,
         "accessors": [{"type": "TEAM", "id": 42, "access_roles": ["admin"]}]},
        {"resource_type": "destinations", "resource_id": 301,
         "accessors": [{"type": "USER", "id": 1, "access_roles": ["owner"]},
                       {"type": "TEAM", "id": 42, "access_roles": ["operator"]}]},
    ]}))
    preview = run_main(manage_access, "--operation", "audit", "--from-file", desired, "--fix",
                       "--dry-run", "--json")
    assert preview.code == 7
    statuses = {r["resource"]["id"]: r["status"] for r in preview.json()["resources"]}
    assert statuses == {123: "refused", 301: "would_fix"}
    assert writes(sandbox) == []
    text = run_main(manage_access, "--operation", "audit", "--from-file", desired, "--fix")
    assert text.code == 7
    assert "without an owner" in text.out
    assert [w for w in writes(sandbox) if "/data_sources/" in w[1]] == []


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("argv, field", [
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
      "--accessor-type", "TEAM", "--accessor-id", "42", "--role", "superuser"), "--role"),
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
      "--accessor-type", "TEAM", "--accessor-email", "x@demo.example", "--role", "operator"),
     "--accessor-email"),
    (("--operation", "grant", "--resource-type", "sources", "--accessor-type", "TEAM",
      "--accessor-id", "42", "--role", "operator"), "--resource-id"),
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
      "--accessor-type", "TEAM", "--role", "operator"), "--accessor-id or --accessor-name"),
    (("--operation", "grant", "--resource-type", "pipelines", "--resource-id", "123",
      "--accessor-type", "TEAM", "--accessor-id", "42", "--role", "operator"), "--resource-type"),
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "abc",
      "--accessor-type", "TEAM", "--accessor-id", "42", "--role", "operator"), "--resource-id"),
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
      "--accessor-type", "USER", "--accessor-name", "ada", "--role", "operator"),
     "--accessor-name"),
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
      "--accessor-type", "ORG", "--accessor-email", "a@b.c", "--role", "operator"),
     "--accessor-email"),
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
      "--accessor-type", "GROUP", "--accessor-id", "1", "--role", "operator"),
     "--accessor-type"),
    (("--operation", "grant", "--resource-type", "sources", "--resource-id", "123",
      "--accessor-type", "TEAM", "--accessor-id", "42"), "--role"),
    (("--operation", "set", "--resource-type", "sources", "--resource-id", "123"), "--from-file"),
    (("--operation", "list", "--resource-type", "sources", "--resource-id", "123", "--fix"),
     "--fix"),
])
def test_bad_input_exits_2_naming_the_field_before_any_request(run_main, sandbox, argv, field):
    result = run_main(manage_access, *argv)
    assert result.code == 2, result.err
    [line] = result.err.strip().splitlines()
    assert field in line
    assert "Traceback" not in result.err
    assert sandbox.control.requests() == []
