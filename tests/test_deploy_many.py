"""deploy_flow --config-dir (a directory of deployments, one table, --keep-going) and
--credential-map (promoting a config to another environment), against the sandbox over HTTP."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deploy_flow
import export_flow
from test_deploy_helpers import MINIMAL, writes

EXIT_DRIFT = 8
pytest_plugins = ["test_deploy_helpers"]  # the cli fixture


def minimal(name: str, **source) -> dict:
    cfg = copy.deepcopy(MINIMAL)
    cfg["source"]["name"] = f"{name}-src"
    cfg["destination"]["name"] = f"{name}-dst"
    cfg["source"].update(source)
    return cfg


def write_dir(path, configs: dict[str, dict]):
    path.mkdir(exist_ok=True)
    for file_name, cfg in configs.items():
        (path / file_name).write_text(json.dumps(cfg) if file_name.endswith(".json")
                                      else yaml.safe_dump(cfg))
    return path


# -- --config-dir ------------------------------------------------------------------------------


def test_a_directory_of_exports_is_adopted_then_in_sync(cli, script_cwd):
    flows = script_cwd / "flows"
    assert cli(export_flow, "--all", "--output-dir", flows).code == 0
    files = sorted(p.name for p in flows.iterdir())
    adopted = cli(deploy_flow, "--config-dir", flows, "--adopt", "--json")
    assert adopted.code == 0, adopted.err
    doc = adopted.json()
    assert [d["file"].rsplit("/", 1)[-1] for d in doc["deployments"]] == files
    assert {d["status"] for d in doc["deployments"]} == {"applied"}
    table = cli(deploy_flow, "--config-dir", flows, "--plan", "--detailed-exitcode")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split() == ["file", "deployment", "status", "changes", "exit"]
    assert len(lines) == len(files) + 2 and all("in sync" in line for line in lines[1:-1])
    assert lines[-1].startswith(f"{len(files)} deployment(s): {len(files)} planned; exit 0")
    assert writes(table) == []


def test_every_file_is_checked_before_anything_is_sent(cli, script_cwd):
    good = minimal("dir-good")
    cases = {
        "a bad file": {"a.json": good, "b.json": {"source": 3}},
        "a duplicate deployment": {"a.json": good, "b.yaml": good},
        "not JSON": {"a.json": good},
    }
    for what, files in cases.items():
        folder = write_dir(script_cwd / what.replace(" ", "-"), files)
        if what == "not JSON":
            (folder / "c.json").write_bytes(b"\xff\xfe binary")
        res = cli(deploy_flow, "--config-dir", folder, "--json")
        assert res.code == 2, (what, res.err)
        assert res.requests == [], what
        assert res.json()["ok"] is False and "Traceback" not in res.err
    assert cli(deploy_flow, "--config-dir", script_cwd / "missing").code == 2
    empty = script_cwd / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a deployment")
    res = cli(deploy_flow, "--config-dir", empty)
    assert res.code == 2 and "holds no deployment file" in res.err
    for flags in (["--config", "x.json"], ["--destroy", "--yes"], ["--out", "a-file.txt"]):
        (script_cwd / "a-file.txt").write_text("")
        assert cli(deploy_flow, "--config-dir", script_cwd / "what", *flags).code == 2, flags


def test_it_stops_at_the_first_failure_unless_keep_going(cli, sandbox, script_cwd):
    broken = minimal("dir-b")
    broken["source"]["data_credentials_id"] = 999_999  # no such credential: the probe fails
    folder = write_dir(script_cwd / "mixed", {"a.json": minimal("dir-a"), "b.json": broken,
                                              "c.json": minimal("dir-c")})
    res = cli(deploy_flow, "--config-dir", folder)
    assert res.code == 7, res.err  # a was applied, b failed, c did not run: needs a person
    rows = {line.split()[0]: line.split() for line in res.out.splitlines()[1:4]}
    assert rows["a.json"][2] == "applied" and rows["b.json"][2] == "failed"
    assert rows["c.json"][1:3] == ["not", "run"]
    assert "credential 999999 not found" in res.out
    names = {s["name"] for s in sandbox.control.state("data_sources")}
    assert "dir-a-src" in names and "dir-c-src" not in names

    res = cli(deploy_flow, "--config-dir", folder, "--keep-going", "--json")
    assert res.code == 7
    doc = res.json()
    assert [d["status"] for d in doc["deployments"]] == ["unchanged", "failed", "applied"]
    assert "dir-c-src" in {s["name"] for s in sandbox.control.state("data_sources")}

    alone = write_dir(script_cwd / "alone", {"b.json": broken})
    assert cli(deploy_flow, "--config-dir", alone).code == 5  # nothing else changed: its code


def test_saved_plans_for_a_directory(cli, sandbox, script_cwd):
    folder = write_dir(script_cwd / "d", {"one.json": minimal("dir-one"),
                                          "two.yaml": minimal("dir-two")})
    plans = script_cwd / "plans"
    res = cli(deploy_flow, "--config-dir", folder, "--plan", "--detailed-exitcode", "--out",
              plans)
    assert res.code == EXIT_DRIFT, res.err
    assert sorted(p.name for p in plans.iterdir()) == ["one.plan.json", "two.plan.json"]
    assert writes(res) == []
    for plan in sorted(plans.iterdir()):
        applied = cli(deploy_flow, "--apply", plan, "--json")
        assert applied.code == 0, applied.err
    again = cli(deploy_flow, "--config-dir", folder, "--plan", "--detailed-exitcode")
    assert again.code == 0, again.out


# -- --credential-map ------------------------------------------------------------------------


@pytest.fixture
def prod_credential(sdk_client):
    """A second s3 credential: the "prod" one the dev config's credential maps to."""
    return sdk_client.request("POST", "/data_credentials", json={
        "name": "orders-s3-prod", "credentials_type": "s3",
        "credentials": {"access_key_id": "AKIA", "secret_key": "prod-secret"}})


def test_promote_maps_credentials_by_name_and_by_id(cli, sandbox, script_cwd,
                                                    prod_credential):
    dev = {
        "name": "promoted",
        "credentials": [{"name": "orders-s3-cred"}],
        "source": {"name": "promoted-src", "source_type": "s3", "credential": "orders-s3-cred",
                   "source_config": {"path": "demo-bucket/orders/promoted/"}},
        "destinations": [{"name": "promoted-dst", "sink_type": "postgres",
                          "data_credentials_id": 12, "sink_config": {"table": "promoted"}}],
    }
    path = script_cwd / "dev.yaml"
    path.write_text(yaml.safe_dump(dev))
    mapping = script_cwd / "prod-credentials.yaml"
    mapping.write_text(f"orders-s3-cred: orders-s3-prod\n12: {12}\n")
    plan = cli(deploy_flow, "--config", path, "--credential-map", mapping, "--plan", "--json")
    assert plan.code == 0, plan.err
    assert writes(plan) == []
    applied = cli(deploy_flow, "--config", path, "--credential-map", mapping, "--json")
    assert applied.code == 0, applied.err
    source = next(s for s in sandbox.control.state("data_sources") if s["name"] == "promoted-src")
    assert source["data_credentials_id"] == prod_credential["id"]
    assert "prod-secret" not in applied.out + applied.err
    # mapped to an id instead: the source moves to credential 11, the plan says so first
    mapping.write_text("orders-s3-cred: 11\n")
    moved = cli(deploy_flow, "--config", path, "--credential-map", mapping, "--plan", "--json")
    assert moved.code == 0, moved.err
    change = next(d for d in moved.json()["drift"] if d["field"] == "data_credentials_id")
    assert (change["live"], change["config"]) == (prod_credential["id"], 11)


@pytest.mark.parametrize("text, expected", [
    ("nope: orders-s3-prod\n", "'nope' is not a credential"),
    ("orders-s3-cred: true\n", "boolean"),
    ("orders-s3-cred: -4\n", "positive credential id"),
    ("orders-s3-cred: [1, 2]\n", "name or id"),
    ("orders-s3-cred: \"bad\\u0007name\"\n", "control characters"),
    ("[]\n", "expected a mapping"),
    ("{}\n", "expected a mapping"),
])
def test_bad_credential_maps_are_bad_input(cli, script_cwd, text, expected):
    path = script_cwd / "dev.yaml"
    path.write_text(yaml.safe_dump({**minimal("bad-map"), "credentials": [
        {"name": "orders-s3-cred"}], "source": {**minimal("bad-map")["source"],
                                                "credential": "orders-s3-cred"}}))
    mapping = script_cwd / "map.yaml"
    mapping.write_text(text)
    res = cli(deploy_flow, "--config", path, "--credential-map", mapping, "--plan")
    assert res.code == 2, res.err
    assert expected in res.err and res.requests == []
    assert len(res.err.strip().splitlines()) == 1


def test_credential_map_is_not_for_a_saved_plan(cli, script_cwd):
    (script_cwd / "m.yaml").write_text("a: b\n")
    assert cli(deploy_flow, "--apply", "p.json", "--credential-map", "m.yaml").code == 2


_keys = st.one_of(st.text(max_size=8), st.integers(-3, 20), st.booleans())
_values = st.one_of(st.text(max_size=8), st.integers(-3, 20), st.booleans(), st.none(),
                    st.lists(st.integers(), max_size=2))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mapping=st.dictionaries(_keys, _values, max_size=3),
       names=st.lists(st.sampled_from(["orders-s3-cred", "x", "11"]), max_size=2))
def test_fuzzed_credential_maps_never_crash(cli, script_cwd, mapping, names):
    cfg = minimal("fuzz-map")
    if names:
        cfg["credentials"] = [{"name": n} for n in dict.fromkeys(names)]
        cfg["source"] = {**cfg["source"], "credential": names[0]}
        cfg["source"].pop("data_credentials_id", None)
    path = script_cwd / "fuzz.json"
    path.write_text(json.dumps(cfg))
    (script_cwd / "map.json").write_text(json.dumps({str(k): v for k, v in mapping.items()}))
    res = cli(deploy_flow, "--config", path, "--credential-map", script_cwd / "map.json",
              "--plan", "--json")
    assert res.code in (0, 1, 2, 5), (res.code, res.err)
    assert "Traceback" not in res.err
    json.loads(res.out)  # one JSON document, failures too
    assert writes(res) == []


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.dictionaries(
    st.sampled_from(["a.json", "b.yaml", "c.yml", "d.json"]),
    st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
              st.just(json.dumps(MINIMAL).encode())), min_size=1, max_size=3))
def test_fuzzed_directories_are_checked_and_never_crash(cli, script_cwd, files):
    folder = script_cwd / "fuzz-dir"
    if folder.exists():
        for old in folder.iterdir():
            old.unlink()
    folder.mkdir(exist_ok=True)
    for file_name, data in files.items():
        (folder / file_name).write_bytes(data)
    res = cli(deploy_flow, "--config-dir", folder, "--plan", "--detailed-exitcode", "--json")
    assert res.code in (0, 2, EXIT_DRIFT), (res.code, res.err)
    assert "Traceback" not in res.err
    doc = json.loads(res.out)
    assert doc["ok"] is (res.code != 2)
    if res.code == 2:
        assert res.requests == []
