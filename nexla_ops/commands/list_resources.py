"""List Nexla resources of one type: every page, filtered, streamed.

Walks the list endpoint at Nexla's largest page size until a short page (or until --limit is
met), filters on the client, and writes text, JSON, JSON Lines or CSV. JSON Lines and CSV are
written item by item as pages arrive, so memory stays flat however many resources there are.
Flows are listed one row per flow (root node) with the origin resource, status and node count.

Pages are read raw (ctx.paginate on the API path) rather than through the SDK's typed list():
one record the SDK's strict models reject (contract §23: strict enums, non-nullable lists)
would fail a whole page, --full must show the object as Nexla served it, and validating every
item costs more client time than the paging latency itself.

Importable API (used by batch_operations.py): normalize_type(), add_filter_args(),
parse_filters(), iter_resources().
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import queue
import re
import sys
import tempfile
import threading
from dataclasses import dataclass, field

import nexla_ops

EXAMPLES = """examples:
  python scripts/list_resources.py --type sources --name "orders" --limit 5
  python scripts/list_resources.py --type flows --status ACTIVE
  python scripts/list_resources.py --type data_sets --limit 0 --format jsonl > nexsets.jsonl
  python scripts/list_resources.py --type destinations --format csv --fields id,name,status,connector
  python scripts/list_resources.py --type credentials --id 11 --full --format json
  python scripts/list_resources.py --type attribute_transforms --format json
  python scripts/list_resources.py --type sources --limit 0 --format jsonl --output sources.jsonl

exit codes: 0 listed (also when nothing matched; --id values not found are warned about);
  2 bad input; 3 configuration; 4 auth; 5 none of the --id values exists; 6 transient.
"""

FORMATS = ("text", "json", "jsonl", "csv")
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Kind:
    name: str  # our type name (nexla_ops.RESOURCE_TYPES), used on our command line
    connector_key: str | None = None  # field holding the connector / code type, if any
    status_key: str = "status"
    name_key: str = "name"

    @property
    def path(self) -> str:
        """API collection path; also the `type` value of rows."""
        return nexla_ops.RESOURCE_TYPES[self.name]


# Only types whose list endpoint is served (the sandbox has no /code_containers list).
KINDS = {
    kind.name: kind
    for kind in (
        Kind("sources", "source_type"),
        Kind("nexsets"),
        Kind("destinations", "sink_type"),
        Kind("flows"),
        Kind("credentials", "credentials_type", status_key="verified_status"),
        Kind("projects"),
        Kind("teams"),
        Kind("users", name_key="full_name"),
        Kind("transforms", "code_type"),
        Kind("attribute_transforms", "code_type"),
        Kind("lookups", "data_type"),
    )
}

# Columns of the summary row per kind: the JSON keys, the CSV header and the valid --fields.
COMMON_COLUMNS = ("id", "name", "type", "status", "owner", "tags", "created_at", "updated_at")
EXTRA_COLUMNS = {
    "sources": ("connector", "credential_id"),
    "nexsets": ("source_id", "parent_ids"),
    "destinations": ("connector", "nexset_id", "credential_id"),
    "flows": ("origin_type", "origin_id", "origin_name", "node_count", "project_id"),
    "credentials": ("connector",),
    "projects": ("flows_count",),
    "teams": ("member_count",),
    "users": ("email",),
    "transforms": ("connector",),
    "attribute_transforms": ("connector",),
    "lookups": ("connector",),
}
TEXT_COLUMNS = {
    "flows": ("id", "name", "status", "origin_type", "origin_id", "node_count", "updated_at"),
    "users": ("id", "name", "email", "status", "updated_at"),
    "nexsets": ("id", "name", "status", "source_id", "updated_at"),
    "teams": ("id", "name", "member_count", "owner", "updated_at"),
    "projects": ("id", "name", "flows_count", "owner", "updated_at"),
}
DEFAULT_TEXT_COLUMNS = ("id", "name", "status", "connector", "updated_at")
FULL_TEXT_COLUMNS = ("id", "name", "type", "status", "updated_at")


def columns_for(kind: Kind) -> tuple[str, ...]:
    return COMMON_COLUMNS + EXTRA_COLUMNS[kind.name]


def normalize_type(text: str | None) -> str:
    """Our type name ("sources", "flows", ...) for any spelling nexla_ops.resource_type takes."""
    return nexla_ops.resource_type(text, KINDS, field="--type")


def add_filter_args(parser: argparse.ArgumentParser) -> None:
    """The filter flags, shared with batch_operations.py so both spell them the same."""
    parser.add_argument("--name", help="case-insensitive substring of the name")
    parser.add_argument(
        "--name-regex", help="regular expression searched in the name (case-insensitive)"
    )
    parser.add_argument(
        "--status", action="append", help="keep this status (ACTIVE, PAUSED, ...); repeatable"
    )
    parser.add_argument(
        "--tag", action="append", help="keep resources carrying this tag; repeatable (all must match)"
    )
    parser.add_argument(
        "--id", action="append", dest="ids", metavar="ID", help="only this id (comma list ok); repeatable"
    )
    parser.add_argument("--owner", help="owner id, e-mail or full name (case-insensitive)")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "list_resources.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--type",
        required=True,
        dest="kind",
        metavar="TYPE",
        help="resource type: " + ", ".join(KINDS) + " (singular and API names also work)",
    )
    add_filter_args(parser)
    parser.add_argument(
        "--limit", default=str(DEFAULT_LIMIT),
        help=f"at most N rows (default {DEFAULT_LIMIT}; 0 means all)",
    )
    parser.add_argument("--format", default="text", help="text (default), json, jsonl or csv")
    parser.add_argument(
        "--fields", help="comma-separated columns, e.g. id,name,status (dotted paths with --full)"
    )
    parser.add_argument("--full", action="store_true", help="whole objects (secrets redacted)")
    parser.add_argument("--output", metavar="FILE", help="write FILE atomically instead of stdout")
    nexla_ops.add_common_args(parser, json_flag=True)
    return parser


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    name: str | None = None  # lower-cased substring
    name_regex: re.Pattern | None = None
    statuses: frozenset = frozenset()  # upper-cased
    tags: tuple = ()
    ids: tuple = ()
    owner: str | None = None  # lower-cased id, e-mail or full name

    @property
    def client_side(self) -> bool:
        """True when some fetched items may be dropped (so pages should be as big as possible)."""
        return bool(self.name or self.name_regex or self.statuses or self.tags or self.owner)


def parse_filters(args) -> Filters:
    """Filters from parsed args (add_filter_args); BadInput names the bad flag."""
    ids = []
    for raw in getattr(args, "ids", None) or ():
        for part in str(raw).split(","):
            ids.append(nexla_ops.parse_id(part, "--id"))
    name_regex = None
    if getattr(args, "name_regex", None) is not None:
        try:
            name_regex = re.compile(args.name_regex, re.IGNORECASE)
        except re.error as exc:
            raise nexla_ops.BadInput(
                f"--name-regex: not a valid regular expression ({exc})"
            ) from None
    statuses = frozenset(
        part.strip().upper()
        for raw in getattr(args, "status", None) or ()
        for part in raw.split(",")
        if part.strip()
    )
    name = getattr(args, "name", None)
    owner = getattr(args, "owner", None)
    return Filters(
        name=name.lower() if name else None,
        name_regex=name_regex,
        statuses=statuses,
        tags=tuple(t for t in getattr(args, "tag", None) or () if t),
        ids=tuple(dict.fromkeys(ids)),
        owner=owner.strip().lower() if owner and owner.strip() else None,
    )


def matches(filters: Filters, row: dict, owner: dict | None) -> bool:
    names = (row.get("name") or "", row.get("origin_name") or "")
    if filters.name and not any(filters.name in n.lower() for n in names):
        return False
    if filters.name_regex and not any(filters.name_regex.search(n) for n in names):
        return False
    if filters.statuses and str(row.get("status") or "").upper() not in filters.statuses:
        return False
    if filters.tags and not all(tag in (row.get("tags") or ()) for tag in filters.tags):
        return False
    if filters.ids and row.get("id") not in filters.ids:
        return False
    if filters.owner:
        owner = owner or {}
        known = {str(owner.get(k, "")).lower() for k in ("id", "email", "full_name")}
        if filters.owner not in known:
            return False
    return True


# --------------------------------------------------------------------------- rows


def _owner_of(obj: dict) -> dict | None:
    owner = obj.get("owner")
    return owner if isinstance(owner, dict) else None


def _owner_label(owner: dict | None) -> str | None:
    if not owner:
        return None
    label = owner.get("email") or owner.get("full_name") or owner.get("id")
    return None if label is None else str(label)


def _iso(value):
    """Datetimes stay ISO-8601 strings as served; an epoch number (s or ms) some endpoints send
    becomes one (one out of any date's range stays as served)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = nexla_ops.api_time(value)
        if moment is not None:
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def summarize(kind: Kind, obj: dict) -> dict:
    """The compact row of one resource (flows: see flow_items)."""
    name = obj.get(kind.name_key)
    row = {
        "id": obj.get("id"),
        "name": name if name is not None else obj.get("name"),
        "type": kind.path,
        "status": obj.get(kind.status_key),
        "owner": _owner_label(_owner_of(obj)),
        "tags": obj.get("tags") or [],
        "created_at": _iso(obj.get("created_at")),
        "updated_at": _iso(obj.get("updated_at")),
    }
    extra = EXTRA_COLUMNS[kind.name]
    if "connector" in extra:
        row["connector"] = obj.get(kind.connector_key)
    if "credential_id" in extra:
        row["credential_id"] = obj.get("data_credentials_id")
    if "source_id" in extra:
        row["source_id"] = obj.get("data_source_id")
    if "parent_ids" in extra:
        parents = obj.get("parent_data_sets") or ()
        row["parent_ids"] = [p.get("id") for p in parents if isinstance(p, dict)]
    if "nexset_id" in extra:
        row["nexset_id"] = obj.get("data_set_id")
    if "flows_count" in extra:
        row["flows_count"] = obj.get("flows_count")
    if "member_count" in extra:
        row["member_count"] = len(obj.get("members") or ())
    if "email" in extra:
        row["email"] = obj.get("email")
    return row


def _count_nodes(node: dict) -> int:
    children = node.get("children") or ()
    return 1 + sum(_count_nodes(child) for child in children if isinstance(child, dict))


_ORIGIN_KEYS = (
    ("data_source_id", "data_sources"),
    ("data_set_id", "data_sets"),
    ("data_sink_id", "data_sinks"),
)


@dataclass
class Item:
    row: dict  # summary row (JSON-safe, not yet redacted)
    obj: dict  # the whole object as served (flows: the root node plus its origin resource)
    owner: dict | None = field(default=None)


def flow_items(response) -> list[Item]:
    """One Item per root flow of a GET /flows (or /flows/{id}) response object."""
    if not isinstance(response, dict) or not isinstance(response.get("flows"), list):
        raise nexla_ops.ApiError("GET /flows: expected one object with a `flows` list")
    index = {
        (path, resource.get("id")): resource
        for _, path in _ORIGIN_KEYS
        for resource in response.get(path) or ()
        if isinstance(resource, dict)
    }
    items = []
    for node in response["flows"]:
        if not isinstance(node, dict):
            continue
        origin_type = origin_id = None
        for key, path in _ORIGIN_KEYS:
            if node.get(key) is not None:
                origin_type, origin_id = path, node[key]
                break
        origin = index.get((origin_type, origin_id)) or {}
        row = {
            "id": node.get("id"),
            "name": node.get("name") or origin.get("name"),
            "type": "flows",
            "status": node.get("status") or origin.get("status"),
            "owner": _owner_label(_owner_of(origin)),
            "tags": origin.get("tags") or [],
            "created_at": _iso(node.get("created_at") or origin.get("created_at")),
            "updated_at": _iso(node.get("updated_at") or origin.get("updated_at")),
            "origin_type": origin_type,
            "origin_id": origin_id,
            "origin_name": origin.get("name"),
            "node_count": _count_nodes(node),
            "project_id": node.get("project_id"),
        }
        full = {**node, "origin": origin or None, "node_count": row["node_count"]}
        items.append(Item(row, full, _owner_of(origin)))
    return items


# --------------------------------------------------------------------------- fetching


def _iter_flow_pages(ctx, per_page: int):
    """GET /flows pages: each is ONE object, so the SDK's paginate would see one 'item' per page
    (contract §23.1). Page by root flows ourselves; a short page is the last."""
    page = 1
    while True:
        items = flow_items(
            ctx.request("GET", "/flows", params={"page": page, "per_page": per_page})
        )
        yield from items
        if len(items) < per_page:
            return
        page += 1


def iter_items(ctx, kind: Kind, filters: Filters, limit: int = 0, *, prefetch: bool = False,
               missing: list | None = None):
    """Yield matching Items, page by page, stopping as soon as `limit` (0 = all) is met.

    prefetch=True reads the next page in a worker thread while the caller handles this one;
    only for callers that make no API calls of their own while iterating. With --id filters,
    ids not found go to `missing` (or are warned about when it is None)."""
    if filters.ids:
        source = _items_by_id(ctx, kind, filters.ids, missing)
    else:
        # Without client-side filters every fetched item is emitted, so a small limit asks for
        # a small page (--limit 5 is one request of 5); with filters, matches may be sparse.
        per_page = nexla_ops.PAGE_SIZE
        if limit and not filters.client_side:
            per_page = min(limit, nexla_ops.PAGE_SIZE)
        if kind.name == "flows":
            source = _iter_flow_pages(ctx, per_page)
        else:
            source = (
                Item(summarize(kind, obj), obj, _owner_of(obj))
                for obj in ctx.paginate(f"/{kind.path}", per_page=per_page)
                if isinstance(obj, dict)
            )
        if prefetch and not limit:
            # Every page will be read anyway: fetch the next one while this one is written.
            # (With a limit, reading ahead could fetch a page that is never needed.)
            source = read_ahead(source, per_page)
    produced = 0
    for item in source:
        if not matches(filters, item.row, item.owner):
            continue
        yield item
        produced += 1
        if limit and produced >= limit:
            return


_DONE = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(iterable, batch: int):
    """Iterate `iterable` in a worker thread that hands items over `batch` at a time and runs
    at most two batches ahead of the consumer (one queued, one being read).

    With batch = one page, the request for the next page is in flight while the caller writes
    this one, so the client's own work hides behind the network instead of adding to it.
    Errors are re-raised in the consumer; the worker stops when the consumer does.
    """
    slots: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                slots.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            items = iter(iterable)
            while True:
                chunk = list(itertools.islice(items, batch))
                if chunk and not put(chunk):
                    return
                if len(chunk) < batch:
                    break
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Raised(exc))

    worker = threading.Thread(target=produce, name="list-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            value = slots.get()
            if value is _DONE:
                return
            if isinstance(value, _Raised):
                raise value.exc
            yield from value
    finally:
        stop.set()


def _items_by_id(ctx, kind: Kind, ids, missing: list | None = None):
    """--id: one GET per id instead of walking every page. Ids not found are appended to
    `missing`, or warned about when no list is given."""
    for resource_id in ids:
        try:
            body = ctx.request("GET", f"/{kind.path}/{resource_id}")
        except nexla_ops.NotFound:
            if missing is None:
                ctx.warn(f"{kind.name} {resource_id}: not found")
            else:
                missing.append(resource_id)
            continue
        if kind.name == "flows":
            yield from flow_items(body)[:1]
        elif isinstance(body, dict):
            yield Item(summarize(kind, body), body, _owner_of(body))


def iter_resources(ctx, type_name: str, filters, limit: int = 0, *, full: bool = False):
    """Yield filtered rows (redacted, JSON-safe dicts with at least id, name, type, status,
    tags, owner, updated_at) of one type across every page. `filters` is a Filters or the
    argparse namespace of add_filter_args(). full=True yields the whole redacted objects."""
    kind = KINDS[normalize_type(type_name)]
    if not isinstance(filters, Filters):
        filters = parse_filters(filters)
    for item in iter_items(ctx, kind, filters, limit):
        yield record_of(item, full=full)


# --------------------------------------------------------------------------- output


def record_of(item: Item, *, full: bool = False, fields=None) -> dict:
    """One output record: the summary row, or the whole object; redacted, JSON-safe."""
    if full:
        record = dict(item.obj)
        for key in ("id", "name", "status", "updated_at"):
            record.setdefault(key, item.row.get(key))
        record.setdefault("type", item.row["type"])
        if fields:
            record = {name: _dig(record, name) for name in fields}
        return nexla_ops.redact(nexla_ops.to_jsonable(record))
    # Summary rows are built from decoded JSON under our own (non-secret) key names, so only
    # their values need scrubbing; the full key-by-key redact() would dominate a 10,000-row
    # listing's client time.
    row = item.row if not fields else {name: item.row.get(name) for name in fields}
    return {
        key: nexla_ops.redact_text(value) if isinstance(value, str)
        else nexla_ops.redact(value) if isinstance(value, (list, dict))
        else value
        for key, value in row.items()
    }


def _dig(record, dotted: str):
    value = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and not any(isinstance(v, (list, dict)) for v in value):
        return ";".join(str(v) for v in value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


@contextlib.contextmanager
def open_output(path: str | None):
    """stdout, or a temp file beside PATH that replaces PATH only once everything is written
    (a streaming variant of nexla_ops.write_atomic: the content is never held in memory)."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise nexla_ops.BadInput(f"--output: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_records(records, stream, fmt: str, columns) -> int:
    """Write records; jsonl and csv stream one record at a time, text and json collect."""
    count = 0
    if fmt == "jsonl":
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        header = list(columns) if columns else None
        if header:
            writer.writerow(header)
        for record in records:
            if header is None:  # --full without --fields: the first object's keys
                header = list(record)
                writer.writerow(header)
            writer.writerow([_cell(record.get(column)) for column in header])
            count += 1
    elif fmt == "json":
        collected = list(records)
        count = len(collected)
        stream.write(json.dumps(collected, indent=2, ensure_ascii=False) + "\n")
    else:
        collected = list(records)
        count = len(collected)
        stream.write(nexla_ops.format_table(collected, list(columns)) + "\n")
    return count


def run(args, ctx) -> int:
    kind = KINDS[normalize_type(args.kind)]
    filters = parse_filters(args)
    try:
        limit = int(args.limit)
    except ValueError:
        limit = -1
    if limit < 0:
        raise nexla_ops.BadInput(f"--limit: expected a whole number >= 0, got {args.limit!r}")
    fmt = "json" if args.json else (args.format or "").strip().lower()
    if fmt not in FORMATS:
        raise nexla_ops.BadInput(
            f"--format: expected one of {', '.join(FORMATS)}, got {args.format!r}"
        )
    fields = None
    if args.fields is not None:
        fields = tuple(dict.fromkeys(f.strip() for f in args.fields.split(",") if f.strip()))
        if not fields:
            raise nexla_ops.BadInput("--fields: expected comma-separated column names")
        unknown = [f for f in fields if f not in columns_for(kind)]
        if unknown and not args.full:
            raise nexla_ops.BadInput(
                f"--fields: unknown column {unknown[0]!r} for {kind.name}; expected some of "
                + ",".join(columns_for(kind)) + " (or use --full for any field)"
            )
    if fmt == "csv":
        columns = fields or (None if args.full else columns_for(kind))
    elif fmt == "text":
        columns = fields or (
            FULL_TEXT_COLUMNS if args.full else TEXT_COLUMNS.get(kind.name, DEFAULT_TEXT_COLUMNS)
        )
    else:
        columns = fields

    missing: list[int] = []
    items = iter_items(ctx, kind, filters, limit, prefetch=True, missing=missing)
    if filters.ids:
        # One GET per id: read them all before writing, so that when none exists (exit 5, as
        # "not found" is everywhere) no output is written and no --output file replaced.
        items = list(items)
        if missing and len(missing) == len(filters.ids):
            raise nexla_ops.NotFound(
                f"--id: {kind.name} {', '.join(map(str, missing))} not found")
        for resource_id in missing:
            ctx.warn(f"{kind.name} {resource_id}: not found")
    records = (record_of(item, full=args.full, fields=fields) for item in items)
    with open_output(args.output) as stream:
        count = write_records(records, stream, fmt, columns)
    if count == 0:
        ctx.log(f"no {kind.name} matched")
    elif args.output:
        ctx.log(f"wrote {count} {kind.name} to {args.output}")
    return nexla_ops.EXIT_OK


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
