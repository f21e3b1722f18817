"""deploy_flow config handling: schema, examples, and bad configs (exit 2, nothing sent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nexla_ops
from nexla_ops.deploy import spec as deploy_flow
from test_deploy_helpers import FULL, MINIMAL, config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples" / "deploy").glob("*.*"))

pytest_plugins = ["test_deploy_helpers"]  # the deploy fixture


def test_print_schema_seed_command_works_as_written(run_script):
    res = run_script("deploy_flow", "--print-schema", sandbox=False)
    assert res.code == 0, res.err
    schema = res.json()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"source"}
    for name in ("credential_id", "source", "destination", "destinations", "nexset",
                 "credentials", "name", "activate", "wait"):
        assert name in schema["properties"], name
    assert schema == deploy_flow.DeploymentConfig.model_json_schema()


def test_help_lists_examples(run_script):
    res = run_script("deploy_flow", "--help", sandbox=False)
    assert res.code == 0
    assert "examples:" in res.out and "--plan" in res.out and "--print-schema" in res.out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path, monkeypatch):
    monkeypatch.setenv("ORDERS_PG_PASSWORD", "x")
    cfg, warnings = deploy_flow.validate_config(nexla_ops.load_structured_file(path))
    assert cfg.all_destinations()
    assert warnings == []


def test_minimal_example_is_the_seed_shape():
    raw = json.loads((ROOT / "examples/deploy/minimal.json").read_text())
    assert set(raw) == {"credential_id", "source", "destination"}
    assert set(raw["source"]) == {"name", "source_type", "data_credentials_id", "source_config"}
    assert set(raw["destination"]) == {"name", "sink_type", "data_credentials_id", "sink_config"}


def _without(base: dict, dotted: str) -> dict:
    out = config(base)
    node = out
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    del node[last]
    return out


BAD = [
    # (case id, config, the field path the error must name)
    ("missing source", _without(MINIMAL, "source"), "source: required field is missing"),
    ("missing source.name", _without(MINIMAL, "source.name"), "source.name: required"),
    ("missing source.source_type", _without(MINIMAL, "source.source_type"),
     "source.source_type: required"),
    ("missing destination", _without(MINIMAL, "destination"), "destination: required"),
    ("missing destination.name", _without(MINIMAL, "destination.name"),
     "destination.name: required"),
    ("missing destination.sink_type", _without(MINIMAL, "destination.sink_type"),
     "destination.sink_type: required"),
    ("missing any credential", _without(_without(MINIMAL, "credential_id"),
                                        "source.data_credentials_id"),
     "source.data_credentials_id: required"),
    ("credential_id as string", config(MINIMAL, credential_id="11"),
     "credential_id: expected an integer"),
    ("source as string", config(MINIMAL, source="orders"), "source: expected an object"),
    ("source_config as list", config(MINIMAL, **{"source.source_config": ["a"]}),
     "source.source_config: expected an object"),
    ("sink credential as string", config(MINIMAL, **{"destination.data_credentials_id": "x"}),
     "destination.data_credentials_id: expected an integer"),
    ("activate as string", config(MINIMAL, activate="yes"), "activate: expected true or false"),
    ("name with a slash", config(MINIMAL, name="a/b"), "name: expected letters"),
    ("negative id", config(MINIMAL, credential_id=-1), "credential_id: expected a positive"),
    ("bad duration", config(MINIMAL, wait={"discovery_timeout": "soon"}),
     "wait.discovery_timeout: expected seconds"),
    ("unknown top-level key", config(MINIMAL, sources={}), "sources: unknown key"),
    ("unknown source key", config(MINIMAL, **{"source.schedule": "daily"}),
     "source.schedule: unknown key"),
    ("unknown destination key", config(MINIMAL, **{"destination.sink_cfg": {}}),
     "destination.sink_cfg: unknown key"),
    ("nexset without transform", config(MINIMAL, nexset={"name": "n"}),
     "nexset: give exactly one of transform or transform_id"),
    ("both destination forms", config(MINIMAL, destinations=[MINIMAL["destination"]]),
     "destinations: give destination or destinations, not both"),
    ("unknown credential ref", config(FULL, **{"source.credential": "nope"}),
     "source.credential: expected the name of an entry in `credentials`"),
    ("env var not set", config(FULL, **{"credentials.0.credentials.password": "${ENV:NOPE_X1}"}),
     "credentials[0].credentials.password: environment variable NOPE_X1 is not set"),
]


@pytest.mark.parametrize(("cfg", "expected"), [(c, e) for _, c, e in BAD],
                         ids=[i for i, _, _ in BAD])
def test_bad_config_exits_2_naming_the_field_and_sends_nothing(deploy, sandbox, cfg, expected):
    run = deploy(cfg)
    assert run.code == 2, run.err
    assert expected in run.err
    assert "Traceback" not in run.err
    assert run.requests == []  # not even a token
    assert run.json()["status"] == "failed" and any(expected in p for p in run.json()["problems"])


def test_every_problem_is_listed_at_once(deploy):
    cfg = config(MINIMAL, credential_id="x", bogus=1, **{"source.source_type": 5,
                                                          "destination.sink_config": 3})
    del cfg["destination"]["name"]
    run = deploy(cfg)
    assert run.code == 2
    for expected in ("credential_id: expected an integer", "bogus: unknown key",
                     "source.source_type: expected a string",
                     "destination.sink_config: expected an object",
                     "destination.name: required field is missing"):
        assert expected in run.err, expected
    assert len(run.json()["problems"]) == 5


def test_unparseable_file_exits_2(deploy, script_cwd):
    path = script_cwd / "broken.yaml"
    path.write_text("source: [unclosed\n")
    run = deploy(path)
    assert run.code == 2 and "invalid YAML" in run.err and run.requests == []


def test_literal_secret_warns_without_printing_it(deploy, sandbox):
    cfg = config(FULL, **{"credentials.0.credentials.password": "hunter2-literal"})
    run = deploy(cfg, "--plan")
    assert run.code == 0, run.err
    assert "credentials[0].credentials.password: literal secret" in run.err
    assert "hunter2-literal" not in run.err + run.out


def test_plan_tolerates_an_unset_secret_env_var(deploy, monkeypatch):
    monkeypatch.delenv("DEPLOY_TEST_PG_PASSWORD")
    run = deploy(FULL, "--plan")
    assert run.code == 0, run.err
    assert "DEPLOY_TEST_PG_PASSWORD is not set" in run.err
    apply = deploy(FULL)
    assert apply.code == 2 and apply.requests == []
