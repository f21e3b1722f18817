"""The batch run: concurrent items, the fsynced intent/outcome journal, resume, the summary;
run(args, ctx)."""

from __future__ import annotations

import hashlib
import json
import threading

import nexla_ops
from nexla_ops import journal as checkpoint
from nexla_ops.stopping import map_threads

from .api import Api, ItemFailed
from .operations import Operation
from .spec import Spec, parse_spec, resolve_targets

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
            # A status read from the listing moments ago is enough to decide a pause or an
            # activate (the PUT is idempotent either way); an item in doubt is read afresh.
            listed = target if target.get("status") and not in_doubt else None
            decision = self.operation.decide(
                item_id, in_doubt_pre=(intent.get("pre") or {}) if in_doubt else None,
                listed=listed)
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
        return map_threads(self.process, targets, concurrency, "batch")


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
                return "it records different --tag-list/--patch/copy options"
            return (f"it records {key}={json.dumps(plan.get(key))}, this run has "
                    f"{json.dumps(mine[key])}")
    return None


def load_journal(args, spec: Spec):
    """(journal or None, targets frozen in its plan or None)."""
    if not args.checkpoint:
        return None, None
    if args.dry_run:  # read-only look at what is left; never lock, create or write the file
        try:
            events, _ = checkpoint.read_events(args.checkpoint, "batch_operations")
        except FileNotFoundError:
            return None, None
        except checkpoint.CheckpointError as exc:
            raise nexla_ops.BadInput(f"--checkpoint: {exc}") from None
        except OSError as exc:
            raise nexla_ops.BadInput(f"--checkpoint: cannot read {args.checkpoint} "
                                     f"({exc.strerror})") from None
        view = _ReadOnlyJournal(events)
        plan = view.plan()
        why = _plan_matches(plan, spec) if plan else None
        if why:
            raise nexla_ops.BadInput(f"--checkpoint: {args.checkpoint} is for another run ({why})")
        return view, (plan or {}).get("targets")
    journal = checkpoint.open_checkpoint(args.checkpoint, resume=args.resume,
                                         operation="batch_operations")
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
    _ = ctx.config  # a configuration error is exit 3 now, not a failure of every item
    journal, frozen = load_journal(args, spec)
    try:
        if frozen is not None:
            targets = frozen
            ctx.log(f"resuming {len(targets)} target(s) from {args.checkpoint}; selection flags "
                    "are not re-evaluated")
        else:
            targets = resolve_targets(ctx, spec, args.concurrency)
            if journal is not None and not args.dry_run:
                # The listed status is a moment's view: a resumed run reads each item afresh.
                journal.write_plan({**plan_header(spec), "targets": [
                    {"id": t["id"], "name": t.get("name")} for t in targets]})
        api = Api(ctx, spec.kind)
        runner = Runner(ctx, spec, Operation(spec, api), journal, args.dry_run)
        results = runner.run(targets, args.concurrency)
    finally:
        if isinstance(journal, checkpoint.Journal):
            journal.close()
    failed = [r for r in results if r["result"] == "failed"]
    document = {"ok": not failed, "operation": spec.op, "type": spec.kind.name,
                "dry_run": bool(args.dry_run),
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
        codes = set(runner.failure_codes.values())
        if len(failed) == len(results) and codes == {nexla_ops.EXIT_AUTH}:
            # Not a partial batch: every item was refused before anything changed. The key
            # (or its roles) is the problem, and re-running with it cannot help.
            ctx.warn(f"all {len(failed)} item(s) were refused (authentication/permission); "
                     "nothing was changed: use a key with the required role")
            return nexla_ops.EXIT_AUTH
        if len(failed) == len(results) and codes == {nexla_ops.EXIT_TRANSIENT}:
            # Every failure was transient (and each item re-reads its state before writing):
            # a plain re-run is the fix, so say so with the code retry_helpers retries on.
            ctx.warn(f"all {len(failed)} item(s) failed transiently; re-run later"
                     + (" with --resume" if args.checkpoint else ""))
            return nexla_ops.EXIT_TRANSIENT
        hint = " (re-run with --resume to retry them)" if args.checkpoint else ""
        ctx.warn(f"{len(failed)} of {len(results)} item(s) failed{hint}")
        return nexla_ops.EXIT_PARTIAL
    return nexla_ops.EXIT_OK
