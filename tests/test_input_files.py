"""Input files and settings that are not what they claim are bad input, never a hang or an
internal error: nexla_ops.load_structured_file, the .env reader and validate_api_url."""

from __future__ import annotations

import argparse
import contextlib
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nexla_ops
from nexla_ops import files


def _bad(path, match):
    with pytest.raises(nexla_ops.BadInput, match=match):
        nexla_ops.load_structured_file(path)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    _bad(fifo, "not a regular file")  # a blocking open would hang here (pytest's timeout)


def test_devices_and_directories_are_refused(tmp_path):
    _bad("/dev/zero", "not a regular file")
    _bad(tmp_path, "a directory")


def test_the_size_limit_and_its_variable(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"pad": "x" * 2000}))
    monkeypatch.setenv(files.MAX_INPUT_ENV, "1000")
    _bad(path, "over the 1000-byte limit .raise it with NEXLA_OPS_MAX_INPUT_BYTES")
    monkeypatch.setenv(files.MAX_INPUT_ENV, "100000")
    assert nexla_ops.load_structured_file(path)["pad"] == "x" * 2000
    monkeypatch.setenv(files.MAX_INPUT_ENV, "lots")
    _bad(path, "NEXLA_OPS_MAX_INPUT_BYTES: expected a positive number of bytes")


def test_binary_and_utf16_files_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_bytes("a: 1\n".encode("utf-16"))
    (tmp_path / "b.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    _bad(tmp_path / "a.yaml", "binary data|not UTF-8")
    _bad(tmp_path / "b.yaml", "binary data")


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    _bad(tmp_path / "bomb.yaml", "alias bomb|aliases")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deep_nesting_is_refused(tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    path.write_text("[" * 5000 + "]" * 5000)
    _bad(path, "nested more than 100 levels")


@pytest.mark.parametrize("text, suffix", [
    ('{"a": 1e400}', ".json"), ('{"a": NaN}', ".json"), ('{"a": Infinity}', ".json"),
    ("a: .inf", ".yaml"), ("a: .nan", ".yaml"), ('{"a": ' + "9" * 5000 + "}", ".json"),
    ("a: " + "9" * 5000, ".yaml"), ("a: " + "9" * 40, ".yaml")])
def test_non_finite_and_huge_numbers_are_refused(tmp_path, text, suffix):
    path = tmp_path / f"n{suffix}"
    path.write_text(text)
    _bad(path, "finite|out of range|digits")


def test_a_binary_env_file_is_a_configuration_error(tmp_path):
    env = tmp_path / "bin.env"
    env.write_bytes(b"\xff\xfeN\x00=\x00")
    with pytest.raises(nexla_ops.ConfigError, match="not a UTF-8 text file"):
        nexla_ops.resolve_config(argparse.Namespace(env_file=str(env)), environ={})


@pytest.mark.parametrize("url", ["http://[::1", "http://host:99999/x", "http://h:abc/",
                                 "ftp://x", "http://a b/", "http://", "https://x\n/y"])
def test_malformed_api_urls_are_configuration_errors(url):
    with pytest.raises(nexla_ops.ConfigError, match="not a valid http"):
        nexla_ops.validate_api_url(url)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_any_api_url_is_valid_or_a_configuration_error(url):
    with contextlib.suppress(nexla_ops.ConfigError):
        assert nexla_ops.validate_api_url(url).startswith(("http://", "https://"))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".json", ".yaml", ".yml", ""]))
def test_any_file_content_loads_or_is_bad_input(tmp_path, data, suffix):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    try:
        nexla_ops.load_structured_file(path)
    except nexla_ops.BadInput as err:
        assert "\n" not in err.message
