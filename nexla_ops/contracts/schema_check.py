"""check_nexset.py schema: each nexset's live output_schema against its saved baseline.

Everything the run reads from disk (the baselines) is read and validated before the first
request. --nexset reads each nexset (GET /data_sets/{id}); --all reads the listing, whose
entries carry output_schema (100 nexsets a request), and also reports a baselined nexset
that is gone.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import nexla_ops
from nexla_ops.health.model import CRITICAL, WARNING

from . import baseline as baselines
from .changes import classify
from .fields import MAX_FIELDS, schema_fields
from .model import Finding, NexsetResult

BASELINE_NAME = re.compile(r"nexset-([1-9][0-9]{0,17})\.schema\.json")


@dataclass
class Plan:
    """Which nexsets, where each one's baseline lives, and the baselines already read."""

    nexset_ids: list  # empty with --all
    paths: dict = field(default_factory=dict)  # nexset id -> baseline file
    saved: dict = field(default_factory=dict)  # nexset id -> Baseline read from its file

    def path_of(self, args, nexset_id: int) -> str:
        return self.paths.get(nexset_id) or baselines.file_in(args.baseline_dir, nexset_id)


def prepare(args) -> Plan:
    """The flags checked and the baselines read: BadInput before anything is sent."""
    if bool(args.nexset) == bool(args.all):
        raise nexla_ops.BadInput("choose the nexsets: --nexset ID (repeatable) or --all")
    if bool(args.baseline) == bool(args.baseline_dir):
        raise nexla_ops.BadInput("choose where baselines live: --baseline FILE (one --nexset) "
                                 "or --baseline-dir DIR")
    if args.save and args.save_new:
        raise nexla_ops.BadInput("--save and --save-new: choose one")
    ids = list(dict.fromkeys(args.nexset or ()))
    if args.baseline and len(ids) != 1:
        raise nexla_ops.BadInput("--baseline FILE holds one nexset's baseline: give exactly one "
                                 "--nexset ID, or use --baseline-dir DIR")
    plan = Plan(ids)
    if args.baseline:
        plan.paths[ids[0]] = args.baseline
    else:
        baselines.check_directory(args.baseline_dir)
    flag = "--baseline" if args.baseline else "--baseline-dir"
    if args.all:
        pattern = os.path.join(glob.escape(args.baseline_dir), "nexset-*.schema.json")
        for path in sorted(glob.glob(pattern)):
            found = BASELINE_NAME.fullmatch(os.path.basename(path))
            if found:
                plan.paths[int(found.group(1))] = path
    for nexset_id in plan.paths if args.all else ids:
        path = plan.path_of(args, nexset_id)
        if args.save:  # what --save would replace is checked before anything is sent
            baselines.check_writable(path, flag, nexset_id)
            continue
        saved = baselines.read(path, flag)
        if saved is None:
            continue
        if saved.nexset_id != nexset_id:
            raise nexla_ops.BadInput(f"{flag} {path}: holds nexset {saved.nexset_id}'s "
                                     f"baseline, not nexset {nexset_id}'s")
        plan.saved[nexset_id] = saved
    return plan


def change_finding(change) -> Finding:
    return Finding(CRITICAL if change.breaking else WARNING, nexla_ops.one_line(change.describe()),
                   change.to_doc())


def compare(nexset_id: int, name: str, output_schema, saved) -> NexsetResult:
    """The live schema against the baseline: a finding per change, none when they match."""
    result = NexsetResult(nexset_id, name)
    live = schema_fields(output_schema)
    if len(live) > MAX_FIELDS:
        result.unknown, result.note = True, f"output_schema has more than {MAX_FIELDS} fields"
        return result
    result.findings = [change_finding(c) for c in classify(saved.fields, live)]
    if not result.findings:
        result.note = f"matches the baseline ({len(live)} fields, saved {saved.saved_at})"
    return result


def judge(args, plan: Plan, nexset: dict, now: datetime) -> NexsetResult:
    """One nexset read from the API: saved (--save, --save-new), compared, or UNKNOWN."""
    nexset_id = nexla_ops.api_id(nexset.get("id"))
    name = nexla_ops.one_line(str(nexset.get("name") or ""), 200)
    schema = nexset.get("output_schema")
    path = plan.path_of(args, nexset_id)
    saved = plan.saved.get(nexset_id)
    if not isinstance(schema, dict):
        return NexsetResult(nexset_id, name, unknown=True,
                            note="the nexset has no output_schema yet (nothing detected)")
    if args.save or (args.save_new and saved is None):
        flag = "--baseline" if args.baseline else "--baseline-dir"
        try:
            written = baselines.write(path, flag, nexset_id, name, schema,
                                      now.isoformat(timespec="seconds"))
        except OSError as exc:
            return NexsetResult(nexset_id, name, unknown=True,
                                note=f"baseline not written to {path} ({exc.strerror or exc})")
        except nexla_ops.BadInput as exc:  # the file changed since prepare() looked
            return NexsetResult(nexset_id, name, unknown=True, note=exc.message)
        return NexsetResult(nexset_id, name, note=f"baseline saved to {path} "
                                                  f"({len(written.fields)} fields)")
    if saved is None:
        return NexsetResult(nexset_id, name, unknown=True,
                            note=f"no baseline at {path}: save one with --save (or --save-new)")
    return compare(nexset_id, name, schema, saved)


def gone(nexset_id: int, saved) -> NexsetResult:
    """A baselined nexset that no longer exists: whatever read it now reads nothing."""
    message = f"nexset {nexset_id} no longer exists (baseline saved {saved.saved_at})"
    return NexsetResult(nexset_id, saved.name, findings=[Finding(CRITICAL, message, {
        "kind": "nexset_gone", "breaking": True, "message": message})])


def list_nexsets(api, ctx, concurrency: int):
    """Every nexset the key can see, from GET /data_sets pages (a bare array, 100 a page)."""
    from nexla_ops.health.observe import objects, read_listing
    from nexla_ops.paging import PageWalk

    class Listing:
        complete = False
        problem = ""

    listing, items = Listing(), {}

    def fetch_page(page: int) -> list:
        ctx.progress(f"listing nexsets: page {page}")
        body = api.get("/data_sets", {"page": page, "per_page": nexla_ops.PAGE_SIZE})
        if not isinstance(body, list):
            raise nexla_ops.ApiError("GET /data_sets: unexpected response shape (expected an array)")
        return objects(body)

    def take(page_items: list) -> None:
        for item in page_items:
            if nexla_ops.api_id(item.get("id")) is not None:
                items.setdefault(nexla_ops.api_id(item.get("id")), item)

    walk = PageWalk(fetch_page, what="GET /data_sets", prefetch=concurrency,
                    per_page=nexla_ops.PAGE_SIZE)
    read_listing(walk, take, listing, "the nexset listing")
    return items, listing


def fetch_each(api, ids: list, concurrency: int, deadline) -> tuple[dict, list]:
    """GET /data_sets/{id} for each id: ({id: body}, [results for those not read])."""
    from nexla_ops.health.observe import run_bounded

    bodies, errors = run_bounded({i: (lambda i=i: api.get(f"/data_sets/{i}")) for i in ids},
                                 concurrency, deadline)
    unread = []
    for nexset_id in ids:
        if nexset_id in bodies and not isinstance(bodies[nexset_id], dict):
            errors[nexset_id] = nexla_ops.ApiError(f"GET /data_sets/{nexset_id}: unexpected "
                                                   "response shape (expected an object)")
        if nexset_id in errors:
            error = errors[nexset_id]
            unread.append((nexset_id, error))
        elif nexset_id not in bodies:
            unread.append((nexset_id, None))
    return {i: b for i, b in bodies.items() if isinstance(b, dict)}, unread


def check(args, ctx, api, deadline, plan: Plan) -> tuple[list, list, bool]:
    """(results, notes, complete): a result per nexset, in id order."""
    now = datetime.now(timezone.utc)
    notes: list = []
    results: list = []
    complete = True
    if args.all:
        bodies, listing = list_nexsets(api, ctx, args.concurrency)
        if not listing.complete:
            complete = False
            notes.append(listing.problem)
        for nexset_id in sorted(bodies):
            results.append(judge(args, plan, bodies[nexset_id], now))
        if listing.complete:  # a nexset missing from a partial listing may be on a later page
            results.extend(gone(i, plan.saved[i]) for i in sorted(plan.saved) if i not in bodies)
        if not bodies:
            notes.append("no nexsets are visible to this key")
        return results, notes, complete
    bodies, unread = fetch_each(api, plan.nexset_ids, args.concurrency, deadline)
    for nexset_id in plan.nexset_ids:
        if nexset_id in bodies:
            results.append(judge(args, plan, bodies[nexset_id], now))
    for nexset_id, error in unread:
        saved = plan.saved.get(nexset_id)
        if isinstance(error, nexla_ops.NotFound) and saved is not None:
            results.append(gone(nexset_id, saved))
            continue
        complete = False
        why = "not read in time (--timeout)" if error is None else error.message
        results.append(NexsetResult(nexset_id, saved.name if saved else "", unknown=True,
                                    note=f"could not read the nexset: {why}"))
    results.sort(key=lambda r: r.nexset_id)
    return results, notes, complete
