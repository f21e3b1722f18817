"""A resource's runs and their log lines: run selection, time windows, level and text filters,
normalised error summaries and follow mode; run(args, ctx) is what get-resource-logs calls."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass

import nexla_ops
from nexla_ops.paging import Page, PageWalk

LOG_RESOURCE_TYPES = ("sources", "nexsets", "destinations")  # the types with run logs
# A flow has no logs of its own in Nexla's API: --resource-type flows reads its node's resource
# (the origin source for a flow's id).
ACCEPTED_TYPES = (*LOG_RESOURCE_TYPES, "flows")
_NODE_RESOURCES = (("data_source_id", "data_sources"), ("data_set_id", "data_sets"),
                   ("data_sink_id", "data_sinks"))
LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4,
          "FATAL": 5, "CRITICAL": 5}
FORMATS = ("text", "json", "jsonl")
DEFAULT_RUN_LIMIT = 20
DEFAULT_POLL_SECONDS = 5.0
FOLLOW_RUN_WINDOW = 10  # newest runs looked at on each --follow poll


# --------------------------------------------------------------------------- parsing values


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(moment: dt.datetime) -> int:
    return int(round(moment.timestamp() * 1000))


@dataclass(frozen=True)
class Options:
    resource_type: str
    resource_id: int
    run_id: int | None
    fmt: str
    level: int | None
    since: dt.datetime | None
    until: dt.datetime | None
    grep: str | None
    limit: int
    follow_timeout: float | None
    poll_interval: float


def parse_options(args) -> Options:
    """Validate every flag before any request; BadInput names the flag."""
    rtype = nexla_ops.resource_path(args.resource_type, ACCEPTED_TYPES,
                                     field="--resource-type")
    rid = nexla_ops.parse_id(args.resource_id, "--resource-id")
    run_id = nexla_ops.parse_id(args.run_id, "--run-id") if args.run_id is not None else None
    fmt = "json" if args.json else str(args.format).strip().lower()
    if fmt not in FORMATS:
        raise nexla_ops.BadInput(f"--format: expected text, json or jsonl, got {args.format!r}")
    level = None
    if args.level is not None:
        level = LEVELS.get(args.level.strip().upper())
        if level is None:
            raise nexla_ops.BadInput(f"--level: expected ERROR, WARN or INFO, got {args.level!r}")
    since = nexla_ops.parse_time(args.since, field="--since") if args.since else None
    until = nexla_ops.parse_time(args.until, field="--until") if args.until else None
    if since and until and since > until:
        raise nexla_ops.BadInput("--since: must be before --until")
    try:
        limit = int(args.limit)
    except ValueError:
        limit = -1
    if limit < 0:
        raise nexla_ops.BadInput(f"--limit: expected a whole number >= 0, got {args.limit!r}")
    modes = [flag for flag, on in (("--list-runs", args.list_runs), ("--summary", args.summary),
                                   ("--follow", args.follow)) if on]
    if len(modes) > 1:
        raise nexla_ops.BadInput(f"{modes[1]}: cannot be combined with {modes[0]}")
    if args.follow and fmt == "json":
        raise nexla_ops.BadInput("--format: --follow streams lines; use text or jsonl (not json)")
    if args.follow_timeout is not None and not args.follow:
        raise nexla_ops.BadInput("--follow-timeout: only meaningful with --follow")
    follow_timeout = (nexla_ops.parse_duration(args.follow_timeout, field="--follow-timeout")
                      if args.follow_timeout is not None else None)
    poll = nexla_ops.parse_duration(args.poll_interval, field="--poll-interval")
    if poll <= 0:
        raise nexla_ops.BadInput("--poll-interval: must be more than 0 seconds")
    return Options(rtype, rid, run_id, fmt, level, since, until,
                   args.grep.lower() if args.grep else None, limit, follow_timeout, poll)


# --------------------------------------------------------------------------- runs


def normalize_run(raw: dict) -> dict:
    def pick(*keys):
        return next((raw[k] for k in keys if raw.get(k) is not None), None)

    return {
        "run_id": pick("runId", "run_id", "id"),
        "status": pick("status"),
        "started_at": iso(nexla_ops.api_time(pick("started_at", "startedAt", "start_time"))),
        "finished_at": iso(nexla_ops.api_time(pick("finished_at", "finishedAt", "end_time"))),
        "records": pick("records"),
        "errors": pick("errors"),
        "size": pick("size"),
    }


def iter_runs(ctx, opts: Options, page_size: int = nexla_ops.PAGE_SIZE):
    """Runs of the resource, newest first, every page (run_summary pages with `size`)."""
    path = f"/{opts.resource_type}/{opts.resource_id}/metrics/run_summary"

    def fetch_page(page: int) -> Page:
        body = ctx.request("GET", path, params={"page": page, "size": page_size})
        metrics = body.get("metrics") if isinstance(body, dict) else None
        data = metrics.get("data") if isinstance(metrics, dict) else metrics
        if not isinstance(data, list):
            raise nexla_ops.ApiError(f"GET {path}: expected metrics.data to be a list")
        meta = metrics.get("meta") if isinstance(metrics, dict) else None
        return Page([normalize_run(raw) for raw in data if isinstance(raw, dict)],
                    _meta_int(meta, "pageCount", "page_count", "pages_count"))

    for runs in PageWalk(fetch_page, what=f"GET {path}",
                           identity=lambda run: run.get("run_id")):
        yield from runs


def _meta_int(meta, *keys) -> int | None:
    if not isinstance(meta, dict):
        return None
    for key in keys:
        value = meta.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def select_runs(ctx, opts: Options) -> list[dict]:
    """Which runs to read, oldest first: --run-id; every run overlapping --since/--until;
    else the latest run (started before --until, if given)."""
    if opts.run_id is not None:
        for run in iter_runs(ctx, opts):
            if run["run_id"] == opts.run_id:
                return [run]
        raise nexla_ops.NotFound(
            f"run {opts.run_id} not found for {opts.resource_type} {opts.resource_id}"
        )
    chosen = []
    for run in iter_runs(ctx, opts):
        start, end = nexla_ops.api_time(run["started_at"]), nexla_ops.api_time(run["finished_at"])
        if opts.until and start and start > opts.until:
            continue  # newer than the window
        if opts.since is None:
            return [run]
        if end is not None and end < opts.since:
            break  # runs are newest first: everything after this ended before the window
        chosen.append(run)
    return chosen[::-1]


# --------------------------------------------------------------------------- log lines


def normalize_line(raw: dict) -> dict:
    def pick(*keys):
        return next((raw[k] for k in keys if raw.get(k) is not None), None)

    level = pick("level", "severity")
    level = str(level).upper() if level is not None else None
    return {
        "timestamp": iso(nexla_ops.api_time(pick("timestamp", "time", "ts"))),
        # Nexla's severity says WARNING; one spelling keeps --level output and the 5-wide column.
        "level": "WARN" if level == "WARNING" else level,
        "message": pick("message", "log") or "",
        "run_id": pick("run_id", "runId"),
        "resource_type": pick("resource_type"),
        "resource_id": pick("resource_id"),
        "log_type": pick("log_type"),
    }


def _line_identity(line: dict) -> tuple:
    # Log lines have no id: a page repeats the one before only when every line does.
    return tuple(sorted((key, str(value)) for key, value in line.items()))


def fetch_lines(ctx, opts: Options, run: dict) -> list[dict]:
    """Every line of one run, asking only for the run's own window (narrowed by --since and
    --until): from its real start to its real end (no end while it is still running)."""
    start = nexla_ops.api_time(run["started_at"])
    end = nexla_ops.api_time(run["finished_at"]) if run.get("status") != "RUNNING" else None
    if opts.since and (start is None or opts.since > start):
        start = opts.since
    if opts.until and (end is None or opts.until < end):
        end = opts.until
    params = {"run_id": run["run_id"], "from": epoch_ms(start) if start else 0}
    if end is not None:
        params["to"] = epoch_ms(end)
    path = f"/{opts.resource_type}/{opts.resource_id}/flow/logs"

    def fetch_page(page: int) -> Page:
        body = ctx.request("GET", path, params={**params, "page": page,
                                                 "per_page": nexla_ops.PAGE_SIZE})
        data, meta = _logs_and_meta(body, path)
        return Page([normalize_line(raw) for raw in data if isinstance(raw, dict)],
                    _meta_int(meta, "page_count", "pageCount", "pages_count"))

    lines = [line for page in PageWalk(fetch_page, what=f"GET {path}", identity=_line_identity)
             for line in page]
    for line in lines:
        if line["run_id"] is None:
            line["run_id"] = run["run_id"]
    # Nexla serves newest first; a run reads top to bottom. ISO-8601 UTC strings sort in time
    # order, and the sort is stable for lines sharing a timestamp.
    lines.sort(key=lambda line: line["timestamp"] or "")
    return lines


def _logs_and_meta(body, path: str):
    """Accept the live layout {logs: {data, meta}} and the flat one {logs: [...], meta}."""
    if not isinstance(body, dict):
        raise nexla_ops.ApiError(f"GET {path}: expected a logs object")
    logs = body.get("logs")
    if isinstance(logs, dict):
        return logs.get("data") or [], body.get("meta") or logs.get("meta")
    if isinstance(logs, list) or logs is None:
        return logs or [], body.get("meta")
    raise nexla_ops.ApiError(f"GET {path}: expected `logs` to be a list or an object")


def keep(opts: Options, line: dict, *, min_level: int | None = None) -> bool:
    level = min_level if min_level is not None else opts.level
    if level is not None and LEVELS.get(line["level"] or "", LEVELS["INFO"]) < level:
        return False
    moment = nexla_ops.api_time(line["timestamp"])
    if opts.since and (moment is None or moment < opts.since):
        return False
    if opts.until and (moment is None or moment > opts.until):
        return False
    return not (opts.grep and opts.grep not in str(line["message"]).lower())


# --------------------------------------------------------------------------- summary

_NORMALISERS = [
    (re.compile(r'"[^"]*"'), '"<str>"'),
    (re.compile(r"'[^']*'"), "'<str>'"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
]


def normalise_message(message: str) -> str:
    """The shape of a message: quoted values, ids and numbers replaced by placeholders."""
    for pattern, placeholder in _NORMALISERS:
        message = pattern.sub(placeholder, message)
    return " ".join(message.split())


def summarise(lines, *, first_line: bool = False) -> list[dict]:
    """ERROR (and worse) lines grouped by message shape, most frequent first; `first_line`
    keeps each group's first line too (as "first_line": where it was seen)."""
    groups: dict[str, dict] = {}
    for line in lines:
        if LEVELS.get(line["level"] or "", 0) < LEVELS["ERROR"]:
            continue
        pattern = normalise_message(str(line["message"]))
        group = groups.get(pattern)
        if group is None:
            group = groups[pattern] = {
                "pattern": pattern, "count": 0, "first_seen": line["timestamp"],
                "last_seen": line["timestamp"], "example": line["message"], "runs": set(),
                **({"first_line": line} if first_line else {}),
            }
        group["count"] += 1
        stamp = line["timestamp"]
        if stamp and (group["first_seen"] is None or stamp < group["first_seen"]):
            group["first_seen"] = stamp
        if stamp and (group["last_seen"] is None or stamp > group["last_seen"]):
            group["last_seen"] = stamp
        group["runs"].add(line["run_id"])
    rows = sorted(groups.values(), key=lambda g: (-g["count"], g["first_seen"] or ""))
    for row in rows:
        row["runs"] = len(row["runs"])
    return rows


# --------------------------------------------------------------------------- output


def line_text(line: dict) -> str:
    return (f"{line['timestamp'] or '-'} {(line['level'] or '-'):<5} run={line['run_id']} "
            f"{line['message']}")


def write_line(line: dict, fmt: str) -> None:
    if fmt == "jsonl":
        sys.stdout.write(nexla_ops.dumps(line, indent=None) + "\n")
    else:
        sys.stdout.write(nexla_ops.one_line(line_text(nexla_ops.redact(line)), 4000) + "\n")


def write_rows(rows: list[dict], fmt: str, columns: list[str]) -> None:
    if fmt != "text":
        nexla_ops.emit(rows, fmt)
    elif rows:
        sys.stdout.write(nexla_ops.format_table(rows, columns) + "\n")
        sys.stdout.flush()


def write_summary_text(groups: list[dict]) -> None:
    """A table whose last column, the message shape, is never cut (it is the answer)."""
    if not groups:
        return
    rows = [("COUNT", "FIRST_SEEN", "LAST_SEEN", "RUNS", "MESSAGE")] + [
        (str(g["count"]), g["first_seen"] or "-", g["last_seen"] or "-", str(g["runs"]),
         nexla_ops.one_line(nexla_ops.redact_text(g["pattern"]), 2000))
        for g in groups
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [row[0].rjust(widths[0])] + [c.ljust(w) for c, w in zip(row[1:4], widths[1:], strict=True)]
        sys.stdout.write("  ".join(cells + [row[4]]) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- follow


class LineDeduper:
    """Remembers what was printed: a line is new only if this (run, time, level, message)
    has been seen fewer times than it occurs now, so identical repeats are still shown once
    each and a re-fetched page never prints anything twice."""

    def __init__(self) -> None:
        self.printed: Counter = Counter()

    def new_lines(self, lines):
        seen_now: Counter = Counter()
        for line in lines:
            key = (line["run_id"], line["timestamp"], line["level"], line["message"])
            seen_now[key] += 1
            if seen_now[key] > self.printed[key]:
                self.printed[key] += 1
                yield line


def follow(ctx, opts: Options, runs: list[dict], deduper: LineDeduper) -> None:
    """Poll until --follow-timeout (or Ctrl-C): new lines of unfinished runs, and new runs."""
    deadline = time.monotonic() + opts.follow_timeout if opts.follow_timeout is not None else None
    done = {r["run_id"] for r in runs if r.get("status") not in ("RUNNING", None)}
    known = {r["run_id"]: r for r in runs}
    newest_start = max((r["started_at"] or "" for r in runs), default="")
    while True:
        wait = opts.poll_interval
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                return
        time.sleep(wait)
        # One page of the newest runs per poll: the followed run and anything newer are there
        # (a --run-id that has scrolled off that page has long finished).
        newest = list(itertools.islice(iter_runs(ctx, opts, page_size=FOLLOW_RUN_WINDOW),
                                       FOLLOW_RUN_WINDOW))
        if opts.run_id is not None:
            candidates = [r for r in newest if r["run_id"] == opts.run_id]
        else:
            candidates = [r for r in newest
                          if r["run_id"] in known or (r["started_at"] or "") >= newest_start]
        for run in reversed(candidates):  # oldest first
            if run["run_id"] in done:
                continue
            for line in deduper.new_lines(fetch_lines(ctx, opts, run)):
                if keep(opts, line):
                    write_line(line, opts.fmt)
            known[run["run_id"]] = run
            newest_start = max(newest_start, run["started_at"] or "")
            if run.get("status") != "RUNNING":
                done.add(run["run_id"])  # finished and read after finishing: complete
        sys.stdout.flush()


# --------------------------------------------------------------------------- main


def resolve_flow(ctx, opts: Options) -> Options:
    """A flow's options become those of the resource its node stands for."""
    import dataclasses

    try:
        doc = ctx.request("GET", f"/flows/{opts.resource_id}")
    except nexla_ops.NotFound:
        raise nexla_ops.NotFound(f"flow {opts.resource_id} not found (check --resource-id)") \
            from None
    node = _find_node((doc or {}).get("flows") or [], opts.resource_id)
    for key, path in _NODE_RESOURCES:
        if node and isinstance(node.get(key), int):
            ctx.log(f"flow {opts.resource_id}: showing the logs of {path} {node[key]}")
            return dataclasses.replace(opts, resource_type=path, resource_id=node[key])
    raise nexla_ops.ApiError(f"flow {opts.resource_id}: the API named no source, nexset or "
                             "destination for it; use --resource-type sources|nexsets|"
                             "destinations")


def _find_node(nodes: list, node_id: int) -> dict | None:
    stack = [n for n in nodes if isinstance(n, dict)]
    while stack:
        node = stack.pop()
        if node.get("id") == node_id:
            return node
        stack.extend(c for c in node.get("children") or [] if isinstance(c, dict))
    return None


def check_resource(ctx, opts: Options) -> None:
    try:
        ctx.request("GET", f"/{opts.resource_type}/{opts.resource_id}")
    except nexla_ops.NotFound:
        raise nexla_ops.NotFound(
            f"{opts.resource_type} {opts.resource_id} not found "
            "(check --resource-type and --resource-id)"
        ) from None


def run(args, ctx) -> int:
    opts = parse_options(args)
    if opts.resource_type == "flows":
        opts = resolve_flow(ctx, opts)
    else:
        check_resource(ctx, opts)
    what = f"{opts.resource_type} {opts.resource_id}"

    if args.list_runs:
        runs = []
        for one in iter_runs(ctx, opts, page_size=min(opts.limit or nexla_ops.PAGE_SIZE,
                                                        nexla_ops.PAGE_SIZE)):
            runs.append(one)
            if opts.limit and len(runs) >= opts.limit:
                break
        if not runs:
            ctx.log(f"{what} has no runs")
        write_rows(runs, opts.fmt, ["run_id", "status", "started_at", "finished_at",
                                    "records", "errors"])
        return nexla_ops.EXIT_OK

    runs = select_runs(ctx, opts)
    if not runs:
        ctx.log(f"{what} has no runs" + (" in that time window" if opts.since else ""))
        if opts.fmt == "json":
            write_rows([], "json", [])
        if not args.follow:
            return nexla_ops.EXIT_OK

    if args.summary:
        lines = [line for run_ in runs for line in fetch_lines(ctx, opts, run_)
                 if keep(opts, line, min_level=LEVELS["ERROR"])]
        groups = summarise(lines)
        if not groups:
            ctx.log(f"no error lines in {len(runs)} run(s) of {what}")
        if opts.fmt == "text":
            write_summary_text(groups)
        else:
            write_rows(groups, opts.fmt, [])
        return nexla_ops.EXIT_OK

    if opts.fmt == "json":
        lines = [line for run_ in runs for line in fetch_lines(ctx, opts, run_) if keep(opts, line)]
        write_rows(lines, "json", [])
        return nexla_ops.EXIT_OK

    deduper = LineDeduper()
    shown = 0
    for run_ in runs:
        for line in deduper.new_lines(fetch_lines(ctx, opts, run_)):
            if keep(opts, line):
                write_line(line, opts.fmt)
                shown += 1
        sys.stdout.flush()
    if runs and not shown:
        ctx.log(f"no matching lines in {len(runs)} run(s) of {what}")
    if args.follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a follow normally ends
            follow(ctx, opts, runs, deduper)
    return nexla_ops.EXIT_OK
