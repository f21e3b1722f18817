"""list_resources.py against the sandbox over real HTTP: paging, filters, formats, flows,
redaction. Paging claims are checked in the sandbox's request log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os

import pytest

import nexla_ops
from conftest import CANARY
from nexla_ops import listing
from nexla_ops.commands import list_resources


@pytest.fixture
def cli(run_main):
    """list_resources.main(argv) in-process against the sandbox."""
    return lambda *argv: run_main(list_resources, *argv)


def list_calls(sandbox, path):
    return [r for r in sandbox.control.requests() if r["method"] == "GET" and r["path"] == path]


def api_calls(sandbox):
    return [r for r in sandbox.control.requests() if r["path"] != "/token"]


# --------------------------------------------------------------------------- paging


def test_limit_0_returns_all_260_in_ceil_260_over_page_requests(sandbox, cli):
    sandbox.control.reset("empty")
    sandbox.control.populate("sources", 260, name_prefix="bulk")
    sandbox.control.clear_requests()

    result = cli("--type", "sources", "--limit", "0", "--format", "jsonl", "--concurrency", "1")

    assert result.code == 0, result.err
    rows = result.jsonl()
    assert len(rows) == 260
    assert len({row["id"] for row in rows}) == 260
    calls = list_calls(sandbox, "/data_sources")
    assert len(calls) == math.ceil(260 / nexla_ops.PAGE_SIZE) == 3
    assert [c["query"]["page"] for c in calls] == ["1", "2", "3"]
    assert {c["query"]["per_page"] for c in calls} == {"100"}


def test_pages_in_flight_keep_the_order_and_cost_at_most_the_window(sandbox, cli):
    sandbox.control.reset("empty")
    sandbox.control.populate("sources", 1050, name_prefix="bulk")
    one = cli("--type", "sources", "--limit", "0", "--format", "jsonl", "--concurrency", "1")
    sandbox.control.clear_requests()

    many = cli("--type", "sources", "--limit", "0", "--format", "jsonl", "--concurrency", "6")

    assert many.code == 0, many.err
    assert many.out == one.out and len(many.jsonl()) == 1050  # same rows, same order
    pages = sorted(int(c["query"]["page"]) for c in list_calls(sandbox, "/data_sources"))
    # 11 pages; while 6 are in flight up to 5 more can go past the end, none twice
    assert pages[:11] == list(range(1, 12)) and len(pages) == len(set(pages)) <= 11 + 5


def test_a_full_last_page_costs_exactly_one_empty_page(sandbox, cli):
    sandbox.control.reset("empty")
    sandbox.control.populate("sources", 200)
    sandbox.control.clear_requests()

    result = cli("--type", "sources", "--limit", "0", "--format", "jsonl", "--concurrency", "1")

    assert len(result.jsonl()) == 200
    assert len(list_calls(sandbox, "/data_sources")) == 3  # 100, 100, then [] ends it


def test_limit_5_is_one_request(sandbox, cli):
    sandbox.control.populate("sources", 30)
    sandbox.control.clear_requests()

    result = cli("--type", "sources", "--limit", "5", "--format", "json")

    assert result.code == 0
    assert len(result.json()) == 5
    calls = list_calls(sandbox, "/data_sources")
    assert len(calls) == 1
    assert calls[0]["query"]["per_page"] == "5"


def test_default_limit_is_50_and_stops_fetching(sandbox, cli):
    sandbox.control.populate("sources", 300)
    sandbox.control.clear_requests()

    result = cli("--type", "sources", "--format", "jsonl")

    assert len(result.jsonl()) == 50
    assert len(list_calls(sandbox, "/data_sources")) == 1


def test_filtered_limit_walks_pages_until_enough_matches(sandbox, cli):
    sandbox.control.populate("sources", 250, name_prefix="bulk")
    sandbox.control.clear_requests()

    # 5 demo sources come first, then bulk-source-0..249; "source-24" matches 24, 240..249.
    result = cli("--type", "sources", "--name", "source-24", "--limit", "3", "--format", "json")

    names = [row["name"] for row in result.json()]
    assert names == ["bulk-source-24", "bulk-source-240", "bulk-source-241"]
    calls = list_calls(sandbox, "/data_sources")
    assert [c["query"]["per_page"] for c in calls] == ["100"] * 3  # stops on page 3


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize("kind", list(listing.KINDS))
def test_every_type_lists_with_iso_datetimes(cli, kind):
    result = cli("--type", kind, "--format", "json")

    assert result.code == 0, result.err
    rows = result.json()
    assert rows, kind
    for row in rows:
        assert {"id", "name", "type", "status", "updated_at"} <= set(row)
        assert row["type"] == listing.KINDS[kind].path
        parsed = dt.datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))
        assert parsed.tzinfo is not None


@pytest.mark.parametrize("spelling", ["sources", "source", "data_sources", "SOURCES"])
def test_type_aliases(cli, spelling):
    result = cli("--type", spelling, "--format", "json")
    assert result.code == 0
    assert {row["id"] for row in result.json()} == {123, 124, 125, 126, 127}


@pytest.mark.parametrize("spelling", ["attribute_transforms", "attribute_transform",
                                      "attribute-transforms"])
def test_attribute_transforms_are_listed(sandbox, cli, spelling):
    sandbox.control.clear_requests()
    result = cli("--type", spelling, "--format", "json")
    assert result.code == 0, result.err
    rows = result.json()
    assert [(r["id"], r["name"], r["type"], r["connector"]) for r in rows] == [
        (951, "upper-case", "attribute_transforms", "python")]
    # the one short page may be the server's own page size: an empty second page settles it
    assert [(c["path"], c["query"]["page"]) for c in api_calls(sandbox)] == [
        ("/attribute_transforms", "1"), ("/attribute_transforms", "2")]


def test_only_types_the_api_serves_are_offered(sandbox, sdk_client):
    for kind in listing.KINDS.values():
        if kind.name != "flows":  # GET /flows is one object, not a list (covered above)
            assert isinstance(sdk_client.request("GET", f"/{kind.path}"), list), kind.path
    with pytest.raises(nexla_ops.BadInput):  # the sandbox does not serve it
        listing.normalize_type("code_containers")


def test_nexset_and_destination_api_names(cli):
    assert {r["id"] for r in cli("--type", "data_sets", "--format", "json").json()} >= {123, 223}
    assert {r["id"] for r in cli("--type", "data_sinks", "--format", "json").json()} == {
        301, 302, 303, 304}


def test_unknown_type_exits_2_listing_types_before_any_request(sandbox, cli):
    sandbox.control.clear_requests()
    result = cli("--type", "pipelines")
    assert result.code == 2
    assert "--type" in result.err and "sources" in result.err and "lookups" in result.err
    assert api_calls(sandbox) == []


@pytest.mark.parametrize(
    "argv, field",
    [
        (["--limit", "-1"], "--limit"),
        (["--limit", "many"], "--limit"),
        (["--format", "xml"], "--format"),
        (["--fields", "id,password"], "--fields"),
        (["--name-regex", "("], "--name-regex"),
        (["--id", "abc"], "--id"),
    ],
)
def test_bad_input_exits_2_naming_the_field(sandbox, cli, argv, field):
    sandbox.control.clear_requests()
    result = cli("--type", "sources", *argv)
    assert result.code == 2
    assert field in result.err
    assert "Traceback" not in result.err
    assert api_calls(sandbox) == []


@pytest.mark.parametrize("bad", ["²", "-3", "abc", "0", ""])
def test_a_bad_id_exits_2_naming_the_flag_before_any_request(sandbox, cli, bad):
    # "²".isdigit() is True, but int("²") fails: once an internal error instead of exit 2
    sandbox.control.clear_requests()
    result = cli("--type", "sources", "--id", f"123,{bad}")
    assert result.code == 2, result.err
    assert result.err.startswith("list_resources.py: error: --id: expected a positive integer id")
    assert sandbox.control.requests() == []


# --------------------------------------------------------------------------- filters


def ids(result):
    assert result.code == 0, result.err
    return sorted(row["id"] for row in result.json())


def test_name_substring_is_case_insensitive(cli):
    assert ids(cli("--type", "sources", "--name", "ORDERS", "--format", "json")) == [123, 126]


def test_name_regex(cli):
    assert ids(cli("--type", "sources", "--name-regex", "^(orders|events)-", "--format",
                   "json")) == [123, 125]


def test_status_filter(cli):
    assert ids(cli("--type", "sources", "--status", "paused", "--format", "json")) == [126]
    assert ids(cli("--type", "destinations", "--status", "ACTIVE", "--status", "PAUSED",
                   "--format", "json")) == [301, 302, 303, 304]


def test_tag_filter(cli, sdk_client):
    tagged = sdk_client.request("POST", "/data_sources", json={
        "name": "tagged-src", "source_type": "s3", "tags": ["team:ops", "tier:gold"]})
    sdk_client.request("POST", "/data_sources", json={
        "name": "other-src", "source_type": "s3", "tags": ["team:ops"]})

    result = cli("--type", "sources", "--tag", "team:ops", "--tag", "tier:gold", "--format", "json")

    assert ids(result) == [tagged["id"]]
    assert result.json()[0]["tags"] == ["team:ops", "tier:gold"]


def test_id_filter_fetches_by_id_and_warns_about_missing(sandbox, cli):
    sandbox.control.clear_requests()
    result = cli("--type", "sources", "--id", "125", "--id", "123,999999", "--format", "json")

    assert ids(result) == [123, 125]
    assert "999999" in result.err
    assert list_calls(sandbox, "/data_sources") == []  # no listing walk, one GET per id
    assert {r["path"] for r in api_calls(sandbox)} == {
        "/data_sources/125", "/data_sources/123", "/data_sources/999999"}


def test_some_ids_found_is_exit_0_warning_about_the_rest_once(cli):
    result = cli("--type", "flows", "--id", "1002,999998", "--format", "json")
    assert result.code == 0, result.err
    assert [row["id"] for row in result.json()] == [1002]
    assert result.err.count("999998") == 1 and "not found" in result.err


@pytest.mark.parametrize("kind, path", [("sources", "data_sources"), ("flows", "flows")])
def test_every_id_not_found_exits_5_writing_nothing(sandbox, cli, tmp_path, kind, path):
    output = tmp_path / "rows.json"
    output.write_text("previous\n")
    sandbox.control.clear_requests()
    result = cli("--type", kind, "--id", "999998,999999", "--format", "json",
                 "--output", output)
    assert result.code == 5, result.err
    assert json.loads(result.out)["error"]["kind"] == "not_found"  # the failure document
    assert output.read_text() == "previous\n"
    assert "--id" in result.err and "999998, 999999 not found" in result.err
    assert {r["path"] for r in api_calls(sandbox)} == {f"/{path}/999998", f"/{path}/999999"}


def test_an_id_filtered_out_is_no_match_not_not_found(cli):
    result = cli("--type", "sources", "--id", "123", "--status", "PAUSED", "--format", "json")
    assert result.code == 0 and result.json() == []


def test_owner_filter(cli, sdk_client):
    assert ids(cli("--type", "teams", "--owner", "ADA@demo.example", "--format", "json")) == [42, 43]
    assert ids(cli("--type", "teams", "--owner", "1", "--format", "json")) == [42, 43]
    assert ids(cli("--type", "teams", "--owner", "Ada Admin", "--format", "json")) == [42, 43]
    assert cli("--type", "teams", "--owner", "omar@demo.example", "--format", "json").json() == []


def test_no_match_is_exit_0_with_an_empty_list(cli):
    result = cli("--type", "sources", "--name", "no-such-thing", "--format", "json")
    assert result.code == 0
    assert result.json() == []
    assert "no sources matched" in result.err


# --------------------------------------------------------------------------- formats


def test_csv_parses_with_csv_module(cli):
    result = cli("--type", "sources", "--format", "csv")

    assert result.code == 0
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [row["id"] for row in rows] == ["123", "124", "125", "126", "127"]
    assert tuple(rows[0]) == listing.columns_for(listing.KINDS["sources"])
    assert rows[0]["name"] == "orders-s3" and rows[0]["connector"] == "s3"


def test_csv_with_fields_and_awkward_values(cli, sdk_client):
    sdk_client.request("POST", "/data_sources", json={
        "name": 'comma, "quote"\nnewline', "source_type": "s3", "tags": ["a", "b"]})

    result = cli("--type", "sources", "--name", "comma", "--format", "csv",
                 "--fields", "id,name,tags")

    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == ["id", "name", "tags"]
    assert rows[1][1] == 'comma, "quote"\nnewline'
    assert rows[1][2] == "a;b"


def test_jsonl_is_one_object_a_line(cli):
    result = cli("--type", "nexsets", "--format", "jsonl")
    lines = result.out.splitlines()
    assert len(lines) == 6
    for line in lines:
        assert isinstance(json.loads(line), dict)


def test_json_flag_is_one_document(cli):
    data = cli("--type", "flows", "--json").json()
    assert isinstance(data, list) and len(data) == 5


def test_text_is_a_table(cli):
    result = cli("--type", "sources", "--name", "orders")
    lines = result.out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "CONNECTOR", "UPDATED_AT"]
    assert lines[1].split()[:3] == ["123", "orders-s3", "ACTIVE"]
    assert len(lines) == 3


def test_fields_select_columns(cli):
    rows = cli("--type", "destinations", "--fields", "id,nexset_id", "--format", "json").json()
    assert rows[0] == {"id": 301, "nexset_id": 223}


def test_full_gives_the_whole_object_and_dotted_fields(cli):
    full = cli("--type", "sources", "--id", "123", "--full", "--format", "json").json()[0]
    assert full["source_type"] == "s3" and full["owner"]["email"] == "ada@demo.example"
    assert {"id", "name", "type", "status", "updated_at"} <= set(full)

    picked = cli("--type", "sources", "--id", "123", "--full", "--fields", "id,owner.email",
                 "--format", "json").json()
    assert picked == [{"id": 123, "owner.email": "ada@demo.example"}]


def test_output_file_is_written_atomically(cli, tmp_path):
    target = tmp_path / "out.jsonl"
    result = cli("--type", "sources", "--format", "jsonl", "--output", target)

    assert result.code == 0 and result.out == ""
    assert len(target.read_text().splitlines()) == 5
    assert sorted(os.listdir(tmp_path)) == ["out.jsonl"]


def test_failed_run_leaves_the_old_output_file_untouched(sandbox, cli, tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous\n")
    sandbox.control.populate("sources", 150)
    # page 1 succeeds, every later page is refused: the half-written temp file must not
    # replace target. (Not times=1: pages 2 and 3 are in flight together, and the one refused
    # could be page 3, past the end, which the listing does not need.)
    sandbox.control.add_fault(method="GET", path="^/data_sources$", action="status", status=403,
                              skip=1, times=50)

    result = cli("--type", "sources", "--limit", "0", "--format", "csv", "--output", target)

    assert result.code == 4
    assert target.read_text() == "previous\n"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


# --------------------------------------------------------------------------- flows


def test_flow_listing_matches_the_sandbox_flows(sandbox, cli):
    result = cli("--type", "flows", "--format", "json")

    nodes = sandbox.control.state("flows")
    roots = {n["id"]: n for n in nodes if n.get("parent_node_id") is None}
    rows = {row["id"]: row for row in result.json()}
    assert set(rows) == set(roots) == {1001, 1002, 1003, 1004, 1005}
    for flow_id, row in rows.items():
        assert row["node_count"] == sum(1 for n in nodes if n["origin_node_id"] == flow_id)
        assert row["origin_type"] == "data_sources"
        assert row["origin_id"] == roots[flow_id]["data_source_id"]
    assert rows[1001]["node_count"] == 4  # source 123 -> nexset 123 -> nexset 223 -> sink 301
    assert rows[1001]["origin_name"] == "orders-s3"
    assert rows[1004]["status"] == "PAUSED"
    assert rows[1001]["status"] == "ACTIVE"


def test_flows_are_paged_by_root_flow(sandbox, cli):
    sandbox.control.populate("flows", 120, runs=1)
    sandbox.control.clear_requests()

    result = cli("--type", "flows", "--limit", "0", "--format", "jsonl")

    rows = result.jsonl()
    assert len(rows) == 125
    assert len({row["id"] for row in rows}) == 125
    # page 2 (25 flows) ends it; page 3 may have been sent beside it (the window of 2), or
    # cancelled before it started
    pages = sorted(int(c["query"]["page"]) for c in list_calls(sandbox, "/flows"))
    assert pages in ([1, 2], [1, 2, 3])


def test_flow_filters_and_id(cli):
    assert ids(cli("--type", "flows", "--status", "PAUSED", "--format", "json")) == [1004]
    assert ids(cli("--type", "flows", "--name", "orders", "--format", "json")) == [1001, 1004]
    assert ids(cli("--type", "flows", "--id", "1002", "--format", "json")) == [1002]


# --------------------------------------------------------------------------- secrets


def test_full_credentials_never_show_secrets(sdk_client, run_script):
    sdk_client.request("POST", "/data_credentials", json={
        "name": "canary-cred", "credentials_type": "postgres",
        "description": f"postgres://app:{CANARY}@db:5432/x password={CANARY}",
        "credentials": {"host": "db", "username": "app", "password": CANARY, "api_key": CANARY},
    })

    for fmt in ("json", "jsonl", "csv", "text"):
        result = run_script("list_resources", "--type", "credentials", "--full", "--format", fmt)
        assert result.code == 0, result.err
        assert "canary-cred" in result.out
        assert CANARY not in result.out and CANARY not in result.err, fmt

    record = next(r for r in run_script("list_resources", "--type", "credentials", "--full",
                                        "--format", "json").json() if r["name"] == "canary-cred")
    assert record["credentials_non_secure_data"] == {"host": "db", "username": "app"}
    assert "[REDACTED]" in record["description"]


# --------------------------------------------------------------------------- end to end


def test_seed_command_works_as_written(run_script):
    result = run_script("list_resources", "--type", "sources", "--name", "orders", "--limit", "5")
    assert result.code == 0, result.err
    assert "orders-s3" in result.out and "legacy-orders-ftp" in result.out
    assert "customers" not in result.out


def test_missing_credentials_exit_3(run_script):
    result = run_script("list_resources", "--type", "sources",
                        env={"NEXLA_SERVICE_KEY": None, "NEXLA_ACCESS_TOKEN": None})
    assert result.code == 3
    assert "NEXLA_SERVICE_KEY" in result.err


def test_iter_resources_is_importable_for_other_scripts(api_env):
    import nexla_ops

    ctx = nexla_ops.Context()
    rows = list(listing.iter_resources(ctx, "data_sources", listing.Filters(
        statuses=frozenset({"ACTIVE"}))))
    assert [r["id"] for r in rows] == [123, 124, 125, 127]
    assert all({"id", "name", "type", "status", "tags", "owner"} <= set(r) for r in rows)


def test_epoch_datetimes_become_iso():
    kind = listing.KINDS["sources"]
    row = listing.summarize(kind, {"id": 1, "name": "x", "status": "ACTIVE",
                                          "created_at": 1704067200000, "updated_at": 1704067200})
    assert row["created_at"] == row["updated_at"] == "2024-01-01T00:00:00.000Z"
    # ISO strings are passed on as served; an epoch beyond any date is too (was a crash)
    row = listing.summarize(kind, {"id": 1, "created_at": "2024-01-01T00:00:00+00:00",
                                          "updated_at": 10**20})
    assert (row["created_at"], row["updated_at"]) == ("2024-01-01T00:00:00+00:00", 10**20)
