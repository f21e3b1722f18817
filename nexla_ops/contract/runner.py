"""run(args, ctx) for contract_check.py: discover, check every selected endpoint, report."""

from __future__ import annotations

from pathlib import Path

import nexla_ops

from . import record, report
from .catalogue import select
from .discovery import discover
from .verdicts import check_endpoint


def run(args, ctx) -> int:
    endpoints = select(args.endpoint)
    if not endpoints:
        raise nexla_ops.BadInput(f"--endpoint: no operator endpoint matches {args.endpoint!r}"
                                 " (see --list)")
    if args.record and Path(args.record).exists() and not Path(args.record).is_dir():
        raise nexla_ops.BadInput("--record: expected a directory")
    ids = discover(ctx)
    results = []
    for endpoint in endpoints:
        ctx.progress(f"checking {endpoint.name}")
        results.append(check_endpoint(ctx, endpoint, ids))
    ctx.progress_done()
    if args.record:
        count = record.write(args.record, results)
        ctx.log("recorded %d shape fixture(s)", count)
    if args.json:
        ctx.out(report.document(results), "json")
    else:
        print(report.text(results))
    return 1 if any(r.differs for r in results) else 0


def list_endpoints(pattern: str | None = None) -> str:
    return "\n".join(f"{e.name}  ({e.used_by})" for e in select(pattern))
