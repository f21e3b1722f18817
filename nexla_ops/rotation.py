"""Credential rotation: probe the new credential, plan every source and destination that uses the
old one, then pause, switch, re-activate and verify each flow, journaled, with restore on
failure; run(args, ctx) is what the rotate-credential command calls."""

from __future__ import annotations

import contextlib

import nexla_ops
from nexla_ops import journal as checkpoint
from nexla_ops import stopping
from nexla_ops.probe import probe_credential
from nexla_ops.stopping import Terminated

USERS = (("data_sources", "source"), ("data_sinks", "destination"))


class StepFailed(Exception):
    """A write or a verification of the rotation did not go through."""


class PausedFlows:
    """Flows a rotation paused and has not yet re-activated, kept in the per-user state
    directory per API URL, so that any later run (resumed or fresh, with or without
    --checkpoint) re-activates what an interrupted or failed run left paused."""

    def __init__(self, api_url: str):
        self.path = nexla_ops.target_path("rotations", api_url, prefix="paused-", suffix=".json")

    def load(self) -> dict[int, dict]:
        import json

        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise nexla_ops.ConfigError(f"{self.path}: unreadable ({exc}); it lists flows an "
                                        "earlier rotation paused: check them, then remove "
                                        "it") from None
        return {int(k): v for k, v in (doc.get("flows") or {}).items()}

    def _update(self, change) -> None:
        """Read, change and write the file under its lock (two rotations may run at once)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with nexla_ops.lock_file(f"{self.path}.lock", wait=10):
            flows = self.load()
            change(flows)
            nexla_ops.write_atomic(self.path, nexla_ops.dumps({"flows": flows}) + "\n",
                                   mode=0o600)

    def add(self, flow_id: int, **facts) -> None:
        self._update(lambda flows: flows.__setitem__(flow_id, facts))

    def remove(self, flow_id: int) -> None:
        if flow_id in self.load():
            self._update(lambda flows: flows.pop(flow_id, None))


class Rotation:
    def __init__(self, ctx, old: int, new: int, journal):
        self.ctx = ctx
        self.old = old
        self.new = new
        self.journal = journal
        self.writes = 0
        self.paused = PausedFlows(ctx.target)

    # -- reads -------------------------------------------------------------------------------
    def credential(self, cred_id: int, flag: str) -> dict:
        try:
            body = self.ctx.request("GET", f"/data_credentials/{cred_id}")
        except nexla_ops.NotFound:
            raise nexla_ops.NotFound(f"{flag}: credential {cred_id} not found") from None
        return {"id": body.get("id"), "name": body.get("name"),
                "credentials_type": body.get("credentials_type")}

    def probe(self) -> None:
        verdict = probe_credential(lambda path: self.ctx.request("GET", path), self.new)
        if not verdict.ok:
            raise nexla_ops.OpsError(f"probe of the new credential {self.new} failed: "
                                     f"{verdict.reason}")

    def users(self) -> list[dict]:
        """Every source and destination whose data_credentials_id is the old one."""
        found = []
        for path, label in USERS:
            for obj in self.ctx.paginate(f"/{path}"):
                if isinstance(obj, dict) and obj.get("data_credentials_id") == self.old:
                    found.append({"type": path, "kind": label, "id": obj["id"],
                                  "name": obj.get("name"), "status": obj.get("status")})
        return found

    def flow_of(self, resource: dict) -> dict | None:
        try:
            body = self.ctx.request("GET", f"/{resource['type']}/{resource['id']}/flow",
                                    params={"flows_only": 1})
        except nexla_ops.NotFound:
            return None
        nodes = (body or {}).get("flows") or []
        return nodes[0] if nodes else None

    def flow_status(self, flow_id: int) -> str:
        body = self.ctx.request("GET", f"/flows/{flow_id}", params={"flows_only": 1})
        nodes = (body or {}).get("flows") or []
        return str(nodes[0].get("status") or "").upper() if nodes else ""

    def current_credential(self, resource: dict) -> int | None:
        body = self.ctx.request("GET", f"/{resource['type']}/{resource['id']}")
        return body.get("data_credentials_id")

    def build_units(self, users: list[dict]) -> list[dict]:
        """Group the users by flow: each unit is paused, switched and re-activated together."""
        units: dict[object, dict] = {}
        for resource in users:
            node = self.flow_of(resource)
            key = node["id"] if node else f"{resource['type']}:{resource['id']}"
            unit = units.setdefault(key, {
                "ref": f"flow:{node['id']}" if node else f"resource:{key}",
                "flow_id": node["id"] if node else None,
                "status_before": str(node.get("status") or "").upper() if node else None,
                "resources": []})
            unit["resources"].append({k: resource[k] for k in ("type", "kind", "id", "name")})
        left_paused = self.paused.load()
        for unit in units.values():
            if unit["flow_id"] in left_paused and unit["status_before"] == "PAUSED":
                self.ctx.warn(f"flow {unit['flow_id']} was paused by an earlier rotation that "
                              "did not finish; this run re-activates it")
                unit["status_before"] = "ACTIVE"
        return sorted(units.values(), key=lambda u: (u["flow_id"] is None, u["flow_id"] or 0,
                                                      u["ref"]))

    # -- writes ------------------------------------------------------------------------------
    def _write(self, method: str, path: str, **kwargs) -> None:
        self.writes += 1
        self.ctx.request(method, path, **kwargs)

    def set_flow(self, flow_id: int, verb: str) -> None:
        self._write("PUT", f"/flows/{flow_id}/{verb}", params={"all": 1})

    def switch(self, resource: dict, to: int) -> None:
        self._write("PUT", f"/{resource['type']}/{resource['id']}",
                    json={"data_credentials_id": to})

    def converge(self, unit: dict, *, to: int, origin: int) -> None:
        """Bring one unit to credential `to` and its original status. Safe to repeat: every
        step reads first, so a resumed or rolled-back unit gets no duplicate writes."""
        pending = []
        for resource in unit["resources"]:
            current = self.current_credential(resource)
            if current == to:
                continue
            if current != origin:
                raise StepFailed(f"{resource['type']}/{resource['id']} now uses credential "
                                 f"{current}, not {origin}: changed by someone else; left alone")
            pending.append(resource)
        flow_id = unit["flow_id"]
        if flow_id is not None and pending and self.flow_status(flow_id) == "ACTIVE":
            # Noted before the pause: a run that dies or fails after it leaves a record that
            # the next run acts on.
            self.paused.add(flow_id, old=self.old, new=self.new)
            self.set_flow(flow_id, "pause")
        for resource in pending:
            self.switch(resource, to)
        if flow_id is not None and unit["status_before"] == "ACTIVE" and \
                self.flow_status(flow_id) != "ACTIVE":
            self.set_flow(flow_id, "activate")
        self.verify(unit, to)
        if flow_id is not None:
            self.paused.remove(flow_id)

    def verify(self, unit: dict, to: int) -> None:
        for resource in unit["resources"]:
            current = self.current_credential(resource)
            if current != to:
                raise StepFailed(f"{resource['type']}/{resource['id']} still uses credential "
                                 f"{current} after the switch")
        if unit["flow_id"] is not None and unit["status_before"] == "ACTIVE":
            status = self.flow_status(unit["flow_id"])
            if status != "ACTIVE":
                raise StepFailed(f"flow {unit['flow_id']} is {status or 'unknown'} after "
                                 "re-activation, not ACTIVE")

    # -- journal -------------------------------------------------------------------------------
    def record(self, event: str, **fields) -> None:
        self.journal.append({"event": event, **fields})

    def started_units(self, units: list[dict]) -> list[dict]:
        refs = {e["key"] for e in self.journal.of(["intent"])}
        return [u for u in units if u["ref"] in refs]

    # -- phases --------------------------------------------------------------------------------
    def apply(self, units: list[dict]) -> list[dict]:
        """Rotate unit by unit; on the first failure raise StepFailed (rollback is separate)."""
        state = self.journal.items()
        results = []
        for unit in units:
            outcome = (state.get(unit["ref"]) or {}).get("outcome")
            if outcome and outcome.get("status") == "done":
                results.append({**unit, "result": "done in an earlier run"})
                continue
            self.record("intent", key=unit["ref"], step="rotate")
            try:
                self.converge(unit, to=self.new, origin=self.old)
            except (StepFailed, nexla_ops.OpsError, Terminated) as exc:
                # (SIGTERM too: the roll-back that follows runs in stopping.cleanup())
                message = str(exc) if isinstance(exc, StepFailed) else exc.message
                self.record("outcome", key=unit["ref"], status="failed", error=message)
                raise StepFailed(f"{_unit_label(unit)}: {message}") from None
            self.record("outcome", key=unit["ref"], status="done")
            self.ctx.log(f"rotated {_unit_label(unit)}")
            results.append({**unit, "result": "rotated"})
        return results

    def rollback(self, units: list[dict]) -> list[dict]:
        """Switch back every unit that was started; returns the leftovers that failed."""
        leftovers = []
        for unit in reversed(self.started_units(units)):
            try:
                self.converge(unit, to=self.old, origin=self.new)
                self.record("rolled_back", key=unit["ref"])
            except (StepFailed, nexla_ops.OpsError) as exc:
                message = exc.message if isinstance(exc, nexla_ops.OpsError) else str(exc)
                self.record("rollback_failed", key=unit["ref"], error=message)
                leftovers.append({"unit": _unit_label(unit), "flow_id": unit["flow_id"],
                                  "status_before": unit["status_before"],
                                  "resources": unit["resources"], "error": message})
        return leftovers

    def reactivate_left_paused(self, units: list[dict]) -> list[str]:
        """Re-activate flows an earlier rotation paused that are not among `units` (those
        converge() handles); the problems of the ones that stay paused."""
        mine = {u["flow_id"] for u in units}
        problems = []
        for flow_id in sorted(set(self.paused.load()) - mine):
            try:
                status = self.flow_status(flow_id)
            except nexla_ops.NotFound:
                self.paused.remove(flow_id)
                continue
            try:
                if status != "ACTIVE":
                    self.ctx.warn(f"flow {flow_id} was paused by an earlier rotation that did "
                                  "not finish; re-activating it")
                    self.set_flow(flow_id, "activate")
                    if self.flow_status(flow_id) != "ACTIVE":
                        raise StepFailed(f"flow {flow_id} is still not ACTIVE")
                self.paused.remove(flow_id)
            except (StepFailed, nexla_ops.OpsError) as exc:
                problems.append(f"flow {flow_id}: {getattr(exc, 'message', None) or exc}")
        return problems

    def retire(self) -> list[dict]:
        """Delete the old credential unless something still uses it; returns those users."""
        still = self.users()
        if still:
            return still
        self.record("intent", key="retire", step="retire")
        try:  # read first: a resumed run may find it gone already
            self.ctx.request("GET", f"/data_credentials/{self.old}")
        except nexla_ops.NotFound:
            pass
        else:
            with contextlib.suppress(nexla_ops.NotFound):  # a retried DELETE that went through
                self._write("DELETE", f"/data_credentials/{self.old}")
        self.record("outcome", key="retire", status="done")
        return []


def planned_action(unit: dict) -> str:
    """What applying will do to one unit (converge() on a unit nobody has touched yet)."""
    if unit["status_before"] == "ACTIVE":
        return "would pause, switch, activate"
    if unit["flow_id"] is not None:
        return f"would switch (flow stays {unit['status_before'] or 'as it is'})"
    return "would switch"


def planned_writes(units: list[dict], old: int, new: int, retire_old: bool) -> list[dict]:
    """Every write applying would make, deletes first (the one a reader must not miss)."""
    writes = []
    if retire_old:
        writes.append({"method": "DELETE", "path": f"/data_credentials/{old}",
                       "when": "after every unit is rotated, if nothing uses it by then"})
    for unit in units:
        flow = unit["flow_id"]
        pausing = flow is not None and unit["status_before"] == "ACTIVE"
        if pausing:
            writes.append({"method": "PUT", "path": f"/flows/{flow}/pause"})
        writes.extend({"method": "PUT", "path": f"/{r['type']}/{r['id']}",
                       "body": {"data_credentials_id": new}} for r in unit["resources"])
        if pausing:
            writes.append({"method": "PUT", "path": f"/flows/{flow}/activate"})
    return writes


def _unit_label(unit: dict) -> str:
    if unit["flow_id"] is not None:
        return f"flow {unit['flow_id']}"
    resource = unit["resources"][0]
    return f"{resource['type']}/{resource['id']} (no flow)"


def open_journal(args):
    if not args.checkpoint:
        return checkpoint.MemoryJournal()
    return checkpoint.open_checkpoint(args.checkpoint, resume=args.resume,
                                      operation="rotate_credential")


def run(args, ctx) -> int:
    old = nexla_ops.parse_id(args.old, "--old")
    new = nexla_ops.parse_id(args.new, "--new")
    if old == new:
        raise nexla_ops.BadInput("--new: must differ from --old")
    if args.resume and not args.checkpoint:
        raise nexla_ops.BadInput("--resume: needs --checkpoint FILE")
    if args.plan and args.resume:
        raise nexla_ops.BadInput("--plan: not together with --resume")
    journal = open_journal(args) if not args.plan else checkpoint.MemoryJournal()
    try:
        return _rotate(args, ctx, old, new, journal)
    finally:
        journal.close()


def _rotate(args, ctx, old: int, new: int, journal) -> int:
    rotation = Rotation(ctx, old, new, journal)
    plan = journal.plan()
    if plan is not None and (plan.get("old") != old or plan.get("new") != new):
        raise nexla_ops.BadInput(f"--resume: {args.checkpoint} records a rotation from "
                                 f"{plan.get('old')} to {plan.get('new')}, not {old} to {new}")
    document: dict = {"old_credential": None, "new_credential": None, "plan_only": args.plan}
    finished = next((e for e in reversed(journal.events) if e.get("event") == "finish"), None)
    if finished is not None and finished.get("result") == "rollback failed" and args.resume:
        ctx.log(f"{args.checkpoint}: the roll-back did not finish; restoring again")
        document["units"] = (plan or {}).get("units") or []
        document["old_credential"] = rotation.credential(old, "--old")
        document["new_credential"] = rotation.credential(new, "--new")
        return _roll_back(ctx, args, rotation, document["units"], document,
                          "resuming a roll-back that failed")
    if finished is not None:
        ctx.log(f"{args.checkpoint}: this rotation already finished ({finished['result']}); "
                "remove the file to rotate again")
        document.update(result=finished["result"], units=(plan or {}).get("units"),
                        leftovers=finished.get("leftovers", []))
        _emit(ctx, args, document)
        return int(finished.get("exit_code", nexla_ops.EXIT_OK))

    try:
        document["old_credential"] = rotation.credential(old, "--old")
    except nexla_ops.NotFound:
        if not journal.items().get("retire"):
            raise
        # The interrupted run had got as far as deleting it: finish the bookkeeping below.
        document["old_credential"] = {"id": old, "name": None, "credentials_type": None}
    document["new_credential"] = rotation.credential(new, "--new")
    rolling_back = any(e.get("event") == "rollback" for e in journal.events)
    if not rolling_back:  # going back to the old credential needs no probe of the new one
        # Before any write, and again on resume: the secret may have changed meanwhile.
        try:
            rotation.probe()
        except nexla_ops.OpsError as exc:
            if plan is None or not rotation.started_units(plan["units"]):
                raise nexla_ops.OpsError(f"{exc.message}; nothing was changed",
                                         exit_code=exc.exit_code) from None
            ctx.warn(f"{exc.message}; switching back what the interrupted run switched")
            document["units"] = plan["units"]
            return _roll_back(ctx, args, rotation, plan["units"], document, exc.message)
        document["probe"] = "ok"
    old_type = document["old_credential"]["credentials_type"]
    new_type = document["new_credential"]["credentials_type"]
    if old_type and new_type and old_type != new_type:
        raise nexla_ops.BadInput(f"--new: credential {new} is {new_type} but {old} is {old_type}; "
                                 "sources and destinations need the same connector type")

    if plan is None:
        units = rotation.build_units(rotation.users())
        if not args.plan:
            journal.write_plan({"old": old, "new": new, "units": units,
                                "retire_old": bool(args.retire_old)})
    else:
        units = plan["units"]
        ctx.log(f"resuming the rotation recorded in {args.checkpoint} ({len(units)} unit(s))")
    document["units"] = units

    if args.plan:
        for unit in units:
            unit["action"] = planned_action(unit)
        document["planned_writes"] = planned_writes(units, old, new, bool(args.retire_old))
        document["result"] = "planned"
        _emit(ctx, args, document)
        return nexla_ops.EXIT_OK

    if rolling_back:
        return _roll_back(ctx, args, rotation, units, document,
                          "resuming an interrupted roll-back")
    still_paused = rotation.reactivate_left_paused(units)
    try:
        results = rotation.apply(units)
    except StepFailed as exc:
        ctx.warn(f"rotation failed at {exc}; switching everything back to credential {old}")
        with stopping.cleanup():  # a SIGTERM now waits for the roll-back
            return _roll_back(ctx, args, rotation, units, document, str(exc))
    document["units"] = results
    document["result"] = "rotated"
    code = nexla_ops.EXIT_OK
    if still_paused:  # never exit 0 while a flow a rotation paused is still paused
        document["result"] = "rotated, flows left paused by an earlier run still paused"
        document["leftovers"] = still_paused
        for problem in still_paused:
            ctx.warn(f"NOT re-activated: {problem}")
        code = nexla_ops.EXIT_PARTIAL
    if args.retire_old:
        still = rotation.retire()
        if still:
            document["result"] = "rotated, old credential kept"
            document["leftovers"] = still
            for user in still:
                ctx.warn(f"still uses credential {old}: {user['type']}/{user['id']} "
                         f"{user.get('name') or ''}")
            ctx.warn(f"--retire-old: credential {old} not deleted; it is still in use")
            code = nexla_ops.EXIT_PARTIAL
        else:
            document["retired_old"] = True
            ctx.log(f"deleted the old credential {old}")
    document["writes"] = rotation.writes
    journal.append({"event": "finish", "result": document["result"], "exit_code": code,
                    "leftovers": document.get("leftovers", [])})
    _emit(ctx, args, document)
    return code


def _roll_back(ctx, args, rotation, units, document, reason: str) -> int:
    rotation.record("rollback", reason=reason)
    leftovers = rotation.rollback(units)
    document["writes"] = rotation.writes
    document["error"] = reason
    if leftovers:
        document["result"] = "rollback failed"
        document["leftovers"] = leftovers
        for left in leftovers:
            ctx.warn(f"NOT restored: {left['unit']} (was {left['status_before'] or 'no flow'}): "
                     f"{left['error']}")
        code = nexla_ops.EXIT_PARTIAL
    else:
        document["result"] = "rolled back"
        code = nexla_ops.EXIT_FAILED
    rotation.record("finish", result=document["result"], exit_code=code,
                    leftovers=document.get("leftovers", []))
    _emit(ctx, args, document)
    if not leftovers:
        ctx.warn(f"rolled back: every resource uses credential {rotation.old} again")
    return code


def _emit(ctx, args, document: dict) -> None:
    if args.json:
        ctx.out(document, "json")
        return
    for write in document.get("planned_writes") or []:
        if write["method"] == "DELETE":  # deletes first, before the table of switches
            ctx.out(f"would DELETE {write['path']} ({write['when']})", "text")
    # A plan has nothing done yet: its last column says what applying would do.
    last = "action" if document.get("plan_only") else "result"
    rows = []
    for unit in document.get("units") or []:
        for resource in unit["resources"]:
            rows.append({"flow": unit["flow_id"] or "-", "flow_status": unit["status_before"] or "-",
                         "type": resource["kind"], "id": resource["id"],
                         "name": resource.get("name"), last: unit.get(last, "")})
    if rows:
        ctx.out(nexla_ops.format_table(rows, ["flow", "flow_status", "type", "id", "name",
                                              last]), "text")
    else:
        ctx.out(f"no source or destination uses credential {args.old}", "text")
    ctx.log(f"result: {document.get('result')}")
