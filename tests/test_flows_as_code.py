"""Flows as code: export_flow round-trips through deploy_flow, drift detection with
--detailed-exitcode, --prune, and saved plans (--plan --out, then --apply), against the
sandbox over HTTP."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deploy_flow
import export_flow
from conftest import CANARY
from nexla_sandbox.seed import ORDERS_TRANSFORM
from test_deploy_helpers import FAST

SEED_FLOWS = (1001, 1002, 1003, 1004, 1005)
# The demo's orders transform with another default: an edit in the UI that keeps the schema.
EDITED_TRANSFORM = {**ORDERS_TRANSFORM, "operations": [
    *ORDERS_TRANSFORM["operations"][:-1],
    {"operation": "default", "spec": {"source_system": "edited-in-the-ui"}}]}
EXIT_DRIFT = 8


def write_requests(sandbox, since: int) -> list[tuple[str, str]]:
    return [(e["method"], e["path"]) for e in sandbox.control.requests()[since:]
            if e["method"] not in ("GET", "HEAD") and not e["path"].startswith("/token")]


@pytest.fixture
def flows(run_main, sandbox, script_cwd):
    """Helpers over one sandbox: export, plan, apply; each returns the ScriptResult with
    `.writes`, the state-changing requests it made."""

    class Flows:
        def _run(self, module, *argv):
            seen = len(sandbox.control.requests())
            res = run_main(module, *argv, *FAST)
            res.writes = write_requests(sandbox, seen)
            return res

        def export(self, *argv):
            return self._run(export_flow, *argv)

        def export_to(self, flow_id, name=None, fmt="yaml"):
            path = script_cwd / (name or f"flow-{flow_id}.{fmt}")
            res = self.export("--flow-id", flow_id, "--output", path)
            assert res.code == 0, res.err
            return path

        def plan(self, path, *flags):
            return self._run(deploy_flow, "--config", path, "--plan", "--json", *flags)

        def apply(self, path, *flags):
            return self._run(deploy_flow, "--config", path, "--json", *flags)

    return Flows()


def load(path):
    return yaml.safe_load(path.read_text())


# -- export ------------------------------------------------------------------------------------


def test_export_writes_a_config_deploy_flow_accepts_without_ids_or_secrets(flows, script_cwd):
    path = flows.export_to(1001)
    text = path.read_text()
    cfg = load(path)
    assert list(cfg) == ["credentials", "source", "nexset", "destinations", "activate"]
    assert cfg["source"] == {"name": "orders-s3", "source_type": "s3",
                             "credential": "orders-s3-cred", "description": "Demo s3 source",
                             "source_config": {"format": "json", "path": "demo-bucket/orders/"}}
    assert cfg["credentials"] == [{"name": "orders-s3-cred", "credentials_type": "s3"},
                                  {"name": "warehouse-postgres-cred",
                                   "credentials_type": "postgres"}]
    assert cfg["nexset"]["name"] == "orders-clean" and cfg["nexset"]["transform"]["operations"]
    assert [d["name"] for d in cfg["destinations"]] == ["orders-warehouse"]
    assert cfg["destinations"][0]["credential"] == "warehouse-postgres-cred"
    assert cfg["activate"] is True
    # no ids anywhere (reusable transforms aside), and none of the demo secrets
    assert not re.search(r"\b(id|data_credentials_id|data_set_id)\b: \d", text)
    for secret in ("s3-secret-demo", "pg-demo-pass", "AKIASANDBOX11"):
        assert secret not in text
    # a second export is byte-identical (stable key order)
    again = flows.export_to(1001, name="again.yaml")
    assert again.read_text() == text


def test_export_json_to_stdout_and_report(flows):
    res = flows.export("--source-id", 124, "--format", "json")
    assert res.code == 0, res.err
    cfg = json.loads(res.out)
    assert cfg["source"]["name"] == "customers-postgres"
    assert cfg["destinations"][0]["name"] == "customers-warehouse"
    assert "nexset" not in cfg  # the destination writes from the detected nexset
    assert "--adopt" in res.err  # not deployed by us yet: the first apply adopts
    report = flows.export("--flow-id", 1004, "--json").json()
    assert report["ok"] is True
    (item,) = report["exported"]
    assert item["flow_id"] == 1004 and item["needs_adopt"] is True
    assert item["config"]["activate"] is False  # flow 1004 is paused
    assert res.writes == []


def test_export_selection_errors(flows, script_cwd):
    assert flows.export().code == 2  # nothing chosen
    many = flows.export("--all")
    assert many.code == 2 and "--output-dir" in many.err
    assert flows.export("--name", "no-such-flow").code == 5
    both = flows.export("--flow-id", 1001, "--output", "a.yaml", "--output-dir", "d")
    assert both.code == 2
    (script_cwd / "plain").write_text("x")
    assert flows.export("--all", "--output-dir", script_cwd / "plain").code == 2
    assert (script_cwd / "plain").read_text() == "x"


def test_export_refuses_a_flow_of_another_shape_and_reports_partial(flows, sdk_client,
                                                                    script_cwd):
    # a second derived nexset on nexset 123: no single chain describes flow 1001 any more
    sdk_client.request("POST", "/data_sets", json={
        "name": "orders-extra", "parent_data_set_id": 123, "has_custom_transform": True,
        "transform": {"version": 1, "operations": []}})
    alone = flows.export("--flow-id", 1001)
    assert alone.code == 1 and "derived nexsets" in alone.err
    many = flows.export("--all", "--output-dir", script_cwd / "out", "--json")
    assert many.code == 7
    report = many.json()
    assert report["ok"] is False
    assert {s["flow_id"] for s in report["skipped"]} == {1001}
    assert {e["flow_id"] for e in report["exported"]} == {1002, 1003, 1004, 1005}
    assert many.writes == []


# -- round trips -------------------------------------------------------------------------------


def test_every_seeded_flow_round_trips(flows, sandbox, sdk_client, script_cwd):
    """Export; the plan shows only the adoption (our tag), no setting; after one --adopt
    apply the plan is in sync with 0 writes and a re-export is identical. Then the exports,
    applied to an empty org holding the same credentials, re-export identically too."""
    out = script_cwd / "flows"
    res = flows.export("--all", "--output-dir", out)
    assert res.code == 0, res.err
    files = sorted(out.iterdir())
    assert len(files) == len(SEED_FLOWS)
    first = {f.name: f.read_text() for f in files}
    for path in files:
        plan = flows.plan(path, "--adopt", "--detailed-exitcode")
        assert plan.code == EXIT_DRIFT, plan.err
        drift = plan.json()["drift"]
        assert drift and {d["field"] for d in drift} == {"tags"}, drift
        assert plan.writes == []
        applied = flows.apply(path, "--adopt")
        assert applied.code == 0, applied.err
        assert {m for m, _ in applied.writes} == {"PUT"}  # tags only: nothing re-created
        again = flows.plan(path, "--detailed-exitcode")
        assert again.code == 0, again.out
        assert again.json()["in_sync"] is True and again.writes == []
    out2 = script_cwd / "flows2"
    assert flows.export("--all", "--output-dir", out2).code == 0
    assert {f.name: f.read_text() for f in out2.iterdir()} == first

    # an empty org with credentials of the same names: apply every export, re-export
    sandbox.control.reset("empty")
    for cred in {c["name"]: c for f in files for c in load(f).get("credentials", [])}.values():
        sdk_client.request("POST", "/data_credentials", json={
            "name": cred["name"], "credentials_type": cred["credentials_type"],
            "credentials": {"password": CANARY}})
    for path in files:
        res = flows.apply(path)
        assert res.code == 0, (path.name, res.err)
    out3 = script_cwd / "flows3"
    res = flows.export("--all", "--output-dir", out3)
    assert res.code == 0, res.err
    assert {f.name: f.read_text() for f in out3.iterdir()} == first
    assert all(CANARY not in f.read_text() for f in out3.iterdir())


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_settings = st.dictionaries(
    st.sampled_from(["path", "table", "format", "region", "bucket", "schema"]),
    st.one_of(_names, st.integers(0, 10_000), st.booleans()), max_size=4)
_transform = st.fixed_dictionaries({
    "version": st.just(1),
    "operations": st.lists(st.fixed_dictionaries({
        "operation": st.just("default"),
        "spec": st.dictionaries(st.sampled_from(["origin", "batch", "team"]), _names,
                                min_size=1, max_size=2)}), min_size=1, max_size=2)})


_serial = iter(range(10**9))  # unique names: the sandbox is not reset between examples


@st.composite
def deployments(draw):
    n = next(_serial)
    dest_names = draw(st.lists(_names, max_size=3, unique=True))
    cfg = {
        "name": f"gen-{n}",
        "source": {"name": f"gen-{n}-src-{draw(_names)}", "source_type": draw(st.sampled_from(
            ["s3", "postgres", "rest", "ftp"])), "data_credentials_id": 11,
            "source_config": draw(_settings)},
        "destinations": [{"name": f"gen-{n}-dst-{d}", "sink_type": draw(st.sampled_from(
            ["s3", "postgres", "snowflake"])), "data_credentials_id": 12,
            "sink_config": draw(_settings)} for d in dest_names],
        "activate": draw(st.booleans()),
    }
    if draw(st.booleans()):
        cfg["source"]["description"] = draw(_names)
    if draw(st.booleans()):
        cfg["nexset"] = {"name": f"gen-{n}-set", "transform": draw(_transform),
                         "validate_transform": False}
    return cfg


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(cfg=deployments())
def test_generated_flows_round_trip(cfg, flows, sandbox, script_cwd):
    """Deploy a generated config; its export describes the same flow, plans in sync with 0
    writes, and re-exports identically."""
    sandbox.control.configure(discovery_delay=0)
    path = script_cwd / "generated.json"
    path.write_text(json.dumps(cfg))
    applied = flows.apply(path)
    assert applied.code == 0, applied.err
    flow_id = applied.json()["flow_id"]
    exported = flows.export_to(flow_id, name="export.yaml")
    got = load(exported)
    assert got["name"] == cfg["name"]
    assert got["source"]["source_config"] == cfg["source"]["source_config"]
    assert got["source"].get("description") == cfg["source"].get("description")
    assert got["activate"] == cfg["activate"]
    assert {d["name"]: d["sink_config"] for d in got["destinations"]} == {
        d["name"]: d["sink_config"] for d in cfg["destinations"]}
    assert ("nexset" in got) == ("nexset" in cfg)
    if "nexset" in cfg:
        assert got["nexset"]["transform"] == cfg["nexset"]["transform"]
    plan = flows.plan(exported, "--detailed-exitcode")
    assert plan.code == 0, (plan.out, plan.err)
    assert plan.writes == []
    again = flows.export_to(flow_id, name="export2.yaml")
    assert again.read_text() == exported.read_text()


# -- drift ---------------------------------------------------------------------------------------


@pytest.fixture
def adopted(flows, sandbox):
    """Flow 1001 exported and adopted: in sync. Returns the export's path."""
    path = flows.export_to(1001)
    assert flows.apply(path, "--adopt").code == 0
    return path


@pytest.mark.parametrize("change, field, live, config", [
    (("/data_sinks/301", {"name": "orders-wh-renamed"}), "name", "orders-wh-renamed",
     "orders-warehouse"),
    (("/data_sets/223", {"transform": EDITED_TRANSFORM}), "transform", EDITED_TRANSFORM, None),
    (("/flows/1001/pause", None), "status", "PAUSED", "ACTIVE"),
])
def test_drift_is_detected_named_and_fixed_by_apply(flows, sdk_client, adopted, change, field,
                                                    live, config):
    path, body = change
    sdk_client.request("PUT", path, **({"json": body} if body else {}))
    plan = flows.plan(adopted, "--detailed-exitcode")
    assert plan.code == EXIT_DRIFT, plan.err
    doc = plan.json()
    assert doc["ok"] is True and doc["in_sync"] is False
    (entry,) = [d for d in doc["drift"] if d["field"] == field]
    assert entry["live"] == live
    if config is not None:
        assert entry["config"] == config
    assert plan.writes == []
    assert flows.apply(adopted).code == 0
    fixed = flows.plan(adopted, "--detailed-exitcode")
    assert fixed.code == 0 and fixed.json()["in_sync"] is True


def test_drift_masks_secret_values(flows, sandbox, adopted, monkeypatch):
    cfg = load(adopted)
    cfg["destinations"][0]["sink_config"]["password"] = "${ENV:WH_PASSWORD}"
    monkeypatch.setenv("WH_PASSWORD", CANARY)
    adopted.write_text(yaml.safe_dump(cfg))
    plan = flows.plan(adopted, "--detailed-exitcode")
    assert plan.code == EXIT_DRIFT
    assert CANARY not in plan.out and CANARY not in plan.err
    (entry,) = [d for d in plan.json()["drift"] if d["field"] == "sink_config.password"]
    assert entry["config"] == "<from environment>"


def test_detailed_exitcode_and_out_need_plan(flows, adopted):
    assert flows.apply(adopted, "--detailed-exitcode").code == 2
    assert flows.apply(adopted, "--out", "p.json").code == 2


# -- prune -----------------------------------------------------------------------------------------


def test_prune_deletes_only_what_carries_our_tag(flows, sandbox, sdk_client, adopted,
                                                  script_cwd):
    cfg = load(adopted)
    cfg["destinations"].append({"name": "orders-extra", "sink_type": "s3",
                                "credential": "orders-s3-cred", "sink_config": {"path": "x/"}})
    grown = script_cwd / "grown.yaml"
    grown.write_text(yaml.safe_dump(cfg))
    assert flows.apply(grown).code == 0
    extra_id = next(s["id"] for s in sandbox.control.state("data_sinks")
                    if s["name"] == "orders-extra")
    # a destination added in the UI, without our tag, on the same nexset
    foreign = sdk_client.request("POST", "/data_sinks", json={
        "name": "ui-added", "sink_type": "s3", "data_credentials_id": 11, "data_set_id": 223,
        "sink_config": {"path": "ui/"}})
    # back to the original config: without --prune the extra is only noted
    noted = flows.plan(adopted, "--detailed-exitcode")
    assert noted.code == 0, noted.out
    assert "--prune" in noted.err and "ui-added" in noted.err
    plan = flows.plan(adopted, "--prune", "--detailed-exitcode")
    assert plan.code == EXIT_DRIFT
    deletes = [a for a in plan.json()["actions"] if a["action"] == "delete"]
    assert [(a["resource_type"], a["id"]) for a in deletes] == [("data_sinks", extra_id)]
    applied = flows.apply(adopted, "--prune")
    assert applied.code == 0, applied.err
    assert ("DELETE", f"/data_sinks/{extra_id}") in applied.writes
    ids = {s["id"] for s in sandbox.control.state("data_sinks")}
    assert extra_id not in ids and foreign["id"] in ids and 301 in ids
    assert flows.plan(adopted, "--prune", "--detailed-exitcode").code == 0


# -- saved plans -----------------------------------------------------------------------------------


def test_saved_plan_applies_exactly_and_is_refused_after_a_change(flows, sandbox, sdk_client,
                                                                  adopted, script_cwd):
    cfg = load(adopted)
    cfg["destinations"][0]["sink_config"]["table"] = "analytics.orders_v2"
    changed = script_cwd / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    saved = script_cwd / "plan.json"
    plan = flows.plan(changed, "--out", saved, "--detailed-exitcode")
    assert plan.code == EXIT_DRIFT, plan.err
    doc = json.loads(saved.read_text())
    assert doc["format"] == "nexla-ops saved plan" and plan.json()["plan_sha256"] == doc[
        "plan_sha256"]
    assert (saved.stat().st_mode & 0o777) == 0o600
    # someone edits the flow after the plan: the saved plan is refused, nothing written
    sdk_client.request("PUT", "/data_sinks/301", json={"description": "edited in the UI"})
    refused = flows._run(deploy_flow, "--apply", saved, "--json")
    assert refused.code == 1 and "state changed since plan" in refused.json()["error"]
    assert refused.writes == []
    # plan again, apply the new plan: exactly its one update (a structural one: the flow is
    # paused around it)
    assert flows.plan(changed, "--out", saved).code == 0
    applied = flows._run(deploy_flow, "--apply", saved, "--json")
    assert applied.code == 0, applied.err
    assert applied.writes == [("PUT", "/flows/1001/pause"), ("PUT", "/data_sinks/301"),
                              ("PUT", "/flows/1001/activate")]
    sink = next(s for s in sandbox.control.state("data_sinks") if s["id"] == 301)
    assert sink["sink_config"]["table"] == "analytics.orders_v2"
    # a second apply of the same plan: the state moved on, refused
    assert flows._run(deploy_flow, "--apply", saved, "--json").code == 1


def test_saved_plan_edited_or_foreign_is_bad_input(flows, adopted, script_cwd):
    saved = script_cwd / "plan.json"
    assert flows.plan(adopted, "--out", saved).code == 0
    doc = json.loads(saved.read_text())
    doc["config"]["activate"] = False
    saved.write_text(json.dumps(doc))
    res = flows._run(deploy_flow, "--apply", saved, "--json")
    assert res.code == 2 and "changed after it was saved" in res.json()["error"]["message"]
    other = script_cwd / "other.json"
    other.write_text('{"hello": 1}')
    assert flows._run(deploy_flow, "--apply", other).code == 2
    assert flows._run(deploy_flow, "--apply", saved, "--config", adopted).code == 2
