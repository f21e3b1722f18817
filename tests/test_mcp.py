"""nexla-ops mcp (#18) through the official MCP client over stdio, against the sandbox: the
tools and their schemas, read tools answering as the CLI's --json, plan then apply by hash,
every refusal (scope, unknown, stale, a delete below its scope), bad input, the audit log and
a canary secret that never shows."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from conftest import CANARY, ROOT, _script_env

CALL_TIMEOUT = 60


def serve(sandbox, *flags, cwd, audit=None):
    """Start `nexla-ops mcp` under the official client; run(coro(session)) inside it."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    env = _script_env(sandbox, {"PYTHONPATH": str(ROOT)})
    args = ["-m", "nexla_ops", "mcp", *flags, "--audit-log", str(audit or cwd / "calls.jsonl")]

    def run(body):
        async def main():
            params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=cwd)
            with open(os.devnull, "w") as quiet:
                async with stdio_client(params, errlog=quiet) as streams, \
                        ClientSession(*streams) as session:
                    await session.initialize()
                    return await body(session)

        return asyncio.run(asyncio.wait_for(main(), CALL_TIMEOUT))

    return run


async def call(session, name, arguments=None):
    result = await session.call_tool(name, arguments or {})
    return json.loads(result.content[0].text), result.is_error


def cli_json(sandbox, cwd, script, *args):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), *args],
                          cwd=cwd, env=_script_env(sandbox, {}), capture_output=True,
                          text=True, timeout=60)
    return json.loads(proc.stdout)


def flow_status(sandbox, flow_id):
    """A flow's status: its origin source's (flows 1001..1005 start at sources 123..127)."""
    return next(s["status"] for s in sandbox.control.state("data_sources")
                if s["id"] == flow_id - 878)


def test_every_tool_is_listed_with_a_valid_schema_and_deny_hides_tools(sandbox, tmp_path):
    async def body(session):
        return (await session.list_tools()).tools

    tools = serve(sandbox, cwd=tmp_path)(body)
    names = [t.name for t in tools]
    assert names == ["whoami", "list_resources", "get_logs", "health", "triage",
                     "flow_metrics", "validate_transform", "export_flow", "plan_deploy",
                     "plan_access", "plan_batch", "plan_rotation", "apply_plan"]
    for tool in tools:
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        assert "Use" in tool.description, tool.name  # each says when to use it
    denied = serve(sandbox, "--deny", "triage,get_logs", cwd=tmp_path)(body)
    assert {t.name for t in denied} == set(names) - {"triage", "get_logs"}


def test_read_tools_answer_as_the_cli_json(sandbox, tmp_path):
    async def body(session):
        return ([await call(session, "list_resources", {"type": "flows"}),
                 await call(session, "health", {"flows": [1001, 1002]}),
                 await call(session, "triage", {"flow": 1002}),
                 await call(session, "export_flow", {"flow": 1001}),
                 await call(session, "triage", {})])

    (flows, e1), (health, e2), (triage, e3), (export, e4), (broken, e5) = serve(
        sandbox, cwd=tmp_path)(body)
    assert not (e1 or e2 or e3 or e4 or e5)
    assert broken["healthy"] is False and broken["broken"] == 2  # found broken flows: data
    assert flows == cli_json(sandbox, tmp_path, "list_resources", "--type", "flows",
                             "--limit", "100", "--format", "json")
    cli_health = cli_json(sandbox, tmp_path, "health_check", "--flow", "1001", "--flow", "1002",
                          "--format", "json", "--state-file", str(tmp_path / "s.json"))
    def judged(doc):  # reasons say "30m ago": compare what does not move with the clock
        return [(f["flow_id"], f["state"], f["status"], [c["check"] for c in f["checks"]])
                for f in doc["flows"]]

    assert judged(health) == judged(cli_health)
    assert health["summary"]["state"] == "CRITICAL"  # the seeded failing flow: data, no error
    assert triage == cli_json(sandbox, tmp_path, "triage", "--since", "24h", "--flow", "1002",
                              "--json")
    assert export == cli_json(sandbox, tmp_path, "export_flow", "--flow-id", "1001",
                              "--format", "json", "--json")


def test_plan_then_apply_by_hash_changes_the_sandbox_and_applies_once(sandbox, tmp_path):
    async def body(session):
        plan, error = await call(session, "plan_batch", {"operation": "pause", "type": "flows",
                                                         "ids": [1001]})
        assert not error and plan["plan"]["dry_run"] is True
        assert flow_status(sandbox, 1001) == "ACTIVE"  # planning wrote nothing
        applied, error = await call(session, "apply_plan", {"plan_hash": plan["plan_hash"]})
        again = await call(session, "apply_plan", {"plan_hash": plan["plan_hash"]})
        return plan, applied, error, again

    plan, applied, error, (again, again_error) = serve(sandbox, "--scope", "read-write",
                                                       cwd=tmp_path)(body)
    assert not error and applied["applied"]["counts"] == {"total": 1, "changed": 1}
    assert flow_status(sandbox, 1001) == "PAUSED"
    assert again_error and again["error"]["kind"] == "not_found"
    audit = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [(a["tool"], a["outcome"]) for a in audit] == [
        ("plan_batch", "ok"), ("apply_plan", "ok"), ("apply_plan", "not_found")]


def test_plan_deploy_and_access_apply_and_land_in_the_sandbox(sandbox, tmp_path):
    config = json.loads((ROOT / "examples" / "deploy" / "minimal.json").read_text())

    async def body(session):
        deploy, error = await call(session, "plan_deploy", {"config": config})
        assert not error, deploy
        deployed, error = await call(session, "apply_plan", {"plan_hash": deploy["plan_hash"]})
        assert not error, deployed
        access, error = await call(session, "plan_access", {
            "operation": "grant", "resource_type": "sources", "resource_id": 123,
            "accessor_type": "USER", "accessor_id": 4, "role": "collaborator"})
        assert not error, access
        granted, error = await call(session, "apply_plan", {"plan_hash": access["plan_hash"]})
        assert not error, granted
        return deployed

    serve(sandbox, "--scope", "read-write", cwd=tmp_path)(body)
    names = {s["name"] for s in sandbox.control.state("data_sources")}
    assert config["source"]["name"] in names
    source = next(s for s in sandbox.control.state("data_sources") if s["id"] == 123)
    assert any((a["type"], a["id"], a["access_roles"]) == ("USER", 4, ["collaborator"])
               for a in source["_accessors"])


def test_refusals_read_scope_unknown_stale_and_delete_below_its_scope(sandbox, tmp_path,
                                                                      sdk_client):
    async def read_only(session):
        plan, _ = await call(session, "plan_batch", {"operation": "pause", "type": "flows",
                                                     "ids": [1001]})
        return await call(session, "apply_plan", {"plan_hash": plan["plan_hash"]})

    refused, error = serve(sandbox, cwd=tmp_path)(read_only)
    assert error and refused["error"]["kind"] == "auth" and "read-write" in \
        refused["error"]["message"]

    async def writer(session):
        unknown = await call(session, "apply_plan", {"plan_hash": "0" * 64})
        stale_plan, _ = await call(session, "plan_batch", {"operation": "pause",
                                                           "type": "flows", "ids": [1001]})
        sdk_client.flows.pause(1001)  # someone else changes the state in between
        stale = await call(session, "apply_plan", {"plan_hash": stale_plan["plan_hash"]})
        delete_plan, _ = await call(session, "plan_batch", {"operation": "delete",
                                                            "type": "flows", "ids": [1004]})
        delete = await call(session, "apply_plan", {"plan_hash": delete_plan["plan_hash"]})
        return unknown, stale, delete_plan, delete

    (unknown, e1), (stale, e2), delete_plan, (delete, e3) = serve(
        sandbox, "--scope", "read-write", cwd=tmp_path)(writer)
    assert e1 and unknown["error"]["kind"] == "not_found"
    assert e2 and stale["error"]["kind"] == "failed" and "changed since" in \
        stale["error"]["message"]
    assert delete_plan["deletes"] is True
    assert e3 and delete["error"]["kind"] == "auth" and "read-write-delete" in \
        delete["error"]["message"]
    assert any(f["id"] == 1004 for f in sandbox.control.state("flows"))  # not deleted


@pytest.mark.parametrize("name, arguments, field", [
    ("list_resources", {"type": "flowz"}, "type"),
    ("get_logs", {"resource_type": "sources", "resource_id": -1}, "resource_id"),
    ("plan_batch", {"operation": "pause", "type": "flows", "ids": []}, "ids"),
    ("apply_plan", {"plan_hash": "xyz"}, "plan_hash"),
    ("health", {"flows": [1], "extra": True}, "extra"),
    ("get_logs", {"resource_type": "sources", "resource_id": 123, "since": "9" * 40},
     "--since"),  # refused by the command itself, as on a terminal
])
def test_a_bad_argument_is_bad_input_naming_the_field(sandbox, tmp_path, name, arguments,
                                                      field):
    async def body(session):
        return await call(session, name, arguments)

    answer, error = serve(sandbox, cwd=tmp_path)(body)
    assert error and answer["error"]["kind"] == "bad_input"
    assert answer["error"]["message"].startswith(f"{field}")


def test_a_canary_secret_never_appears_in_any_tool_result(canary_sandbox, tmp_path):
    async def body(session):
        answers = [await call(session, "whoami"),
                   await call(session, "list_resources", {"type": "credentials"}),
                   await call(session, "health", {}),
                   await call(session, "triage", {}),
                   await call(session, "plan_rotation", {"old": 11, "new": 12})]
        return json.dumps(answers)

    text = serve(canary_sandbox, "--scope", "read-write", cwd=tmp_path)(body)
    assert CANARY not in text
    assert CANARY not in (tmp_path / "calls.jsonl").read_text()


def test_the_documented_client_config_is_valid_and_its_arguments_parse():
    from nexla_ops.commands.nexla_mcp import build_parser

    text = (ROOT / "REFERENCE.md").read_text(encoding="utf-8")
    section = text[text.index("## MCP server"):text.index("## Contract checks")]
    snippet = section[section.index("```json") + len("```json"):]
    config = json.loads(snippet[:snippet.index("```")])
    (name, server), = config["mcpServers"].items()
    assert name == "nexla-ops" and server["command"] == "nexla-ops"
    assert server["args"][0] == "mcp"
    args = build_parser().parse_args(server["args"][1:])
    assert args.scope == "read"
    code = section[section.index("claude mcp add"):].split("`")[0]
    argv = code.split(" -- ", 1)[1].split()
    assert argv[:2] == ["nexla-ops", "mcp"]
    assert build_parser().parse_args(argv[2:]).scope == "read-write"


@pytest.mark.parametrize("flags, code, named", [
    (["--scope", "admin"], 2, "--scope"),
    (["--deny", "triage,nosuch"], 2, "unknown: nosuch"),
    (["--deny", ","], 2, "--deny"),
    (["--timeout", "nan"], 2, "--timeout"),
    (["--api-url", "ftp://x"], 3, "NEXLA_API_URL"),
])
def test_bad_server_flags_end_before_serving(tmp_path, flags, code, named):
    proc = subprocess.run([sys.executable, "-m", "nexla_ops", "mcp", *flags], cwd=tmp_path,
                          env={**_script_env(None, {}), "PYTHONPATH": str(ROOT)},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert named in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_value_that_looks_like_a_flag_stays_a_value(sandbox, tmp_path):
    async def body(session):
        return await call(session, "list_resources", {"type": "flows",
                                                      "name": "--api-url=http://127.0.0.1:9"})

    sandbox.control.clear_requests()
    answer, error = serve(sandbox, cwd=tmp_path)(body)
    assert not error and answer == []  # a name nothing has, asked of the configured API
    assert any(r["path"].startswith("/flows") for r in sandbox.control.requests())


def test_a_failing_command_is_an_error_with_a_kind_audited_and_plans_are_private(
        sandbox, tmp_path):
    async def body(session):
        partial = await call(session, "plan_batch", {"operation": "pause", "type": "flows",
                                                     "ids": [1001, 99999]})
        broken = await call(session, "plan_deploy", {"config": {"name": "x"}})
        made = await call(session, "plan_deploy", {"config": json.loads(
            (ROOT / "examples" / "deploy" / "minimal.json").read_text())})
        return partial, broken, made

    (partial, e1), (broken, e2), (made, e3) = serve(sandbox, "--scope", "read-write",
                                                    cwd=tmp_path)(body)
    assert e1 and partial["error"]["kind"] in ("failed", "not_found", "partial")
    assert e2 and broken["error"]["kind"] in ("bad_input", "failed") and broken["error"]["message"]
    assert not e3
    audit = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [a["tool"] for a in audit] == ["plan_batch", "plan_deploy", "plan_deploy"]
    assert [a["outcome"] == "ok" for a in audit] == [False, False, True]
    store = tmp_path / "xdg-state" / "nexla-ops" / "mcp"  # the server's per-user state
    kept = [path for path in store.rglob("*") if path.is_file()]
    assert {path.name for path in kept} >= {"plan.json", "deploy.json", "saved-plan.json"}
    assert [path for path in kept if path.stat().st_mode & 0o077] == []  # all 0600


def test_two_servers_applying_one_hash_apply_it_once(sandbox, api_env, monkeypatch, tmp_path):
    import threading

    from nexla_ops.mcp.calls import Calls

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "shared"))
    first, second = (Calls("read-write", sandbox.url.rstrip("/"), ["--api-url", sandbox.url],
                           audit_log=str(tmp_path / f"calls-{i}.jsonl")) for i in range(2))
    plan, error = first.call("plan_batch", {"operation": "pause", "type": "flows",
                                            "ids": [1002]})
    assert not error, plan
    sandbox.control.clear_requests()
    answers = []
    threads = [threading.Thread(target=lambda c=c: answers.append(
        c.call("apply_plan", {"plan_hash": plan["plan_hash"]}))) for c in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(error for _, error in answers) == [False, True]
    refused = next(answer for answer, error in answers if error)
    assert refused["error"]["kind"] == "not_found"
    pauses = [r for r in sandbox.control.requests() if r["method"] == "PUT"]
    assert len(pauses) == 1, pauses


def test_an_audit_log_that_cannot_be_written_ends_the_server_at_once(tmp_path):
    (tmp_path / "adir").mkdir()
    proc = subprocess.run([sys.executable, "-m", "nexla_ops", "mcp", "--audit-log",
                           str(tmp_path / "adir")], cwd=tmp_path,
                          env={**_script_env(None, {}), "PYTHONPATH": str(ROOT),
                               "NEXLA_SERVICE_KEY": "not-sent",
                               "NEXLA_API_URL": "http://127.0.0.1:9/nexla-api"},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--audit-log" in proc.stderr

