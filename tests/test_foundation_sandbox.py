"""--sandbox: an in-process sandbox whose state persists in .nexla-sandbox/state.db (cwd)."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import pytest

import nexla_ops
from test_foundation import flags


@pytest.fixture
def fresh_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in nexla_ops.ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def names(ctx):
    return {s["name"] for s in ctx.paginate("/data_sources")}


def port_is_open(url):
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


def test_state_persists_across_runs_and_reset_reseeds(fresh_dir, caplog):
    ctx = nexla_ops.Context(flags(sandbox=True))
    with caplog.at_level(logging.INFO, logger="nexla_ops"):
        assert ctx.config.sandbox is True
    assert "using the local sandbox" in caplog.text
    ctx.request("POST", "/data_sources", json={"name": "kept-between-runs", "source_type": "s3",
                                              "data_credentials_id": 11})
    url = ctx.config.api_url
    ctx.close()
    assert not port_is_open(url)  # the server stops with the command
    assert (fresh_dir / ".nexla-sandbox" / "state.db").is_file()

    ctx = nexla_ops.Context(flags(sandbox=True))
    assert "kept-between-runs" in names(ctx)
    ctx.close()

    ctx = nexla_ops.Context(flags(sandbox_reset=True))  # implies --sandbox
    found = names(ctx)
    ctx.close()
    assert "kept-between-runs" not in found and "orders-s3" in found


def test_sandbox_ignores_configured_real_credentials(fresh_dir, monkeypatch):
    monkeypatch.setenv("NEXLA_API_URL", "http://127.0.0.1:9/not-used")
    monkeypatch.setenv("NEXLA_SERVICE_KEY", "a-real-key-that-must-not-be-sent")
    ctx = nexla_ops.Context(flags(sandbox=True))
    try:
        assert ctx.config.api_url == ctx.sandbox.url
        assert ctx.current_user()["email"] == "ada@demo.example"
    finally:
        ctx.close()
