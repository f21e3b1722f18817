"""The sandbox's metrics family against Nexla's published reference: the /data_flows/... logs and
metrics, account metrics, the dashboard, a user's daily metrics, /limits and the flow-log
vocabulary, over real HTTP with the unmodified SDK (raw requests where it has no method).

Bodies are validated against the schemas we keep from the reference's facts
(nexla_ops/contract/schemas), read with the reference's known artefacts in mind: `type: "null"` means "may be null", overlapping `oneOf`
branches are read as `anyOf`, and — since the reference has almost no `required` lists — every
documented property is required here, so a missing field fails. Figures are checked against
the existing per-resource endpoints for the same resource and window."""

from __future__ import annotations

import datetime as dt

import jsonschema
import pytest
import requests
from nexla_sdk import NexlaClient
from nexla_sdk.exceptions import AuthorizationError, NotFoundError
from nexla_sdk.models.flows.responses import FlowLogsResponse, FlowMetricsApiResponse
from nexla_sdk.models.metrics.responses import AccountMetrics, DashboardMetrics, MetricsResponse

from nexla_ops.contract.loader import schema_for

FROM = "2000-01-01"

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value) -> bool:
    return not isinstance(value, str) or bool(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))


def _strict(schema):
    """The digest's schema with its artefacts read sensibly and every property required."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "null":
        return {}
    out = {("anyOf" if k == "oneOf" else k): _strict(v) for k, v in schema.items()}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        out["required"] = sorted(out["properties"])
    return out


def response_schema(op: str) -> dict:
    return _strict(schema_for(op))


def assert_reference(op: str, body) -> None:
    jsonschema.validate(body, response_schema(op), format_checker=FORMATS)


# --------------------------------------------------------------------------- helpers


class Raw:
    """Plain HTTP against the sandbox with one user's token."""

    def __init__(self, sandbox, who="admin"):
        self.url = sandbox.url
        key = sandbox.service_keys[who]
        token = requests.post(f"{self.url}/token", headers={"Authorization": f"Basic {key}"},
                              timeout=10).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path, status=200, **params):
        resp = requests.get(self.url + path, headers=self.headers, params=params, timeout=30)
        assert resp.status_code == status, (path, resp.status_code, resp.text[:300])
        return resp.json()


@pytest.fixture
def raw(sandbox):
    return Raw(sandbox)


def sdk_as(sandbox, who):
    return NexlaClient(service_key=sandbox.service_keys[who], base_url=sandbox.url)


def run_summary(raw, kind, rid):
    """Every run of the resource's flow, newest first (the seed's 30 days span pages)."""
    runs, page = [], 1
    while True:
        body = raw.get(f"/{kind}/{rid}/metrics/run_summary", size=100, page=page)["metrics"]
        runs += body["data"]
        if page >= body["meta"]["pageCount"]:
            return runs
        page += 1


def daily_sum(raw, kind, rid, key="records", **window):
    return sum(d[key] for d in raw.get(f"/{kind}/{rid}/metrics", **{"from": FROM, **window})["metrics"])


def stored_runs(sandbox, flow_id):
    runs = [r for r in sandbox.control.state("runs") if r["flow_id"] == flow_id]
    return sorted(runs, key=lambda r: r["started_at"], reverse=True)


def ms(iso_text: str) -> int:
    return int(dt.datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp() * 1000)


# --------------------------------------------------------------------------- logs


def test_data_flows_logs_use_the_reference_shape_and_vocabulary(sandbox, raw):
    run = next(r for r in stored_runs(sandbox, 1002) if r["status"] == "FAILED")
    params = {"run_id": run["id"], "from": int(run["started_at"] * 1000), "per_page": 100}
    body = raw.get("/data_flows/data_sources/124/logs", **params)
    assert_reference("GET /data_flows/{resource_type}/{resource_id}/logs", body)

    lines = body["logs"]["data"]
    assert body["logs"]["meta"]["total_count"] == len(lines) == len(run["logs"])
    assert body["logs"]["meta"]["run_id"] == run["id"] and body["logs"]["meta"]["org_id"] == 7
    assert {e["resource_type"] for e in lines} == {"SOURCE", "DATASET", "SINK"}
    assert {e["log_type"] for e in lines} == {"LOG", "SUMMARY"}
    assert {e["severity"] for e in lines} == {"INFO", "WARNING", "ERROR"}
    sink_lines = [e for e in lines if e["resource_type"] == "SINK"]
    assert {e["resource_id"] for e in sink_lines} == {302}
    assert any("refused" in e["log"] and e["severity"] == "ERROR" for e in sink_lines)
    # newest first, and the same lines the SDK's /flow/logs path serves
    assert [e["timestamp"] for e in lines] == sorted((e["timestamp"] for e in lines), reverse=True)
    assert raw.get("/data_sources/124/flow/logs", **params)["logs"]["data"] == lines
    # any node of the flow references it: the destination finds the same lines
    assert raw.get("/data_flows/data_sinks/302/logs", **params)["logs"]["data"] == lines


def test_data_flows_logs_window_paging_and_required_params(sandbox, raw):
    run = stored_runs(sandbox, 1001)[0]
    start = int(run["started_at"] * 1000)
    page = raw.get("/data_flows/data_sets/223/logs", run_id=run["id"], per_page=2, page=2,
                   **{"from": start})
    assert_reference("GET /data_flows/{resource_type}/{resource_id}/logs", page)
    everything = sorted(run["logs"], key=lambda e: e["timestamp"], reverse=True)
    assert [e["log"] for e in page["logs"]["data"]] == [e["message"] for e in everything[2:4]]
    assert page["logs"]["meta"]["pages_count"] == -(-len(everything) // 2)

    cut = everything[1]["timestamp"]
    early = raw.get("/data_flows/data_sources/123/logs", run_id=run["id"], to=cut, **{"from": start})
    assert len(early["logs"]["data"]) == len(everything) - 1

    for missing in ({"from": start}, {"run_id": run["id"]}):
        err = raw.get("/data_flows/data_sources/123/logs", status=400, **missing)
        assert ("run_id" if "from" in missing else "from") in err["message"]


def test_sdk_log_methods_parse_the_reference_vocabulary(sandbox, sdk_client):
    run = next(r for r in stored_runs(sandbox, 1002) if r["status"] == "FAILED")
    for got in (sdk_client.metrics.get_flow_logs("data_sources", 124, run_id=run["id"], from_ts=0),
                sdk_client.flows.get_logs("data_sinks", 302, run_id=run["id"], from_ts=0)):
        assert isinstance(got, FlowLogsResponse)
        assert {e.level for e in got.logs} == {"INFO", "WARNING", "ERROR"}
        assert {e.resource_type for e in got.logs} == {"SOURCE", "DATASET", "SINK"}
        assert got.meta.total_count == len(run["logs"])

    # severity filters take the reference's WARNING (and the connector-style WARN)
    for severity in ("WARNING", "warn"):
        warned = sdk_client.flows.get_flow_logs(1002, severity=severity, run_id=run["id"])
        assert [e["severity"] for e in warned["logs"]["data"]] == ["WARNING"]
    found = sdk_client.flows.search_flow_logs(1002, run_ids=[run["id"]], log_type="SUMMARY",
                                              severity=["WARNING", "ERROR"])
    assert found["logs"]["data"] and {(e["log_type"], e["severity"])
                                      for e in found["logs"]["data"]} == {("SUMMARY", "ERROR")}


# --------------------------------------------------------------------------- flow metrics


def test_data_flows_metrics_aggregate_agrees_with_the_resource_endpoints(raw):
    body = raw.get("/data_flows/data_sources/123/metrics", **{"from": FROM})
    assert_reference("GET /data_flows/{resource_type}/{resource_id}/metrics", body)
    data = body["metrics"]["data"]
    assert set(data) == {"data_sources", "data_sets", "data_sinks"}  # the un-grouped branch
    by_id = {(group, e["id"]): e["metric"] for group, entries in data.items() for e in entries}
    assert set(by_id) == {("data_sources", 123), ("data_sets", 123), ("data_sets", 223),
                          ("data_sinks", 301)}

    runs = run_summary(raw, "data_sources", 123)
    assert by_id[("data_sources", 123)]["records"] == sum(r["records"] for r in runs) > 0
    for (group, rid), metric in by_id.items():
        for key in ("records", "size", "errors"):
            assert metric[key] == daily_sum(raw, group, rid, key), (group, rid, key)
    # referenced by the destination: the same flow, the same figures
    assert raw.get("/data_flows/data_sinks/301/metrics", **{"from": FROM})["metrics"]["data"] == data


def test_data_flows_metrics_grouped_by_run_pages_like_run_summary(raw):
    body = raw.get("/data_flows/data_sets/124/metrics", groupby="runId", per_page=5, page=2,
                   **{"from": FROM})
    assert_reference("GET /data_flows/{resource_type}/{resource_id}/metrics", body)
    runs = run_summary(raw, "data_sources", 124)
    assert list(body["metrics"]["data"]) == [str(r["runId"]) for r in runs[5:10]]
    assert body["metrics"]["meta"] == {"currentPage": 2, "pageCount": -(-len(runs) // 5),
                                       "totalCount": len(runs)}
    by_run = {str(r["runId"]): r for r in runs}
    for run_id, entry in body["metrics"]["data"].items():
        sink = entry["data_sinks"][0]
        assert entry["data_sources"][0]["metric"]["records"] == by_run[run_id]["records"]
        assert sink["id"] == 302 and sink["metric"]["errors"] == by_run[run_id]["errors"]
    # the SDK's /flow/metrics path keys by run too, and the SDK parses both into its model
    sdk_path = raw.get("/data_sets/124/flow/metrics", per_page=5, page=2, **{"from": FROM})
    assert sdk_path["metrics"] == body["metrics"]
    assert FlowMetricsApiResponse.model_validate(body).metrics.data == body["metrics"]["data"]

    for bad in ({"groupby": "lastWritten"}, {"orderby": "size"}, {}):
        params = {**bad, "from": FROM} if bad else {}
        raw.get("/data_flows/data_sets/124/metrics", status=400, **params)


def test_windows_agree_across_endpoints_for_dates_and_date_times(raw):
    runs = run_summary(raw, "data_sources", 123)
    day = runs[30]["started_at"][:10]
    same_day = [r for r in runs if r["started_at"].startswith(day)]
    one_day = raw.get("/data_flows/data_sources/123/metrics", to=day, **{"from": day})
    daily = raw.get("/data_sources/123/metrics", to=day, **{"from": day})["metrics"]
    assert [d["time"] for d in daily] == [day]
    assert (one_day["metrics"]["data"]["data_sources"][0]["metric"]["records"]
            == daily[0]["records"] == sum(r["records"] for r in same_day))

    # a date-time `to` ends at that instant: the newest run is left out
    to = runs[0]["started_at"][:19] + "Z"
    before = raw.get("/data_flows/data_sources/123/metrics", to=runs[1]["finished_at"],
                     **{"from": FROM})["metrics"]["data"]["data_sources"][0]["metric"]["records"]
    assert before == sum(r["records"] for r in runs[1:])
    assert raw.get("/users/1/flows/account_metrics", to=to, **{"from": runs[2]["started_at"]}
                   )["metrics"][0]["data"]["records"] == sum(
        daily_sum(raw, "data_sources", s, to=to, **{"from": runs[2]["started_at"]})
        for s in (123, 124, 125, 126, 127))


def test_sdk_metrics_methods_work_and_parse(sdk_client, raw):
    daily = sdk_client.metrics.get_resource_daily_metrics("data_sinks", 301, FROM)
    assert isinstance(daily, MetricsResponse) and daily.metrics
    assert_reference("GET /{resource_type}/{resource_id}/metrics", daily.model_dump())
    by_run = sdk_client.metrics.get_resource_metrics_by_run("data_sources", 123, size=3)
    assert_reference("GET /{resource_type}/{resource_id}/metrics/run_summary", by_run.model_dump())
    flow = sdk_client.metrics.get_flow_metrics("data_sources", 123, from_date=FROM)
    assert isinstance(flow, FlowMetricsApiResponse)
    assert len(flow.metrics.data) == flow.metrics.meta.total_count == len(
        run_summary(raw, "data_sources", 123))
    limits = sdk_client.metrics.get_rate_limits()
    assert_reference("GET /limits", limits)
    assert set(limits) == {"second", "day"}
    assert all(c["limit"] > 0 and c["count"] == 0 for w in limits.values() for c in w.values())


# --------------------------------------------------------------------------- account metrics


def test_account_metrics_sum_the_owned_sources(sandbox, sdk_client, raw):
    user = sdk_client.users.get_account_metrics(1, FROM)
    assert_reference("GET /users/{user_id}/flows/account_metrics", user)
    AccountMetrics.model_validate(user)
    sources = (123, 124, 125, 126, 127)  # all Ada's, all in org 7
    [entry] = user["metrics"]
    assert entry["data"] == {"records": sum(daily_sum(raw, "data_sources", s) for s in sources),
                             "size": sum(daily_sum(raw, "data_sources", s, "size") for s in sources)}
    assert entry["data"]["records"] > 0 and entry["start_time"] == "2000-01-01T00:00:00.000Z"

    org = sdk_client.organizations.get_org_flow_account_metrics(7, FROM)
    assert_reference("GET /orgs/{org_id}/flows/account_metrics", org)
    assert org["metrics"][0]["data"] == entry["data"]

    # Omar owns nothing: his own figures are zero, and they are his to read
    omar = Raw(sandbox, "operator")
    mine = omar.get("/users/2/flows/account_metrics", **{"from": FROM})
    assert mine["metrics"][0]["data"] == {"records": 0, "size": 0}
    assert raw.get("/users/2/flows/account_metrics", **{"from": FROM}  # an org admin may too
                   )["metrics"][0]["data"] == mine["metrics"][0]["data"]
    assert raw.get("/users/1/flows/account_metrics", org_id=99, **{"from": FROM}
                   )["metrics"][0]["data"] == {"records": 0, "size": 0}


def test_account_metrics_access_and_errors(sandbox):
    omar = sdk_as(sandbox, "operator")
    with pytest.raises(AuthorizationError):
        omar.users.get_account_metrics(1, FROM)  # another user's: needs org admin
    with pytest.raises(AuthorizationError):
        omar.organizations.get_org_flow_account_metrics(7, FROM)  # a member, not an admin
    admin = sdk_as(sandbox, "admin")
    with pytest.raises(NotFoundError):
        admin.users.get_account_metrics(999, FROM)
    with pytest.raises(NotFoundError):
        admin.organizations.get_org_flow_account_metrics(999, FROM)
    raw = Raw(sandbox)
    assert "from" in raw.get("/orgs/7/flows/account_metrics", status=400)["message"]
    raw.get("/users/1/flows/account_metrics", status=400, **{"from": "last tuesday"})


def test_user_daily_metrics_sum_the_owned_sources_or_sinks(sandbox, sdk_client, raw):
    for resource_type, kind, ids in (("SOURCE", "data_sources", (123, 124, 125, 126, 127)),
                                     ("SINK", "data_sinks", (301, 302, 303, 304))):
        body = sdk_client.users.get_daily_metrics(1, resource_type, FROM)
        assert_reference("GET /users/{user_id}/metrics", body)
        MetricsResponse.model_validate(body)
        expected: dict[str, dict] = {}
        for rid in ids:
            for day in raw.get(f"/{kind}/{rid}/metrics", **{"from": FROM})["metrics"]:
                total = expected.setdefault(day["time"], {"time": day["time"], "records": 0,
                                                          "size": 0, "errors": 0})
                for key in ("records", "size", "errors"):
                    total[key] += day[key]
        assert body["metrics"] == [expected[k] for k in sorted(expected)] and body["metrics"]
    assert sum(d["errors"] for d in body["metrics"]) > 0  # the failing destination's errors

    assert "resource_type" in raw.get("/users/1/metrics", status=400, aggregate=1,
                                      **{"from": FROM})["message"]
    raw.get("/users/1/metrics", status=400, resource_type="DATASET", aggregate=1, **{"from": FROM})
    Raw(sandbox, "dev").get("/users/1/metrics", status=403, resource_type="SINK", aggregate=1,
                            **{"from": FROM})


# --------------------------------------------------------------------------- dashboard


def test_dashboard_is_the_last_24_hours_of_each_flow(sandbox, sdk_client, raw):
    body = sdk_client.users.get_dashboard_metrics(1)
    assert_reference("GET /users/{user_id}/flows/dashboard", body)
    DashboardMetrics.model_validate(body)
    metrics = body["metrics"]
    since = ms(metrics["end_time"]) - 86_400_000
    assert ms(metrics["start_time"]) == since

    def last_day(kind, rid):
        return [r for r in run_summary(raw, kind, rid) if ms(r["started_at"]) >= since]

    for group, kind, rid in (("sources", "data_sources", 123), ("sources", "data_sources", 124),
                             ("datasets", "data_sets", 223)):
        runs = last_day(kind, rid)
        assert metrics[group][str(rid)]["records"] == sum(r["records"] for r in runs) > 0
        assert metrics[group][str(rid)]["size"] == sum(r["size"] for r in runs)
    # a destination writes what its run read, less the failed records
    sink_runs = last_day("data_sinks", 302)
    assert metrics["sinks"]["302"]["errors"] == sum(r["errors"] for r in sink_runs) > 0
    assert metrics["sinks"]["302"]["records"] == sum(r["records"] - r["errors"] for r in sink_runs)

    assert metrics["sources"]["123"]["status"] == "OK"
    assert metrics["sources"]["124"]["status"] == metrics["sinks"]["302"]["status"] == "ERROR"
    assert "125" not in metrics["sources"] and "303" not in metrics["sinks"]  # stale: no runs
    assert "126" not in metrics["sources"]  # paused


def test_dashboard_access_role_and_access(sandbox):
    dana = Raw(sandbox, "dev")
    own = dana.get("/users/4/flows/dashboard")["metrics"]  # default: flows Dana owns (none)
    assert (own["sources"], own["datasets"], own["sinks"]) == ({}, {}, {})
    shared = dana.get("/users/4/flows/dashboard", access_role="collaborator")["metrics"]
    assert set(shared["sources"]) == {"123"}  # team 43 collaborates on source 123's flow
    assert dana.get("/users/4/flows/dashboard", access_role="operator")["metrics"]["sources"] == {}
    dana.get("/users/1/flows/dashboard", status=403)
    dana.get("/users/4/flows/dashboard", status=400, access_role="boss")
    Raw(sandbox).get("/users/99/flows/dashboard", status=404)


# --------------------------------------------------------------------------- status metrics


def test_flow_status_metrics_count_the_runs(sandbox, sdk_client, raw):
    body = sdk_client.users.get_flow_status_metrics(1)
    entries = {e["flow_id"]: e for e in body["metrics"]["data"]}
    assert set(entries) == {1001, 1002, 1003, 1004, 1005}
    runs = run_summary(raw, "data_sources", 124)
    failing = entries[1002]
    assert failing["run_count"] == len(runs)
    assert failing["failed_count"] == sum(r["status"] == "FAILED" for r in runs) > 0
    assert failing["last_run_id"] == runs[0]["runId"] and failing["last_run_status"] == "FAILED"
    assert failing["records"] == sum(r["records"] for r in runs)
    assert entries[1004]["status"] == "PAUSED"

    paged = sdk_client.organizations.get_flow_status_metrics(7, access_role="collaborator",
                                                             per_page=2, page=3)
    assert [e["flow_id"] for e in paged["metrics"]["data"]] == [1005]
    assert paged["metrics"]["meta"]["totalCount"] == 5
    recent = sdk_client.users.get_flow_status_metrics(1, from_date=runs[3]["started_at"])
    assert {e["flow_id"]: e["run_count"] for e in recent["metrics"]["data"]}[1002] == 4
    with pytest.raises(AuthorizationError):
        sdk_as(sandbox, "collaborator").organizations.get_flow_status_metrics(7)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("path, params, denied_id", [
    ("/data_flows/data_sources/{}/metrics", {"from": FROM}, 124),
    ("/data_flows/data_sinks/{}/logs", {"run_id": 1, "from": 0}, 302),
])
def test_missing_resource_is_404_and_no_role_is_403(sandbox, path, params, denied_id):
    err = Raw(sandbox).get(path.format(999999), status=404, **params)
    assert err["resource_id"] == 999999
    denied = Raw(sandbox, "dev").get(path.format(denied_id), status=403, **params)
    assert "you have: no role" in denied["message"]
