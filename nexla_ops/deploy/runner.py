"""One deploy run: the per-deployment lock, signal handling, probes, apply or plan, and the
result document (JSON and text); run(args, ctx) is what the deploy-flow command calls."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path

import nexla_ops
from nexla_ops.probe import probe_credential

from . import saved
from .apply import Applier, Interrupted
from .drift import drift_of
from .observe import Reader, observe
from .plan import Plan, build_plan
from .spec import SINKS, TAG_PREFIX, config_schema, validate_config

# Lock, signals, result
# --------------------------------------------------------------------------------------------


def default_lock_dir() -> Path:
    return nexla_ops.state_dir() / "locks"


def lock_path(directory: Path, api_url: str, name: str) -> Path:
    """One lock per target, the API URL plus the deployment name, wherever the apply runs
    from."""
    return directory / nexla_ops.target_name(api_url, name or "deployment", prefix="deploy-",
                                             suffix=".lock")


def deployment_lock(directory: Path, name: str, timeout: float, ctx):
    """An exclusive flock per target (nexla_ops.lock_file); use it in a with-block."""
    path = lock_path(directory, ctx.target, name)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise nexla_ops.ConfigError(f"--lock-dir: cannot create {path.parent} "
                                    f"({exc.strerror})") from None
    told = False

    def waiting(waited: float) -> None:
        nonlocal told
        if not told:
            ctx.log("waiting for another apply of deployment %r (lock %s)", name, path)
            told = True
        ctx.progress(f"waiting for lock {path} ({waited:.0f}s)")

    try:
        return nexla_ops.lock_file(path, wait=timeout, on_wait=waiting)
    except nexla_ops.LockBusy:
        raise nexla_ops.Transient(f"another apply of deployment {name!r} still holds {path} "
                                  f"after {timeout:g}s; try again later") from None
    finally:
        ctx.progress_done()


def raise_interrupted(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def _defer_signal(signum, _frame):
    nexla_ops.logger.warning("%s received during rollback; finishing the rollback first",
                             signal.Signals(signum).name)


@contextlib.contextmanager
def signal_handlers(handler):
    """SIGINT/SIGTERM -> handler for the duration (main thread only; restored afterwards)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _ids(plan: Plan | None, applier: Applier | None, status: str) -> dict:
    out = {"source_id": None, "nexset_ids": [], "destination_ids": [], "flow_id": None}
    if plan is None:
        return out
    state = plan.state
    if applier is not None and status in ("applied", "partial"):
        ids = applier.ids
        out["source_id"] = ids.get("source")
        out["nexset_ids"] = [i for i in (applier.detected_id, ids.get(
            f"nexset {plan.cfg.nexset.name}") if plan.cfg.nexset else None) if i is not None]
        out["destination_ids"] = [s.id for s in plan.steps if s.resource_type == SINKS and s.id]
        out["flow_id"] = applier.flow_id
        return out
    # planned / unchanged / failed / rolled_back: what exists (rollback restored it)
    out["source_id"] = state.source["id"] if state.source else None
    out["nexset_ids"] = [n["id"] for n in (state.detected, state.derived) if n]
    out["destination_ids"] = [s["id"] for s in state.sinks.values() if s]
    out["flow_id"] = state.flow["id"] if state.flow else None
    return out


def build_result(status: str, *, name: str | None, plan: Plan | None, applier: Applier | None,
                 started: float, error: str | None = None, warnings=()) -> dict:
    if applier is not None:
        actions = applier.actions
    elif plan is not None:
        actions = [s.as_action() for s in plan.steps]
    else:
        actions = []
    result = {
        "status": status,
        "deployment": name,
        "actions": actions,
        **_ids(plan, applier, status),
        "leftovers": (applier.leftovers + applier.unrestored) if applier else [],
        "duration_s": round(time.monotonic() - started, 3),
    }
    if status == "planned" and plan is not None:
        result["drift"] = drift_of(plan)
        result["in_sync"] = not result["drift"]
    if applier is not None and applier.destroyed:
        result["destroyed"] = applier.destroyed
    if error:
        result["error"] = error
    if warnings:
        result["warnings"] = list(warnings)
    return result


_SYMBOL = {"create": "+", "update": "~", "replace": "-/+", "unchanged": "=", "delete": "-",
           "activate": ">", "pause": "||", "restore": "<"}


def render_text(result: dict) -> str:
    status, name = result["status"], result.get("deployment")
    counts: dict[str, int] = {}
    for a in result["actions"]:
        if not a.get("rollback"):
            counts[a["action"]] = counts.get(a["action"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing"
    head = "plan for" if status == "planned" else "deployment"
    lines = [f"{head} {name!r}: {status} ({summary}) in {result['duration_s']:.1f}s"]
    for a in result["actions"]:
        label = f"id {a['id']}" if a.get("id") is not None else ""
        prefix = "rollback " if a.get("rollback") else ""
        lines.append(f"  {_SYMBOL.get(a['action'], '*'):>3} {prefix}{a['action']:<9} "
                     f"{a['resource_type']:<16} {a['name']} {label}".rstrip())
        for fld, change in (a.get("changes") or {}).items():
            if isinstance(change, dict) and "from" in change:
                lines.append(f"        {fld}: {json.dumps(change['from'], default=str)} -> "
                             f"{json.dumps(change['to'], default=str)}")
            else:
                lines.append(f"        {fld}: {json.dumps(change, default=str)}")
    if status == "planned":
        lines.append("in sync: nothing to change" if result.get("in_sync") else
                     f"{len(result.get('drift') or [])} pending change(s)")
        if result.get("saved_plan"):
            lines.append(f"saved plan {result['saved_plan']} (sha256 {result['plan_sha256']})")
    else:
        lines.append(f"source {result['source_id']}, nexsets {result['nexset_ids']}, "
                     f"destinations {result['destination_ids']}, flow {result['flow_id']}")
    for item in result.get("leftovers") or []:
        lines.append(f"  LEFT OVER: {item['type']} {item['id']} {item['name']}"
                     + (f" ({item['problem']})" if item.get("problem") else ""))
    if result.get("error"):
        lines.append(f"error: {result['error']}")
    return "\n".join(lines)


_WROTE = ("applied", "partial", "destroyed", "rolled_back")  # statuses of runs that wrote


def emit_result(ctx, args, result: dict, render=None) -> bool:
    """Show the result (stdout, and --output); False when --output could not be written.

    The file comes first, and a failure to write it never raises: a run that has written to
    the account must not lose its ids. The document on stdout then says what went wrong."""
    if args.output == "-":  # the JSON document is the whole of stdout
        ctx.out(result, "json")
        return True
    written = True
    if args.output:
        try:
            nexla_ops.write_output(args.output, nexla_ops.dumps(result) + "\n")
        except nexla_ops.OpsError as exc:
            nexla_ops.logger.error("%s; the run itself ended %s", exc.message,
                                   result.get("status"))
            result = {**result, "ok": False, "output_error": exc.message}
            written = False
    if args.json:
        ctx.out(result, "json")
    else:
        ctx.out((render or render_text)(result), "text")
    return written


def output_failed_code(code: int, status: str) -> int:
    """The exit code when the result file could not be written: 7 (a person must find out
    what the run did: it is on stdout) after writes to the account, else 1."""
    if status in _WROTE:
        return nexla_ops.EXIT_PARTIAL
    return code if code not in (nexla_ops.EXIT_OK, nexla_ops.EXIT_DRIFT) else nexla_ops.EXIT_FAILED


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _check_flags(args) -> None:
    """Flag combinations that cannot work: BadInput before anything is read or sent."""
    if args.apply and (args.config or args.plan):
        raise nexla_ops.BadInput("--apply: give a saved plan alone (it holds its config); "
                                 "--config and --plan make a new one")
    if args.apply and args.credential_map:
        raise nexla_ops.BadInput("--credential-map: not with --apply (the saved plan holds "
                                 "the mapped config)")
    if args.keep_going:
        raise nexla_ops.BadInput("--keep-going: only with --config-dir")
    if not (args.config or args.apply):
        raise nexla_ops.BadInput("--config: required (a JSON or YAML deployment file; see "
                                 "--print-schema), or --config-dir DIR, or --apply PLAN")
    for flag, value in (("--detailed-exitcode", args.detailed_exitcode), ("--out", args.out)):
        if value and not args.plan:
            raise nexla_ops.BadInput(f"{flag}: only with --plan")
    if args.destroy:
        for flag, value in (("--apply", args.apply), ("--adopt", args.adopt),
                            ("--prune", args.prune), ("--allow-replace", args.allow_replace)):
            if value:
                raise nexla_ops.BadInput(f"{flag}: not with --destroy" + (
                    " (a saved destroy plan is applied with --apply alone)"
                    if flag == "--apply" else " (a destroy deletes only what it owns)"))
        if not (args.plan or args.yes):
            raise nexla_ops.BadInput(
                "--destroy: deletes are permanent; add --yes, or review first with --plan "
                "--out PLAN and then --apply PLAN")
    elif args.yes or (args.backup and not args.apply):  # a saved plan may be a destroy
        raise nexla_ops.BadInput(f"{'--yes' if args.yes else '--backup'}: only with --destroy")
    nexla_ops.check_output_path(args.output)
    nexla_ops.check_output_path(args.out, "--out")
    nexla_ops.check_output_path(args.backup, "--backup")


def run(args, ctx, emit=emit_result, raw_config: dict | None = None) -> int:
    """One deployment (or, with --config-dir, a directory of them). `emit(ctx, args, result,
    render)` shows the result document; --config-dir collects them for its table instead,
    and passes each file's config as it already read and mapped it (`raw_config`)."""
    # SIGTERM or Ctrl-C while reading or planning still ends in a result document.
    with signal_handlers(raise_interrupted):
        return _run(args, ctx, emit, raw_config)


def _run(args, ctx, emit, raw_config: dict | None) -> int:
    started = time.monotonic()
    if args.print_schema:
        # Written as is: redact() would mask the schema's own `credentials` property.
        sys.stdout.write(json.dumps(config_schema(), indent=2) + "\n")
        return nexla_ops.EXIT_OK
    if args.config_dir:
        from .many import run_directory

        return run_directory(args, ctx)
    _check_flags(args)
    wait_override = (nexla_ops.parse_duration(args.wait_timeout, field="--wait-timeout")
                     if args.wait_timeout else None)
    if wait_override is not None and wait_override <= 0:
        raise nexla_ops.BadInput("--wait-timeout: expected a positive duration")
    lock_timeout = nexla_ops.parse_duration(args.lock_timeout, field="--lock-timeout")
    stored = saved.load(args.apply) if args.apply else None
    if stored is not None:
        raw, options = stored.config, stored.options
    else:
        raw = raw_config
        if raw is None:
            raw = nexla_ops.load_structured_file(args.config)
            if args.credential_map:
                from .promote import load_credential_map, map_credentials

                raw = map_credentials(raw, load_credential_map(args.credential_map),
                                      args.config)
        options = {"adopt": args.adopt, "prune": args.prune,
                   "allow_replace": args.allow_replace}
    source_file = args.apply or args.config
    destroying = bool(args.destroy or options.get("destroy"))
    if args.backup and not destroying:
        raise nexla_ops.BadInput(f"--backup: only with --destroy ({args.apply} is not a saved "
                                 "destroy plan)")
    try:
        # A plan or a destroy sends no secret, so ${ENV:...} values may be unset.
        cfg, warnings = validate_config(raw, require_env=not (args.plan or destroying),
                                        warn_unset=not destroying)
    except nexla_ops.BadInput as exc:
        lines = exc.detail if isinstance(exc.detail, list) else [exc.message]
        for line in lines:
            nexla_ops.logger.error("%s: %s", source_file, line)
        if args.json or args.output:
            result = {"ok": False, **build_result("failed", name=None, plan=None, applier=None,
                                                  started=started, error=exc.message)}
            result["problems"] = lines
            emit(ctx, args, result)
        return nexla_ops.EXIT_BAD_INPUT
    for warning in warnings:
        ctx.warn("%s", warning)
    name = cfg.deployment_name
    if stored is not None and stored.deployment != name:
        raise nexla_ops.BadInput(f"--apply: {args.apply} says deployment "
                                 f"{stored.deployment!r}, but its config is {name!r}")
    if destroying:
        from .destroy_run import run_destroy

        return run_destroy(args, ctx, name=name, raw=raw, stored=stored, started=started,
                           warnings=warnings, emit=emit)
    tag = TAG_PREFIX + name
    discovery_timeout = wait_override or cfg.wait.discovery_timeout
    activation_timeout = wait_override or cfg.wait.activation_timeout
    plan: Plan | None = None
    extras: dict = {}

    def finish(status: str, code: int, *, applier: Applier | None = None,
               error: str | None = None) -> int:
        if error:
            nexla_ops.logger.error("%s", error)
        result = build_result(status, name=name, plan=plan, applier=applier, started=started,
                              error=error, warnings=warnings)
        ok = code in (nexla_ops.EXIT_OK, nexla_ops.EXIT_DRIFT)  # drift is news, not failure
        if emit(ctx, args, {"ok": ok, **result, **extras}) is False:
            return output_failed_code(code, status)
        return code

    def read_plan() -> tuple[Plan, Reader]:
        reader = Reader(ctx, tag, adopt=options["adopt"])
        new_plan = build_plan(cfg, observe(cfg, reader), tag, raw, prune=options["prune"])
        for note in new_plan.notes:
            ctx.warn("%s", note)
            warnings.append(note)
        return new_plan, reader

    try:
        wrong_api = stored and stored.other_api(ctx.target, args.apply)
        if wrong_api:
            return finish("failed", nexla_ops.EXIT_FAILED, error=wrong_api)
        if args.plan:
            plan, _ = read_plan()
            refusal = plan.refusal()
            if refusal:
                return finish("failed", nexla_ops.EXIT_FAILED, error=refusal)
            probe_error = _probe_all(ctx, plan)
            if probe_error:
                return finish("failed", probe_error.exit_code, error=probe_error.message)
            if args.out:
                saved_plan = saved.SavedPlan(
                    api_url=ctx.target, deployment=name, config=raw, options=options,
                    state_fingerprint=saved.state_fingerprint(plan.state),
                    actions=_actions_of(plan))
                saved.save(args.out, saved_plan)
                extras.update(saved_plan=args.out, plan_sha256=saved_plan.digest)
            drifted = args.detailed_exitcode and not plan.unchanged
            return finish("planned", nexla_ops.EXIT_DRIFT if drifted else nexla_ops.EXIT_OK)
        lock_dir = Path(args.lock_dir) if args.lock_dir else default_lock_dir()
        with deployment_lock(lock_dir, name, lock_timeout, ctx):
            # Everything is read again under the lock: a concurrent apply may just have finished.
            plan, reader = read_plan()
            refusal = saved.refusal_under_lock(
                stored, saved.state_fingerprint(plan.state), _actions_of(plan), plan,
                "nothing was written. Plan again and review the new plan")
            if refusal:
                return finish("failed", nexla_ops.EXIT_FAILED, error=refusal)
            probe_error = _probe_all(ctx, plan)
            if probe_error:
                return finish("failed", probe_error.exit_code, error=probe_error.message)
            if plan.unchanged:
                return finish("unchanged", nexla_ops.EXIT_OK)
            replaced = [f"{s.resource_type} {s.name}" for s in plan.steps if s.action == "replace"]
            if replaced and not options["allow_replace"]:
                return finish("failed", nexla_ops.EXIT_FAILED, error=(
                    f"the config needs {', '.join(replaced)} deleted and re-created; re-run "
                    "with --allow-replace to do that"))
            applier = Applier(ctx, plan, reader, discovery_timeout=discovery_timeout,
                              activation_timeout=activation_timeout)
            error = _apply(ctx, applier)
            if error is None:
                return finish("applied", nexla_ops.EXIT_OK, applier=applier)
            return _failed(applier, error, finish)
    except nexla_ops.OpsError as exc:
        # Failed before any write (reading state, a conflict, the lock): nothing to undo.
        return finish("failed", exc.exit_code, error=exc.message)
    except (Interrupted, KeyboardInterrupt) as exc:  # an apply handles its own: not here
        return finish("failed", nexla_ops.EXIT_FAILED,
                      error=f"{describe_error(exc)} before anything was written")


def _actions_of(plan: Plan) -> list[dict]:
    """The plan's actions as they read back from a saved plan (JSON values only)."""
    return json.loads(json.dumps(nexla_ops.to_jsonable([s.as_action() for s in plan.steps]),
                                 default=str))


def _probe_all(ctx, plan: Plan) -> nexla_ops.OpsError | None:
    """Probe every existing credential the config uses; the first failure (NotFound for a
    credential id that does not exist)."""
    for cred_id in plan.probe_ids:
        verdict = probe_credential(lambda path: ctx.request("GET", path), cred_id)
        if verdict.missing:
            return nexla_ops.NotFound(f"credential {cred_id} not found")
        if not verdict.ok:
            return nexla_ops.OpsError(f"credential {cred_id} failed its probe: {verdict.reason}")
    return None


def _apply(ctx, applier: Applier) -> BaseException | None:
    """Run the apply; on any failure (Ctrl-C and SIGTERM included: run() turns them into
    Interrupted) roll back, deferring further signals. The error."""
    try:
        applier.run()
        return None
    except (Exception, Interrupted, KeyboardInterrupt) as exc:
        with signal_handlers(_defer_signal):
            if applier.journal:
                ctx.warn("apply failed (%s); rolling back what this run did",
                         describe_error(exc))
                applier.rollback()
        return exc


def _failed(applier: Applier, error: BaseException, finish) -> int:
    if applier.leftovers or applier.unrestored or applier.destroyed:
        if applier.leftovers or applier.unrestored:
            nexla_ops.logger.error(
                "rollback incomplete: %d object(s) need a person (see leftovers)",
                len(applier.leftovers) + len(applier.unrestored))
        return finish("partial", nexla_ops.EXIT_PARTIAL, applier=applier,
                      error=describe_error(error))
    code = nexla_ops.EXIT_FAILED
    if isinstance(error, nexla_ops.OpsError) and error.exit_code in (
        nexla_ops.EXIT_CONFIG, nexla_ops.EXIT_AUTH, nexla_ops.EXIT_TRANSIENT
    ):
        code = error.exit_code  # e.g. 6: rolled back cleanly and safe to re-run
    status = "rolled_back" if applier.journal else "failed"
    return finish(status, code, applier=applier, error=describe_error(error))


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, nexla_ops.OpsError):
        return exc.message
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return f"interrupted ({exc.args[0] if exc.args else 'SIGINT'})"
    return nexla_ops.translate(exc, "the apply").message
