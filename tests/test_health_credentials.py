"""health_check --credentials against the sandbox over real HTTP: verdicts from the credential
listing and from probes, the flows a failing credential breaks, paused-only credentials,
expiry read from a key the team records, request counts, output shapes, and bad flags.

Seed usage: credential 11 is used by flows 1001, 1003 and the paused 1004; 12 by 1001 (its
destination 301) and 1002; 14 by 1003; 13 (broken-snowflake-cred, verified_status FAILED) by
none. Nexla publishes no expiry field, so expiry tests record one in credentials_non_secure_data
through the public API (the non-secret keys of a credential's `credentials`)."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexla_ops.commands import health_check
from nexla_ops.health.credentials import (
    CredentialSettings,
    expiry_check,
    parse_expiry,
    status_check,
)


def creds(doc) -> dict:
    return {c["id"]: c for c in doc["credentials"]}


def use_credential(client, cred_id, *resources):
    """Point each ("data_sources"|"data_sinks", id) at credential `cred_id` (public PUT)."""
    for kind, rid in resources:
        client.request("PUT", f"/{kind}/{rid}", json={"data_credentials_id": cred_id})


def new_credential(client, **non_secure) -> int:
    """A credential with these non-secret keys (echoed in credentials_non_secure_data)."""
    cred = client.request("POST", "/data_credentials", json={
        "name": "expiring-cred", "credentials_type": "s3",
        "credentials": {"secret_key": "s3-secret-x", **non_secure}})
    return cred["id"]


def iso(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).isoformat()


# ------------------------------------------------------------------ verdicts


def test_listing_verdicts_cost_only_the_listing_pages(hc, sandbox):
    result = hc("--all", "--json")
    plain = [(r["method"], r["path"]) for r in sandbox.control.requests()]
    assert "credentials" not in result.json()  # without the flag: as before
    sandbox.control.clear_requests()
    result = hc("--all", "--credentials", "--json")
    doc = result.json()
    requests = sandbox.control.requests()
    extra = [r for r in requests if r["path"].startswith("/data_credentials")]
    # The listing's pages only (the empty second one settles that the short first was the end)
    assert [(r["method"], r["path"]) for r in requests if r not in extra] == plain
    assert [(r["path"], r["query"]["page"], r["query"]["per_page"]) for r in extra] == [
        ("/data_credentials", "1", "100"), ("/data_credentials", "2", "100")]
    assert doc["summary"]["api_calls"] == 4
    found = creds(doc)
    assert sorted(found) == [11, 12, 14]  # 13 is used by no flow
    assert found[11]["flows"] == [1001, 1003, 1004] and found[11]["paused_flows"] == [1004]
    assert found[12]["flows"] == [1001, 1002]
    assert {c["state"] for c in found.values()} == {"OK"}
    assert found[12]["verified_status"] == "VERIFIED" and found[12]["verified_at"]
    assert found[12]["source"] == "listing" and found[12]["expires_at"] is None
    assert doc["summary"]["credentials"] == {
        "checked": 3, "counts": {"OK": 3, "WARNING": 0, "CRITICAL": 0, "UNKNOWN": 0},
        "not_counted": 0}
    assert result.code == 2  # flow 1002's error rate, as without --credentials
    flows = {f["flow_id"]: f for f in doc["flows"]}
    assert all(c["check"] != "credentials" for c in flows[1001]["checks"])


def test_listing_pages_grow_with_the_credentials_not_one_call_each(hc, sandbox):
    sandbox.control.populate("credentials", 250)
    sandbox.control.clear_requests()
    hc("--all", "--credentials", "--json")
    paths = [r for r in sandbox.control.requests() if r["path"].startswith("/data_credentials")]
    assert {r["path"] for r in paths} == {"/data_credentials"}
    pages = sorted(int(r["query"]["page"]) for r in paths)
    # 254 credentials: pages 1-3, and at most the prefetch window's few past the end
    assert pages[:3] == [1, 2, 3] and len(pages) == len(set(pages)) <= 3 + 7


def test_failed_verified_status_in_the_listing_is_critical_and_names_the_flows(
        hc, sandbox, sdk_client):
    use_credential(sdk_client, 13, ("data_sources", 123), ("data_sinks", 302))  # flows 1001, 1002
    sandbox.control.clear_requests()
    result = hc("--flow", "1001", "--credentials", "--json")
    doc = result.json()
    assert result.code == 2 and doc["summary"]["state"] == "CRITICAL"
    assert {f["flow_id"]: f["state"] for f in doc["flows"]} == {1001: "OK"}  # the credential's
    cred = creds(doc)[13]
    assert cred["state"] == "CRITICAL" and cred["verified_status"] == "FAILED"
    assert cred["message"].startswith("credential 13 (broken-snowflake-cred) failed verification "
                                      "(verified_status FAILED at ")
    assert cred["message"].endswith(": breaks flows 1001 orders-s3")
    assert not any(r["path"].endswith("/probe") for r in sandbox.control.requests())

    result = hc("--all", "--credentials")
    line = next(x for x in result.out.splitlines() if "credential 13" in x)
    assert line.startswith("CRITICAL credential 13 (broken-snowflake-cred) failed verification")
    assert line.endswith("breaks flows 1001 orders-s3, 1002 customers-postgres")
    assert result.out.splitlines()[-1].endswith(
        "; 4 credentials: 1 critical, 0 warning, 0 unknown, 3 ok")

    result = hc("--flow", "1001", "--credentials", "--format", "nagios")
    assert result.out.startswith("NEXLA CRITICAL - 1 flows: 0 critical, 0 warning, 0 unknown, 1 ok; "
                                 "2 credentials: 1 critical, 0 warning, 0 unknown, 1 ok - "
                                 "CRITICAL credential 13 (broken-snowflake-cred) failed")
    assert "credentials_critical=1" in result.out and result.out.count("\n") == 1


def test_a_credential_that_fails_its_probe_is_critical_naming_its_flows(hc, sandbox, sdk_client):
    # The remote system now rejects credential 12's secret (the sandbox's probe rule).
    sdk_client.request("PUT", "/data_credentials/12",
                       json={"credentials": {"password": "wrong-password"}})
    sandbox.control.clear_requests()
    result = hc("--all", "--credentials", "--probe-credentials", "--json")
    doc = result.json()
    requests = sandbox.control.requests()
    probes = sorted(r["path"] for r in requests if r["path"].startswith("/data_credentials"))
    # Each credential once (11 serves three flows), and no listing: the probe is the verdict.
    assert probes == ["/data_credentials/11/probe", "/data_credentials/12/probe",
                      "/data_credentials/14/probe"]
    cred = creds(doc)[12]
    assert cred["state"] == "CRITICAL" and cred["source"] == "probe"
    assert cred["message"] == (
        "credential 12 (warehouse-postgres-cred) failed verification (probe failed: Invalid "
        "credentials: data_credentials/12 was rejected by the remote system): breaks flows "
        "1001 orders-s3, 1002 customers-postgres")
    assert creds(doc)[11]["state"] == "OK" and creds(doc)[11]["message"].startswith(
        "credential 11 (orders-s3-cred) probe ok: used by flows")

    result = hc("--flow", "1001", "--credentials", "--probe-credentials", "--json")
    doc = result.json()
    assert result.code == 2 and {f["flow_id"]: f["state"] for f in doc["flows"]} == {1001: "OK"}
    assert creds(doc)[12]["message"].endswith("breaks flows 1001 orders-s3")


def test_a_probe_refused_for_a_missing_role_is_unknown(hc, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/data_credentials/14/probe$", action="status",
                              status=403, body={"message": "requires operator role", "code": 403})
    result = hc("--flow", "1003", "--credentials", "--probe-credentials", "--json",
                "--max-age", "3d")
    cred = creds(result.json())[14]
    assert cred["state"] == "UNKNOWN" and "cannot probe" in cred["message"]
    assert result.code == 3


def test_a_credential_only_paused_flows_use_is_reported_but_not_counted(hc, sdk_client):
    use_credential(sdk_client, 13, ("data_sources", 126))  # the paused flow 1004's source
    result = hc("--flow", "1004", "--expect-paused", "1004", "--credentials", "--json")
    doc = result.json()
    assert result.code == 0 and doc["summary"]["state"] == "OK"
    cred = creds(doc)[13]
    assert cred["state"] == "CRITICAL" and cred["counted"] is False
    assert cred["paused_flows"] == [1004]
    assert cred["message"].endswith("used only by paused flows 1004 legacy-orders-ftp, so it "
                                    "does not count toward the overall state")
    assert doc["summary"]["credentials"]["not_counted"] == 2  # 11 too, in this selection

    result = hc("--flow", "1004", "--expect-paused", "1004", "--credentials")
    assert result.code == 0
    assert result.out.splitlines()[-1].endswith("(2 used only by paused flows, not counted)")
    result = hc("--flow", "1004", "--expect-paused", "1004", "--credentials", "--format", "nagios")
    assert result.out.startswith("NEXLA OK") and "credential 13" not in result.out

    # the same credential on an active flow too: it counts, and names both
    use_credential(sdk_client, 13, ("data_sources", 123))
    result = hc("--flow", "1001", "--flow", "1004", "--expect-paused", "1004", "--credentials",
                "--json")
    assert result.code == 2
    assert creds(result.json())[13]["message"].endswith(
        "breaks flows 1001 orders-s3; also paused flows 1004 legacy-orders-ftp")


def test_a_never_verified_credential_is_ok_with_a_note(hc, sdk_client):
    cred_id = new_credential(sdk_client, region="us-east-1")
    use_credential(sdk_client, cred_id, ("data_sources", 123))
    result = hc("--flow", "1001", "--credentials", "--json")
    cred = creds(result.json())[cred_id]
    assert result.code == 0 and cred["state"] == "OK" and cred["verified_status"] is None
    assert "never verified (no verified_status; --probe-credentials checks it now)" in cred["message"]


# ------------------------------------------------------------------ expiry


# Expiry values are made when the test runs (not when it is collected, minutes earlier).
EXPIRY_VALUES = {
    "in 2 days": lambda: iso(timedelta(days=2)),
    "a day ago": lambda: iso(timedelta(days=-1)),
    "a date in 90 days": lambda: (datetime.now(timezone.utc) + timedelta(days=90)).date().isoformat(),
    "epoch seconds tomorrow": lambda: int((datetime.now(timezone.utc) + timedelta(days=1)).timestamp()),
    "words": lambda: "next tuesday",
}


@pytest.mark.parametrize("value, warn, state, code", [
    ("in 2 days", None, "WARNING", 1),
    ("a day ago", None, "CRITICAL", 2),
    ("a date in 90 days", None, "OK", 0),
    ("epoch seconds tomorrow", None, "WARNING", 1),
    ("in 2 days", "1h", "OK", 0),
    ("words", None, "UNKNOWN", 3),
])
def test_expiry_recorded_by_the_team(hc, sdk_client, value, warn, state, code):
    cred_id = new_credential(sdk_client, expires_on=EXPIRY_VALUES[value]())
    use_credential(sdk_client, cred_id, ("data_sources", 123))
    argv = ["--flow", "1001", "--credentials", "--expiry-field", "expires_on", "--json"]
    result = hc(*argv, *(["--expiry-warn", warn] if warn else []))
    cred = creds(result.json())[cred_id]
    assert (result.code, cred["state"]) == (code, state), cred
    if state == "UNKNOWN":
        assert ("credentials_non_secure_data.expires_on is not an ISO date, date-time or epoch "
                "seconds: 'next tuesday'") in cred["message"]
        assert cred["expires_at"] is None
    else:
        assert cred["expires_at"] and "expires_on " in cred["message"]
    if state == "CRITICAL":
        assert "expired 24h ago" in cred["message"] and "breaks flows 1001 orders-s3" in cred["message"]
    if state == "WARNING":
        assert "warning within 7d" in cred["message"]


def test_expiry_only_from_named_keys_and_the_earliest_counts(hc, sdk_client):
    cred_id = new_credential(sdk_client, expires_on=iso(timedelta(days=-3)),
                             valid_until=iso(timedelta(days=3)))
    use_credential(sdk_client, cred_id, ("data_sources", 123))
    base = ["--flow", "1001", "--credentials", "--json"]
    result = hc(*base)  # no --expiry-field: no key is guessed
    assert result.code == 0 and creds(result.json())[cred_id]["expires_at"] is None
    result = hc(*base, "--expiry-field", "valid_until")
    assert result.code == 1
    result = hc(*base, "--expiry-field", "valid_until", "--expiry-field", "expires_on")
    assert result.code == 2 and "expired 3d ago (expires_on " in creds(result.json())[cred_id]["message"]
    result = hc(*base, "--expiry-field", "rotate_by")
    assert result.code == 0 and "no expiry recorded (rotate_by)" in creds(result.json())[cred_id]["message"]


def test_a_listing_without_non_secure_data_reads_those_credentials_by_id(hc, sandbox, sdk_client):
    """The reference's listing schema documents no credentials_non_secure_data (its GET by id
    does): then, and only with --expiry-field, each used credential is read once by id."""
    cred_id = new_credential(sdk_client, expires_on=iso(timedelta(days=2)))
    use_credential(sdk_client, cred_id, ("data_sources", 123))
    sandbox.control.add_fault(method="GET", path=r"^/data_credentials$", action="rewrite",
                              drop=["[].credentials_non_secure_data"], times=10)
    sandbox.control.clear_requests()
    result = hc("--flow", "1001", "--credentials", "--expiry-field", "expires_on", "--json")
    assert result.code == 1 and creds(result.json())[cred_id]["state"] == "WARNING"
    by_id = sorted(r["path"] for r in sandbox.control.requests()
                   if r["path"].startswith("/data_credentials/"))
    assert by_id == sorted([f"/data_credentials/{cred_id}", "/data_credentials/12"])


# ------------------------------------------------------------------ outputs


def test_json_is_one_document_and_prometheus_has_a_credential_state(hc, sdk_client, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    cred_id = new_credential(sdk_client, expires_on=iso(timedelta(days=2)))
    use_credential(sdk_client, cred_id, ("data_sources", 123))
    argv = ["--all", "--credentials", "--expiry-field", "expires_on"]
    raw = hc(*argv, "--json").out
    doc = json.loads(raw)  # one document
    assert set(doc) == {"summary", "notes", "flows", "credentials"}
    lines = [line.rstrip(",") for line in raw.splitlines() if line.startswith('    {"id": ')]
    assert [json.loads(line) for line in lines] == doc["credentials"]
    assert set(doc["credentials"][0]) == {"id", "name", "state", "counted", "source",
                                          "verified_status", "verified_at", "expires_at",
                                          "flows", "paused_flows", "message"}

    target = tmp_path / "nexla.prom"
    assert hc(*argv, "--format", "prometheus", "--output", target).code == 2
    families = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    current = {(s.labels["credential_id"], s.labels["state"]) for s in
               families["nexla_credential_state"].samples if s.value == 1}
    assert current == {("12", "OK"), ("14", "OK"), ("11", "OK"), (str(cred_id), "WARNING")}
    [expiry] = families["nexla_credential_expiry_timestamp_seconds"].samples
    assert expiry.labels["credential_id"] == str(cred_id)
    assert 1 < (expiry.value - datetime.now(timezone.utc).timestamp()) / 86400 < 3


def test_the_listing_failing_leaves_the_credentials_unknown_not_the_run(hc, sandbox):
    sandbox.control.add_fault(method="GET", path=r"^/data_credentials$", action="status",
                              status=404, times=10)
    result = hc("--project", "61", "--credentials", "--json")  # flow 1001, all OK
    doc = result.json()
    assert result.code == 3 and {c["state"] for c in doc["credentials"]} == {"UNKNOWN"}
    assert all("the credential listing failed" in c["message"] for c in doc["credentials"])


# ------------------------------------------------------------------ bad flags


@pytest.mark.parametrize("argv, named", [
    (["--expiry-warn", "bad"], "argument --expiry-warn"),
    (["--expiry-warn=-1d"], "argument --expiry-warn"),
    (["--expiry-warn", "99999999999d"], "argument --expiry-warn"),
    (["--expiry-warn", "inf"], "argument --expiry-warn"),
    (["--expiry-warn", "nan"], "argument --expiry-warn"),
    (["--expiry-warn", "1e309"], "argument --expiry-warn"),
    (["--expiry-field", "expires\x1b[2Jon"], "argument --expiry-field"),
    (["--expiry-field", "expires\non"], "argument --expiry-field"),
    (["--expiry-field", ""], "argument --expiry-field"),
    (["--expiry-field", " padded"], "argument --expiry-field"),
])
def test_bad_flag_values_exit_3_in_one_line(argv, named):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        health_check.build_parser().parse_args(["--all", "--credentials", *argv])
    assert exit_info.value.code == 3
    [line] = err.getvalue().strip().splitlines()
    assert f"error: UNKNOWN: {named}" in line and "\x1b" not in line


def test_expiry_flags_need_credentials_and_credentials_need_flows(run_script):
    for flags, named in ((["--all", "--expiry-field", "expires_on"], "--expiry-field and --expiry-warn need --credentials"),
                         (["--all", "--expiry-warn", "3d"], "--expiry-field and --expiry-warn need --credentials"),
                         (["--deployments", ".", "--credentials"], "--credentials checks the credentials")):
        result = run_script("health_check", *flags, sandbox=False)
        assert result.code == 3 and result.out == ""
        [line] = result.err.strip().splitlines()
        assert line.startswith(f"health_check.py: error: UNKNOWN: {named}"), line


# ------------------------------------------------------------------ fuzz

API_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["VERIFIED", "FAILED", "verified", "", "PENDING", "2024-13-01", "2024-02-30T25:00:00Z",
     "9999-12-31T23:59:59-23:59", "0001-01-01", "1e400", "-1", "99999999999999999999"]))
API_VALUES = st.one_of(API_TEXT, st.none(), st.booleans(), st.integers(),
                       st.floats(allow_nan=True, allow_infinity=True),
                       st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                             st.integers(), max_size=2))


@settings(max_examples=300, deadline=None, database=None)
@given(status=API_VALUES, at=API_VALUES, expiry=API_VALUES)
def test_any_listed_value_is_judged_without_crashing(status, at, expiry):
    now = datetime.now(timezone.utc)
    state, detail = status_check({"verified_status": status, "verified_at": at})
    assert state in (0, 1, 2, 3) and "\n" not in detail
    state, detail, expires_at = expiry_check({"exp": expiry}, CredentialSettings(("exp",)), now)
    assert state in (0, 1, 2, 3) and (expires_at is None or expires_at.tzinfo is not None)
    if state == 3:
        assert "credentials_non_secure_data.exp" in detail


@pytest.fixture
def fuzz_cred(sandbox, sdk_client):
    """One credential on flow 1001 (hypothesis reuses it across a test's examples)."""
    cred_id = new_credential(sdk_client, expires_on="2030-01-01")
    use_credential(sdk_client, cred_id, ("data_sources", 123))
    return cred_id


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(expiry=st.one_of(API_TEXT, st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.booleans()),
       retype=st.sampled_from([None, "string", "integer", "number", "boolean", "array", "object"]),
       fmt=st.sampled_from(["json", "text", "nagios", "prometheus"]))
def test_fuzzed_credentials_served_by_the_api_never_crash(hc, sandbox, sdk_client, fuzz_cred,
                                                           expiry, retype, fmt):
    """Expiry values stored through the public API, and the listing's verified_status and
    verified_at served as other JSON types (a rewrite fault): exit 0-3, never a traceback."""
    sdk_client.request("PUT", f"/data_credentials/{fuzz_cred}",
                       json={"credentials": {"secret_key": "s3-secret-x", "expires_on": expiry}})
    sandbox.control.clear_faults()
    if retype:
        sandbox.control.add_fault(method="GET", path=r"^/data_credentials$", action="rewrite",
                                  set_type={"[].verified_status": retype, "[].verified_at": retype},
                                  times=10)
    result = hc("--flow", "1001", "--credentials", "--expiry-field", "expires_on", "--format", fmt)
    assert result.code in (0, 1, 2, 3), result
    if fmt == "json":
        assert fuzz_cred in creds(json.loads(result.out))
    elif fmt == "nagios":
        assert result.out.startswith("NEXLA ") and result.out.count("\n") == 1


def test_parse_expiry_forms():
    assert parse_expiry("2030-01-31") == datetime(2030, 1, 31, tzinfo=timezone.utc)
    assert parse_expiry("2030-01-31T10:00:00+02:00") == datetime(2030, 1, 31, 8, tzinfo=timezone.utc)
    assert parse_expiry("2030-01-31T10:00:00Z") == datetime(2030, 1, 31, 10, tzinfo=timezone.utc)
    assert parse_expiry(1_900_000_000) == parse_expiry("1900000000")
    for bad in ("soon", True, None, float("nan"), 1e20, {"at": 1}, ""):
        with pytest.raises((ValueError, OverflowError, OSError)):
            parse_expiry(bad)
