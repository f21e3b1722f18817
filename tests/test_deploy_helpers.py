"""Shared helpers for the deploy_flow tests (this module holds no tests itself).

Applies run in-process through deploy_flow.main([...]) against the session sandbox, with short
retry waits; what they did is read back from the sandbox's request log and raw state.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from nexla_ops.commands import deploy_flow

KINDS = ("data_credentials", "data_sources", "data_sets", "data_sinks", "flows")
FAST = ["--max-attempts", "3", "--max-wait", "0.05", "--deadline", "20", "--timeout", "5"]

# The seed's minimal shape, unchanged, on the demo credentials 11 (s3) and 12 (postgres).
MINIMAL = {
    "credential_id": 11,
    "source": {
        "name": "orders-min-s3",
        "source_type": "s3",
        "data_credentials_id": 11,
        "source_config": {"path": "demo-bucket/orders/min/"},
    },
    "destination": {
        "name": "orders-min-warehouse",
        "sink_type": "postgres",
        "data_credentials_id": 12,
        "sink_config": {"table": "orders_min"},
    },
}

# Every feature at once: a credential created from an ${ENV:...} secret, a derived nexset with
# an inline transform, two destinations, activation.
FULL = {
    "name": "orders-full",
    "credentials": [
        {
            "name": "orders-full-pg",
            "credentials_type": "postgres",
            "credentials": {"host": "db.internal", "username": "loader",
                            "password": "${ENV:DEPLOY_TEST_PG_PASSWORD}"},
        },
        {"name": "orders-s3-cred"},
    ],
    "source": {
        "name": "orders-full-s3",
        "source_type": "s3",
        "credential": "orders-s3-cred",
        "source_config": {"path": "demo-bucket/orders/full/"},
    },
    "nexset": {
        "name": "orders-full-clean",
        "transform": {"version": 1, "operations": [
            {"operation": "shift", "spec": {"order_id": "id", "amount": "amount",
                                            "country": "country"}},
            {"operation": "modify-overwrite-beta", "spec": {"country": "=toUpper"}},
        ]},
    },
    "destinations": [
        {"name": "orders-full-warehouse", "sink_type": "postgres", "credential": "orders-full-pg",
         "sink_config": {"table": "orders_full"}},
        {"name": "orders-full-archive", "sink_type": "s3", "data_credentials_id": 11,
         "sink_config": {"path": "demo-bucket/archive/full/"}},
    ],
}
FULL_WRITES = [
    ("POST", "/data_credentials"),
    ("POST", "/data_sources"),
    ("POST", "/data_sets"),
    ("POST", "/data_sinks"),
    ("POST", "/data_sinks"),
    ("PUT", "/flows/ID/activate"),
]


def config(base: dict, **changes) -> dict:
    """A deep copy of base with dotted-path changes, e.g. **{"source.name": "x"}."""
    out = copy.deepcopy(base)
    for dotted, value in changes.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[parts[-1]] = value
    return out


def writes(requests) -> list[tuple[str, str]]:
    """(method, path) of every write: anything but GET, except fetching a token. Takes a
    request list or a deploy() result."""
    requests = getattr(requests, "requests", requests)
    return [(r["method"], r["path"]) for r in requests
            if r["method"] != "GET" and not r["path"].startswith("/token")]


def shape(path: str) -> str:
    return re.sub(r"/\d+", "/ID", path)


def snapshot(sandbox) -> dict[str, dict[int, dict]]:
    return {kind: {o["id"]: o for o in sandbox.control.state(kind)} for kind in KINDS}


def new_objects(sandbox, before: dict) -> dict[str, list[dict]]:
    now = snapshot(sandbox)
    return {kind: [o for i, o in now[kind].items() if i not in before[kind]] for kind in KINDS}


def assert_nothing_new(sandbox, before: dict) -> None:
    now = snapshot(sandbox)
    for kind in KINDS:
        assert set(now[kind]) == set(before[kind]), f"{kind}: {set(now[kind]) ^ set(before[kind])}"


def assert_complete_full(sandbox, before: dict) -> dict:
    """The FULL deployment exists exactly once, wired correctly and ACTIVE."""
    new = new_objects(sandbox, before)
    names = {kind: sorted(o.get("name") for o in new[kind]) for kind in KINDS if kind != "flows"}
    assert names["data_credentials"] == ["orders-full-pg"]
    assert names["data_sources"] == ["orders-full-s3"]
    assert names["data_sinks"] == ["orders-full-archive", "orders-full-warehouse"]
    assert len(new["data_sets"]) == 2 and "orders-full-clean" in names["data_sets"]
    assert len(new["flows"]) == 5  # source, detected, derived, two sinks
    (source,) = new["data_sources"]
    (derived,) = [n for n in new["data_sets"] if n["name"] == "orders-full-clean"]
    (detected,) = [n for n in new["data_sets"] if n["name"] != "orders-full-clean"]
    assert detected["data_source_id"] == source["id"]
    assert derived["parent_data_set_id"] == detected["id"]
    for sink in new["data_sinks"]:
        assert sink["data_set_id"] == derived["id"]
        assert isinstance(sink["data_set_id"], int)
    (cred,) = new["data_credentials"]
    warehouse = next(s for s in new["data_sinks"] if s["name"] == "orders-full-warehouse")
    assert warehouse["data_credentials_id"] == cred["id"]
    assert source["status"] == "ACTIVE"
    tag = "nexla-ops:deployment=orders-full"
    for kind in ("data_credentials", "data_sources", "data_sinks"):
        for obj in new[kind]:
            assert tag in obj.get("tags", []), (kind, obj.get("name"))
    assert tag in derived.get("tags", [])
    return new


@pytest.fixture
def deploy(sandbox, run_main, script_cwd, monkeypatch):
    """deploy(cfg_dict_or_path, *flags) -> conftest's ScriptResult plus `.requests`, the
    sandbox requests this run made. --json and fast retry flags are added."""
    monkeypatch.setenv("DEPLOY_TEST_PG_PASSWORD", "pg-secret-value")

    def run(cfg, *flags, json_flag=True, fast=True):
        if isinstance(cfg, dict):
            path = script_cwd / "deployment.json"
            path.write_text(json.dumps(cfg))
        else:
            path = Path(cfg)
        seen = len(sandbox.control.requests())
        res = run_main(deploy_flow, "--config", path, *(["--json"] if json_flag else []),
                       *(FAST if fast else []), *flags)
        res.requests = sandbox.control.requests()[seen:]
        return res

    return run


@pytest.fixture
def cli(run_main, sandbox):
    """cli(module, *argv) -> ScriptResult plus `.requests`, the sandbox requests it made; the
    fast retry flags are added."""

    def run(module, *argv):
        seen = len(sandbox.control.requests())
        res = run_main(module, *argv, *FAST)
        res.requests = sandbox.control.requests()[seen:]
        return res

    return run
