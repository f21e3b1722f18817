"""triage.py against the sandbox: the seeded failing flow ranked first with its error group and
next steps, a healthy org's single summary line, the request bound, credentials, --flow's
comparison, bad input, and fuzzed flags and API answers."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CANARY
from nexla_ops.commands import triage

SPOOF = "evil\nOK 1001 orders: all good\r\x1b[2J\u202e"
FAST = ["--max-attempts", "2", "--max-wait", "0.05", "--deadline", "20", "--timeout", "5"]


@pytest.fixture
def tri(run_main, sandbox):
    def run(*argv):
        seen = len(sandbox.control.requests())
        res = run_main(triage, *argv, *FAST)
        res.requests = sandbox.control.requests()[seen:]
        return res
    return run


def _api_requests(res):
    return [r for r in res.requests if not r["path"].startswith("/token")]


def test_seed_lists_the_failing_flow_first_with_its_error_group_and_next_steps(tri):
    res = tri("--json")
    assert res.code == 1
    doc = res.json()
    assert doc["ok"] is True and doc["healthy"] is False
    assert doc["broken"] == 2 and doc["flows_checked"] == 5
    first, second = doc["flows"]
    assert (first["flow_id"], first["severity"]) == (1002, "failing")
    assert (second["flow_id"], second["severity"]) == (1003, "stale")
    group = first["error_groups"][0]
    assert "PSQLException: Connection to warehouse-db:<n> refused" in group["pattern"]
    assert group["resource"] == {"type": "data_sinks", "id": 302, "name": "customers-warehouse"}
    assert group["count"] == group["runs"] == first["impact"]["failed_runs"] > 0
    actions = [s["action"] for s in first["next_steps"]]
    assert actions[0] == "check_connectivity" and "compare_runs" in actions
    assert first["next_steps"][0]["command"].startswith("python scripts/health_check.py")
    assert first["failing_run"]["errors"] > 0 and first["failing_since"]
    assert {n["id"] for n in first["notifications"]} == {601, 602}
    assert [s["action"] for s in second["next_steps"]][0] == "check_source"
    assert doc["counts"] == {"failing": 1, "intermittent": 0, "stale": 1}


def test_text_report_and_exit_code(tri):
    res = tri()
    assert res.code == 1
    lines = res.out.splitlines()
    assert lines[0].startswith("triage: 2 of 5 flows broken in the last 24h")
    assert lines[2] == "1. flow 1002 customers-postgres [failing]"
    assert any(line.strip().startswith("next: check_connectivity: python scripts/")
               for line in lines)


def test_failed_runs_are_counted_over_the_whole_window(tri, sandbox):
    doc = tri("--json").json()
    impact = doc["flows"][0]["impact"]
    cutoff = doc["window"]["since"]
    runs = [r for r in sandbox.control.state("runs") if r["flow_id"] == 1002]
    from datetime import datetime
    lo = datetime.fromisoformat(cutoff).timestamp()
    hi = datetime.fromisoformat(doc["window"]["until"]).timestamp()
    # a run is in the window by when it finished (or started, while running)
    window = [r for r in runs if lo <= r["finished_at"] and r["started_at"] <= hi]
    failed = [r for r in window if r["status"] == "FAILED" and r["finished_at"] <= hi]
    assert impact["failed_runs"] == len(failed)
    assert impact["errors"] == sum(r["errors"] for r in failed)
    assert impact["records_affected"] == sum(r["records"] for r in failed)


def _healthy_org(sandbox, count=30):
    sandbox.control.reset("empty")
    sandbox.control.populate("flows", count, runs=5, fail_rate=0.0)


def test_a_healthy_org_prints_only_the_summary_line(tri, sandbox):
    _healthy_org(sandbox)
    res = tri()
    assert res.code == 0, res.err
    assert res.out == "triage: nothing broken in the last 24h across 30 flows (3 requests)\n"
    doc = tri("--json").json()
    assert doc["ok"] is doc["healthy"] is True and doc["flows"] == [] and doc["broken"] == 0


@pytest.mark.parametrize("flows,failing", [(250, 0), (250, 7)])
def test_requests_stay_within_pages_plus_a_constant_per_failing_flow(tri, sandbox, flows,
                                                                     failing):
    sandbox.control.reset("empty")
    sandbox.control.populate("flows", flows - failing, runs=5, fail_rate=0.0)
    if failing:
        sandbox.control.populate("flows", failing, runs=5, fail_rate=1.0, name_prefix="bad")
    res = tri("--json")
    doc = res.json()
    assert doc["broken"] == failing and res.code == (1 if failing else 0)
    sent = _api_requests(res)
    assert all(r["method"] == "GET" for r in sent)
    per_flow = [r for r in sent if re.search(r"/(run_summary|logs)$", r["path"])]
    assert len(per_flow) == 2 * failing
    # flow pages (+1 empty page that ends the walk), notifications (+1), 2 per failing flow
    assert len(sent) <= math.ceil(flows / 100) + 1 + 2 + 2 * failing
    assert doc["api_calls"] == len(sent)


def test_a_failed_verification_is_listed_with_a_rotation_step(tri, sdk_client):
    # customers-postgres moves to the seed's broken credential (verified_status FAILED)
    sdk_client.request("PUT", "/data_sources/124", json={"data_credentials_id": 13})
    doc = tri("--json").json()
    flow = next(f for f in doc["flows"] if f["flow_id"] == 1002)
    assert {"kind": "credential",
            "message": "credential 13 (broken-snowflake-cred) verified_status FAILED"} in \
        flow["problems"]
    rotate = next(s for s in flow["next_steps"] if s["action"] == "rotate_credential")
    assert rotate["command"].startswith("python scripts/rotate_credential.py --old 13 ")
    assert next(c for c in flow["credentials"] if c["id"] == 13)["state"] == "failed"


def test_probing_finds_a_credential_the_listing_still_calls_verified(tri, sdk_client, sandbox):
    # a rejected secret on the orders bucket's credential (its flows 1001 and 1004); the
    # listing says nothing yet (an updated secret has no verified_status)
    sdk_client.request("PUT", "/data_credentials/11", json={
        "credentials": {"access_key_id": "AKIA", "secret_key": "wrong-one"}})
    plain = tri("--json").json()
    assert 1001 not in {f["flow_id"] for f in plain["flows"]}
    res = tri("--json", "--probe-credentials")
    probes = [r for r in res.requests if r["path"].endswith("/probe")]
    assert sorted(r["path"] for r in probes) == sorted(set(r["path"] for r in probes))
    flow = next(f for f in res.json()["flows"] if f["flow_id"] == 1001)
    cred = next(c for c in flow["credentials"] if c["id"] == 11)
    assert cred["state"] == "failed" and cred["probe"]
    assert any(s["action"] == "rotate_credential" for s in flow["next_steps"])


def test_compare_sets_the_last_success_against_the_last_failure(tri, sandbox):
    res = tri("--flow", "1002", "--json")
    assert res.code == 1  # the latest run failed
    doc = res.json()
    assert doc["ok"] is doc["latest_failed"] is True
    good, bad = doc["last_success"], doc["last_failure"]
    runs = {r["id"]: r for r in sandbox.control.state("runs")}
    for side, status in ((good, "SUCCESS"), (bad, "FAILED")):
        run = runs[side["run_id"]]
        assert run["status"] == status
        assert (side["records"], side["bytes"], side["errors"]) == (
            run["records"], run["size"], run["errors"])
        assert side["duration_s"] == round(run["finished_at"] - run["started_at"], 1)
    messages = [line["example"] for line in doc["unique_log_lines"]]
    assert any("PSQLException" in m for m in messages)
    assert not any(m.startswith("Read ") for m in messages)  # both runs read their records
    assert [e["nexset_id"] for e in doc["schema_difference"]] == [124]
    text = tri("--flow", "1002")
    assert "last success" in text.out and "log lines only in the failed run" in text.out


def test_compare_of_a_healthy_flow_and_of_a_missing_one(tri):
    res = tri("--flow", "1005", "--json")
    assert res.code == 0
    assert res.json()["last_failure"] is None and "no failed run" in res.json()["note"]
    missing = tri("--flow", "99999", "--json")
    assert missing.code == 5
    assert missing.json()["ok"] is False and missing.json()["error"]["kind"] == "not_found"


@pytest.mark.parametrize("flag,value", [("--since", "soon"), ("--since", "0s"),
                                        ("--since", "400d"), ("--stale-after", "-1h"),
                                        ("--limit", "-1"), ("--flow", "abc"),
                                        ("--since", "1e400h"), ("--concurrency", "0")])
def test_bad_input_is_one_line_exit_2_and_nothing_sent(tri, flag, value):
    res = tri(flag, value)
    assert res.code == 2
    assert flag in res.err and "Traceback" not in res.err
    assert _api_requests(res) == []


def test_output_file_gets_the_report_and_stdout_the_summary(tri, tmp_path):
    target = tmp_path / "triage.json"
    res = tri("--json", "--output", str(target))
    assert res.code == 1
    assert res.json() == {"ok": True, "output": str(target), "healthy": False, "broken": 2,
                          "flows_checked": 5}
    assert json.loads(target.read_text())["broken"] == 2
    text_target = tmp_path / "triage.txt"
    res = tri("--output", str(text_target))
    assert res.out.startswith("triage: 2 of 5 flows broken")
    assert "1. flow 1002" in text_target.read_text()


def test_api_text_is_escaped_in_the_text_report(tri, sdk_client):
    sdk_client.request("PUT", "/data_sources/124", json={"name": SPOOF})  # flow 1002's origin
    res = tri()
    assert res.code == 1
    assert "\x1b" not in res.out and "\r" not in res.out and "\u202e" not in res.out
    assert not any(line.startswith("OK 1001") for line in res.out.splitlines())


def test_secrets_never_reach_the_report(run_script, canary_sandbox):
    env = {"NEXLA_API_URL": canary_sandbox.url, "NEXLA_SERVICE_KEY": CANARY}
    for argv in (["--json"], [], ["--flow", "1002", "--json"], ["--debug", "--since", "x"]):
        res = run_script("triage", *argv, *FAST, env=env, sandbox=False)
        assert res.code in (1, 2)
        assert CANARY not in res.out + res.err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(since=st.one_of(st.text(max_size=12), st.sampled_from(["1h", "24h", "2d", "90m", "1w"])),
       limit=st.one_of(st.integers(-3, 5).map(str), st.text(max_size=4)))
def test_fuzzed_flags_never_crash(tri, since, limit):
    res = tri("--since", since, "--limit", limit, "--json")
    assert res.code in (0, 1, 2), res.err
    assert "Traceback" not in res.err
    json.loads(res.out)  # one document, failures included


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["metrics[].status", "metrics[].errors", "metrics[].started_at",
                              "metrics[].run_id", "metrics[].origin_node_id", "flows[].status",
                              "flows[].children", "flows[].data_source_id", "data_sources",
                              "data_credentials[].verified_status", "data_credentials[].id",
                              "flows"]),
       kind=st.sampled_from(["string", "integer", "number", "boolean", "null", "array",
                             "object"]))
def test_fuzzed_api_answers_never_crash(tri, sandbox, field, kind):
    sandbox.control.clear_faults()
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="rewrite",
                              set_type={field: kind}, times=5)
    res = tri("--json")
    assert res.code in (0, 1, 6), res.err
    assert "Traceback" not in res.err
    json.loads(res.out)


def test_the_schema_difference_of_two_runs_samples():
    """The comparison's diff over samples as the reference shapes them (runId per record)."""
    from nexla_ops.triage.compare import schema_difference

    def sample(run_id, record):
        return {"rawMessage": record, "nexlaMetaData": {"runId": run_id}}

    class Samples:  # one nexset's samples endpoint, as the API would answer it
        def get(self, path, params):
            assert path == "/data_sets/7/samples" and params["include_metadata"] == 1
            return [sample(2, {"id": "a", "amount": 1.5, "gone": True}),
                    sample(1, {"id": 3, "amount": 2.0, "new": {"x": 1}}),
                    sample(2, {"id": "b", "amount": 2.5, "gone": False}),
                    {"rawMessage": {"id": "c"}, "nexlaMetaData": {"runId": 1,
                                                                  "errorRecord": True}}]

    success, failure = {"runId": 2, "status": "SUCCESS"}, {"runId": 1, "status": "FAILED"}
    (entry,) = schema_difference(Samples(), [7], success, failure)
    assert entry["removed"] == [{"field": "gone", "type": "boolean"}]
    assert entry["added"] == [{"field": "new", "type": "object"},
                              {"field": "new.x", "type": "integer"}]
    assert entry["changed"] == [{"field": "id", "from": "string", "to": "integer"}]
    (missing,) = schema_difference(Samples(), [7], {"runId": 9}, failure)
    assert "hold no records of the success run" in missing["unavailable"]


# ------------------------------------------------------------------ hardening (adversarial run)

def test_one_flows_failed_detail_read_leaves_the_rest_of_the_report(tri, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/data_sources/124/metrics/run_summary$",
                              action="status", status=404, times=10)
    res = tri("--json")
    doc = res.json()
    assert res.code == 1 and doc["ok"] is True and doc["complete"] is False
    flow = doc["flows"][0]
    assert flow["flow_id"] == 1002 and "not found" in flow["details_unavailable"]
    assert flow["impact"]["failed_runs"] > 0  # what the listing showed
    assert any("flow 1002: details unavailable" in gap for gap in doc["gaps"])
    assert "triage incomplete: flow 1002" in res.err


def test_unreadable_notifications_are_a_gap_not_the_end(tri, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/notifications$", action="status",
                              status=403, times=10)
    res = tri("--json")
    assert res.code == 1 and res.json()["broken"] == 2
    assert any(g.startswith("notifications unavailable") for g in res.json()["gaps"])


def test_an_unreadable_listing_is_never_a_clean_bill_of_health(tri, sandbox):
    sandbox.control.reset("empty")
    sandbox.control.populate("flows", 3, runs=3, fail_rate=0.0)
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="rewrite",
                              set_type={"flows[].id": "string"}, times=10)
    res = tri("--json")
    assert res.code == 7  # nothing judged broken, but nothing could be judged
    doc = res.json()
    assert doc["healthy"] is True and doc["complete"] is False
    assert doc["gaps"] == ["3 listed flow(s) had no usable id and were not judged"]


def test_a_garbled_run_summary_is_an_error_for_the_comparison(tri, sandbox):
    sandbox.control.add_fault(method="GET", path=r"/metrics/run_summary$", action="rewrite",
                              set_type={"metrics": "array"}, times=10)
    res = tri("--flow", "1002", "--json")
    assert res.code == 1 and res.json()["ok"] is False
    assert "unexpected response shape" in res.json()["error"]["message"]


def test_output_dash_is_stdout_and_one_document(tri):
    res = tri("--json", "--output", "-")
    assert res.code == 1
    assert res.json()["broken"] == 2  # json.loads of the whole stdout: exactly one document


def test_flags_of_the_ranking_are_refused_with_flow(tri):
    res = tri("--flow", "1002", "--limit", "3")
    assert res.code == 2 and "--limit: applies to the ranked triage" in res.err


def test_credential_names_are_escaped_in_the_text_report(tri, sdk_client):
    sdk_client.request("PUT", "/data_sources/124", json={"data_credentials_id": 13})
    sdk_client.request("PUT", "/data_credentials/13", json={"name": "evil\x1b[2J\x07\u202eX"})
    res = tri()
    assert res.code == 1
    assert "evil\\x1b[2J\\x07\\u202eX" in res.out
    assert not any(c in res.out for c in "\x1b\x07\u202e")


def test_sigterm_still_prints_one_json_document(sandbox, script_cwd):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import SCRIPTS, _script_env

    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="delay", delay_ms=3000,
                              times=5)
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / "triage.py"), "--json"],
                            cwd=str(script_cwd), env=_script_env(sandbox, None),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    doc = json.loads(out)
    assert doc["ok"] is False and doc["error"]["kind"] == "terminated"


def test_a_flow_whose_status_cannot_be_read_is_judged(tri, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="rewrite",
                              drop=["flows[].status", "data_sources[].status"], times=10)
    res = tri("--json")
    doc = res.json()
    assert res.code == 1 and 1002 in {f["flow_id"] for f in doc["flows"]}
    assert any("had no readable status (judged as running)" in g for g in doc["gaps"])


def test_notifications_of_another_shape_and_probes_answering_404_are_gaps(tri, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/notifications$", action="rewrite",
                              wrap="data", times=10)
    sandbox.control.add_fault(method="GET", path=r"^/data_credentials/\d+/probe$",
                              action="status", status=404, times=50)
    doc = tri("--json", "--probe-credentials").json()
    assert any(g.startswith("notifications unavailable: GET /notifications: unexpected "
                            "response shape") for g in doc["gaps"])
    assert any("its probe answered not found" in g for g in doc["gaps"])
    assert {f["flow_id"] for f in doc["flows"]} == {1002, 1003}  # 404s fail no credential


def test_a_listing_that_stops_on_a_later_page_is_a_gap(tri, sandbox):
    sandbox.control.reset("empty")
    sandbox.control.populate("flows", 150, runs=3, fail_rate=0.0)
    sandbox.control.add_fault(method="GET", path=r"^/flows$", action="status", status=500,
                              skip=1, times=50)  # page 1 answers, the rest fail
    res = tri("--json")
    doc = res.json()
    assert res.code == 7 and doc["healthy"] is True and doc["flows_checked"] == 100
    assert any(g.startswith("flow listing stopped at page 2") for g in doc["gaps"])


def test_skill_points_monitoring_to_triage_first():
    from conftest import ROOT

    text = (ROOT / "SKILL.md").read_text(encoding="utf-8")
    section = text.split("## Monitoring strategy", 1)[1].split("\n## ", 1)[0]
    first = next(line for line in section.splitlines() if line.startswith("1. "))
    assert "triage" in first.lower() and "`triage.py --json`" in first
