"""`deploy_flow --destroy`: plan, save or carry out a destroy (the engine is destroy.py)."""

from __future__ import annotations

import time
from pathlib import Path

import nexla_ops

from . import saved
from .apply import Interrupted
from .destroy import (
    Destroyer,
    DestroyPlan,
    backup_text,
    default_backup_path,
    fingerprint,
    read_destroy,
)
from .runner import (
    default_lock_dir,
    deployment_lock,
    describe_error,
    emit_result,
    output_failed_code,
)

_SYMBOL = {"pause": "||", "delete": "-"}


def render_text(result: dict) -> str:
    status, name = result["status"], result.get("deployment")
    head = "destroy plan for" if status == "planned" else "destroy of"
    deletes = sum(1 for a in result["actions"] if a["action"] == "delete")
    lines = [f"{head} {name!r}: {status} ({deletes} delete(s)) in {result['duration_s']:.1f}s"]
    for a in result["actions"]:
        lines.append(f"  {_SYMBOL.get(a['action'], '*'):>3} {a['action']:<9} "
                     f"{a['resource_type']:<16} {a['name']} id {a['id']}"
                     + (" (goes with its source)" if a["changes"].get("with_source") else ""))
    if result.get("backup"):
        lines.append(f"backup: {result['backup']} ({result['backup_kind']})")
    elif status == "planned" and result["actions"]:
        lines.append("an apply first writes a backup (the flow as a deploy_flow config)")
    if result.get("saved_plan"):
        lines.append(f"saved plan {result['saved_plan']} (sha256 {result['plan_sha256']})")
    for item in result.get("kept") or []:
        lines.append(f"  KEPT: {item['type']} {item['id']} {item['name']} ({item['problem']})")
    for item in result.get("leftovers") or []:
        lines.append(f"  LEFT OVER: {item['type']} {item['id']} {item['name']}")
    if result.get("error"):
        lines.append(f"error: {result['error']}")
    return "\n".join(lines)


def run_destroy(args, ctx, *, name: str, raw: dict, stored, started: float,
                warnings: list[str], emit=emit_result) -> int:
    api = ctx.target
    plan: DestroyPlan | None = None
    destroyer: Destroyer | None = None
    extras: dict = {}

    def finish(status: str, code: int, *, error: str | None = None,
               leftovers: list[dict] = ()) -> int:
        if error:
            nexla_ops.logger.error("%s", error)
        actions = destroyer.actions if destroyer else plan.actions() if plan else []
        result = {"ok": code in (nexla_ops.EXIT_OK, nexla_ops.EXIT_DRIFT), "status": status,
                  "deployment": name, "destroy": True, "actions": actions,
                  "destroyed": destroyer.destroyed if destroyer else [],
                  "kept": destroyer.kept if destroyer else [],
                  "leftovers": list(leftovers),
                  "foreign": plan.foreign if plan else [],
                  "duration_s": round(time.monotonic() - started, 3), **extras}
        if error:
            result["error"] = error
        if warnings:
            result["warnings"] = list(warnings)
        if emit(ctx, args, result, render_text) is False:
            return output_failed_code(code, status)
        return code

    try:
        wrong_api = stored and stored.other_api(api, args.apply)
        if wrong_api:
            return finish("failed", nexla_ops.EXIT_FAILED, error=wrong_api)
        if args.plan:
            plan = read_destroy(ctx, name)
            refusal = plan.refusal()
            if refusal:
                return finish("failed", nexla_ops.EXIT_FAILED, error=refusal)
            if args.out:
                saved_plan = saved.SavedPlan(
                    api_url=api, deployment=name, config=raw, options={"destroy": True},
                    state_fingerprint=fingerprint(plan), actions=plan.actions())
                saved.save(args.out, saved_plan)
                extras.update(saved_plan=args.out, plan_sha256=saved_plan.digest)
            pending = args.detailed_exitcode and not plan.empty
            return finish("planned", nexla_ops.EXIT_DRIFT if pending else nexla_ops.EXIT_OK)
        lock_dir = Path(args.lock_dir) if args.lock_dir else default_lock_dir()
        lock_timeout = nexla_ops.parse_duration(args.lock_timeout, field="--lock-timeout")
        with deployment_lock(lock_dir, name, lock_timeout, ctx):
            plan = read_destroy(ctx, name)  # again under the lock: an apply may just have run
            refusal = saved.refusal_under_lock(
                stored, fingerprint(plan), plan.actions(), plan,
                "nothing was deleted. Plan again and review it")
            if refusal:
                return finish("failed", nexla_ops.EXIT_FAILED, error=refusal)
            if plan.empty:
                ctx.log("nothing carries tag %s: deployment %r is already gone", plan.tag, name)
                return finish("unchanged", nexla_ops.EXIT_OK)
            extras.update(_backup(ctx, args, plan, api, raw))
            destroyer = Destroyer(ctx, plan)
            error = _carry_out(destroyer)
            try:  # verify: read again, by tag, what is still there
                left = destroyer.left(read_destroy(ctx, name))
            except nexla_ops.OpsError as exc:
                ctx.warn("could not read the deployment again to verify: %s", exc.message)
                left = destroyer.left(None)
            if not left:  # verified gone, whatever stopped the run at the very end
                if error is not None:
                    ctx.warn("%s; but nothing of the deployment is left", describe_error(error))
                return finish("destroyed", nexla_ops.EXIT_OK)
            if not destroyer.actions and error is not None:
                code = error.exit_code if isinstance(error, nexla_ops.OpsError) else \
                    nexla_ops.EXIT_FAILED
                return finish("failed", code, error=describe_error(error) + "; nothing was deleted "
                              "(the backup stays)", leftovers=left)
            why = describe_error(error) if error is not None else "still there after their delete"
            return finish("partial", nexla_ops.EXIT_PARTIAL, leftovers=left, error=(
                f"{why}; {len(left)} object(s) of deployment {name!r} are left (see "
                "leftovers); run the same destroy again to finish"))
    except nexla_ops.OpsError as exc:
        return finish("failed", exc.exit_code, error=exc.message)
    except (Interrupted, KeyboardInterrupt) as exc:
        if destroyer is not None and destroyer.actions:  # while verifying, after the deletes
            left = destroyer.left(None)
            return finish("partial" if left else "destroyed",
                          nexla_ops.EXIT_PARTIAL if left else nexla_ops.EXIT_OK,
                          leftovers=left, error=describe_error(exc))
        return finish("failed", nexla_ops.EXIT_FAILED,
                      error=f"{describe_error(exc)}; nothing was deleted")


def _backup(ctx, args, plan: DestroyPlan, api: str, raw: dict) -> dict:
    """Write the backup before any write; an OpsError (nothing deleted) if it cannot be."""
    kind, text = backup_text(ctx, plan, api, raw)
    if args.backup:  # the operator's file: written through a FIFO or device, never replaced
        path = args.backup
        nexla_ops.write_output(path, text, "--backup", private=True)
    else:
        path = default_backup_path(api, plan.deployment)
        try:
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            nexla_ops.write_atomic(path, text, mode=0o600)
        except OSError as exc:
            raise nexla_ops.OpsError(f"backup: cannot write {path} ({exc.strerror}); nothing "
                                     "was deleted") from None
    ctx.log("backup of deployment %r written to %s", plan.deployment, path)
    return {"backup": path, "backup_kind": kind}


def _carry_out(destroyer: Destroyer) -> BaseException | None:
    """Run the destroy; Ctrl-C and SIGTERM (Interrupted, from run()'s handlers) stop it
    between requests. The error, if any."""
    try:
        destroyer.run()
        return None
    except (Exception, Interrupted, KeyboardInterrupt) as exc:
        return exc
