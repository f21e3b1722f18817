"""`deploy_flow --config-dir DIR`: plan or apply every deployment file in a directory, with one
summary table.

Every file is read and validated before anything is sent: one bad file (or two files naming
the same deployment) is bad input for the whole directory, so a typo never leaves it half
applied. Then each deployment runs exactly as `--config FILE` would, in file-name order, and
the run stops at the first failure unless --keep-going."""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

import nexla_ops

from .directory import SUFFIXES, deployment_file_names
from .spec import validate_config

_CHANGED = ("applied", "destroyed", "partial")  # a run that wrote something


def deployment_files(directory: str) -> list[Path]:
    """The directory's deployment files, sorted; BadInput when it is not a readable directory
    or holds none."""
    try:
        files = [Path(p) for p in deployment_file_names(directory)]
    except OSError as exc:
        raise nexla_ops.BadInput(f"--config-dir: expected a directory of deployment files, got "
                                 f"{directory!r} ({exc.strerror or exc})") from None
    if not files:
        raise nexla_ops.BadInput(f"--config-dir: {directory} holds no deployment file "
                                 f"({', '.join(SUFFIXES)})")
    return files


def _check(args, files: list[Path]) -> dict[Path, dict]:
    """Every file's config, loaded and (with --credential-map) mapped; each validates and
    names its own deployment: else BadInput listing each problem (nothing has been sent)."""
    from .promote import load_credential_map, map_credentials, used_keys

    mapping = load_credential_map(args.credential_map) if args.credential_map else None
    problems: list[str] = []
    owners: dict[str, Path] = {}
    used: set = set()
    configs: dict[Path, dict] = {}
    for path in files:
        try:
            raw = nexla_ops.load_structured_file(path)
            if mapping is not None:
                used |= used_keys(raw, mapping)
                # One map serves the directory: a key must be used by some file (below).
                raw = map_credentials(raw, mapping, str(path), strict=False)
            cfg, _ = validate_config(raw, require_env=not (args.plan or args.destroy))
        except nexla_ops.BadInput as exc:
            lines = exc.detail if isinstance(exc.detail, list) else [exc.message]
            problems += [line if line.startswith(str(path)) else f"{path}: {line}"
                         for line in lines]
            continue
        name = cfg.deployment_name
        if name in owners:
            problems.append(f"{path}: deployment {name!r} is also {owners[name]}; one file per "
                            "deployment")
        owners.setdefault(name, path)
        configs[path] = raw
    unused = [key for key in mapping or () if key not in used]
    if unused and not problems:  # one map for the environment: each key used by some file
        problems.append(f"--credential-map: {', '.join(map(repr, unused[:5]))} "
                        f"{'is' if len(unused) == 1 else 'are'} used by no file in "
                        f"{args.config_dir}")
    if args.out:  # one saved plan per file stem: orders.json and orders.yaml would share one
        stems: dict[str, Path] = {}
        for path in files:
            if path.stem in stems:
                problems.append(f"{path}: its saved plan would be {path.stem}.plan.json, like "
                                f"{stems[path.stem]}'s; rename one of them")
            stems.setdefault(path.stem, path)
    if problems:
        if len(problems) > 1:
            for line in problems:
                nexla_ops.logger.error("%s", line)
        raise nexla_ops.BadInput(problems[0] if len(problems) == 1 else
                                 f"--config-dir: {len(problems)} problems; nothing was sent",
                                 detail=problems)
    return configs


def run_directory(args, ctx) -> int:
    from .runner import run

    if args.config or args.apply:
        raise nexla_ops.BadInput("--config-dir: not with --config or --apply (one directory, "
                                 "or one file)")
    if args.out and not args.plan:
        raise nexla_ops.BadInput("--out: only with --plan")
    if args.destroy or args.yes or args.backup:
        raise nexla_ops.BadInput("--config-dir: not with --destroy (destroy deployments one "
                                 "at a time)")
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise nexla_ops.BadInput(f"--out: with --config-dir, a directory for the saved plans; "
                                 f"{args.out} is not one")
    if args.out:  # before --output is checked: it may be a file in that directory
        try:
            Path(args.out).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise nexla_ops.BadInput(f"--out: cannot create the directory {args.out} "
                                     f"({exc.strerror})") from None
    nexla_ops.check_output_path(args.output)
    started = time.monotonic()
    files = deployment_files(args.config_dir)
    configs = _check(args, files)
    results: list[dict] = []
    for path in files:
        one = argparse.Namespace(**{**vars(args), "config_dir": None, "config": str(path),
                                    "keep_going": False, "output": None, "json": True})
        if args.out:
            one.out = str(Path(args.out) / f"{path.stem}.plan.json")
        collected: list[dict] = []
        code = run(one, ctx, emit=functools.partial(_collect, collected),
                   raw_config=configs[path])
        result = collected[-1] if collected else {"ok": code == 0, "status": "failed"}
        results.append({"file": str(path), "exit_code": code, **result})
        if code not in (nexla_ops.EXIT_OK, nexla_ops.EXIT_DRIFT) and not args.keep_going:
            break
    code = _overall(results, len(files))
    summary = {"ok": code in (nexla_ops.EXIT_OK, nexla_ops.EXIT_DRIFT), "exit_code": code,
               "directory": args.config_dir, "files": len(files), "run": len(results),
               "deployments": results,
               "duration_s": round(time.monotonic() - started, 3)}
    if args.output == "-":
        ctx.out(summary, "json")
        return code
    if args.output:
        nexla_ops.write_output(args.output, nexla_ops.dumps(summary) + "\n")
    ctx.out(summary if args.json else render_table(summary, [str(p) for p in files]),
            "json" if args.json else "text")
    return code


def _collect(into: list[dict], _ctx, _args, result: dict, _render=None) -> None:
    into.append(result)  # shown in the table, not one by one


def _overall(results: list[dict], total: int) -> int:
    """0 (or 8 with drift) when every deployment ran and succeeded. Failures: the failure's
    own code when nothing else changed anything; 7 when some deployments were changed and
    others failed or did not run, which needs a person to look at the table."""
    failed = [r["exit_code"] for r in results
              if r["exit_code"] not in (nexla_ops.EXIT_OK, nexla_ops.EXIT_DRIFT)]
    if not failed:
        return nexla_ops.EXIT_DRIFT if any(
            r["exit_code"] == nexla_ops.EXIT_DRIFT for r in results) else nexla_ops.EXIT_OK
    if any(r.get("status") in _CHANGED for r in results):
        return nexla_ops.EXIT_PARTIAL
    return failed[0] if len(set(failed)) == 1 else nexla_ops.EXIT_FAILED


def _changes(result: dict) -> str:
    if result.get("status") == "failed":
        return ""
    if result.get("status") == "planned":
        drift = result.get("drift")
        if drift is None:  # a destroy plan
            return str(len(result.get("actions") or []))
        return "in sync" if not drift else f"{len(drift)} pending"
    done = [a for a in result.get("actions") or []
            if a.get("action") not in ("unchanged",) and not a.get("rollback")]
    return str(len(done))


def render_table(summary: dict, files: list[str]) -> str:
    ran = {r["file"]: r for r in summary["deployments"]}
    rows = [("file", "deployment", "status", "changes", "exit")]
    for path in files:
        r = ran.get(path)
        name = os.path.basename(path)
        if r is None:
            rows.append((name, "", "not run", "", ""))
            continue
        rows.append((name, r.get("deployment") or "", r.get("status", ""), _changes(r),
                     str(r["exit_code"])))
    widths = [max(len(nexla_ops.one_line(row[i], 60)) for row in rows) for i in range(5)]
    lines = ["  ".join(nexla_ops.one_line(cell, 60).ljust(widths[i])
                       for i, cell in enumerate(row)).rstrip() for row in rows]
    counts: dict[str, int] = {}
    for r in summary["deployments"]:
        counts[r.get("status", "?")] = counts.get(r.get("status", "?"), 0) + 1
    if summary["run"] < summary["files"]:
        counts["not run"] = summary["files"] - summary["run"]
    lines.append(f"{summary['files']} deployment(s): "
                 + ", ".join(f"{n} {k}" for k, n in counts.items())
                 + f"; exit {summary['exit_code']} in {summary['duration_s']:.1f}s")
    for r in summary["deployments"]:
        if r.get("error"):
            lines.append(f"{os.path.basename(r['file'])}: {nexla_ops.one_line(r['error'], 300)}")
    return "\n".join(lines)
