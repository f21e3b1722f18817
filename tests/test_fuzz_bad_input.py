"""Property-based fuzzing of every command's flags and input files (#13): bad input gets exit
2 (3 for configuration; health_check's Nagios UNKNOWN is 3), no traceback, no hang, one JSON
document with --json, and not a single write in the sandbox's request log.

Each case runs the command in-process (main(argv)) against the session's sandbox, in a thread
with a timeout, so a hang is reported instead of stalling the suite. FIGURES counts what the
cases found; the last test prints the table for the closing note and asserts the zeros.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, writes
from nexla_ops.commands import (
    async_task,
    batch_operations,
    check_nexset,
    contract_check,
    deploy_flow,
    flow_metrics,
    get_resource_logs,
    health_check,
    list_resources,
    manage_access,
    migrate_nexset,
    push_webhook,
    rotate_credential,
    triage,
    validate_transform,
)

FIGURES: Counter = Counter(dict.fromkeys(
    ["cases", "tracebacks", "wrong exit codes", "writes on bad input", "hangs",
     "missing JSON documents"], 0))
HANG_SECONDS = 20
EXAMPLES = 40  # per property; about 1,000 cases in all, well under two minutes
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

TRANSFORM = str(ROOT / "examples" / "transforms" / "clean.json")
DEPLOY = str(ROOT / "examples" / "deploy" / "minimal.json")
RULES = str(ROOT / "examples" / "contracts" / "orders-clean.rules.yaml")

# One ordinary invocation per command; a case replaces or adds one flag.
BASE = {
    "list_resources": (list_resources, ["--type", "flows"]),
    "async_task": (async_task, ["status", "--id", "1"]),
    "validate_transform": (validate_transform, ["--nexset", "123", "--transform-file",
                                                TRANSFORM]),
    "get_resource_logs": (get_resource_logs, ["--resource-type", "sources",
                                              "--resource-id", "123"]),
    "manage_access": (manage_access, ["--operation", "grant", "--resource-type", "sources",
                                      "--resource-id", "123", "--accessor-type", "USER",
                                      "--accessor-id", "2", "--role", "collaborator"]),
    "rotate_credential": (rotate_credential, ["--old", "11", "--new", "12"]),
    "push_webhook": (push_webhook, ["--source-id", "127", "--file", "{records}"]),
    "batch_operations": (batch_operations, ["pause", "--type", "flows", "--ids", "1001"]),
    "deploy_flow": (deploy_flow, ["--config", DEPLOY]),
    "health_check": (health_check, ["--all", "--state-file", "{tmp}/state.json"]),
    "contract_check": (contract_check, ["--endpoint", "GET /data_sources/{source}"]),
    "triage": (triage, ["--since", "24h"]),
    "flow_metrics": (flow_metrics, ["--flow", "1001"]),
    "check_nexset": (check_nexset, ["quality", "--rules", RULES]),
    "migrate_nexset": (migrate_nexset, ["--nexset", "223", "--transform-file", TRANSFORM,
                                        "--plan"]),
}
COMMON_NUMBERS = {"--timeout": "positive", "--max-attempts": "count", "--max-wait": "seconds",
                  "--deadline": "positive"}
OWN_NUMBERS = {
    "batch_operations": {"--concurrency": "count"},
    "push_webhook": {"--batch-size": "count", "--source-id": "id"},
    "validate_transform": {"--samples": "count", "--settle": "seconds", "--nexset": "id"},
    "health_check": {"--window": "count", "--lock-wait": "seconds", "--concurrency": "count",
                     "--flow": "id"},
    "async_task": {"--id": "id"},
    "rotate_credential": {"--old": "id", "--new": "id"},
    "get_resource_logs": {"--resource-id": "id"},
    "manage_access": {"--resource-id": "id"},
    "triage": {"--concurrency": "count", "--flow": "id"},
    "flow_metrics": {"--flow": "id"},
    "check_nexset": {"--samples": "count", "--concurrency": "count"},
    "migrate_nexset": {"--nexset": "id", "--samples": "count", "--destination": "id"},
}
INPUT_FILES = {
    "deploy_flow": "--config", "push_webhook": "--file", "validate_transform": "--transform-file",
    "manage_access": "--from-file", "batch_operations": "--ids-from",
    "health_check": "--config", "flow_metrics": "--sla", "check_nexset": "--rules",
    "migrate_nexset": "--transform-file",
}


def expected_codes(name: str) -> set[int]:
    return {3} if name == "health_check" else {2, 3}


def run_case(name: str, argv: list[str], sandbox, capsys, tmp: str) -> None:
    module, _ = BASE[name]
    argv = [a.replace("{tmp}", tmp).replace("{records}", f"{tmp}/records.jsonl") for a in argv]
    json_flag = ["--format", "json"] if name == "health_check" else ["--json"]
    sandbox.control.clear_requests()
    capsys.readouterr()
    outcome: dict = {}

    def target():
        try:
            outcome["code"] = module.main([*argv, *json_flag])
        except BaseException as exc:
            outcome["crash"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    FIGURES["cases"] += 1
    if thread.is_alive():
        FIGURES["hangs"] += 1
        pytest.fail(f"{name} {argv}: still running after {HANG_SECONDS}s")
    out, err = capsys.readouterr()
    sent = writes(sandbox)
    FIGURES["tracebacks"] += "Traceback" in err or "crash" in outcome
    FIGURES["wrong exit codes"] += outcome.get("code") not in expected_codes(name)
    FIGURES["writes on bad input"] += len(sent)
    assert "crash" not in outcome and "Traceback" not in err, (name, argv, err)
    assert outcome["code"] in expected_codes(name), (name, argv, outcome, err)
    assert sent == [], (name, argv, sent)
    try:
        doc = json.loads(out)
    except ValueError:
        FIGURES["missing JSON documents"] += 1
        raise AssertionError((name, argv, out)) from None
    assert doc.get("ok") is False, (name, argv, out)


def is_valid(kind: str, text: str) -> bool:
    """Whether `text` is a value the flag accepts (those are not bad input: skipped)."""
    if text != text.strip() or not text or "_" in text or len(text) > 40:
        return False
    try:
        value = int(text) if kind in ("count", "id") else float(text)
    except ValueError:
        return False
    if kind == "id":
        return text.isascii() and text.isdigit() and value > 0 and len(text) <= 19
    if value != value or value in (float("inf"), float("-inf")):
        return False
    low = {"positive": 0, "seconds": 0, "count": 1}[kind]
    high = 1e6 if kind == "count" else 1e8  # a superset of what each flag accepts
    return (value > low if kind == "positive" else value >= low) and value <= high


NASTY_NUMBERS = st.sampled_from(["inf", "-inf", "nan", "NaN", "1e309", "-1", "0", " 1", "1 ",
                                 "1\n", "", "1_000", "0x10", "9" * 5000, "²", "١", "1e400",
                                 "-0.0001", "+", "1.5.2"])
NUMBER_TEXT = st.one_of(NASTY_NUMBERS, st.text(max_size=30),
                        st.integers(min_value=-10**40, max_value=0).map(str),
                        st.integers(min_value=10**7, max_value=10**60).map(str))


def number_cases():
    return [(name, flag, kind) for name in BASE
            for flag, kind in {**COMMON_NUMBERS, **OWN_NUMBERS.get(name, {})}.items()]


@pytest.mark.parametrize("name, flag, kind", number_cases())
@FUZZ
@given(value=NUMBER_TEXT)
def test_bad_numbers_and_ids(sandbox, capsys, tmp_path, name, flag, kind, value):
    if is_valid(kind, value) or "\x00" in value:  # argv cannot hold NUL
        return
    (tmp_path / "records.jsonl").write_text('{"n": 1}\n')
    _, base = BASE[name]
    argv = list(base)
    if flag in argv and flag not in ("--flow",):
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    run_case(name, argv, sandbox, capsys, str(tmp_path))


# Contents no input file may hold: each is bad whatever the file is for.
BAD_CONTENT = st.one_of(
    st.binary(min_size=1, max_size=200).map(lambda b: b + b"\x00\xff"),  # binary, not UTF-8
    st.text(min_size=1, max_size=50).map(lambda t: t.encode("utf-16")),  # UTF-16 with a BOM
    st.integers(min_value=101, max_value=5000).map(
        lambda n: ("[" * n + "]" * n).encode()),  # nested too deep
    st.sampled_from([b'{"a": NaN}', b'{"a": Infinity}', b'[-Infinity]',
                     b'{"a": ' + b"9" * 5000 + b"}", b'{"a": 1e999}']),
    st.integers(min_value=6, max_value=12).map(
        lambda n: ("a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, "
            f"*a{i-1}, *a{i-1}]\n" for i in range(1, n))).encode()),  # alias bomb
)
SUFFIX = {"deploy_flow": ".yaml", "push_webhook": ".jsonl", "validate_transform": ".json",
          "manage_access": ".json", "batch_operations": ".txt", "health_check": ".yaml",
          "flow_metrics": ".yaml", "check_nexset": ".yaml", "migrate_nexset": ".json"}


def place(name: str, argv: list[str], flag: str, path: str) -> list[str]:
    argv = list(argv)
    if name == "manage_access":  # a bulk file replaces the single-change flags
        argv = ["--operation", "grant"]
    if name == "batch_operations":
        argv = ["pause", "--type", "flows"]
    if flag in argv:
        argv[argv.index(flag) + 1] = path
    else:
        argv += [flag, path]
    return argv


@pytest.mark.parametrize("name", sorted(INPUT_FILES))
@FUZZ
@given(content=BAD_CONTENT, yaml_like=st.booleans())
def test_bad_input_files(sandbox, capsys, tmp_path, name, content, yaml_like):
    (tmp_path / "records.jsonl").write_text('{"n": 1}\n')
    path = tmp_path / f"input{'.yaml' if yaml_like and name != 'push_webhook' else SUFFIX[name]}"
    path.write_bytes(content)
    _, base = BASE[name]
    run_case(name, place(name, base, INPUT_FILES[name], str(path)), sandbox, capsys,
             str(tmp_path))


@pytest.mark.parametrize("name", sorted(INPUT_FILES))
@pytest.mark.parametrize("special", ["fifo", "directory", "/dev/zero", "missing", "oversized"])
def test_input_files_that_are_not_regular_files_or_too_big(sandbox, capsys, tmp_path,
                                                         monkeypatch, name, special):
    (tmp_path / "records.jsonl").write_text('{"n": 1}\n')
    path = str(tmp_path / f"input{SUFFIX[name]}")
    if special == "fifo":
        os.mkfifo(path)
    elif special == "directory":
        os.mkdir(path)
    elif special == "/dev/zero":
        path = "/dev/zero"
    elif special == "oversized":
        monkeypatch.setenv("NEXLA_OPS_MAX_INPUT_BYTES", "1000")
        with open(path, "w") as handle:
            handle.write("#" * 5000)
    _, base = BASE[name]
    run_case(name, place(name, base, INPUT_FILES[name], path), sandbox, capsys, str(tmp_path))


ENV_FILES = st.one_of(st.binary(min_size=1, max_size=100).map(lambda b: b"\xff\x00" + b),
                      st.text(min_size=1, max_size=30).map(lambda t: t.encode("utf-16")))
BAD_URLS = st.one_of(
    st.sampled_from(["http://[::1", "ftp://example.invalid", "http://", "://x", "http://h:99999",
                     "http://h:port", "http://a b", "javascript:alert(1)"]),
    st.text(min_size=1, max_size=20).filter(
        lambda t: t.strip() and not t.startswith(("http://", "https://"))),
)


@pytest.mark.parametrize("name", sorted(BASE))
@FUZZ
@given(content=ENV_FILES, url=BAD_URLS, use_url=st.booleans())
def test_bad_configuration_is_exit_3(sandbox, capsys, tmp_path, name, content, url, use_url):
    if "\x00" in url:
        return
    (tmp_path / "records.jsonl").write_text('{"n": 1}\n')
    _, base = BASE[name]
    if use_url:
        extra = [f"--api-url={url}"]
    else:
        env = tmp_path / "bad.env"
        env.write_bytes(content)
        extra = ["--env-file", str(env)]
    before = dict(FIGURES)
    run_case(name, [*base, *extra], sandbox, capsys, str(tmp_path))
    assert FIGURES["cases"] == before.get("cases", 0) + 1


@FUZZ
@given(pattern=st.text(min_size=1, max_size=40))
def test_contract_check_endpoint_patterns_that_match_nothing(sandbox, capsys, tmp_path,
                                                             pattern):
    from nexla_ops.contract.catalogue import select

    if "\x00" in pattern or select(pattern):
        return
    run_case("contract_check", ["--endpoint", pattern], sandbox, capsys, str(tmp_path))


@pytest.mark.parametrize("target", ["file", "fifo", "/dev/null", "under a file"])
def test_contract_check_record_needs_a_directory(sandbox, capsys, tmp_path, target):
    path = tmp_path / "shapes"
    if target == "file":
        path.write_text("mine\n")
    elif target == "fifo":
        os.mkfifo(path)
    elif target == "/dev/null":
        path = "/dev/null"
    else:
        path.write_text("mine\n")
        path = path / "inner"
    run_case("contract_check", ["--endpoint", "GET /limits", "--record", str(path)], sandbox,
             capsys, str(tmp_path))
    if target == "file":
        assert (tmp_path / "shapes").read_text() == "mine\n"  # never replaced


SANDBOX_NUMBERS = {"--latency-ms": ("seconds", 86_400_000),
                   "--discovery-delay": ("seconds", 86_400),
                   "--max-per-page": ("count", 1_000_000), "--port": ("port", 65_535)}


@pytest.mark.parametrize("flag", sorted(SANDBOX_NUMBERS))
@FUZZ
@given(value=NUMBER_TEXT)
def test_sandbox_cli_refuses_bad_numbers(capsys, flag, value):
    """python -m nexla_sandbox: a bad number is exit 2 with one error line, before anything
    listens (a valid value would start a server, so those are skipped)."""
    from nexla_sandbox.__main__ import main as sandbox_main

    kind, high = SANDBOX_NUMBERS[flag]
    if "\x00" in value:  # argv cannot hold NUL
        return
    try:  # what argparse's type= makes of it
        number = float(value) if kind == "seconds" else int(value)
    except ValueError:
        number = None
    if number is not None and (1 if kind == "count" else 0) <= number <= high:
        return  # a usable value (NaN fails both comparisons)
    capsys.readouterr()
    try:
        code = sandbox_main([flag, value, "--port", "1"] if flag != "--port" else [flag, value])
    except SystemExit as exc:  # argparse: not a number at all
        code = exc.code
    FIGURES["cases"] += 1
    _, err = capsys.readouterr()
    FIGURES["tracebacks"] += "Traceback" in err
    FIGURES["wrong exit codes"] += code != 2
    assert code == 2 and "Traceback" not in err, (flag, value, code, err)
    assert err.strip().splitlines()[-1].startswith(("error:", "python -m nexla_sandbox: error:"))


def test_zz_figures(capsys):
    """The closing note's table: every figure but the case count must be 0."""
    with capsys.disabled():
        print("\nfuzz figures: " + ", ".join(f"{k} {v}" for k, v in sorted(FIGURES.items())))
    assert FIGURES["cases"] > 0
    assert {k: v for k, v in FIGURES.items() if k != "cases" and v} == {}
