"""One export run: choose the flows, export each, write the files, and the report (what the
export-flow command calls)."""

from __future__ import annotations

import os
import re

import nexla_ops

from .export import Unexportable, export_flow, render, select_flows


def _check_args(args) -> None:
    chosen = len(args.flow_id) + len(args.source_id)
    if not (chosen or args.name is not None or args.tag is not None or args.all):
        raise nexla_ops.BadInput("choose flows with --flow-id, --source-id, --name, --tag or "
                                 "--all")
    if args.output and args.output_dir:
        raise nexla_ops.BadInput("--output: give --output (one flow) or --output-dir (one file "
                                 "per flow), not both")
    if not args.output_dir and (args.all or chosen > 1):
        raise nexla_ops.BadInput("--output-dir: required when more than one flow is chosen "
                                 "(one file per flow)")
    nexla_ops.check_output_path(args.output)
    if args.output_dir and os.path.exists(args.output_dir) and not os.path.isdir(
            args.output_dir):
        raise nexla_ops.BadInput(f"--output-dir: {args.output_dir} exists and is not a directory")


def _format(args) -> str:
    if args.format:
        return args.format
    return "json" if (args.output or "").lower().endswith(".json") else "yaml"


def _file_name(deployment: str, taken: set[str], flow_id: int, ext: str) -> str:
    """A file name for the deployment: its safe characters, unique in this run."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", deployment).strip(".-") or f"flow-{flow_id}"
    name = f"{stem}.{ext}"
    if name in taken:
        name = f"{stem}-{flow_id}.{ext}"
    taken.add(name)
    return name


def run(args, ctx) -> int:
    _check_args(args)
    fmt = _format(args)
    flow_ids = select_flows(ctx, flow_ids=args.flow_id, source_ids=args.source_id,
                            name=args.name, tag=args.tag, every=args.all)
    if not flow_ids:
        raise nexla_ops.NotFound("no flow matched the selection")
    if len(flow_ids) > 1 and not args.output_dir:
        raise nexla_ops.BadInput(f"--output-dir: {len(flow_ids)} flows matched (ids "
                                 f"{', '.join(map(str, flow_ids[:10]))}); give --output-dir DIR "
                                 "for one file each")
    exports, skipped, first_error = [], [], None
    for flow_id in flow_ids:
        try:
            exports.append(export_flow(ctx, flow_id))
        except (Unexportable, nexla_ops.NotFound) as exc:
            if len(flow_ids) == 1:
                raise
            ctx.warn("not exported: %s", exc.message)
            skipped.append({"flow_id": flow_id, "reason": exc.message})
            first_error = first_error or exc
    if not exports:
        raise first_error

    report = []
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        taken: set[str] = set()
        for item in exports:
            path = os.path.join(args.output_dir,
                                _file_name(item.deployment, taken, item.flow_id, fmt))
            nexla_ops.write_output(path, render(item.config, fmt), field="--output-dir")
            report.append({**item.summary(), "file": path})
    else:
        item = exports[0]
        text = render(item.config, fmt)
        if args.output:
            nexla_ops.write_output(args.output, text)
        elif not args.json:
            ctx.out(text.rstrip("\n"), "text")
        report.append({**item.summary(), "file": args.output,
                       **({} if args.output else {"config": item.config})})
    for item in exports:
        if item.untagged:
            ctx.warn("flow %s (%s) was not deployed by nexla-ops: the first apply of its export "
                     "needs --adopt, which only adds the deployment tag", item.flow_id,
                     item.deployment)
        if item.env:
            ctx.warn("flow %s: set %s before applying its export (secret settings are "
                     "exported as placeholders)", item.flow_id, ", ".join(item.env))

    code = nexla_ops.EXIT_PARTIAL if skipped else nexla_ops.EXIT_OK
    if args.json:
        ctx.out({"ok": code == nexla_ops.EXIT_OK, "exported": report, "skipped": skipped},
                "json")
    elif args.output or args.output_dir:
        shown = nexla_ops.escape_text  # names come from the API: no forged lines
        lines = [f"exported flow {r['flow_id']} ({shown(r['deployment'])}) -> {r['file']}"
                 for r in report]
        lines += [f"not exported: {shown(s['reason'])}" for s in skipped]
        ctx.out("\n".join(lines), "text")
    return code
