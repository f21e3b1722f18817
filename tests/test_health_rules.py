"""health_check's classification and alert rules as pure functions (no HTTP; fast).

The end-to-end behaviour against the sandbox is in test_health_check.py; these pin the edges
(thresholds are "above", staleness grades, stall, stuck, dedupe timing) that the seed can't reach.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

import nexla_ops
import nexla_ops.health as hc

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)
TH = hc.Thresholds(max_age=24 * 3600, warn_error_rate=0.1, crit_error_rate=0.25, window=10,
                   stall_runs=3, stuck_after=2 * 3600)


def run(i, status="SUCCESS", *, hours_ago=1.0, records=100, duration_min=1.0):
    started = NOW - timedelta(hours=hours_ago)
    finished = None if status == "RUNNING" else started + timedelta(minutes=duration_min)
    return hc.Run(run_id=1000 - i, status=status, started_at=started, finished_at=finished,
                  records=records, errors=0)


def flow(runs, status="ACTIVE", **kw):
    return hc.Flow(flow_id=1, name="f", status=status, project_id=None, source_id=10,
                   runs=runs, history_complete=len(runs) < hc.BULK_RUNS, **kw)


def check_of(result, name):
    return [c for c in result.checks if c.name == name]


@pytest.mark.parametrize("failed, expected", [(0, hc.OK), (1, hc.OK), (2, hc.WARNING),
                                              (3, hc.CRITICAL)])
def test_error_rate_is_failed_over_finished_runs_and_thresholds_are_exceeded_not_met(failed, expected):
    # 1/10 = 0.1 equals the warning threshold: not above it, so OK; 3/10 = 0.3 > 0.25.
    runs = [run(i, "FAILED" if i < failed else "SUCCESS", hours_ago=i + 0.5) for i in range(10)]
    result = hc.evaluate(flow(runs), TH, NOW)
    assert result.error_rate == pytest.approx(failed / 10)
    assert check_of(result, "error_rate")[0].state == expected
    assert result.state == expected


def test_runs_in_progress_do_not_count_in_the_error_rate():
    runs = [run(0, "RUNNING", hours_ago=0.1)] + [run(i, "FAILED" if i == 1 else "SUCCESS", hours_ago=i)
                                                 for i in range(1, 10)]
    result = hc.evaluate(flow(runs), TH, NOW)
    assert (result.failed_runs, result.runs_considered) == (1, 9)


def test_window_limits_the_runs_considered():
    runs = [run(i, "SUCCESS" if i < 2 else "FAILED", hours_ago=i + 0.5) for i in range(10)]
    assert hc.evaluate(flow(runs), TH, NOW).state == hc.CRITICAL
    narrow = hc.evaluate(flow(runs), replace(TH, window=2), NOW)
    assert narrow.error_rate == 0 and check_of(narrow, "error_rate")[0].state == hc.OK


@pytest.mark.parametrize("hours, expected", [(23, hc.OK), (30, hc.WARNING), (49, hc.CRITICAL)])
def test_staleness_grades_on_the_last_successful_run(hours, expected):
    result = hc.evaluate(flow([run(0, hours_ago=hours)]), TH, NOW)
    assert check_of(result, "staleness")[0].state == expected
    assert result.last_success_at == NOW - timedelta(hours=hours) + timedelta(minutes=1)


def test_failed_runs_after_the_last_success_do_not_refresh_it():
    runs = [run(0, "FAILED", hours_ago=1), run(1, "SUCCESS", hours_ago=30)]
    result = hc.evaluate(flow(runs), replace(TH, crit_error_rate=1, warn_error_rate=1), NOW)
    assert check_of(result, "staleness")[0].state == hc.WARNING


def test_no_runs_at_all_is_a_warning_and_never_succeeding_is_critical():
    assert check_of(hc.evaluate(flow([]), TH, NOW), "staleness")[0].state == hc.WARNING
    only_failures = [run(i, "FAILED", hours_ago=i + 1) for i in range(3)]
    assert check_of(hc.evaluate(flow(only_failures), TH, NOW), "staleness")[0].state == hc.CRITICAL


def test_status_paused_active_expected_and_error_states():
    assert hc.evaluate(flow([run(0)], status="PAUSED"), TH, NOW).state == hc.WARNING
    expected = hc.evaluate(flow([run(0, hours_ago=500)], status="PAUSED"),
                           replace(TH, expect_paused=True), NOW)
    # An expected pause is OK, and its old runs are not judged (it is not meant to run).
    assert expected.state == hc.OK and not check_of(expected, "staleness")
    assert hc.evaluate(flow([run(0)], status="ERROR"), TH, NOW).state == hc.CRITICAL
    broken_node = flow([run(0)], bad_nodes=[("data_sinks/301", "ERROR")])
    assert hc.evaluate(broken_node, TH, NOW).state == hc.CRITICAL


def test_stall_is_zero_records_in_the_last_n_finished_runs():
    runs = [run(i, hours_ago=i + 0.5, records=0) for i in range(3)] + [run(3, hours_ago=4)]
    result = hc.evaluate(flow(runs), TH, NOW)
    assert check_of(result, "stall")[0].state == hc.WARNING
    assert not check_of(hc.evaluate(flow(runs), replace(TH, stall_runs=4), NOW), "stall")
    assert not check_of(hc.evaluate(flow(runs), replace(TH, stall_runs=0), NOW), "stall")


@pytest.mark.parametrize("hours, expected", [(1, None), (3, hc.WARNING), (5, hc.CRITICAL)])
def test_stuck_run_in_progress(hours, expected):
    runs = [run(0, "RUNNING", hours_ago=hours), run(1, hours_ago=hours + 1)]
    stuck = check_of(hc.evaluate(flow(runs), replace(TH, max_age=10 * 24 * 3600), NOW), "stuck")
    assert [c.state for c in stuck] == ([] if expected is None else [expected])


def test_credentials_probe_results_join_the_flow_state():
    f = flow([run(0)], credential_ids={11, 13})
    result = hc.evaluate(f, TH, NOW, {11: (hc.OK, "ok"), 13: (hc.CRITICAL, "credential 13 probe failed")})
    assert result.state == hc.CRITICAL
    unprobed = hc.evaluate(f, TH, NOW, {11: (hc.OK, "ok")})
    assert [c.state for c in check_of(unprobed, "credentials")] == [hc.OK, hc.UNKNOWN]


def test_history_is_fetched_only_when_the_bulk_runs_cannot_decide():
    full_ok = flow([run(i, hours_ago=i + 1) for i in range(10)])
    assert not hc.needs_history(full_ok, TH, NOW)
    assert hc.needs_history(full_ok, replace(TH, window=20), NOW)
    recent_failures = flow([run(i, "FAILED", hours_ago=i + 1) for i in range(10)])
    assert hc.needs_history(recent_failures, TH, NOW)  # last success could be 11h or 100h ago
    old_failures = flow([run(i, "FAILED", hours_ago=50 + i) for i in range(10)])
    assert not hc.needs_history(old_failures, TH, NOW)  # already past 2x max age: CRITICAL
    result = hc.evaluate(old_failures, TH, NOW)
    assert check_of(result, "staleness")[0].state == hc.CRITICAL
    short = flow([run(i, hours_ago=i + 1) for i in range(4)])
    assert not hc.needs_history(short, replace(TH, window=20), NOW)  # that is all there is


def test_severity_ranks_critical_above_unknown():
    assert hc.worst([hc.OK, hc.UNKNOWN, hc.CRITICAL]) == hc.CRITICAL
    assert hc.worst([hc.OK, hc.UNKNOWN]) == hc.UNKNOWN
    assert hc.worst([hc.UNKNOWN, hc.WARNING]) == hc.WARNING


def result(flow_id, state):
    return hc.FlowResult(flow_id, f"flow-{flow_id}", "ACTIVE", state, [hc.Check("x", state, "why")])


def test_alert_plan_changes_realerts_and_recoveries():
    events, state = hc.plan_alerts([result(1, hc.CRITICAL), result(2, hc.OK)], {}, NOW, 3600)
    assert [(e["flow_id"], e["event"]) for e in events] == [(1, "alert")]
    later = NOW + timedelta(minutes=30)
    assert hc.plan_alerts([result(1, hc.CRITICAL)], state, later, 3600)[0] == []
    escalated, _ = hc.plan_alerts([result(1, hc.WARNING)], state, later, 3600)
    assert [e["event"] for e in escalated] == ["alert"]
    again, state2 = hc.plan_alerts([result(1, hc.CRITICAL)], state, NOW + timedelta(hours=1), 3600)
    assert [e["event"] for e in again] == ["realert"]
    assert state2["1"]["since"] == state["1"]["since"]
    # UNKNOWN (not checked in time) neither alerts nor clears.
    assert hc.plan_alerts([result(1, hc.UNKNOWN)], state, later, 3600) == ([], state)
    healed, cleared = hc.plan_alerts([result(1, hc.OK)], state, later, 3600)
    assert [e["event"] for e in healed] == ["recovery"] and cleared == {}


@pytest.mark.parametrize("value", ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00",
                                   1714557600, 1714557600000])
def test_timestamps_in_every_shape_the_api_uses(value):
    assert nexla_ops.api_time(value) == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
