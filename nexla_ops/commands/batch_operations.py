"""Apply one change to many Nexla flows or resources: safely, resumably, shardable.

Operations: pause, activate, delete (pauses first), tag, untag, update (a JSON patch of an
allow-listed set of fields), copy. Targets come from --ids, --ids-from FILE, or the same filters
list_resources.py uses (every page is walked). Each item is read before it is written, so a
re-run only changes what is not changed yet (an existing copy, found by copied_from_id, counts
as done). With --checkpoint FILE every item's intent and outcome go to a fsynced JSONL journal;
after a crash (even kill -9) --resume finishes the run with every item applied exactly once:
items whose write may have been in flight are re-read and only written if the change is not
there yet (a copy made after the intent was recorded is found by copied_from_id).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nexla_ops
from nexla_ops import journal as checkpoint
from nexla_ops.commands import list_resources

EXAMPLES = """examples:
  # what would pausing every ACTIVE flow whose name contains "orders" do? (no writes)
  python scripts/batch_operations.py pause --type flows --name orders --status ACTIVE --dry-run

  # pause them, journaled; after a crash the same command with --resume finishes the job
  python scripts/batch_operations.py pause --type flows --name orders --status ACTIVE \\
      --checkpoint pause-orders.jsonl
  python scripts/batch_operations.py pause --type flows --name orders --status ACTIVE \\
      --checkpoint pause-orders.jsonl --resume

  # tag sources listed in a file (ids, or list_resources.py --format jsonl output)
  python scripts/batch_operations.py tag --type sources --ids-from ids.txt --tags pii,finance

  # patch allowed fields of two destinations
  python scripts/batch_operations.py update --type destinations --ids 301,302 \\
      --patch '{"description": "nightly warehouse load"}'

  # three cron hosts share the work: each runs its own shard with its own checkpoint
  python scripts/batch_operations.py delete --type sources --tag retired --shard 0/3 \\
      --checkpoint delete-0.jsonl --resume

exit codes: 0 all items done; 1 the operation failed; 2 bad input (nothing sent);
  3 configuration; 4 auth (also when every item was refused with 401/403: nothing changed);
  5 not found; 6 transient; 7 some items failed (listed on stderr and in --json; fix the
  cause and re-run with --checkpoint FILE --resume).
"""

OPERATIONS = ("pause", "activate", "delete", "tag", "untag", "update", "copy")

# Types that have a status and pause/activate endpoints.
STATEFUL = frozenset({"flows", "sources", "nexsets", "destinations"})
TAGGABLE = frozenset({"flows", "sources", "nexsets", "destinations", "credentials", "lookups"})

# Fields `update` may change, with their JSON type. Deliberately absent: names (one name for a
# whole batch makes clashes), data_credentials_id (use rotate_credential.py: it probes, pauses
# and rolls back), transforms (prove them with validate_transform.py first), and secrets.
UPDATABLE: dict[str, dict[str, type | tuple[type, ...]]] = {
    "sources": {"description": str, "source_config": dict},
    "nexsets": {"description": str, "custom_config": dict, "output_schema_annotations": dict,
                "output_schema_validation_enabled": bool, "output_validation_schema": dict},
    "destinations": {"description": str, "sink_config": dict},
    "credentials": {"description": str},
    "lookups": {"description": str, "data_defaults": dict, "emit_data_default": bool},
}

OP_TYPES = {
    "pause": STATEFUL,
    "activate": STATEFUL,
    "delete": STATEFUL | {"credentials", "lookups", "projects", "transforms"},
    "tag": TAGGABLE,
    "untag": TAGGABLE,
    "update": frozenset(UPDATABLE),
    "copy": STATEFUL,
}

TARGET_STATUS = {"pause": "PAUSED", "activate": "ACTIVE"}

# Roles that may delete (Nexla: admin or owner); `access_roles` on an object lists the caller's.
DELETE_ROLES = frozenset({"owner", "admin"})


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "batch_operations.py",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("operation", help="one of: " + ", ".join(OPERATIONS))
    parser.add_argument("--type", required=True, dest="kind",
                        help="flows, sources, nexsets, destinations, credentials, lookups, ... "
                             "(singular and API names also work)")
    sel = parser.add_argument_group("targets (ids and/or the filters of list_resources.py)")
    sel.add_argument("--ids", action="append", dest="ids", metavar="ID[,ID...]",
                     help="these ids (same as --id); repeatable")
    sel.add_argument("--ids-from", metavar="FILE",
                     help="ids from FILE ('-' = stdin): one id a line, a JSON array, or "
                          "list_resources.py --format jsonl output")
    list_resources.add_filter_args(sel)
    sel.add_argument("--all", action="store_true",
                     help="every resource of the type (required when no id or filter is given)")
    sel.add_argument("--shard", metavar="I/N",
                     help="only targets in shard I of N (0 <= I < N, e.g. a k8s "
                          "JOB_COMPLETION_INDEX), split by a stable hash of the id")
    change = parser.add_argument_group("the change")
    change.add_argument("--tags", help="tag/untag: comma-separated tags to add or remove "
                                       "(flows: on their origin resource, where "
                                       "list_resources.py reads a flow's tags)")
    change.add_argument("--patch", metavar="JSON|@FILE",
                        help="update: JSON object of fields to set; allowed: " + "; ".join(
                            f"{k}: {','.join(v)}" for k, v in UPDATABLE.items()))
    change.add_argument("--reuse-credentials", action="store_true",
                        help="copy: the copy reuses the original's credentials")
    change.add_argument("--copy-access-controls", action="store_true",
                        help="copy: copy the sharing settings too")
    change.add_argument("--extra-copy", action="store_true",
                        help="copy: copy even items that already have a copy (by default an "
                             "existing copy, found by copied_from_id, counts as done)")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--dry-run", action="store_true",
                           help="list each target and the change; write nothing")
    run_group.add_argument("--concurrency", type=int, default=4, metavar="N",
                           help="items in flight at once (default 4)")
    run_group.add_argument("--checkpoint", metavar="FILE",
                           help="JSONL journal of each item's intent and outcome (fsynced)")
    run_group.add_argument("--resume", action="store_true",
                           help="continue the run recorded in --checkpoint (targets come from "
                                "the journal; in-doubt items are re-read before any write); "
                                "starts a new run if FILE does not exist yet")
    nexla_ops.add_common_args(parser)
    return parser


# --------------------------------------------------------------------------- input checking


@dataclass
class Spec:
    """The validated request: what to do to which kind of object."""

    op: str
    kind: list_resources.Kind
    params: dict
    ids: list[int] = field(default_factory=list)
    filters: list_resources.Filters = field(default_factory=list_resources.Filters)
    shard: tuple[int, int] | None = None


def read_ids_file(path: str) -> list[int]:
    """Ids from a file: one per line (# comments ok), a JSON array, or JSON Lines with "id"."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise nexla_ops.BadInput(f"--ids-from: cannot read {path} ({exc.strerror})") from None
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            values = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise nexla_ops.BadInput(f"--ids-from: {path} is not valid JSON ({exc.msg} at line "
                                     f"{exc.lineno})") from None
    else:
        values = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    values.append(json.loads(line))
                except json.JSONDecodeError:
                    raise nexla_ops.BadInput(f"--ids-from: {path} line {number} is not valid "
                                             "JSON") from None
            else:
                values.append(line)
    ids = []
    for value in values:
        if isinstance(value, dict):
            value = value.get("id")
        ids.append(nexla_ops.parse_id(value, f"--ids-from ({path})"))
    return ids


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = str(text).split("/")
    # isascii: "²".isdigit() is True but int("²") fails
    if len(parts) == 2 and all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        index, count = int(parts[0]), int(parts[1])
        if count >= 1 and 0 <= index < count:
            return index, count
    raise nexla_ops.BadInput(f"--shard: expected I/N with 0 <= I < N (e.g. 0/3), got {text!r}")


def in_shard(resource_id: int, shard: tuple[int, int] | None) -> bool:
    """Stable across hosts and Python runs (unlike hash()): sha256 of the decimal id."""
    if shard is None:
        return True
    digest = hashlib.sha256(str(resource_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") % shard[1] == shard[0]


def parse_patch(text: str, kind: str) -> dict:
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise nexla_ops.BadInput(f"--patch: cannot read {text[1:]} ({exc.strerror})") from None
    try:
        patch = json.loads(text)
    except json.JSONDecodeError as exc:
        raise nexla_ops.BadInput(f"--patch: not valid JSON ({exc.msg})") from None
    if not isinstance(patch, dict) or not patch:
        raise nexla_ops.BadInput("--patch: expected a non-empty JSON object of fields to set")
    allowed = UPDATABLE[kind]
    for key, value in patch.items():
        if key not in allowed:
            raise nexla_ops.BadInput(f"--patch: field {key!r} cannot be batch-updated on {kind}; "
                                     f"allowed: {', '.join(allowed)}")
        expected = allowed[key]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise nexla_ops.BadInput(f"--patch: field {key!r} must be a JSON "
                                     f"{_json_type_name(expected)}")
    return patch


def _json_type_name(py_type) -> str:
    return {str: "string", dict: "object", bool: "boolean"}.get(py_type, "value")


def parse_spec(args) -> Spec:
    """Validate every argument before any request; BadInput names the field."""
    op = (args.operation or "").strip().lower()
    if op not in OPERATIONS:
        raise nexla_ops.BadInput(f"operation: expected one of {', '.join(OPERATIONS)}, "
                                 f"got {args.operation!r}")
    kind_name = list_resources.normalize_type(args.kind)
    if kind_name not in OP_TYPES[op]:
        raise nexla_ops.BadInput(f"--type: {op} is not supported on {kind_name}; supported: "
                                 + ", ".join(sorted(OP_TYPES[op])))
    kind = list_resources.KINDS[kind_name]
    params: dict = {}
    if op in ("tag", "untag"):
        tags = [t.strip() for t in (args.tags or "").split(",") if t.strip()]
        if not tags:
            raise nexla_ops.BadInput(f"--tags: {op} needs at least one tag, e.g. --tags pii")
        params["tags"] = list(dict.fromkeys(tags))
    elif args.tags:
        raise nexla_ops.BadInput("--tags: only for tag/untag (to select by tag use --tag)")
    if op == "update":
        if not args.patch:
            raise nexla_ops.BadInput("--patch: update needs a JSON object of fields to set")
        params["patch"] = parse_patch(args.patch, kind_name)
    elif args.patch:
        raise nexla_ops.BadInput("--patch: only for update")
    if op == "copy":
        params["copy_options"] = {"reuse_data_credentials": bool(args.reuse_credentials),
                                  "copy_access_controls": bool(args.copy_access_controls)}
        params["extra_copy"] = bool(args.extra_copy)
    elif args.reuse_credentials or args.copy_access_controls or args.extra_copy:
        raise nexla_ops.BadInput("--reuse-credentials/--copy-access-controls/--extra-copy: "
                                 "only for copy")
    if args.concurrency < 1 or args.concurrency > 64:
        raise nexla_ops.BadInput(f"--concurrency: expected 1..64, got {args.concurrency}")
    if args.resume and not args.checkpoint:
        raise nexla_ops.BadInput("--resume: needs --checkpoint FILE")
    filters = list_resources.parse_filters(args)  # BadInput names the flag
    ids = list(filters.ids)
    if args.ids_from:
        ids += read_ids_file(args.ids_from)
    filtered = filters.client_side
    if not (ids or filtered or args.all or args.resume):
        raise nexla_ops.BadInput("targets: give --ids, --ids-from, a filter (--name, --name-regex, "
                                 "--status, --tag, --owner) or --all")
    if args.all and (ids or filtered):
        raise nexla_ops.BadInput("--all: not together with ids or filters")
    return Spec(op=op, kind=kind, params=params, ids=list(dict.fromkeys(ids)),
                filters=dataclasses.replace(filters, ids=tuple(dict.fromkeys(ids))),
                shard=parse_shard(args.shard))


# --------------------------------------------------------------------------- targets


def resolve_targets(ctx, spec: Spec) -> list[dict]:
    """[{id, name}] in a stable order; filters walk every page (list_resources' own walker)."""
    if spec.ids and not spec.filters.client_side:
        targets = [{"id": i, "name": None} for i in spec.ids]
    else:
        targets, seen = [], set()
        for row in list_resources.iter_resources(ctx, spec.kind.name, spec.filters):
            if row["id"] not in seen:
                seen.add(row["id"])
                targets.append({"id": row["id"], "name": row.get("name")})
    return [t for t in targets if in_shard(t["id"], spec.shard)]


# --------------------------------------------------------------------------- the API side


class ItemFailed(Exception):
    """One item could not be processed (the batch goes on)."""


class Api:
    """The reads and writes an operation needs, for one kind of object."""

    def __init__(self, ctx, kind: list_resources.Kind):
        self.ctx = ctx
        self.kind = kind
        self._copy_index: dict[int, set[int]] | None = None
        self._lock = threading.Lock()

    @property
    def is_flow(self) -> bool:
        return self.kind.name == "flows"

    def read(self, item_id: int) -> dict:
        """The current object (flows: the root node plus `origin`: (path, id))."""
        if self.is_flow:
            body = self.ctx.request("GET", f"/flows/{item_id}", params={"flows_only": 1})
            nodes = (body or {}).get("flows") or []
            if not nodes:
                raise nexla_ops.NotFound(f"flow {item_id} not found")
            return nodes[0]
        body = self.ctx.request("GET", f"/{self.kind.path}/{item_id}")
        if not isinstance(body, dict):
            raise nexla_ops.ApiError(f"GET /{self.kind.path}/{item_id}: unexpected response")
        return body

    @staticmethod
    def origin(node: dict) -> tuple[str, int]:
        for key, path in (("data_source_id", "data_sources"), ("data_set_id", "data_sets"),
                          ("data_sink_id", "data_sinks")):
            if node.get(key) is not None:
                return path, int(node[key])
        raise ItemFailed(f"flow {node.get('id')} has no origin resource")

    def set_status(self, item_id: int, verb: str) -> None:
        if self.is_flow:
            self.ctx.request("PUT", f"/flows/{item_id}/{verb}", params={"all": 1})
        else:
            self.ctx.request("PUT", f"/{self.kind.path}/{item_id}/{verb}")

    def delete(self, item_id: int) -> None:
        path = f"/flows/{item_id}" if self.is_flow else f"/{self.kind.path}/{item_id}"
        # NotFound: a retried DELETE whose first attempt went through; it is gone, as wanted.
        with contextlib.suppress(nexla_ops.NotFound):
            self.ctx.request("DELETE", path)

    def put(self, path: str, item_id: int, body: dict) -> dict:
        return self.ctx.request("PUT", f"/{path}/{item_id}", json=body)

    # -- copies: found again by copied_from_id, so a lost answer never makes a second copy --
    def copy_path(self, obj: dict) -> tuple[str, int]:
        """(collection, id) whose copied_from_id identifies a copy of this item."""
        return self.origin(obj) if self.is_flow else (self.kind.path, int(obj["id"]))

    def copies_of(self, path: str, original_id: int, *, fresh: bool = False) -> set[int]:
        with self._lock:
            if self._copy_index is None or fresh:
                index: dict[int, set[int]] = {}
                for obj in self.ctx.paginate(f"/{path}"):
                    if isinstance(obj, dict) and obj.get("copied_from_id") is not None:
                        index.setdefault(int(obj["copied_from_id"]), set()).add(int(obj["id"]))
                self._copy_index = index
            return set(self._copy_index.get(original_id, ()))

    def copy(self, item_id: int, options: dict, path: str, original_id: int,
             before: set[int]) -> int:
        """POST .../copy once; returns the new object's id (flows: the new flow's id)."""

        def find():
            new = self.copies_of(path, original_id, fresh=True) - before
            return {"found": min(new)} if new else None

        def create():
            prefix = "/flows" if self.is_flow else f"/{self.kind.path}"
            return self.ctx.client.request("POST", f"{prefix}/{item_id}/copy", json=options)

        body = self.ctx.create_once(find, create, what=f"copy {self.kind.name} {item_id}")
        if isinstance(body, dict) and "found" in body:
            return self.copy_result_id(path, body["found"])
        if self.is_flow:
            nodes = (body or {}).get("flows") or []
            if not nodes:
                raise ItemFailed("flow copy answered without a flow")
            return int(nodes[0]["id"])
        return int(body["id"])

    def copy_result_id(self, path: str, copy_origin_id: int) -> int:
        """The copy's id as the user sees it: for flows, the flow holding the copied origin."""
        if not self.is_flow:
            return copy_origin_id
        body = self.ctx.request("GET", f"/{path}/{copy_origin_id}/flow", params={"flows_only": 1})
        nodes = (body or {}).get("flows") or []
        return int(nodes[0]["id"]) if nodes else copy_origin_id


# --------------------------------------------------------------------------- operations


@dataclass
class Decision:
    """What an item needs: None change means it already has it."""

    change: str | None
    current: dict
    detail: str = ""
    pre: dict = field(default_factory=dict)


def subset(patch, current) -> bool:
    """True when every value in patch is already in current (nested objects compared deeply)."""
    if isinstance(patch, dict):
        return isinstance(current, dict) and all(
            k in current and subset(v, current[k]) for k, v in patch.items())
    return patch == current


class Operation:
    """decide() reads state and says what is missing; apply() makes the writes."""

    def __init__(self, spec: Spec, api: Api):
        self.spec = spec
        self.api = api
        self.op = spec.op

    def decide(self, item_id: int, *, in_doubt_pre: dict | None) -> Decision:
        op, api = self.op, self.api
        try:
            obj = api.read(item_id)
        except nexla_ops.NotFound:
            if op == "delete":
                return Decision(None, {}, "already absent")
            raise ItemFailed(f"{self.spec.kind.name} {item_id} not found") from None
        status = str(obj.get("status") or "").upper()
        if op in TARGET_STATUS:
            want = TARGET_STATUS[op]
            if status == want:
                return Decision(None, obj, f"already {want}")
            return Decision(f"{status or '?'} -> {want}", obj)
        if op == "delete":
            pause_first = self.spec.kind.name in STATEFUL and status == "ACTIVE"
            roles = obj.get("access_roles")
            if api.is_flow and pause_first:  # flow nodes carry no roles; their origin does
                path, origin_id = api.origin(obj)
                roles = api.ctx.request("GET", f"/{path}/{origin_id}").get("access_roles")
            # The caller's roles say the delete will be refused: send the DELETE before pausing,
            # so a 403 leaves the item as it was instead of paused and not deleted. (The server
            # decides: a 409 "pause it first" means the delete is allowed after all.)
            delete_first = pause_first and isinstance(roles, list) and \
                not DELETE_ROLES & {str(r).lower() for r in roles}
            return Decision("pause, then delete" if pause_first else "delete", obj,
                            pre={"pause_first": pause_first, "delete_first": delete_first})
        if op in ("tag", "untag"):
            holder = obj
            target = (self.spec.kind.path, item_id)
            if api.is_flow:
                target = api.origin(obj)
                holder = api.ctx.request("GET", f"/{target[0]}/{target[1]}")
            tags = list(holder.get("tags") or [])
            wanted = self.spec.params["tags"]
            if op == "tag":
                missing = [t for t in wanted if t not in tags]
                if not missing:
                    return Decision(None, obj, "tags already present")
                new = tags + missing
                change = "add tags " + ",".join(missing)
            else:
                present = [t for t in wanted if t in tags]
                if not present:
                    return Decision(None, obj, "tags already absent")
                new = [t for t in tags if t not in wanted]
                change = "remove tags " + ",".join(present)
            where = f" on {target[0]}/{target[1]}" if api.is_flow else ""
            return Decision(change + where, obj, pre={"target": list(target), "tags": new})
        if op == "update":
            patch = self.spec.params["patch"]
            if subset(patch, obj):
                return Decision(None, obj, "fields already set")
            changed = [k for k, v in patch.items() if not subset(v, obj.get(k))]
            return Decision("set " + ",".join(changed), obj)
        if op == "copy":
            path, original_id = api.copy_path(obj)
            if in_doubt_pre is not None:
                # The previous process may have copied it before dying: any copy that did not
                # exist when it wrote its intent is that copy.
                before = set(in_doubt_pre.get("existing_copies") or ())
                new = api.copies_of(path, original_id, fresh=True) - before
                if new:
                    copy_id = api.copy_result_id(path, min(new))
                    return Decision(None, obj, f"copy {copy_id} already made",
                                    pre={"copy_id": copy_id})
                existing = before
            else:
                existing = api.copies_of(path, original_id)
                if existing and not self.spec.params["extra_copy"]:
                    copy_id = api.copy_result_id(path, min(existing))
                    return Decision(None, obj, f"already copied ({copy_id}); --extra-copy makes "
                                    "another", pre={"copy_id": copy_id})
            return Decision("copy", obj, pre={"path": path, "original_id": original_id,
                                             "existing_copies": sorted(existing)})
        raise AssertionError(op)

    def apply(self, item_id: int, decision: Decision) -> tuple[int, dict]:
        """Make the writes; returns (writes sent, result fields)."""
        op, api = self.op, self.api
        if op in TARGET_STATUS:
            api.set_status(item_id, op)
            return 1, {}
        if op == "delete":
            writes = 0
            if decision.pre.get("delete_first"):
                try:
                    api.delete(item_id)
                    return 1, {}
                except nexla_ops.ApiError as exc:
                    if exc.status != 409:  # anything but "pause it first" is the answer
                        raise
                writes += 1
            if decision.pre.get("pause_first"):
                api.set_status(item_id, "pause")
                writes += 1
            try:
                api.delete(item_id)
            except nexla_ops.OpsError as exc:
                if decision.pre.get("pause_first"):  # a person must know it is paused now
                    raise ItemFailed(f"paused, but not deleted: {exc.message}") from None
                raise
            return writes + 1, {}
        if op in ("tag", "untag"):
            path, target_id = decision.pre["target"]
            api.put(path, target_id, {"tags": decision.pre["tags"]})
            return 1, {}
        if op == "update":
            api.put(self.spec.kind.path, item_id, self.spec.params["patch"])
            return 1, {}
        if op == "copy":
            pre = decision.pre
            copy_id = api.copy(item_id, self.spec.params["copy_options"], pre["path"],
                               pre["original_id"], set(pre["existing_copies"]))
            return 1, {"copy_id": copy_id}
        raise AssertionError(op)


# --------------------------------------------------------------------------- the run


class Runner:
    def __init__(self, ctx, spec: Spec, operation: Operation, journal, dry_run: bool):
        self.ctx = ctx
        self.spec = spec
        self.operation = operation
        self.journal = journal
        self.dry_run = dry_run
        self.previous = journal.items() if journal is not None else {}
        self._lock = threading.Lock()
        self.finished = 0
        self.total = 0
        self.failure_codes: dict[int, int] = {}  # item id -> exit code of its failure

    def key(self, item_id: int) -> str:
        return f"{self.spec.kind.name}:{item_id}"

    def process(self, target: dict) -> dict:
        item_id = target["id"]
        key = self.key(item_id)
        result = {"id": item_id, "name": target.get("name"), "type": self.spec.kind.path,
                  "result": None, "change": None, "writes": 0}
        past = self.previous.get(key) or {}
        outcome = past.get("outcome")
        if outcome and outcome.get("status") == "done":
            result.update(result="journal", change=outcome.get("change"),
                          detail="done in an earlier run")
            for extra in ("copy_id",):
                if extra in outcome:
                    result[extra] = outcome[extra]
            return self._finish(result)
        intent = past.get("intent")
        # No outcome, or "failed" (a 500 or a lost answer may still have been applied): the
        # write may have happened, so decide() re-checks with what the intent recorded.
        in_doubt = intent is not None
        try:
            decision = self.operation.decide(
                item_id, in_doubt_pre=(intent.get("pre") or {}) if in_doubt else None)
            if result["name"] is None:
                result["name"] = decision.current.get("name")
            if decision.change is None:
                result.update(result="unchanged", detail=decision.detail, **{
                    k: v for k, v in decision.pre.items() if k == "copy_id"})
                if in_doubt:
                    result["detail"] += " (in doubt after a crash: verified, not re-sent)"
                self._record("outcome", key, status="done", change=None, applied=False,
                             detail=result["detail"], copy_id=result.get("copy_id"))
                return self._finish(result)
            result["change"] = decision.change
            if self.dry_run:
                result["result"] = "would_change"
                return self._finish(result)
            self._record("intent", key, id=item_id, change=decision.change, pre=decision.pre)
            writes, extra = self.operation.apply(item_id, decision)
            result.update(result="changed", writes=writes, **extra)
            self._record("outcome", key, status="done", change=decision.change, applied=True,
                         **extra)
        except (ItemFailed, nexla_ops.OpsError) as exc:
            message = exc.message if isinstance(exc, nexla_ops.OpsError) else str(exc)
            result.update(result="failed", error=message)
            with self._lock:
                self.failure_codes[item_id] = exc.exit_code if isinstance(
                    exc, nexla_ops.OpsError) else nexla_ops.EXIT_FAILED
            self._record("outcome", key, status="failed", error=message)
        return self._finish(result)

    def _record(self, event: str, key: str, **fields) -> None:
        if self.journal is not None and not self.dry_run:
            self.journal.append({"event": event, "key": key,
                                 **{k: v for k, v in fields.items() if v is not None}})

    def _finish(self, result: dict) -> dict:
        with self._lock:
            self.finished += 1
            self.ctx.progress(f"{self.spec.op} {self.spec.kind.name}: {self.finished}/"
                              f"{self.total} ({result['id']}: {result['result']})")
        return result

    def run(self, targets: list[dict], concurrency: int) -> list[dict]:
        self.total = len(targets)
        if concurrency == 1 or len(targets) <= 1:
            return [self.process(t) for t in targets]
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch") as pool:
            return list(pool.map(self.process, targets))


def plan_header(spec: Spec) -> dict:
    """What identifies a run in its journal. The parameters are kept as a digest plus a redacted
    copy: a patch may carry connector settings, and secrets never go to files."""
    canonical = json.dumps(spec.params, sort_keys=True, separators=(",", ":"))
    return {"op": spec.op, "type": spec.kind.name,
            "params_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
            "params": nexla_ops.redact(spec.params),
            "shard": list(spec.shard) if spec.shard else None}


def _plan_matches(plan: dict, spec: Spec) -> str | None:
    """Why a checkpoint's plan cannot be resumed with this command line, or None."""
    mine = plan_header(spec)
    for key in ("op", "type", "shard", "params_sha256"):
        if plan.get(key) != mine[key]:
            if key == "params_sha256":
                return "it records different --tags/--patch/copy options"
            return (f"it records {key}={json.dumps(plan.get(key))}, this run has "
                    f"{json.dumps(mine[key])}")
    return None


def load_journal(args, spec: Spec):
    """(journal or None, targets frozen in its plan or None)."""
    if not args.checkpoint:
        return None, None
    if args.dry_run:  # read-only look at what is left; never lock, create or write the file
        try:
            events, _ = checkpoint.read_events(args.checkpoint)
        except FileNotFoundError:
            return None, None
        except checkpoint.CheckpointError as exc:
            raise nexla_ops.BadInput(f"--checkpoint: {exc}") from None
        view = _ReadOnlyJournal(events)
        plan = view.plan()
        why = _plan_matches(plan, spec) if plan else None
        if why:
            raise nexla_ops.BadInput(f"--checkpoint: {args.checkpoint} is for another run ({why})")
        return view, (plan or {}).get("targets")
    try:
        journal = checkpoint.Journal.open(args.checkpoint, resume=args.resume)
    except checkpoint.CheckpointError as exc:
        raise nexla_ops.BadInput(f"--checkpoint: {exc}") from None
    except OSError as exc:
        raise nexla_ops.BadInput(f"--checkpoint: cannot open {args.checkpoint} "
                                 f"({exc.strerror})") from None
    plan = journal.plan()
    if plan is not None:
        why = _plan_matches(plan, spec)
        if why:
            journal.close()
            raise nexla_ops.BadInput(f"--resume: {args.checkpoint} is for another run ({why})")
        return journal, plan["targets"]
    return journal, None


class _ReadOnlyJournal:
    def __init__(self, events: list[dict]):
        self.events = events

    plan = checkpoint.Journal.plan
    items = checkpoint.Journal.items


def summarize(results: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for r in results:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    return {"total": len(results), **counts}


def run(args, ctx) -> int:
    spec = parse_spec(args)
    journal, frozen = load_journal(args, spec)
    try:
        if frozen is not None:
            targets = frozen
            ctx.log(f"resuming {len(targets)} target(s) from {args.checkpoint}; selection flags "
                    "are not re-evaluated")
        else:
            targets = resolve_targets(ctx, spec)
            if journal is not None and not args.dry_run:
                journal.write_plan({**plan_header(spec), "targets": targets})
        api = Api(ctx, spec.kind)
        runner = Runner(ctx, spec, Operation(spec, api), journal, args.dry_run)
        results = runner.run(targets, args.concurrency)
    finally:
        if isinstance(journal, checkpoint.Journal):
            journal.close()
    failed = [r for r in results if r["result"] == "failed"]
    document = {"operation": spec.op, "type": spec.kind.name, "dry_run": bool(args.dry_run),
                "shard": f"{spec.shard[0]}/{spec.shard[1]}" if spec.shard else None,
                "checkpoint": args.checkpoint, "counts": summarize(results), "items": results}
    if spec.params.get("patch"):
        document["patch"] = spec.params["patch"]
    if args.json:
        ctx.out(document, "json")
    else:
        rows = [{"id": r["id"], "name": r.get("name"), "result": r["result"],
                 "change": r.get("change") or r.get("detail") or r.get("error") or "",
                 **({"copy_id": r["copy_id"]} if "copy_id" in r else {})} for r in results]
        if rows:
            ctx.out(nexla_ops.format_table(rows, ["id", "name", "result", "change"]
                                           + (["copy_id"] if any("copy_id" in r for r in rows)
                                              else [])), "text")
    counts = document["counts"]
    ctx.log(f"{spec.op} {spec.kind.name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    if not targets:
        ctx.log("no targets matched")
    if failed:
        for r in failed:
            ctx.warn(f"failed: {spec.kind.name} {r['id']}: {r['error']}")
        if len(failed) == len(results) and set(runner.failure_codes.values()) == {
                nexla_ops.EXIT_AUTH}:
            # Not a partial batch: every item was refused before anything changed. The key
            # (or its roles) is the problem, and re-running with it cannot help.
            ctx.warn(f"all {len(failed)} item(s) were refused (authentication/permission); "
                     "nothing was changed: use a key with the required role")
            return nexla_ops.EXIT_AUTH
        hint = " (re-run with --resume to retry them)" if args.checkpoint else ""
        ctx.warn(f"{len(failed)} of {len(results)} item(s) failed{hint}")
        return nexla_ops.EXIT_PARTIAL
    return nexla_ops.EXIT_OK


def main(argv=None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
