"""Applying a migration plan: create (or adopt) the new nexset, validate it against the old
one, then per destination pause, re-point and re-activate; verify; on failure point everything
back and delete the nexset this migration created. Every step reads state first and is
journaled (intent before its first write, outcome after), so --resume never repeats a write.
run(args, ctx) is what the migrate-nexset command calls."""

from __future__ import annotations

import contextlib
import json

import nexla_ops
from nexla_ops import journal as checkpoint
from nexla_ops import stopping
from nexla_ops.stopping import Terminated

from . import plan as planning
from .validation import verdict

OPERATION = "migrate_nexset"
MAX_SAMPLES = 500
MAX_TRANSFORM_BYTES = 1_000_000
# Nexla publishes no call that starts a flow run (only activate/pause and run metrics), so a
# run is not triggered: what is verified is the destinations' read-back and the new samples.
RUN_NOT_VERIFIED = ("no run was started: Nexla's published API has no call that starts a flow "
                    "run; each destination's data_set_id and status were read back, and the "
                    "new nexset's samples were read")


class StepFailed(Exception):
    """A write or a read-back of the migration did not go through."""


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc)


class Migration:
    def __init__(self, ctx, plan: planning.Plan, journal):
        self.ctx = ctx
        self.plan = plan
        self.journal = journal
        self.writes = 0
        self.new_id: int | None = plan.new_nexset.get("id")
        self.created = False
        done = (journal.items().get("nexset") or {}).get("outcome")
        if done and done.get("status") == "done":
            self.new_id, self.created = done["id"], bool(done.get("created"))

    def record(self, event: str, **fields) -> None:
        self.journal.append({"event": event, **fields})

    def _write(self, method: str, path: str, **kwargs):
        self.writes += 1
        return self.ctx.request(method, path, **kwargs)

    # -- the new nexset --------------------------------------------------------------------
    def ensure_nexset(self) -> None:
        if self.new_id is not None:
            return
        name = self.plan.new_nexset["name"]
        in_doubt = (self.journal.items().get("nexset") or {}).get("intent") is not None
        self.record("intent", key="nexset", step="create")
        # An interrupted run's POST may have gone through: found by name, it is ours (the
        # plan, made before that run, found no nexset of that name).
        found = planning.find_nexset_by_name(self.ctx, name) if in_doubt else None
        if found is None:
            body = self.plan.create_body()
            self.writes += 1
            found = self.ctx.create_once(
                lambda: planning.find_nexset_by_name(self.ctx, name),
                lambda: self.ctx.client.request("POST", "/data_sets", json=body),
                what="POST /data_sets (new nexset)")
        self.new_id, self.created = found["id"], True
        self.settle_on_one(name)
        self.record("outcome", key="nexset", status="done", id=self.new_id,
                    created=self.created)
        self.ctx.log(f"{'created' if self.created else 'using'} nexset {self.new_id} ({name})")

    def settle_on_one(self, name: str) -> None:
        """Two runs (on two machines, say) that created the same nexset at once keep the one
        with the lowest id: the other run's is deleted by the run that made it, so both go on
        with the same nexset."""
        digest = planning.transform_digest(self.plan.inputs.transform)
        twins = [n for n in self.ctx.paginate("/data_sets")
                 if isinstance(n, dict) and n.get("name") == name
                 and planning.made_from(n) == digest and nexla_ops.api_id(n.get("id"))]
        winner = min((nexla_ops.api_id(n["id"]) for n in twins), default=self.new_id)
        if winner < self.new_id:
            self.ctx.warn(f"another run created nexset {winner} ({name}) too; using it and "
                          f"deleting this run's {self.new_id}")
            self.discard_nexset()
            self.new_id, self.created = winner, False

    def discard_nexset(self) -> None:
        """Delete the nexset this migration created (an adopted one is left alone)."""
        if not self.created or self.new_id is None:
            return
        from nexla_ops.transforms import delete_temp_nexset

        try:
            nexset = self.ctx.request("GET", f"/data_sets/{self.new_id}")
        except nexla_ops.NotFound:
            nexset = None  # a resumed run finds it gone already
        if nexset is not None:
            self.writes += 1 + (str(nexset.get("status") or "").upper() == "ACTIVE")
            delete_temp_nexset(self.ctx, nexset)
        self.record("discarded", id=self.new_id)
        self.ctx.log(f"deleted nexset {self.new_id}, which this migration had created")

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> dict:
        from nexla_ops.transforms import read_samples, wait_for_output

        inputs = self.plan.inputs
        old = planning.get_nexset(self.ctx, self.plan.old_nexset["id"], "--nexset")
        new = planning.get_nexset(self.ctx, self.new_id, "--adopt")
        old_samples = read_samples(self.ctx, old["id"], inputs.samples)
        new_samples = wait_for_output(self.ctx, self.new_id, inputs.samples, True,
                                      inputs.verify_timeout)
        report = verdict(old_samples, new_samples, old.get("output_schema"),
                         new.get("output_schema"), expect_fields=list(inputs.expect_fields),
                         expect_schema={k: set(v) for k, v in inputs.expect_schema.items()},
                         allow_breaking=inputs.allow_breaking)
        self.record("outcome", key="validate", status="done" if report["ok"] else "failed",
                    report=report)
        return report

    # -- destinations ------------------------------------------------------------------------
    def converge(self, sink: dict, *, to: int, origin: int) -> None:
        """Bring one destination to nexset `to` and its status before the migration. Safe to
        repeat: it reads first, so a resumed or rolled-back destination gets no second write."""
        path = f"/data_sinks/{sink['id']}"
        current = planning.get_destination(self.ctx, sink["id"])
        status = str(current.get("status") or "").upper()
        if current.get("data_set_id") != to:
            if current.get("data_set_id") != origin:
                raise StepFailed(f"destination {sink['id']} now reads nexset "
                                 f"{current.get('data_set_id')}, not {origin}: changed by "
                                 "someone else; left alone")
            if status == "ACTIVE":  # never deliver a mix of old and new records
                self._write("PUT", f"{path}/pause")
                status = "PAUSED"
            self._write("PUT", path, json={"data_set_id": to})
        if sink["status"] == "ACTIVE" and status != "ACTIVE":
            self._write("PUT", f"{path}/activate")
        after = planning.get_destination(self.ctx, sink["id"])
        now = str(after.get("status") or "").upper()
        if after.get("data_set_id") != to or now != sink["status"]:
            raise StepFailed(f"destination {sink['id']} reads nexset {after.get('data_set_id')}"
                             f" and is {now or 'unknown'} after the switch, not nexset {to} "
                             f"and {sink['status']}")

    def switch_all(self) -> list[dict]:
        """Destination by destination; on the first failure raise StepFailed."""
        state = self.journal.items()
        results = []
        for sink in self.plan.destinations:
            key = f"destination:{sink['id']}"
            outcome = (state.get(key) or {}).get("outcome")
            switched = {**sink, "data_set_id": self.new_id,
                        "data_set_id_before": sink["data_set_id"]}
            if outcome and outcome.get("status") == "done":
                results.append({**switched, "result": "switched in an earlier run"})
                continue
            self.record("intent", key=key, step="switch")
            try:
                self.converge(sink, to=self.new_id, origin=self.plan.old_nexset["id"])
            except (StepFailed, nexla_ops.OpsError, Terminated) as exc:
                # (SIGTERM too: the roll-back that follows runs in stopping.cleanup())
                self.record("outcome", key=key, status="failed", error=_message(exc))
                raise StepFailed(f"destination {sink['id']}: {_message(exc)}") from None
            self.record("outcome", key=key, status="done")
            self.ctx.log(f"destination {sink['id']} now reads nexset {self.new_id}")
            results.append({**switched, "result": "switched"})
        return results

    def rollback(self) -> list[dict]:
        """Point every started destination back, then delete the created nexset; returns
        what could not be restored."""
        started = {e["key"] for e in self.journal.of(["intent"])}
        leftovers = []
        for sink in reversed(self.plan.destinations):
            if f"destination:{sink['id']}" not in started:
                continue
            try:
                self.converge(sink, to=self.plan.old_nexset["id"], origin=self.new_id)
                self.record("rolled_back", key=f"destination:{sink['id']}")
            except (StepFailed, nexla_ops.OpsError) as exc:
                self.record("rollback_failed", key=f"destination:{sink['id']}",
                            error=_message(exc))
                leftovers.append({"destination": sink["id"], "name": sink.get("name"),
                                  "status_before": sink["status"],
                                  "nexset_before": self.plan.old_nexset["id"],
                                  "error": _message(exc)})
        if not leftovers:  # a destination still on it would make the delete fail anyway
            try:
                self.discard_nexset()
            except nexla_ops.OpsError as exc:
                leftovers.append({"nexset": self.new_id, "error": f"not deleted: {exc.message}"})
        elif self.created:
            leftovers.append({"nexset": self.new_id, "error": "kept: destinations still read "
                              "it"})
        return leftovers


# ------------------------------------------------------------------------------ the command

def read_inputs(args) -> planning.Inputs | None:
    """Every flag checked before the first request (None with --apply: the plan has them)."""
    from nexla_ops.transforms import load_expect_schema, load_transform_spec, parse_expect_fields

    if args.resume and not args.checkpoint:
        raise nexla_ops.BadInput("--resume: needs --checkpoint FILE")
    if args.plan and (args.resume or args.apply):
        raise nexla_ops.BadInput("--plan: not together with --resume or --apply")
    if args.out and not args.plan:
        raise nexla_ops.BadInput("--out: only with --plan (save the plan to apply later)")
    if args.apply:
        extra = [flag for flag, value in (("--nexset", args.nexset),
                                          ("--transform-file", args.transform_file),
                                          ("--adopt", args.adopt), ("--name", args.name),
                                          ("--destination", args.destination)) if value]
        if extra:
            raise nexla_ops.BadInput(f"{extra[0]}: not together with --apply (the saved plan "
                                     "holds it)")
        return None
    if args.nexset is None:
        raise nexla_ops.BadInput("--nexset: required (the nexset the destinations read now)")
    if (args.transform_file is None) == (args.adopt is None):
        raise nexla_ops.BadInput("--transform-file/--adopt: give exactly one")
    if args.adopt is not None and args.adopt == args.nexset:
        raise nexla_ops.BadInput("--adopt: must differ from --nexset")
    if args.adopt is not None and args.name is not None:
        raise nexla_ops.BadInput("--name: not together with --adopt (the nexset has its name)")
    if args.name is not None:
        name = args.name
        if not name.strip() or len(name) > planning.MAX_NAME or name != name.strip() \
                or not name.isprintable():
            raise nexla_ops.BadInput(f"--name: expected 1-{planning.MAX_NAME} printable "
                                     "characters without surrounding spaces")
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise nexla_ops.BadInput(f"--samples: expected 1..{MAX_SAMPLES}")
    transform = None
    if args.transform_file is not None:
        _check_size(args.transform_file)
        transform = _naming("--transform-file", load_transform_spec, args.transform_file)
    schema = _naming("--expect-schema", load_expect_schema, args.expect_schema)
    return planning.Inputs(
        nexset=args.nexset, transform=transform, adopt=args.adopt, name=args.name,
        destinations=tuple(dict.fromkeys(args.destination or ())), samples=args.samples,
        expect_fields=tuple(parse_expect_fields(args.expect_fields)),
        expect_schema={k: sorted(v) for k, v in schema.items()},
        allow_breaking=bool(args.allow_breaking), verify_timeout=args.verify_timeout)


def _naming(flag: str, load, path):
    """load(path), its BadInput naming `flag` (a file's own problems name only the path)."""
    try:
        return load(path)
    except nexla_ops.BadInput as exc:
        if exc.message.startswith(flag):
            raise
        raise nexla_ops.BadInput(f"{flag}: {exc.message}") from None


def _check_size(path: str) -> None:
    import os
    import stat

    try:
        info = os.stat(path)
    except OSError:
        return  # load_structured_file names the problem
    if stat.S_ISREG(info.st_mode) and info.st_size > MAX_TRANSFORM_BYTES:
        raise nexla_ops.BadInput(f"--transform-file: {path} is {info.st_size} bytes; a "
                                 f"transform is at most {MAX_TRANSFORM_BYTES}")


def open_journal(args):
    if not args.checkpoint or args.plan:
        return checkpoint.MemoryJournal()
    return checkpoint.open_checkpoint(args.checkpoint, resume=args.resume, operation=OPERATION)


def run(args, ctx) -> int:
    inputs = read_inputs(args)
    saved = _naming("--apply", planning.load, args.apply) if args.apply else None
    journal = open_journal(args)
    try:
        if args.plan:  # read-only: no need to wait for a migration in progress
            return _migrate(args, ctx, inputs, saved, journal)
        with migration_lock(ctx, (inputs or saved.inputs).nexset):
            return _migrate(args, ctx, inputs, saved, journal)
    finally:
        journal.close()


def migration_lock(ctx, nexset_id: int):
    """One migration of a nexset at a time on this machine (per target, in the per-user state
    directory). Runs on two machines still converge: see Migration.ensure_nexset."""
    path = nexla_ops.target_path("migrations", ctx.target, f"nexset-{nexset_id}",
                                 suffix=".lock")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return nexla_ops.lock_file(path)
    except nexla_ops.LockBusy:
        raise nexla_ops.LockBusy(f"another migration of nexset {nexset_id} is running (lock "
                                 f"{path}); re-run once it has finished") from None


def _migrate(args, ctx, inputs, saved, journal) -> int:
    recorded = journal.plan()
    finished = next((e for e in reversed(journal.events) if e.get("event") == "finish"), None)
    if recorded is not None:
        plan = planning.load_document(recorded["plan"], args.checkpoint)
        asked = inputs or saved.inputs
        if plan.old_nexset["id"] != asked.nexset:
            raise nexla_ops.BadInput(f"--resume: {args.checkpoint} records a migration of "
                                     f"nexset {plan.old_nexset['id']}, not {asked.nexset}")
        recorded_inputs, given = plan.inputs.to_doc(), asked.to_doc()
        differ = [key for key in recorded_inputs if recorded_inputs[key] != given.get(key)]
        if differ:
            flag = "--" + differ[0].replace("_", "-")
            raise nexla_ops.BadInput(f"{flag}: differs from the migration recorded in "
                                     f"{args.checkpoint}; resume with the same flags, or start "
                                     "over with a new checkpoint file")
    else:
        plan = planning.build_plan(ctx, inputs or saved.inputs)
        if saved is not None:
            changed = planning.changed_since(saved, plan)
            if changed:
                raise nexla_ops.OpsError(f"state changed since plan: {changed}; nothing was "
                                         "written. Plan again and review the new plan")
    document = {"ok": True, "old_nexset": plan.old_nexset, "new_nexset": plan.new_nexset,
                "destinations": plan.destinations, "plan_sha256": plan.digest}
    if args.plan:
        if args.out:
            planning.save(args.out, plan)
            document["saved_to"] = args.out
        return _finish(ctx, args, None, document, "planned", nexla_ops.EXIT_OK,
                       planned_writes=plan.writes())
    if finished is not None and not (finished.get("result") == "rollback failed"
                                     and args.resume):
        ctx.log(f"{args.checkpoint}: this migration already finished ({finished['result']}); "
                "remove the file to migrate again")
        document.update(ok=finished.get("exit_code") == 0, result=finished["result"],
                        leftovers=finished.get("leftovers", []),
                        new_nexset=finished.get("new_nexset", document["new_nexset"]),
                        destinations=finished.get("destinations", document["destinations"]))
        if args.json:
            ctx.out(document, "json")
        else:
            _text(ctx, document)
        return int(finished.get("exit_code", nexla_ops.EXIT_OK))
    if recorded is None:
        journal.write_plan({"plan": plan.document()})
    else:
        ctx.log(f"resuming the migration recorded in {args.checkpoint}")
    migration = Migration(ctx, plan, journal)
    if finished is not None or journal.of(["rollback"]):
        return _roll_back(ctx, args, migration, document, "resuming an interrupted roll-back")

    try:
        migration.ensure_nexset()
        done = (journal.items().get("validate") or {}).get("outcome")
        report = done["report"] if done and done.get("status") == "done" else \
            migration.validate()
    except (nexla_ops.OpsError, Terminated) as exc:
        # Before any destination was touched: the nexset this run created goes again.
        if migration.created:
            with stopping.cleanup(), contextlib.suppress(nexla_ops.OpsError):
                migration.discard_nexset()
        if isinstance(exc, Terminated):
            raise
        raise nexla_ops.OpsError(f"{exc.message}; no destination was changed",
                                 exit_code=exc.exit_code) from None
    document["new_nexset"] = {**plan.new_nexset, "id": migration.new_id,
                              "created": migration.created}
    document["validation"] = report
    if not report["ok"]:
        for reason in report["reasons"]:
            ctx.warn(f"validation failed: {reason}")
        return _roll_back(ctx, args, migration, document, "validation failed: "
                          + "; ".join(report["reasons"]), result="validation failed")
    try:
        document["destinations"] = migration.switch_all()
    except StepFailed as exc:
        ctx.warn(f"migration failed at {exc}; pointing everything back to nexset "
                 f"{plan.old_nexset['id']}")
        with stopping.cleanup():  # a SIGTERM now waits for the roll-back
            return _roll_back(ctx, args, migration, document, str(exc))
    document["verified"] = {"destinations": "each reads the new nexset with its status before "
                                            "the migration", "samples": report["samples"]["new"],
                            "run": RUN_NOT_VERIFIED}
    return _finish(ctx, args, migration, document, "migrated", nexla_ops.EXIT_OK)


def _roll_back(ctx, args, migration, document, reason: str, *, result: str = "rolled back"):
    migration.record("rollback", reason=reason)
    leftovers = migration.rollback()
    document["error"] = reason
    if leftovers:
        for left in leftovers:
            what = f"destination {left['destination']}" if "destination" in left else \
                f"nexset {left['nexset']}"
            ctx.warn(f"NOT restored: {what}: {left['error']}")
        document["leftovers"] = leftovers
        return _finish(ctx, args, migration, document, "rollback failed", nexla_ops.EXIT_PARTIAL)
    if journal_started_destinations(migration):
        ctx.warn(f"{result}: every destination reads nexset {migration.plan.old_nexset['id']} "
                 "again, with its status before")
    else:
        ctx.warn(f"{result}: no destination was touched"
                 + (f"; nexset {migration.new_id}, which it created, was deleted"
                    if migration.created else ""))
    return _finish(ctx, args, migration, document, result, nexla_ops.EXIT_FAILED)


def journal_started_destinations(migration) -> bool:
    return any(e["key"].startswith("destination:") for e in migration.journal.of(["intent"]))


def _finish(ctx, args, migration, document, result: str, code: int, **extra) -> int:
    document.update(ok=code == nexla_ops.EXIT_OK, result=result, **extra)
    if migration is not None:
        document["writes"] = migration.writes
        migration.record("finish", result=result, exit_code=code,
                         leftovers=document.get("leftovers", []),
                         new_nexset=document["new_nexset"],
                         destinations=document["destinations"])
    if args.json:
        ctx.out(document, "json")
    else:
        _text(ctx, document)
    return code


def _text(ctx, document: dict) -> None:
    one = nexla_ops.one_line
    old, new = document["old_nexset"], document["new_nexset"]
    lines = [f"{document['result']}: nexset {old['id']} ({one(str(old.get('name')))}) -> "
             f"{new.get('id') or 'new'} ({one(str(new.get('name')))})"]
    for write in document.get("planned_writes") or []:
        body = dict(write.get("body") or {})
        if "transform" in body:  # the whole transform is in --json; here only its size
            body["transform"] = f"<{len(body['transform']['operations'])} operation(s)>"
        lines.append(f"  would {write['method']} {write['path']}"
                     + (f" {one(json.dumps(body, default=str))}" if body else ""))
    report = document.get("validation")
    if report:
        lines.append(f"validation: {report['verdict']} ({report['samples']['new']} sample(s))")
        lines += [f"  reason: {one(r)}" for r in report["reasons"]]
        lines += [f"  change: {one(c['message'])}{' (breaking)' if c['breaking'] else ''}"
                  for c in report["changes"]]
    for left in document.get("leftovers") or []:
        lines.append(f"NOT restored: {one(nexla_ops.dumps(left))}")
    ctx.out("\n".join(lines), "text")
    rows = [{"destination": d["id"], "name": d.get("name"), "status": d["status"],
             "result": d.get("result", "-")} for d in document.get("destinations") or []]
    if rows:
        ctx.out(nexla_ops.format_table(rows, ["destination", "name", "status", "result"]),
                "text")
