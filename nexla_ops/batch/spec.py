"""The run's Spec: operation, targets (ids, ids file, list_resources filters), shard and patch,
all checked before anything is sent; and resolving the targets."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import nexla_ops
from nexla_ops import listing

from . import OP_TYPES, OPERATIONS, UPDATABLE

# --------------------------------------------------------------------------- input checking


@dataclass
class Spec:
    """The validated request: what to do to which kind of object."""

    op: str
    kind: listing.Kind
    params: dict
    ids: list[int] = field(default_factory=list)
    filters: listing.Filters = field(default_factory=listing.Filters)
    shard: tuple[int, int] | None = None


def read_ids_file(path: str) -> list[int]:
    """Ids from a file: one per line (# comments ok), a JSON array, or JSON Lines with "id"."""
    from nexla_ops.files import parse_json, read_input_text

    text = read_input_text(path)  # '-' is stdin; a bounded regular UTF-8 file otherwise
    stripped = text.strip()
    if stripped.startswith("["):
        values = parse_json(stripped, f"--ids-from {path}")
    else:
        values = []
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("{"):
                values.append(parse_json(line, f"--ids-from {path} line {number}"))
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
    from nexla_ops.files import parse_json, read_input_text

    if text.startswith("@"):
        text = read_input_text(text[1:])
    patch = parse_json(text, "--patch")
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
    kind_name = listing.normalize_type(args.kind)
    if kind_name not in OP_TYPES[op]:
        raise nexla_ops.BadInput(f"--type: {op} is not supported on {kind_name}; supported: "
                                 + ", ".join(sorted(OP_TYPES[op])))
    kind = listing.KINDS[kind_name]
    params: dict = {}
    if op in ("tag", "untag"):
        tags = [t.strip() for t in (args.tags or "").split(",") if t.strip()]
        if not tags:
            raise nexla_ops.BadInput(f"--tag-list: {op} needs at least one tag, e.g. "
                                     "--tag-list pii")
        params["tags"] = list(dict.fromkeys(tags))
    elif args.tags:
        raise nexla_ops.BadInput("--tag-list: only for tag/untag (to select by tag use "
                                 "--has-tag)")
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
    filters = listing.parse_filters(args)  # BadInput names the flag
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


def resolve_targets(ctx, spec: Spec, concurrency: int = 1) -> list[dict]:
    """[{id, name}] in a stable order; filters walk every page (list_resources' own walker,
    `concurrency` pages in flight). A listed target also carries the `status` its page showed,
    which is all pause and activate need to decide: no GET per item."""
    if spec.ids and not spec.filters.client_side:
        targets = [{"id": i, "name": None} for i in spec.ids]
    else:
        targets, seen = [], set()
        for row in listing.iter_resources(ctx, spec.kind.name, spec.filters,
                                          prefetch=concurrency):
            if row["id"] not in seen:
                seen.add(row["id"])
                targets.append({"id": row["id"], "name": row.get("name"),
                                "status": row.get("status")})
    return [t for t in targets if in_shard(t["id"], spec.shard)]
