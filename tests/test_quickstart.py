"""nexla_quickstart.py: the first command a user runs, in every scenario it must diagnose."""

from __future__ import annotations

import json
import socket

import pytest

from conftest import CANARY

# The demo seed (DESIGN §1): 5 sources, 6 nexsets, 4 destinations, 5 flows, 4 credentials.
DEMO_COUNTS = {"sources": 5, "nexsets": 6, "destinations": 4, "flows": 5, "credentials": 4}


def closed_port_url():
    """A loopback URL nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nexla-api"


def test_ok_json(run_script, sandbox):
    result = run_script("nexla_quickstart", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) >= {"api_url", "auth_mode", "user", "org", "counts", "samples", "ok"}
    assert data["ok"] is True
    assert data["api_url"] == sandbox.url and data["auth_mode"] == "service_key"
    assert data["user"] == {"id": 1, "email": "ada@demo.example"}
    assert data["org"] == {"id": 7, "name": "Demo Org"}
    assert data["counts"] == DEMO_COUNTS
    assert data["samples"]["sources"] == [123, 124, 125]
    assert data["samples"]["flows"] == [1001, 1002, 1003]
    assert len(data["next_commands"]) == 3
    # two pages per kind at the largest page size: a short first page may be the server's cap
    lists = [r for r in sandbox.control.requests() if r["method"] == "GET"
             and r["path"] in ("/data_sources", "/data_sets", "/data_sinks", "/flows",
                               "/data_credentials")]
    assert sorted((r["path"], r["query"]["page"]) for r in lists) == sorted(
        (path, page) for path in ("/data_sources", "/data_sets", "/data_sinks", "/flows",
                                  "/data_credentials") for page in ("1", "2"))
    assert all(r["query"].get("per_page") == "100" for r in lists)


def test_ok_text(run_script):
    result = run_script("nexla_quickstart")
    assert result.code == 0, result.err
    assert "ada@demo.example" in result.out and "Demo Org" in result.out
    next_lines = result.out.split("Next, try:")[1].strip().splitlines()
    assert len(next_lines) == 3
    assert all(line.strip().startswith("python scripts/") for line in next_lines)


def test_full_page_is_reported_as_n_plus(run_script, sandbox):
    sandbox.control.populate("sources", 120, name_prefix="bulk")
    result = run_script("nexla_quickstart", "--json")
    assert result.code == 0, result.err
    assert result.json()["counts"]["sources"] == "100+"
    assert len([r for r in sandbox.control.requests() if r["path"] == "/data_sources"]) == 1


@pytest.mark.parametrize("env,needle", [
    ({"NEXLA_SERVICE_KEY": None}, "NEXLA_SERVICE_KEY"),
    ({"NEXLA_API_URL": "dataops.example/nexla-api"}, "NEXLA_API_URL"),
    ({"NEXLA_API_URL": "ftp://127.0.0.1/nexla-api"}, "NEXLA_API_URL"),
])
def test_missing_or_malformed_config_exits_3(run_script, env, needle):
    result = run_script("nexla_quickstart", env=env)
    assert result.code == 3
    assert needle in result.err and result.err.count("\n") == 1
    assert result.out == ""
    as_json = run_script("nexla_quickstart", "--json", env=env)
    assert as_json.code == 3 and as_json.json()["ok"] is False


def test_rejected_key_exits_4(run_script, sandbox):
    result = run_script("nexla_quickstart", "--json", env={"NEXLA_SERVICE_KEY": CANARY})
    assert result.code == 4
    assert "rejected NEXLA_SERVICE_KEY" in result.err
    assert result.json()["ok"] is False
    assert CANARY not in result.out + result.err
    tokens = [r for r in sandbox.control.requests() if r["path"] == "/token"]
    assert len(tokens) == 1  # a 401 is not retried


def test_unreachable_api_exits_6(run_script):
    url = closed_port_url()
    result = run_script("nexla_quickstart", "--json", "--max-attempts", "3", "--max-wait", "0.05",
                        env={"NEXLA_API_URL": url, "NEXLA_SERVICE_KEY": "some-key-1234"},
                        sandbox=False)
    assert result.code == 6
    assert f"cannot reach {url}: check NEXLA_API_URL" in result.err
    assert result.err.count("retrying in") == 2  # one line per retry, then the final error
    data = result.json()
    assert data["ok"] is False and data["api_url"] == url
    assert data["error"]["exit_code"] == 6 and data["error"]["kind"] == "transient"


def test_api_down_exits_6_after_exactly_n_attempts(run_script, sandbox):
    sandbox.control.add_fault(method="GET", path="^/users/current$", action="status",
                              status=503, times=100)
    result = run_script("nexla_quickstart", "--max-attempts", "3", "--max-wait", "0.05")
    assert result.code == 6
    assert len([r for r in sandbox.control.requests() if r["path"] == "/users/current"]) == 3


def test_sandbox_flag_works_on_a_fresh_directory(run_script, script_cwd):
    env = {"NEXLA_API_URL": None, "NEXLA_SERVICE_KEY": None}
    result = run_script("nexla_quickstart", "--sandbox", "--json", env=env, sandbox=False)
    assert result.code == 0, result.err
    assert "sandbox" in result.err
    data = result.json()
    assert data["ok"] is True and data["sandbox"] is True
    assert data["counts"] == DEMO_COUNTS
    assert data["api_url"].startswith("http://127.0.0.1:")
    assert all("--sandbox" in cmd for cmd in data["next_commands"])
    assert (script_cwd / ".nexla-sandbox" / "state.db").is_file()
    again = run_script("nexla_quickstart", "--sandbox-reset", env=env, sandbox=False)
    assert again.code == 0 and "reseeded" in again.err
    json.dumps(data)


def test_plain_command_works_with_a_dotenv(run_script, sandbox, script_cwd):
    """The seed's `python scripts/nexla_quickstart.py`, configured only by ./.env."""
    (script_cwd / ".env").write_text(f"NEXLA_API_URL={sandbox.url}\n"
                                     f"NEXLA_SERVICE_KEY={sandbox.service_key}\n")
    result = run_script("nexla_quickstart", env={"NEXLA_API_URL": None,
                                                 "NEXLA_SERVICE_KEY": None})
    assert result.code == 0, result.err
    assert "ada@demo.example" in result.out
    assert sandbox.service_key not in result.out + result.err
