"""Applying a plan in dependency order, with a journal of every write so a failure (or a
signal) rolls back exactly what this run created and restores what it changed."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import nexla_ops

from .observe import Reader, detected_nexset_id, parent_id, read_flow
from .plan import NewId, Plan, Step
from .spec import CREDENTIALS, FLOWS, NEXSETS, SINKS, SOURCES

# Applying, with a journal for rollback
# --------------------------------------------------------------------------------------------


class Interrupted(BaseException):
    """Raised by the SIGTERM/SIGINT handlers so the apply unwinds into its rollback."""


class DiscoveryTimeout(nexla_ops.OpsError):
    pass


@dataclass
class Entry:
    """One journal entry: something this run did that a rollback must undo."""

    kind: str  # created | in_doubt | joined | updated | paused | activated | destroyed
    resource_type: str
    name: str
    id: int | None = None
    old: dict = field(default_factory=dict)  # updated: the fields' previous values


VALIDATION_SAMPLES = 20  # parent records the transform is tried on before activation
VALIDATION_SETTLE = 5.0  # seconds to wait for the new nexset's samples


def _flow_path(flow_id: int, verb: str) -> str:
    return f"/{FLOWS}/{flow_id}/{verb}"


def delete_object(ctx, resource_type: str, obj_id: int) -> None:
    """Delete one object; 404 counts as done (a retried DELETE whose first try committed);
    on 409 (active) pause it and try once more."""
    path = f"/{resource_type}/{obj_id}"
    try:
        ctx.request("DELETE", path)
    except nexla_ops.NotFound:
        return
    except nexla_ops.OpsError as exc:
        if exc.status != 409 or resource_type == CREDENTIALS:
            raise
        ctx.log("%s %s is active; pausing it before deleting", resource_type, obj_id)
        ctx.request("PUT", f"{path}/pause", params={"all": 1})
        try:
            ctx.request("DELETE", path)
        except nexla_ops.NotFound:
            return


class Applier:
    def __init__(self, ctx, plan: Plan, reader: Reader, *, discovery_timeout: float,
                 activation_timeout: float):
        self.ctx, self.plan, self.reader = ctx, plan, reader
        self.cfg, self.tag = plan.cfg, plan.tag
        self.discovery_timeout = discovery_timeout
        self.activation_timeout = activation_timeout
        self.journal: list[Entry] = []
        self.actions: list[dict] = []
        self.ids: dict[str, Any] = {}  # NewId.what ("source", "nexset x", ...) -> real id
        self.detected_id: int | None = None
        self.flow_id: int | None = None
        self.leftovers: list[dict] = []
        self.unrestored: list[dict] = []
        self.destroyed: list[dict] = []

    # -- small API wrappers ------------------------------------------------------------------
    def _record(self, step: Step, action: str | None = None) -> None:
        self.actions.append({**step.as_action(), "action": action or step.action})

    def _create(self, step: Step, path: str, body: dict) -> dict:
        self.journal.append(Entry("in_doubt", step.resource_type, step.name))

        def ours() -> list[dict]:
            found = self.reader.ours(path, step.name, refresh=True)
            if step.resource_type == NEXSETS:  # a derived nexset: the one on our parent
                found = [o for o in found if parent_id(o) == body.get("parent_data_set_id")]
            return found

        def find():
            found = ours()
            return found[0] if found else None

        what = f"POST {path} ({step.name})"
        obj = self.ctx.create_once(
            find, lambda: self.ctx.request("POST", path, json=body, what=what), what=what)
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), int):
            raise nexla_ops.ApiError(f"POST {path} ({step.name}): the response carries no id")
        self.journal[-1] = Entry("created", step.resource_type, step.name, obj["id"])
        obj = self._settle_twins(step, obj, ours())
        step.id = obj["id"]
        self._record(step, "create" if step.action == "create" else "replace")
        self.ctx.log("created %s %s (id %s)", step.resource_type, step.name, obj["id"])
        return obj

    def _settle_twins(self, step: Step, mine: dict, same: list[dict]) -> dict:
        """The object of this name and tag that both of two racing applies keep.

        The lock only orders applies that share a state directory; runs on two hosts can both
        create. Each checks right after its create: every run keeps the oldest (created_at,
        then id) and deletes only the twin it made itself, so the account converges on one."""
        twins = {o["id"]: o for o in same if isinstance(o.get("id"), int)}
        twins[mine["id"]] = {**twins.get(mine["id"], {}), **mine}
        if len(twins) == 1:
            return mine
        oldest = min(twins.values(), key=lambda o: (str(o.get("created_at") or ""), o["id"]))
        if oldest["id"] == mine["id"]:
            self.ctx.warn("%s %s: another apply made a twin (ids %s); keeping ours, the oldest; "
                          "the other run deletes its own", step.resource_type, step.name,
                          ", ".join(str(i) for i in sorted(twins)))
            return mine
        self.ctx.warn("%s %s: another apply created id %s first; deleting our twin %s and "
                      "using theirs", step.resource_type, step.name, oldest["id"], mine["id"])
        self._delete(step.resource_type, mine["id"])
        self.journal[-1] = Entry("joined", step.resource_type, step.name, oldest["id"])
        self.actions.append({"action": "delete", "resource_type": step.resource_type,
                             "id": mine["id"], "name": step.name,
                             "changes": {"reason": f"twin of {oldest['id']}"}})
        return oldest

    def _update(self, step: Step, body: dict) -> None:
        existing = step.existing or {}
        old = {k: existing.get(k) for k in body}
        self.journal.append(Entry("updated", step.resource_type, step.name, step.id, old))
        self.ctx.request("PUT", f"/{step.resource_type}/{step.id}", json=body)
        self._record(step)
        self.ctx.log("updated %s %s (id %s): %s", step.resource_type, step.name, step.id,
                     ", ".join(step.changes))

    def _set_flow(self, flow_id: int, verb: str, name: str) -> None:
        kind = "activated" if verb == "activate" else "paused"
        self.journal.append(Entry(kind, FLOWS, name, flow_id))
        self.ctx.request("PUT", _flow_path(flow_id, verb), params={"all": 1})
        self.actions.append({"action": verb, "resource_type": FLOWS, "id": flow_id,
                             "name": name, "changes": {}})
        self.ctx.log("%s flow %s", kind, flow_id)

    def _converge(self, step: Step, path: str) -> int:
        """Create (or replace) or update one planned object; its id. NewId placeholders in the
        body become the ids this apply has learned by now."""
        body = {k: self.ids[v.what] if isinstance(v, NewId) else v for k, v in step.body.items()}
        if step.action in ("create", "replace"):
            return self._create(step, path, body)["id"]
        if step.action == "update":
            self._update(step, body)
        return step.id

    # -- the apply ----------------------------------------------------------------------------
    def run(self) -> None:
        steps = {s.key: s for s in self.plan.steps}
        flow_step = steps["flow"]
        state = self.plan.state
        want_active = self.cfg.activate

        # 1. Pause a live flow before a structural change (or when the config wants it paused).
        if state.flow is not None and state.flow.get("status") == "ACTIVE" and (
            flow_step.changes.get("paused_during_apply") or not want_active
            or any(s.action == "replace" for s in self.plan.steps)
        ):
            self.flow_id = state.flow["id"]
            self._set_flow(self.flow_id, "pause", self.cfg.source.name)

        # 2. Replacements: delete the old objects first (they hold the names we need).
        self._destroy_replaced()

        # 3. Credentials.
        for i, spec in enumerate(self.cfg.credentials):
            step = steps[f"credentials[{i}]"]
            cred_id = self._converge(step, f"/{CREDENTIALS}")
            if step.action == "create":
                self.ids[f"credential {spec.name}"] = cred_id
                self._probe(cred_id, f"credentials[{i}]")

        # 4. Source.
        step = steps["source"]
        source_id = self._converge(step, f"/{SOURCES}")
        self.ids["source"] = source_id

        # 5. Discovery.
        if state.detected is not None and step.action in ("update", "unchanged"):
            self.detected_id = state.detected["id"]
        else:
            self.detected_id = self._wait_for_discovery(source_id)
        self.ids["detected nexset"] = self.detected_id

        # 6. Derived nexset.
        if self.cfg.nexset is not None:
            nexset_id = self._converge(steps["nexset"], f"/{NEXSETS}")
            self.ids[f"nexset {self.cfg.nexset.name}"] = nexset_id
            if self.cfg.nexset.validate_transform and steps["nexset"].action != "unchanged":
                self._validate_transform(steps["nexset"], nexset_id)

        # 7. Destinations, on the final nexset (its planned NewId is now a real id).
        for key, _spec in self.cfg.all_destinations():
            self._converge(steps[key], f"/{SINKS}")

        # 8. --prune: what carries our tag but left the config (destinations, then nexsets).
        for step in self.plan.steps:
            if step.action == "delete":
                self._destroy(step)

        # 9. The flow: activate and verify, or leave it paused.
        if self.flow_id is None or steps["source"].action == "replace":
            flow = read_flow(self.reader, source_id)
            if flow is None:
                raise nexla_ops.ApiError(f"source {source_id} is not part of a flow")
            self.flow_id = flow["id"]
            status = flow.get("status")
        else:
            status = "PAUSED"  # step 1 paused it
        if want_active and status != "ACTIVE":
            self._set_flow(self.flow_id, "activate", self.cfg.source.name)
            self._verify_active(self.flow_id)
        elif not want_active and status == "ACTIVE":
            self._set_flow(self.flow_id, "pause", self.cfg.source.name)
        for s in self.plan.steps:
            if s.action == "unchanged":
                self._record(s)

    def _validate_transform(self, step: Step, nexset_id: int) -> None:
        """Before anything is activated: the transform on the parent's samples, judged as
        validate_transform judges it. A failure raises, and the apply rolls back."""
        from nexla_ops import transforms

        inputs = [s for s in transforms.read_samples(self.ctx, self.detected_id, VALIDATION_SAMPLES)
                  if not transforms.is_error_sample(s[1])]
        if not inputs:
            self.ctx.warn("nexset %s: the source has no sample records yet, so the transform "
                          "was not validated", step.name)
            return
        outputs = transforms.wait_for_output(self.ctx, nexset_id, VALIDATION_SAMPLES, True,
                                             VALIDATION_SETTLE)
        parent = self.reader.get(f"/{NEXSETS}/{self.detected_id}") or {}
        derived = self.reader.get(f"/{NEXSETS}/{nexset_id}") or {}
        report = transforms.evaluate(inputs, outputs, parent.get("output_schema"),
                                     derived.get("output_schema"), expect_fields=[],
                                     expect_schema={}, show_values=False)
        reasons = list(report["reasons"])
        before = transforms.flatten_schema((step.existing or {}).get("output_schema") or {})
        after = transforms.flatten_schema(derived.get("output_schema") or {})
        if step.action == "update" and before and after and not self.cfg.nexset.allow_schema_change:
            diff = transforms.schema_diff(before, after)
            broken = [c["field"] for c in diff["removed"]] + [
                f"{c['field']} {c['from']} -> {c['to']}" for c in diff["changed"]]
            if broken:
                reasons.append("schema break for the destinations: " + ", ".join(broken)
                               + " (set nexset.allow_schema_change: true if intended)")
        self.actions.append({"action": "validate", "resource_type": NEXSETS, "id": nexset_id,
                             "name": step.name, "changes": {"verdict": "fail" if reasons
                                                            else "pass"}})
        if reasons:
            raise nexla_ops.OpsError(f"nexset {step.name}: the transform fails validation: "
                                     + "; ".join(reasons) + " (nexset.validate_transform: "
                                     "false skips this check)")
        self.ctx.log("nexset %s: transform validated on %d sample record(s)", step.name,
                     len(inputs))

    def _probe(self, cred_id: int, where: str) -> None:
        try:
            self.ctx.request("GET", f"/{CREDENTIALS}/{cred_id}/probe")
        except nexla_ops.OpsError as exc:
            raise nexla_ops.ApiError(f"{where}: credential {cred_id} failed its probe: "
                                     f"{exc.message}") from exc

    def _wait_for_discovery(self, source_id: int) -> int:
        started = time.monotonic()
        delay = 0.05
        while True:
            src = self.reader.get(f"/{SOURCES}/{source_id}", params={"expand": 1}) or {}
            found = detected_nexset_id(src, self.reader)
            if found is not None:
                self.ctx.progress_done()
                self.ctx.log("source %s: nexset %s detected after %.1fs", source_id, found,
                             time.monotonic() - started)
                return found
            waited = time.monotonic() - started
            if waited + delay > self.discovery_timeout:
                self.ctx.progress_done()
                raise DiscoveryTimeout(
                    f"source {source_id}: no nexset detected within {self.discovery_timeout:g}s "
                    "(raise --wait-timeout or wait.discovery_timeout)"
                )
            self.ctx.progress(f"waiting for source {source_id} to detect its nexset "
                              f"({waited:.0f}s of {self.discovery_timeout:g}s)")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _verify_active(self, flow_id: int) -> None:
        started = time.monotonic()
        delay = 0.1
        while True:
            body = self.reader.get(f"/{FLOWS}/{flow_id}", params={"flows_only": 1}) or {}
            roots = body.get("flows") or []
            status = roots[0].get("status") if roots else None
            if status == "ACTIVE":
                return
            if time.monotonic() - started + delay > self.activation_timeout:
                raise nexla_ops.ApiError(
                    f"flow {flow_id} reports {status or 'no status'} instead of ACTIVE after "
                    f"{self.activation_timeout:g}s"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def _destroy_replaced(self) -> None:
        replaced = [s for s in self.plan.steps if s.action == "replace"]
        order = {SINKS: 0, NEXSETS: 1, SOURCES: 2}
        for step in sorted(replaced, key=lambda s: order.get(s.resource_type, 3)):
            self._destroy(step)

    def _destroy(self, step: Step) -> None:
        """Delete the object of a replace (its old self) or of a prune: for good, so it is
        reported in `destroyed`, and journaled only to be listed (no rollback brings it back)."""
        self._delete(step.resource_type, step.id)
        self.destroyed.append({"type": step.resource_type, "id": step.id, "name": step.name})
        self.journal.append(Entry("destroyed", step.resource_type, step.name, step.id))
        self.actions.append({"action": "delete", "resource_type": step.resource_type,
                             "id": step.id, "name": step.name, "changes": {}})

    # -- deleting and rollback ----------------------------------------------------------------
    def _delete(self, resource_type: str, obj_id: int) -> None:
        delete_object(self.ctx, resource_type, obj_id)

    def rollback(self) -> None:
        """Undo this run's journal in reverse: delete what it created, restore what it changed."""
        for entry in reversed(self.journal):
            try:
                self._undo(entry)
            except Exception as exc:  # keep going: clean up as much as possible
                message = exc.message if isinstance(exc, nexla_ops.OpsError) else str(exc)
                self.ctx.warn("rollback: could not undo %s %s %s (id %s): %s", entry.kind,
                              entry.resource_type, entry.name, entry.id, message)
                if entry.kind in ("created", "in_doubt"):
                    self.leftovers.append({"type": entry.resource_type, "id": entry.id,
                                           "name": entry.name})
                elif entry.kind != "destroyed":
                    self.unrestored.append({"type": entry.resource_type, "id": entry.id,
                                            "name": entry.name,
                                            "problem": f"not restored after {entry.kind}"})

    def _undo(self, entry: Entry) -> None:
        if entry.kind == "created":
            self._delete(entry.resource_type, entry.id)
            self._record_undo("delete", entry)
        elif entry.kind == "in_doubt":
            # The create's outcome is unknown: anything ours by that name is from this run
            # (we hold the deployment lock and saw none before).
            for obj in self.reader.ours(f"/{entry.resource_type}", entry.name, refresh=True):
                if entry.resource_type == NEXSETS and obj.get("id") == self.detected_id:
                    continue
                entry.id = obj["id"]
                self._delete(entry.resource_type, obj["id"])
                self._record_undo("delete", entry)
        elif entry.kind == "updated":
            self.ctx.request("PUT", f"/{entry.resource_type}/{entry.id}", json=entry.old)
            self._record_undo("restore", entry)
        elif entry.kind == "paused":
            if any(e.kind == "destroyed" and e.resource_type == SOURCES for e in self.journal):
                return  # that flow went with the replaced source
            self.ctx.request("PUT", _flow_path(entry.id, "activate"), params={"all": 1})
            self._record_undo("activate", entry)
        elif entry.kind == "activated":
            try:
                self.ctx.request("PUT", _flow_path(entry.id, "pause"), params={"all": 1})
            except nexla_ops.NotFound:
                return
            self._record_undo("pause", entry)
        # "destroyed": objects a replace deleted cannot be brought back; reported in the result.
        # "joined": a racing apply's object this run adopted in place of its own twin; that
        # run owns it.

    def _record_undo(self, action: str, entry: Entry) -> None:
        self.actions.append({"action": action, "resource_type": entry.resource_type,
                             "id": entry.id, "name": entry.name, "changes": {},
                             "rollback": True})



# --------------------------------------------------------------------------------------------
