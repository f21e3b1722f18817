"""flow_metrics against the sandbox over real HTTP: daily totals and SLA attainment checked
against the seeded runs (read independently through the sandbox's control API), the chart and
the HTML report, bad input (exit 2, one line, nothing sent) and failures as one JSON document."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flow_metrics
from nexla_sandbox.seed import ERROR_DAY_AGO, LATE_DAY_AGO

UTC = dt.timezone.utc
FRESHNESS = 8 * 3600
SUCCESS_RATE = 0.95
SLA = {"defaults": {"freshness": "8h", "success_rate": SUCCESS_RATE}, "flows": [{"id": 1001}]}


@pytest.fixture
def fm(run_main):
    """flow_metrics.main in-process: (exit code, stdout, stderr)."""

    def run(*argv):
        result = run_main(flow_metrics, *argv)
        return result.code, result.out, result.err

    return run


@pytest.fixture
def sla_file(tmp_path):
    path = tmp_path / "sla.json"
    path.write_text(json.dumps(SLA))
    return path


def seeded_runs(sandbox, flow_id):
    now = dt.datetime.now(UTC).timestamp()
    return [r for r in sandbox.control.state("runs")
            if r["flow_id"] == flow_id and r["started_at"] <= now]


def utc_day(ts):
    return dt.datetime.fromtimestamp(ts, UTC).date().isoformat()


def day_bounds(day):
    start = dt.datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    return start, start + 86400


# ------------------------------------------------------------------ figures against the seed


def test_daily_totals_are_the_sums_of_the_runs_per_utc_day(fm, sandbox):
    code, out, err = fm("--flow", 1001, "--json")
    assert code == 0, err
    doc = json.loads(out)
    expected = {}
    for run in seeded_runs(sandbox, 1001):
        day = expected.setdefault(utc_day(run["started_at"]), {
            "records": 0, "size": 0, "records_written": 0, "errors": 0, "runs": 0})
        day["runs"] += 1
        for res in run["resources"]:
            if res["resource_type"] == "data_sources":
                day["records"] += res["records"]
                day["size"] += res["size"]
            elif res["resource_type"] == "data_sinks":
                day["records_written"] += res["records"]
                day["errors"] += res["errors"]
    assert len(doc["daily"]) == 30
    for row in doc["daily"]:
        want = expected.get(row["date"], dict.fromkeys(
            ("records", "size", "records_written", "errors", "runs"), 0))
        assert {k: row[k] for k in want} == want, row["date"]
    assert doc["totals"]["records"] == sum(r["records"] for r in doc["daily"])
    error_day = (dt.datetime.now(UTC).date() - dt.timedelta(days=ERROR_DAY_AGO)).isoformat()
    assert {r["date"]: r["errors"] for r in doc["daily"]}[error_day] > 0


def test_run_statistics_match_the_runs(fm, sandbox):
    code, out, err = fm("--flow", 1001, "--json")
    assert code == 0, err
    doc = json.loads(out)
    first = day_bounds(doc["window"]["from"])[0]
    mine = [r for r in seeded_runs(sandbox, 1001) if r["started_at"] >= first]
    durations = sorted(r["finished_at"] - r["started_at"] for r in mine)
    p95 = durations[-(-95 * len(durations) // 100) - 1]  # nearest rank
    runs = doc["runs"]
    assert runs["runs"] == len(mine)
    assert runs["succeeded"] == sum(r["status"] == "SUCCESS" for r in mine)
    assert runs["duration_p95_s"] == pytest.approx(p95, abs=0.01)
    total_time = sum(durations)
    assert runs["throughput_rps"] == pytest.approx(sum(r["records"] for r in mine) / total_time,
                                                   abs=0.01)


def test_sla_attainment_equals_a_hand_computation(fm, sandbox, sla_file):
    code, out, err = fm("--flow", 1001, "--sla", sla_file, "--json")
    assert code == 0, err
    doc = json.loads(out)
    now = dt.datetime.fromisoformat(doc["window"]["now"]).timestamp()
    runs = seeded_runs(sandbox, 1001)
    successes = sorted(r["finished_at"] for r in runs
                       if r["status"] == "SUCCESS" and r["finished_at"] <= now)
    verdicts = {}
    for row in doc["daily"]:
        start, end = day_bounds(row["date"])
        end = min(end, now)
        # freshness: walk the successes, from the last one before the day to the day's end
        last = max([t for t in successes if t < start], default=start)
        longest = 0.0
        for t in successes:
            if start <= t <= end:
                longest = max(longest, t - last)
                last = t
        longest = max(longest, end - last)
        finished = [r for r in runs if start <= r["started_at"] < start + 86400
                    and r["finished_at"] <= now]
        rate = sum(r["status"] == "SUCCESS" for r in finished) / len(finished) if finished \
            else None
        met = longest <= FRESHNESS and (rate is None or rate >= SUCCESS_RATE)
        verdicts[row["date"]] = (longest <= FRESHNESS, rate, met)
    (flow,) = doc["sla"]["flows"]
    got = {d["date"]: (d["freshness_met"], d["success_rate"], d["met"]) for d in flow["days"]}
    assert got == {day: (f, None if r is None else round(r, 4), m)
                   for day, (f, r, m) in verdicts.items()}
    met_days = sum(m for _, _, m in verdicts.values())
    assert flow["days_met"] == met_days and flow["days_evaluated"] == len(verdicts)
    assert flow["attainment"] == round(met_days / len(verdicts), 4)
    today = dt.datetime.now(UTC).date()
    for ago in (ERROR_DAY_AGO, LATE_DAY_AGO):
        assert (today - dt.timedelta(days=ago)).isoformat() in flow["missed"]
    assert flow["attainment"] < 1


def test_org_report_and_the_flows_its_sla_lists(fm, sla_file):
    code, out, err = fm("--org", "--sla", sla_file, "--json", "--from",
                        (dt.datetime.now(UTC).date() - dt.timedelta(days=2)).isoformat())
    assert code == 0, err
    doc = json.loads(out)
    assert doc["target"]["kind"] == "org" and doc["target"]["id"] == 7
    assert len(doc["daily"]) == 3 and all(r["errors"] is None for r in doc["daily"])
    assert doc["totals"]["records"] > 0 and doc["last_24h"]["sinks"]["errors"] > 0
    assert [f["flow_id"] for f in doc["sla"]["flows"]] == [1001]


def test_text_and_csv(fm, tmp_path):
    code, out, err = fm("--resource-type", "data_sinks", "--resource-id", 302)
    assert code == 0, err
    assert out.startswith("data_sinks 302 customers-warehouse: ") and "DATE" in out
    target = tmp_path / "days.csv"
    code, out, err = fm("--flow", 1002, "--csv", "--output", target)
    assert code == 0 and out == "", err
    lines = target.read_text().splitlines()
    assert lines[0].startswith("date,records,records_written,size,errors") and len(lines) == 31


# ------------------------------------------------------------------ chart and HTML report


def test_chart_is_a_png_that_is_not_blank(fm, tmp_path, sla_file):
    from matplotlib import image

    chart = tmp_path / "flow.png"
    code, _, err = fm("--flow", 1001, "--sla", sla_file, "--chart", chart)
    assert code == 0, err
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(str(chart))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400
    assert pixels[..., :3].var() > 0.005


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.headers, self.external, self.scripts = [], [], [], 0
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        if tag == "script":
            self.scripts += 1
        self._in_th = tag == "th"
        self.external += [v for k, v in attrs.items() if k != "src" or tag != "img"
                          if v and ("http:" in v or "https:" in v or v.startswith("//"))]

    def handle_endtag(self, tag):
        self._in_th = False

    def handle_data(self, data):
        if self._in_th:
            self.headers.append(data)


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "headless_shell")


def test_html_report_is_self_contained_and_escaped(fm, sandbox, sdk_client, tmp_path, sla_file):
    sdk_client.request("PUT", "/data_sources/123", json={"name": "<b>orders</b>\x1b[31m"})
    report = tmp_path / "report.html"
    code, _, err = fm("--flow", 1001, "--sla", sla_file, "--html", report)
    assert code == 0, err
    text = report.read_text(encoding="utf-8")
    assert "<b>orders" not in text and "\x1b" not in text
    page = _Page()
    page.feed(text)
    assert len(page.images) == 1 and page.images[0].startswith("data:image/png;base64,")
    assert {"DATE", "RECORDS", "ERRORS"} <= {h.upper() for h in page.headers}
    assert {"freshness_met", "met", "duration_p95_s"} <= set(page.headers)
    assert not page.external and page.scripts == 0
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser:
        shot = tmp_path / "shot.png"
        subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox",
                        f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri()],
                       capture_output=True, timeout=60)
        from matplotlib import image

        assert shot.exists() and image.imread(str(shot))[..., :3].var() > 0.001


# ------------------------------------------------------------------ bad input and failures


def _bad_sla(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


BAD_SLA = [
    ("nan.json", '{"defaults": {"success_rate": NaN}}'),
    ("inf.yaml", "defaults: {success_rate: .inf}"),
    ("nan.yaml", "defaults: {freshness: .nan}"),
    ("big.json", '{"defaults": {"freshness": 1e300}}'),
    ("rate.json", '{"defaults": {"success_rate": 1.5}}'),
    ("bool.json", '{"defaults": {"success_rate": true}}'),
    ("word.json", '{"defaults": {"freshness": "soon"}}'),
    ("neg.json", '{"defaults": {"duration_p95": -5}}'),
    ("zero.json", '{"defaults": {"freshness": "0s"}}'),
    ("key.json", '{"defaults": {"freshnes": "8h"}}'),
    ("top.json", '{"flow": []}'),
    ("list.json", "[1, 2]"),
    ("flows.json", '{"flows": {"id": 1}}'),
    ("noid.json", '{"flows": [{"freshness": "8h"}]}'),
    ("badid.json", '{"flows": [{"id": -3, "freshness": "8h"}]}'),
    ("twice.json", '{"flows": [{"id": 1, "freshness": "8h"}, {"id": 1}]}'),
    ("empty.json", "{}"),
    ("binary.json", b"\x00\x01\x02PNG"),
    ("latin1.yaml", b"defaults: {freshness: \xe9}"),
    ("broken.yaml", "defaults: [unclosed"),
]


@pytest.mark.parametrize("name, content", BAD_SLA, ids=[n for n, _ in BAD_SLA])
def test_bad_sla_files_are_one_line_of_bad_input(fm, sandbox, tmp_path, name, content):
    path = _bad_sla(tmp_path, name, content)
    sandbox.control.clear_requests()
    code, out, err = fm("--flow", 1001, "--sla", path)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sandbox.control.requests() == []


def _today(days=0):
    return (dt.datetime.now(UTC).date() + dt.timedelta(days=days)).isoformat()


BAD_FLAGS = [
    ["--flow", 1001, "--from", "2024-13-01"],
    ["--flow", 1001, "--from", "2024-05-01T00:00"],
    ["--flow", 1001, "--to", "yesterday"],
    ["--flow", 1001, "--from", _today(-1), "--to", _today(-2)],
    ["--flow", 1001, "--to", _today(1)],
    ["--flow", 1001, "--from", "2000-01-01"],
    ["--flow", 0],
    ["--flow", "1e3"],
    [],
    ["--flow", 1001, "--org"],
    ["--resource-type", "data_sinks"],
    ["--resource-type", "flows", "--resource-id", 1],
    ["--flow", 1001, "--json", "--csv"],
    ["--flow", 1001, "--chart", "-"],
    ["--flow", 1001, "--sla", "/nonexistent/sla.yaml"],
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=[" ".join(map(str, a)) or "none"
                                                 for a in BAD_FLAGS])
def test_bad_flags_are_one_line_of_bad_input(fm, sandbox, argv):
    sandbox.control.clear_requests()
    code, out, err = fm(*argv)
    assert code == 2, err
    assert out == "" if "--json" not in argv else json.loads(out)["ok"] is False
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sandbox.control.requests() == []


def test_directories_where_files_belong(fm, sandbox, tmp_path):
    sandbox.control.clear_requests()
    for argv in (["--sla", tmp_path], ["--chart", tmp_path], ["--html", tmp_path],
                 ["--output", tmp_path]):
        code, out, err = fm("--flow", 1001, *argv, "--json")
        assert code == 2 and err.count("\n") == 1, (argv, err)
        assert json.loads(out)["error"]["kind"] == "bad_input"
    assert sandbox.control.requests() == []


@pytest.mark.parametrize("argv", [["--flow", 99999], ["--resource-type", "data_sinks",
                                                      "--resource-id", 99999]])
def test_unknown_target_is_exit_5_with_one_json_document(fm, argv):
    code, out, err = fm(*argv, "--json")
    assert code == 5
    doc = json.loads(out)  # exactly one document
    assert doc["ok"] is False and doc["error"]["kind"] == "not_found"
    assert err.count("\n") == 1


FUZZ = settings(max_examples=30, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)


@FUZZ
@given(flag=st.sampled_from(["--from", "--to", "--flow", "--resource-id", "--org"]),
       value=TEXT.filter(lambda v: not v.startswith("-")))
def test_fuzzed_flags_exit_0_or_2_and_send_nothing_on_bad_input(fm, sandbox, flag, value):
    sandbox.control.clear_requests()
    base = [] if flag in ("--flow", "--org") else ["--flow", 1001]
    if flag == "--resource-id":
        base = ["--resource-type", "data_sinks"]
    code, out, err = fm(*base, flag, value, "--json")
    assert "Traceback" not in err
    if code == 2:
        assert json.loads(out)["ok"] is False and err.count("\n") == 1
        assert sandbox.control.requests() == []
    else:
        assert code in (0, 5) and json.loads(out)


SLA_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                       st.floats(allow_nan=True, allow_infinity=True), TEXT,
                       st.sampled_from(["8h", "2m", "1h30m", "0.5", "1d", ".inf"]),
                       st.lists(st.integers(), max_size=2))
SLA_ENTRY = st.dictionaries(st.sampled_from(["freshness", "success_rate", "duration_p95", "id",
                                             "bogus"]), SLA_VALUES, max_size=4)


@FUZZ
@given(doc=st.one_of(st.fixed_dictionaries({}, optional={"defaults": SLA_ENTRY,
                                                         "flows": st.lists(SLA_ENTRY,
                                                                           max_size=2)}),
                     SLA_VALUES),
       as_yaml=st.booleans())
def test_fuzzed_sla_files_exit_0_or_2(fm, sandbox, tmp_path, doc, as_yaml):
    import yaml

    path = tmp_path / ("sla.yaml" if as_yaml else "sla.json")
    path.write_text(yaml.safe_dump(doc) if as_yaml else json.dumps(doc))
    sandbox.control.clear_requests()
    code, out, err = fm("--flow", 1001, "--sla", path, "--json", "--from", _today(-1))
    assert "Traceback" not in err
    assert code in (0, 2), err
    assert json.loads(out)["ok"] is (code == 0)
    if code == 2:
        assert err.count("\n") == 1 and sandbox.control.requests() == []


# ------------------------------------------------------------------ hardening (adversarial run)

def test_any_node_id_names_the_whole_flow(fm):
    _, by_root, _ = fm("--flow", "1001", "--json")
    code, by_sink, _ = fm("--flow", "1301", "--json")  # orders-warehouse's node
    assert code == 0
    assert json.loads(by_sink)["target"] == json.loads(by_root)["target"]
    assert json.loads(by_sink)["totals"] == json.loads(by_root)["totals"]


def test_days_before_the_first_run_are_not_evaluated_and_a_paused_flow_is_judged(
        fm, sandbox, sla_file):
    new = sandbox.control.populate("flows", 1, runs=0)["ids"][0]
    sla_file.write_text(json.dumps({"defaults": {"freshness": "8h"},
                                    "flows": [{"id": new}, {"id": 1004}]}))
    code, out, _ = fm("--org", "--sla", str(sla_file), "--json")
    assert code == 0
    flows = {f["flow_id"]: f for f in json.loads(out)["sla"]["flows"]}
    assert flows[new]["days_evaluated"] == 0 and flows[new]["attainment"] is None
    assert {d["not_evaluated"] for d in flows[new]["days"]} == {"before the flow's first run"}
    paused = flows[1004]  # no runs for days: a pause must not erase the outage
    first = min(r["started_at"] for r in sandbox.control.state("runs") if r["flow_id"] == 1004)
    since_first = [d for d in paused["days"] if day_bounds(d["date"])[1] > first]
    assert paused["days_evaluated"] == len(since_first) and paused["missed"]
    assert any("flow 1004 is paused" in note for note in json.loads(out)["notes"])


@pytest.mark.parametrize("argv", [["--sla", ""], ["--chart", ""], ["--html", ""],
                                  ["--output", "same.html", "--html", "same.html"],
                                  ["--chart", "c.gif"]])
def test_empty_and_clashing_file_flags_are_bad_input(fm, sandbox, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    sandbox.control.clear_requests()
    code, _, err = fm("--flow", "1001", *argv)
    assert code == 2 and (argv[0] in err or argv[-2] in err)
    assert [r for r in sandbox.control.requests() if not r["path"].startswith("/token")] == []


def test_an_output_directory_that_takes_no_file_is_refused_before_anything_is_sent(fm,
                                                                                 sandbox):
    sandbox.control.clear_requests()
    code, _, err = fm("--flow", "1001", "--output", "/proc/nexla-ops-report.json")
    assert code == 2 and "--output: cannot write in /proc" in err
    assert [r for r in sandbox.control.requests() if not r["path"].startswith("/token")] == []


def test_the_deadline_bounds_the_whole_report(fm, sandbox):
    import time

    sandbox.control.add_fault(method="GET", path=r"/flows/account_metrics$", action="delay",
                              delay_ms=400, times=100)
    started = time.monotonic()
    code, out, _ = fm("--org", "--json", "--deadline", "1.5", "--max-attempts", "1")
    assert code == 6 and json.loads(out)["ok"] is False
    assert time.monotonic() - started < 6


@pytest.mark.parametrize("path,field,kind", [
    (r"^/users/\d+/flows/dashboard$", "metrics.sources", "array"),
    (r"^/flows/\d+$", "flows", "object"),
    (r"/metrics/run_summary$", "metrics.data", "object"),
])
def test_unexpected_answers_are_shape_errors_not_zero_figures(fm, sandbox, path, field, kind):
    sandbox.control.add_fault(method="GET", path=path, action="rewrite",
                              set_type={field: kind}, times=50)
    argv = ["--org"] if "dashboard" in path else ["--flow", "1001"]
    code, out, err = fm(*argv, "--json")
    doc = json.loads(out)
    if "dashboard" in path:  # the groups are read leniently: a list there has no entries
        assert code == 0 and doc["last_24h"]["sources"]["resources"] == 0
    else:
        assert code == 1 and "unexpected response shape" in doc["error"]["message"]
    assert "internal error" not in err


def test_chart_format_follows_the_file_name(fm, tmp_path):
    code, _, err = fm("--flow", "1001", "--chart", str(tmp_path / "c.svg"))
    assert code == 0 and "wrote the chart to" in err
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
