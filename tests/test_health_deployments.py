"""health_check --deployments DIR: each deployment file planned read-only against the sandbox
over real HTTP. In sync is OK, drift WARNING (naming the field), a file that cannot be
checked UNKNOWN; every output format; bad --deployments values; FIFOs and devices that must
not hang the run; secrets; and a fuzz of directory contents."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

import deploy_flow
import export_flow
from conftest import CANARY, ROOT, writes
from test_deploy_helpers import FAST

ORDERS = "orders-s3"  # flow 1001's deployment name: its source's, as exported
CUSTOMERS = "customers-postgres"  # flow 1002's


@pytest.fixture
def deployments(run_main, script_cwd):
    """A directory with flows 1001 and 1002 exported and adopted (in sync). Returns the dir."""
    directory = script_cwd / "deployments"
    directory.mkdir()
    for flow_id, name in ((1001, "orders.yaml"), (1002, "customers.json")):
        path = directory / name
        assert run_main(export_flow, "--flow-id", flow_id, "--output", path).code == 0
        adopted = run_main(deploy_flow, "--config", path, "--adopt", *FAST)
        assert adopted.code == 0, adopted.err
    return directory


def rename_destination(sdk_client, new_name="orders-wh-renamed"):
    """Drift made the way it happens: someone renames flow 1001's destination in the UI."""
    sdk_client.request("PUT", "/data_sinks/301", json={"name": new_name})


RENAMED_LINE = (f'WARNING  deployment {ORDERS}: data_sinks orders-warehouse name: '
                '"orders-wh-renamed" -> "orders-warehouse"')


# ------------------------------------------------------------------ states and exit codes


def test_exported_and_adopted_deployments_are_ok_and_nothing_is_written(hc, deployments,
                                                                         sandbox):
    sandbox.control.clear_requests()
    result = hc("--deployments", deployments)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[:2] == [f"OK       deployment {CUSTOMERS}: in sync (customers.json)",
                         f"OK       deployment {ORDERS}: in sync (orders.yaml)"]
    assert lines[2].startswith("OK: 2 deployments checked in ")
    assert lines[2].endswith(": 0 drifted, 0 unknown, 2 in sync") and len(lines) == 3
    assert result.err == ""
    assert writes(sandbox) == []  # a health check only reads
    assert not any(r["path"].endswith("/probe") for r in sandbox.control.requests())


def test_renamed_destination_is_warning_naming_the_field(hc, deployments, sdk_client, sandbox):
    rename_destination(sdk_client)
    sandbox.control.clear_requests()
    result = hc("--deployments", deployments)
    assert result.code == 1, result.out
    assert RENAMED_LINE in result.out.splitlines()
    assert f"OK       deployment {CUSTOMERS}: in sync (customers.json)" in result.out
    assert result.out.splitlines()[-1].endswith(": 1 drifted, 0 unknown, 1 in sync")
    assert writes(sandbox) == []


def test_an_export_not_yet_adopted_is_unknown_and_says_to_adopt(hc, run_main, script_cwd):
    directory = script_cwd / "fresh"
    directory.mkdir()
    assert run_main(export_flow, "--flow-id", 1003, "--output", directory / "events.yaml").code == 0
    result = hc("--deployments", directory)
    assert result.code == 3
    [line] = [line for line in result.out.splitlines() if line.startswith("UNKNOWN  deployment")]
    assert "not managed by this deployment" in line and "--adopt" in line


def test_a_broken_file_is_unknown_for_that_file_only(hc, deployments, sdk_client):
    (deployments / "broken.yaml").write_text("source: [unclosed\n")
    (deployments / "wrong.json").write_text(json.dumps({"source": {"name": 5}}))
    # Half a UTF-16 pair: printed, it would end the whole report with an encoding error.
    (deployments / "half.yaml").write_text('source: {name: "\\ud800"}\n')
    result = hc("--deployments", deployments)
    assert result.code == 3, result.out  # the others are in sync: the broken ones decide
    lines = result.out.splitlines()
    assert lines[0].startswith("UNKNOWN  deployment file broken.yaml: cannot check: ")
    assert "invalid YAML" in lines[0]
    assert f"OK       deployment {ORDERS}: in sync (orders.yaml)" in lines
    [wrong] = [line for line in lines if "wrong.json" in line]
    assert wrong.startswith("UNKNOWN  deployment file wrong.json: cannot check: invalid config")
    [half] = [line for line in lines if "half.yaml" in line]
    assert half.endswith("a string holds a lone surrogate escape (\\ud800-\\udfff); expected "
                         "Unicode text")
    assert lines[-1].endswith(": 0 drifted, 3 unknown, 2 in sync")

    rename_destination(sdk_client)  # WARNING outranks UNKNOWN, as for flows
    assert hc("--deployments", deployments).code == 1


def test_files_that_are_not_regular_or_readable_are_reported_without_hanging(
        hc, deployments, monkeypatch):
    os.mkfifo(deployments / "pipe.yaml")  # opened for reading, it would wait for a writer
    (deployments / "zero.yml").symlink_to("/dev/zero")  # read, it would never end
    (deployments / "gone.json").symlink_to(deployments / "nowhere.json")
    (deployments / "sub.yaml").mkdir()
    (deployments / "binary.json").write_bytes(b"\x00\xff" * 50)
    (deployments / "big.yaml").write_text("#" * 5000)
    monkeypatch.setenv("NEXLA_OPS_MAX_INPUT_BYTES", "4000")
    started = time.monotonic()
    result = hc("--deployments", deployments, "--format", "json")
    assert time.monotonic() - started < 10
    assert result.code == 3
    reasons = {os.path.basename(d["path"]): d["error"] for d in json.loads(result.out)["deployments"]}
    assert "not a regular file" in reasons["pipe.yaml"]
    assert "not a regular file" in reasons["zero.yml"]
    assert "cannot read file" in reasons["gone.json"]
    assert "a directory" in reasons["sub.yaml"]
    assert "binary data" in reasons["binary.json"]
    assert "over the 4000-byte limit" in reasons["big.yaml"]
    assert reasons["orders.yaml"] is None and reasons["customers.json"] is None


def test_only_deployment_files_directly_in_the_directory_count(hc, deployments):
    (deployments / "README.md").write_text("# not a deployment\n")
    (deployments / ".draft.yaml").write_text("source: [\n")  # hidden, as a glob skips it
    nested = deployments / "archive"
    nested.mkdir()
    (nested / "old.yaml").write_text("source: [\n")
    (deployments / "UPPER.YML").write_text("source: [\n")  # suffixes match in any case
    doc = json.loads(hc("--deployments", deployments, "--json").out)
    assert [os.path.basename(d["path"]) for d in doc["deployments"]] == [
        "UPPER.YML", "customers.json", "orders.yaml"]


def test_past_the_timeout_a_deployment_is_unknown_and_the_run_ends(hc, deployments, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/data_sources$", action="delay",
                              delay_ms=2200, times=2)
    started = time.monotonic()
    result = hc("--deployments", deployments, "--timeout", "1.5", "--json")
    assert time.monotonic() - started < 1.5 + 1.5
    assert result.code == 3
    doc = json.loads(result.out)
    assert {d["state"] for d in doc["deployments"]} == {"UNKNOWN"}
    assert all("not checked before the --timeout of 1.5s" in d["reason"]
               for d in doc["deployments"])
    # The checks given up on still finish their reads: wait until both delayed ones are
    # served and the log stops growing, so none lands in the next test's request log.
    give_up = time.monotonic() + 10
    while True:
        before = len(sandbox.control.requests())
        time.sleep(0.5)
        logged = sandbox.control.requests()
        if len(logged) == before and sum(r["fault"] == "delay" for r in logged) == 2:
            break
        assert time.monotonic() < give_up


# ------------------------------------------------------------------ formats


def test_json_is_one_document_with_a_deployments_list(hc, deployments, sdk_client):
    rename_destination(sdk_client)
    (deployments / "broken.yaml").write_text("source: [\n")
    result = hc("--deployments", deployments, "--format", "json")
    assert result.code == 1
    doc = json.loads(result.out)  # the whole of stdout: exactly one document
    assert doc["summary"]["deployments"] == {"checked": 3, "in_sync": 1, "drifted": 1,
                                             "unknown": 1}
    assert doc["summary"]["state"] == "WARNING" and doc["summary"]["exit_code"] == 1
    assert doc["flows"] == [] and doc["notes"] == []
    by_file = {os.path.basename(d["path"]): d for d in doc["deployments"]}
    assert list(by_file) == ["broken.yaml", "customers.json", "orders.yaml"]
    orders = by_file["orders.yaml"]
    assert orders["deployment"] == ORDERS and orders["state"] == "WARNING"
    assert orders["in_sync"] is False and orders["error"] is None
    assert orders["drift"] == [{"action": "update", "resource_type": "data_sinks",
                                "name": "orders-warehouse", "id": 301, "field": "name",
                                "live": "orders-wh-renamed", "config": "orders-warehouse"}]
    assert by_file["customers.json"]["in_sync"] is True
    assert by_file["broken.yaml"]["state"] == "UNKNOWN" and by_file["broken.yaml"]["deployment"] is None
    assert "invalid YAML" in by_file["broken.yaml"]["error"]


def test_nagios_is_one_status_line_with_deployment_perfdata(hc, deployments, sdk_client):
    rename_destination(sdk_client)
    result = hc("--deployments", deployments, "--format", "nagios")
    assert result.code == 1 and result.out.count("\n") == 1
    status, perf = result.out.rstrip("\n").split(" | ")
    assert status.startswith("NEXLA WARNING - 2 deployments: 1 drifted, 0 unknown, 1 in sync - "
                             f"WARNING deployment {ORDERS}: data_sinks orders-warehouse name:")
    assert perf.split()[:3] == ["deployments_in_sync=1", "deployments_drifted=1",
                                "deployments_unknown=0"]
    assert perf.split()[3].startswith("duration=")
    assert "ok=" not in perf  # no flows were checked, so no flow counts to graph


def prometheus_samples(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_prometheus_metrics_per_deployment_written_with_output(hc, deployments, sdk_client,
                                                              script_cwd):
    rename_destination(sdk_client)
    (deployments / "broken.yaml").write_text("source: [\n")
    target = script_cwd / "nexla.prom"
    result = hc("--deployments", deployments, "--format", "prometheus", "--output", target)
    assert result.code == 1 and result.out == ""
    samples = prometheus_samples(target.read_text())
    orders = (("deployment", ORDERS), ("file", "orders.yaml"))
    customers = (("deployment", CUSTOMERS), ("file", "customers.json"))
    broken = (("deployment", ""), ("file", "broken.yaml"))
    assert samples[("nexla_deployment_in_sync", orders)] == 0
    assert samples[("nexla_deployment_in_sync", customers)] == 1
    assert ("nexla_deployment_in_sync", broken) not in samples  # unknown is not "out of sync"
    assert samples[("nexla_deployment_drift_changes", orders)] == 1
    assert samples[("nexla_deployment_state", (*broken, ("state", "UNKNOWN")))] == 1
    assert samples[("nexla_deployment_state", (*orders, ("state", "WARNING")))] == 1
    assert samples[("nexla_health_check_status", ())] == 1


def test_with_the_flow_selection_both_are_reported_and_the_worst_wins(hc, deployments,
                                                                     sdk_client):
    rename_destination(sdk_client)
    doc = json.loads(hc("--all", "--deployments", deployments, "--json").out)
    assert len(doc["flows"]) == 5 and len(doc["deployments"]) == 2
    assert doc["summary"]["state"] == "CRITICAL"  # the seed's failing flow 1002
    text = hc("--flow", 1001, "--deployments", deployments)
    assert text.code == 1  # flow 1001 is OK; its deployment drifted
    lines = text.out.splitlines()
    assert lines[0].startswith("OK       1001 orders-s3: ") and RENAMED_LINE in lines
    assert lines[-1].startswith("WARNING: 1 flows checked in ")
    assert lines[-1].endswith("; 2 deployments: 1 drifted, 0 unknown, 1 in sync")
    nagios = hc("--flow", 1001, "--deployments", deployments, "--format", "nagios")
    assert nagios.out.startswith("NEXLA WARNING - 1 flows: 0 critical, 0 warning, 0 unknown, "
                                 "1 ok; 2 deployments: 1 drifted")
    assert " | ok=1 warning=0 critical=0 unknown=0 deployments_in_sync=1 " in nagios.out


# ------------------------------------------------------------------ bad --deployments values


def bad_place(kind: str, root):
    """A --deployments value of the given kind under `root`."""
    where = root / kind
    if kind == "file.yaml":
        where.write_text("{}")
    elif kind in ("empty", "no-deployments"):
        where.mkdir()
    if kind == "no-deployments":
        (where / "notes.txt").write_text("x")
        (where / ".hidden.yaml").write_text("{}")
    return where


@pytest.mark.parametrize("kind, expected", [
    ("missing", "no such directory"), ("file.yaml", "not a directory"),
    ("empty", "no deployment files"), ("no-deployments", "no deployment files")])
@pytest.mark.parametrize("fmt", ["text", "json", "nagios"])
def test_bad_deployments_values_are_unknown_in_one_line_and_send_nothing(hc, sandbox,
                                                                          script_cwd, kind,
                                                                          expected, fmt):
    where = bad_place(kind, script_cwd)
    sandbox.control.clear_requests()
    result = hc("--deployments", where, "--format", fmt)
    assert result.code == 3
    [line] = result.err.strip().splitlines()
    assert line == (f"health_check.py: error: UNKNOWN: --deployments {where}: {expected}; "
                    "expected a directory of deployment files (*.json, *.yaml, *.yml)")
    if fmt == "json":
        assert json.loads(result.out)["error"]["kind"] == "unknown"
    elif fmt == "nagios":
        assert result.out == f"NEXLA UNKNOWN - --deployments {where}: {expected}; expected a " \
                             "directory of deployment files (*.json, *.yaml, *.yml)\n"
    else:
        assert result.out == ""
    assert sandbox.control.requests() == []  # refused before the token fetch


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_an_unreadable_directory_is_bad_input(hc, script_cwd):
    locked = script_cwd / "locked"
    locked.mkdir(mode=0o000)
    try:
        result = hc("--deployments", locked)
    finally:
        locked.chmod(0o700)
    assert result.code == 3 and "--deployments" in result.err and "cannot read" in result.err


def test_a_script_run_with_a_bad_directory_is_one_line_without_a_traceback(run_script):
    result = run_script("health_check", "--deployments", "no/such/dir", sandbox=False)
    assert result.code == 3 and result.out == ""
    assert result.err.count("\n") == 1 and "--deployments no/such/dir" in result.err


def test_the_deploy_engine_loads_only_for_deployments(sandbox, deployments, script_cwd):
    probe = ("import sys; from nexla_ops.commands import health_check; "
             "code = health_check.main(sys.argv[1:]); "
             "print(code, 'nexla_ops.deploy.drift' in sys.modules, file=sys.stderr)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXLA_")}
    env.update(NEXLA_API_URL=sandbox.url, NEXLA_SERVICE_KEY=sandbox.service_key)

    def loaded(*argv):
        proc = subprocess.run([sys.executable, "-c", probe, *map(str, argv), "--format", "json"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        return proc.stderr.splitlines()[-1]

    assert loaded("--all") == "2 False"
    assert loaded("--deployments", deployments) == "0 True"


# ------------------------------------------------------------------ secrets


def test_secret_values_in_drift_stay_masked_in_every_format(hc, deployments, monkeypatch):
    cfg = yaml.safe_load((deployments / "orders.yaml").read_text())
    cfg["destinations"][0]["sink_config"]["password"] = "${ENV:WH_PASSWORD}"
    (deployments / "orders.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("WH_PASSWORD", CANARY)
    for fmt in ("text", "json", "nagios", "prometheus"):
        result = hc("--deployments", deployments, "--format", fmt, "--debug")
        assert result.code == 1, (fmt, result.out)
        assert CANARY not in result.out and CANARY not in result.err, fmt
    [orders] = [d for d in json.loads(hc("--deployments", deployments, "--json").out)["deployments"]
                if d["deployment"] == ORDERS]
    [entry] = [d for d in orders["drift"] if d["field"] == "sink_config.password"]
    assert entry["live"] is None and entry["config"] == "<from environment>"


def test_the_service_key_never_shows(canary_sandbox, run_script, script_cwd):
    """The canary sandbox's admin key IS the canary: export, adopt, drift, check, --debug."""
    env = {"NEXLA_API_URL": canary_sandbox.url, "NEXLA_SERVICE_KEY": CANARY}
    directory = script_cwd / "deployments"
    directory.mkdir()
    path = directory / "orders.yaml"
    assert run_script("export_flow", "--flow-id", 1001, "--output", path, env=env,
                      sandbox=False).code == 0
    assert run_script("deploy_flow", "--config", path, "--adopt", *FAST, env=env,
                      sandbox=False).code == 0
    (directory / "broken.json").write_text(f'{{"name": "{CANARY}", "source": 1}}')
    for fmt in ("text", "json"):
        result = run_script("health_check", "--deployments", directory, "--format", fmt,
                            "--debug", env=env, sandbox=False)
        assert result.code == 3, result.err
        assert CANARY not in result.out and CANARY not in result.err, fmt


# ------------------------------------------------------------------ fuzz


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=15)
CONFIG_KEYS = ["name", "source", "nexset", "destinations", "destination", "credentials",
               "activate", "credential_id", "wait"]
FILE_NAMES = st.tuples(st.text(alphabet="abcxyz-_.0123456789", min_size=1, max_size=8),
                       st.sampled_from([".json", ".yaml", ".yml", ".txt"])).map("".join)


@st.composite
def file_contents(draw, base: dict) -> bytes:
    """Random bytes, JSON, YAML or text, or the adopted export with one part replaced,
    removed or edited (those reach the planner and the API, and drift)."""
    kind = draw(st.sampled_from(["bytes", "json", "yaml", "text", "replaced", "edited"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "yaml":
        return yaml.safe_dump(draw(JSON_VALUES)).encode()
    if kind == "text":
        return draw(st.text(max_size=200)).encode()
    cfg = copy.deepcopy(base)
    if kind == "replaced":
        key = draw(st.sampled_from(CONFIG_KEYS))
        if draw(st.booleans()):
            cfg.pop(key, None)
        else:
            cfg[key] = draw(JSON_VALUES)
    else:
        part = draw(st.sampled_from([cfg["source"], cfg["destinations"][0]]))
        key = draw(st.sampled_from(["name", "description", "source_config", "sink_config"]))
        part[key] = draw(st.text(min_size=1, max_size=12) if key in ("name", "description")
                         else st.dictionaries(st.sampled_from(["path", "table", "format"]),
                                              st.text(max_size=8), max_size=2))
    return (json.dumps(cfg) if draw(st.booleans()) else yaml.safe_dump(cfg)).encode()


_case = iter(range(10**9))  # a fresh directory per example: tmp_path is shared by them


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_directory_contents(hc, deployments, sandbox, script_cwd, data):
    base = yaml.safe_load((deployments / "orders.yaml").read_text())
    directory = script_cwd / f"fuzz-{next(_case)}"
    directory.mkdir()
    names = data.draw(st.lists(FILE_NAMES, min_size=1, max_size=4, unique=True))
    for name in names:
        (directory / name).write_bytes(data.draw(file_contents(base)))
    sandbox.control.clear_requests()
    fmt = data.draw(st.sampled_from(["json", "text", "nagios", "prometheus"]))
    result = hc("--deployments", directory, "--format", fmt)
    assert result.code in (0, 1, 2, 3), result
    assert writes(sandbox) == []
    if fmt == "json":
        doc = json.loads(result.out)  # exactly one document, report or failure
        counted = [n for n in names if not n.startswith(".") and not n.endswith(".txt")]
        if counted:
            assert len(doc["deployments"]) == len(counted)
        else:
            assert doc["ok"] is False and result.code == 3
    elif fmt == "nagios":
        assert result.out.startswith("NEXLA ") and result.out.count("\n") == 1
