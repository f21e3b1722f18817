"""run(args, ctx): one listing from flags to output."""

from __future__ import annotations

import nexla_ops

from .fetch import iter_items
from .filters import parse_filters
from .kinds import (
    DEFAULT_TEXT_COLUMNS,
    FORMATS,
    FULL_TEXT_COLUMNS,
    KINDS,
    TEXT_COLUMNS,
    columns_for,
    normalize_type,
)
from .output import record_of, write_records


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

    nexla_ops.check_output_path(args.output)
    missing: list[int] = []
    items = iter_items(ctx, kind, filters, limit, prefetch=args.concurrency, missing=missing)
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
    with nexla_ops.open_output(args.output) as stream:
        count = write_records(records, stream, fmt, columns)
    if count == 0:
        ctx.log(f"no {kind.name} matched")
    elif args.output:
        ctx.log(f"wrote {count} {kind.name} to {args.output}")
    return nexla_ops.EXIT_OK
