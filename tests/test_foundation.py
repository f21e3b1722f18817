"""nexla_ops without a server: configuration, redaction, output, files, parsing, exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import json
import os
import subprocess
import sys

import pytest

import nexla_ops
from conftest import CANARY, SCRIPTS


def flags(**kw):
    """An argparse namespace as add_common_args would produce it (unset flags are None)."""
    parser = argparse.ArgumentParser()
    nexla_ops.add_common_args(parser)
    args = parser.parse_args([])
    for key, value in kw.items():
        setattr(args, key, value)
    return args


# -- configuration ---------------------------------------------------------------------------

def test_precedence_flag_env_dotenv_default(tmp_path):
    (tmp_path / ".env").write_text("NEXLA_API_URL=http://127.0.0.1:1/from-dotenv\n"
                                   "NEXLA_TIMEOUT=7\nNEXLA_MAX_ATTEMPTS=9\n"
                                   "NEXLA_SERVICE_KEY=key-from-dotenv\n")
    env = {"NEXLA_TIMEOUT": "8", "NEXLA_MAX_ATTEMPTS": "3"}
    config = nexla_ops.resolve_config(flags(max_attempts=2), environ=env, cwd=str(tmp_path))
    assert config.api_url == "http://127.0.0.1:1/from-dotenv"  # .env beats the default
    assert config.timeout == 8.0  # environment beats .env
    assert config.max_attempts == 2  # flag beats environment
    assert config.max_wait == 30.0 and config.deadline == 300.0  # defaults
    assert config.service_key.get_secret_value() == "key-from-dotenv"
    assert config.origins == {"api_url": ".env", "timeout": "environment", "max_attempts": "flag",
                              "max_wait": "default", "deadline": "default",
                              "service_key": ".env"}


def test_dotenv_is_not_loaded_into_os_environ(tmp_path, monkeypatch):
    monkeypatch.delenv("NEXLA_SERVICE_KEY", raising=False)
    (tmp_path / ".env").write_text("NEXLA_SERVICE_KEY=only-in-file\n")
    config = nexla_ops.resolve_config(flags(), cwd=str(tmp_path))
    assert config.service_key.get_secret_value() == "only-in-file"
    assert "NEXLA_SERVICE_KEY" not in os.environ


def test_env_file_flag_replaces_cwd_dotenv(tmp_path):
    (tmp_path / ".env").write_text("NEXLA_API_URL=http://127.0.0.1:1/cwd\n")
    other = tmp_path / "prod.env"
    other.write_text("NEXLA_API_URL=http://127.0.0.1:1/prod\n")
    config = nexla_ops.resolve_config(flags(env_file=str(other)), environ={},
                                      cwd=str(tmp_path))
    assert config.api_url == "http://127.0.0.1:1/prod"
    with pytest.raises(nexla_ops.ConfigError) as err:
        nexla_ops.resolve_config(flags(env_file=str(tmp_path / "missing.env")), environ={})
    assert err.value.exit_code == 3 and "missing.env" in err.value.message


def test_env_setting_environment_then_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEXLA_WEBHOOK_API_KEY", raising=False)
    assert nexla_ops.env_setting("NEXLA_WEBHOOK_API_KEY") is None
    (tmp_path / ".env").write_text("NEXLA_WEBHOOK_API_KEY=from-cwd\n")
    (tmp_path / "prod.env").write_text("NEXLA_WEBHOOK_API_KEY=from-prod\n")
    assert nexla_ops.env_setting("NEXLA_WEBHOOK_API_KEY") == "from-cwd"
    assert nexla_ops.env_setting("NEXLA_WEBHOOK_API_KEY", flags(env_file="prod.env")) == "from-prod"
    monkeypatch.setenv("NEXLA_WEBHOOK_API_KEY", "from-env")
    assert nexla_ops.env_setting("NEXLA_WEBHOOK_API_KEY", flags(env_file="prod.env")) == "from-env"


@pytest.mark.parametrize("url", ["dataops.nexla.io/nexla-api", "ftp://example.test/api",
                                 "http://", "https:///nexla-api", "not a url"])
def test_malformed_api_url_is_a_config_error(url, tmp_path):
    with pytest.raises(nexla_ops.ConfigError) as err:
        nexla_ops.resolve_config(flags(), environ={"NEXLA_API_URL": url}, cwd=str(tmp_path))
    assert err.value.exit_code == 3
    assert "NEXLA_API_URL" in err.value.message


def test_trailing_slash_is_dropped(tmp_path):
    config = nexla_ops.resolve_config(flags(api_url="http://127.0.0.1:5/nexla-api/"),
                                      environ={}, cwd=str(tmp_path))
    assert config.api_url == "http://127.0.0.1:5/nexla-api"


def test_service_key_wins_over_token_with_a_warning(tmp_path, caplog):
    env = {"NEXLA_SERVICE_KEY": "svc-key-1234", "NEXLA_ACCESS_TOKEN": "tok-5678"}
    with caplog.at_level("WARNING", logger="nexla_ops"):
        config = nexla_ops.resolve_config(flags(), environ=env, cwd=str(tmp_path))
    assert config.auth_mode == "service_key"
    assert config.access_token is None
    assert "using the service key" in caplog.text


def test_bad_numeric_setting_names_its_source(tmp_path):
    with pytest.raises(nexla_ops.ConfigError) as err:
        nexla_ops.resolve_config(flags(), environ={"NEXLA_TIMEOUT": "soon"}, cwd=str(tmp_path))
    assert err.value.exit_code == 3 and "NEXLA_TIMEOUT" in err.value.message
    with pytest.raises(nexla_ops.BadInput) as err:
        nexla_ops.resolve_config(flags(max_attempts=0), environ={}, cwd=str(tmp_path))
    assert err.value.exit_code == 2 and "--max-attempts" in err.value.message


def test_missing_credentials_name_both_variables(tmp_path):
    config = nexla_ops.resolve_config(flags(), environ={}, cwd=str(tmp_path))
    with pytest.raises(nexla_ops.ConfigError) as err:
        nexla_ops.build_client(config)
    assert err.value.exit_code == 3
    assert "NEXLA_SERVICE_KEY" in err.value.message
    assert "NEXLA_ACCESS_TOKEN" in err.value.message


def test_client_has_sdk_retries_off_and_our_timeout(tmp_path):
    config = nexla_ops.resolve_config(flags(timeout=4.5), cwd=str(tmp_path), environ={
        "NEXLA_API_URL": "http://127.0.0.1:1/nexla-api", "NEXLA_SERVICE_KEY": "svc-key-1234"})
    client = nexla_ops.build_client(config)
    adapter = client.http_client.session.get_adapter("http://127.0.0.1:1/")
    assert adapter.max_retries.total == 0
    assert client.http_client.timeout == 4.5
    assert client.api_url == "http://127.0.0.1:1/nexla-api"


def test_config_never_shows_secrets(tmp_path):
    config = nexla_ops.resolve_config(flags(), cwd=str(tmp_path), environ={
        "NEXLA_API_URL": "http://127.0.0.1:1", "NEXLA_SERVICE_KEY": CANARY})
    assert CANARY not in repr(config) and CANARY not in str(config)
    assert CANARY not in nexla_ops.dumps(config)


def test_there_are_no_secret_flags():
    parser = argparse.ArgumentParser()
    nexla_ops.add_common_args(parser)
    options = {opt for action in parser._actions for opt in action.option_strings}
    assert not {o for o in options if "key" in o or "token" in o}


def test_timeout_flag_can_be_left_to_the_script():
    parser = argparse.ArgumentParser()
    nexla_ops.add_common_args(parser, timeout_flag=False)
    parser.add_argument("--timeout", dest="check_timeout", type=float)
    args = parser.parse_args(["--timeout", "5"])
    assert args.check_timeout == 5 and getattr(args, "timeout", None) is None


def test_env_example_lists_every_variable():
    text = (SCRIPTS.parent / ".env.example").read_text()
    for var in nexla_ops.ENV_VARS.values():
        assert f"{var}=" in text


# -- redaction -------------------------------------------------------------------------------

def test_redact_structures_by_key():
    data = {"name": "orders", "password": "p4ss", "apiKey": "k1", "service_key": "k2",
            "private_key": "k3", "access_key": "k4", "client_secret": "k5",
            "primary_key": "order_id", "credentials": {"user": "bob", "port": 5432},
            "counts": {"credentials": 4}, "samples": {"credentials": [11, 12]},
            "api_keys": [{"id": 9, "api_key": "hook-key-1", "url": "http://127.0.0.1/w"}],
            "headers": {"Authorization": "Bearer abc.def.123"}, "token": None}
    out = nexla_ops.redact(data)
    assert out["name"] == "orders" and out["primary_key"] == "order_id"
    for key in ("password", "apiKey", "service_key", "private_key", "access_key",
                "client_secret"):
        assert out[key] == nexla_ops.REDACTED, key
    assert out["credentials"] == {"user": nexla_ops.REDACTED, "port": nexla_ops.REDACTED}
    assert out["api_keys"] == [{"id": 9, "api_key": nexla_ops.REDACTED,
                                "url": "http://127.0.0.1/w"}]
    assert out["headers"]["Authorization"] == nexla_ops.REDACTED
    assert out["counts"] == {"credentials": 4} and out["samples"] == {"credentials": [11, 12]}
    assert out["token"] is None  # "not set" stays visible


@pytest.mark.parametrize("text,secret", [
    ('{"password": "hunter2", "x": 1}', "hunter2"),
    ("{'client_secret': 'abc'}", "abc"),
    ("GET http://127.0.0.1/hook?api_key=zz-top-99&x=1", "zz-top-99"),
    ("Authorization: Basic c2VydmljZS1rZXk=", "c2VydmljZS1rZXk="),
    ("sent Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("postgres://admin:s3cr3t@db.local/x", "s3cr3t"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
])
def test_redact_text_patterns(text, secret):
    assert secret not in nexla_ops.redact(text)


def test_redact_leaves_prose_alone():
    for text in ("POST /token: attempt 1/5 failed", "basic authentication failed",
                 "Resource not found: data_sources/123", "token_count is 5"):
        assert nexla_ops.redact(text) == text


def test_registered_secret_is_removed_everywhere():
    nexla_ops.register_secret(CANARY)
    assert CANARY not in nexla_ops.redact(f"error: key {CANARY} rejected")
    assert CANARY not in json.dumps(nexla_ops.redact({"note": [f"x{CANARY}y"]}))


def test_terminal_control_zero_width_and_bidi_are_stripped():
    text = "ok\x1b[2J\x1b]0;title\x07 name\u200b\u202eevil\u2066 \x07bell\r\ttab\nline"
    assert nexla_ops.redact(text) == "ok nameevil bell\ttab\nline"
    assert nexla_ops.redact({"na\u200bme": "v\x1b[31m"}) == {"name": "v"}


# -- output, files, parsing ------------------------------------------------------------------

class Colour(enum.Enum):
    RED = "red"


def test_to_jsonable_models_datetimes_enums():
    from pydantic import BaseModel, SecretStr

    class Thing(BaseModel):
        when: dt.datetime
        secret: SecretStr

    value = {"t": Thing(when=dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc),
                        secret=SecretStr(CANARY)),
             "d": dt.date(2024, 5, 1), "c": Colour.RED, "s": {2, 1}, "b": b"x"}
    out = nexla_ops.to_jsonable(value)
    assert out["t"]["when"] == "2024-05-01T10:00:00Z"
    assert CANARY not in json.dumps(out)
    assert out["d"] == "2024-05-01" and out["c"] == "red" and out["s"] == [1, 2]
    json.dumps(out)


def test_emit_formats(capsys):
    rows = [{"id": 1, "name": "a", "password": "x"}, {"id": 2, "name": "b\x1b[31m"}]
    nexla_ops.emit(rows, "json")
    assert json.loads(capsys.readouterr().out)[0]["password"] == nexla_ops.REDACTED
    nexla_ops.emit(iter(rows), "jsonl")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2]
    nexla_ops.emit(rows, "text")
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["ID", "NAME", "PASSWORD"] and "\x1b" not in text


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "out.json"
    nexla_ops.write_atomic(target, "first")
    nexla_ops.write_atomic(target, "second\n")
    assert target.read_text() == "second\n"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temp leftovers


def test_append_jsonl_is_redacted(tmp_path):
    path = tmp_path / "audit.jsonl"
    nexla_ops.register_secret(CANARY)
    nexla_ops.append_jsonl(path, {"op": "grant", "token": "t0k3n", "note": CANARY})
    nexla_ops.append_jsonl(path, {"op": "revoke"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["op"] for line in lines] == ["grant", "revoke"]
    assert CANARY not in path.read_text() and "t0k3n" not in path.read_text()


def test_lock_file_excludes_until_closed(tmp_path):
    path = tmp_path / "run.lock"
    waits = []
    with nexla_ops.lock_file(path) as held:
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(nexla_ops.LockBusy) as busy:
            nexla_ops.lock_file(path, wait=0.2, on_wait=waits.append)
        assert busy.value.exit_code == nexla_ops.EXIT_TRANSIENT and str(path) in busy.value.message
        assert waits and waits == sorted(waits) and waits[-1] < 0.2
    assert held.closed
    nexla_ops.lock_file(path).close()  # released: free again at once


def test_parse_id():
    assert nexla_ops.parse_id(" 42 ", "--id") == 42 and nexla_ops.parse_id(7, "row 1: id") == 7
    for value in (None, "", "0", "-3", "4.5", "abc", True, "\u00b2", 0):
        with pytest.raises(nexla_ops.BadInput) as err:
            nexla_ops.parse_id(value, "--resource-id")
        assert err.value.message.startswith("--resource-id: expected a positive integer id")


@pytest.mark.parametrize("text,seconds", [("90", 90), ("30s", 30), ("15m", 900), ("2h", 7200),
                                          ("1d", 86400), ("1h30m", 5400), (2.5, 2.5)])
def test_parse_duration(text, seconds):
    assert nexla_ops.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "-3", "1h-2m", "1h30"])
def test_parse_duration_rejects(text):
    with pytest.raises(nexla_ops.BadInput) as err:
        nexla_ops.parse_duration(text, field="--max-age")
    assert "--max-age" in err.value.message


def test_parse_time():
    now = dt.datetime(2024, 5, 2, tzinfo=dt.timezone.utc)
    assert nexla_ops.parse_time("1d", now=now) == dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    assert nexla_ops.parse_time("2024-05-01T10:00:00Z").hour == 10
    assert nexla_ops.parse_time("2024-05-01").tzinfo is not None
    assert nexla_ops.parse_time("1714557600") == nexla_ops.parse_time("1714557600000") == \
        dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)
    with pytest.raises(nexla_ops.BadInput):
        nexla_ops.parse_time("yesterday", field="--since")


def test_api_time_reads_api_shapes_and_never_raises():
    moment = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone.utc)
    for value in ("2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00",
                  1714557600, 1714557600000, "1714557600000", 1714557600.0):
        assert nexla_ops.api_time(value) == moment, value
    for value in (None, "", True, "soon", "30m", 10**30):
        assert nexla_ops.api_time(value) is None, value


def test_load_structured_file(tmp_path):
    (tmp_path / "a.json").write_text('{"a": 1}')
    (tmp_path / "b.yaml").write_text("b: [1, 2]\n")
    (tmp_path / "bad.json").write_text('{"a": 1,,}')
    (tmp_path / "bad.yml").write_text("a: [1\n")
    (tmp_path / "latin1.yaml").write_bytes(b"a: caf\xe9\n")
    assert nexla_ops.load_structured_file(tmp_path / "a.json") == {"a": 1}
    assert nexla_ops.load_structured_file(tmp_path / "b.yaml") == {"b": [1, 2]}
    for name in ("bad.json", "bad.yml", "missing.json", "latin1.yaml"):
        with pytest.raises(nexla_ops.BadInput) as err:
            nexla_ops.load_structured_file(tmp_path / name)
        assert name in err.value.message


# -- main_wrapper ----------------------------------------------------------------------------

def _parser():
    parser = argparse.ArgumentParser(prog="t.py")
    nexla_ops.add_common_args(parser)
    return parser


def test_main_wrapper_maps_errors_to_one_redacted_line(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEXLA_SERVICE_KEY", CANARY)
    monkeypatch.setenv("NEXLA_API_URL", "http://127.0.0.1:1/nexla-api")

    def run(args, ctx):
        _ = ctx.config
        raise RuntimeError(f"boom while using {CANARY}")

    assert nexla_ops.main_wrapper(run, _parser(), []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "Traceback" not in err
    assert CANARY not in err
    assert nexla_ops.main_wrapper(run, _parser(), ["--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and CANARY not in err


@pytest.mark.parametrize("exc,code", [(nexla_ops.BadInput("--limit: bad"), 2),
                                      (nexla_ops.ConfigError("no key"), 3),
                                      (nexla_ops.NotFound("gone"), 5),
                                      (nexla_ops.Transient("later"), 6),
                                      (nexla_ops.Partial("left", leftovers=[{"id": 1}]), 7)])
def test_main_wrapper_exit_codes(exc, code, capsys):
    def run(args, ctx):
        raise exc

    assert nexla_ops.main_wrapper(run, _parser(), []) == code
    assert capsys.readouterr().err.strip().endswith(exc.message)


def test_main_wrapper_failure_kinds_and_usage_errors(capsys):
    assert nexla_ops.main_wrapper(lambda a, c: 3, _parser(), ["--json"],
                                  failure_kinds={3: "unknown"}) == 3
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "unknown"
    assert nexla_ops.main_wrapper(lambda a, c: None, _parser(), ["--help"]) == 0
    assert nexla_ops.main_wrapper(lambda a, c: None, _parser(), ["--bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--bogus" in err  # one line, not the usage text


def test_import_is_light():
    code = ("import sys; sys.path.insert(0, 'scripts'); import nexla_ops; "
            "print(sorted(m for m in ('nexla_sdk', 'pydantic', 'tenacity', 'dotenv', 'requests')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=SCRIPTS.parent, capture_output=True,
                         text=True, timeout=30).stdout
    assert out.strip() == "[]"
