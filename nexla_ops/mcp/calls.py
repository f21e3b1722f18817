"""One tool call, transport aside: the arguments checked, the scope and deny list applied,
the command run (for apply_plan: the plan checked and applied), the call audited. The answer
is the command's JSON document, or {"ok": false, "error": {"kind", "message", ...}} with the
exit-code kind an agent branches on (bad_input, auth, not_found, transient, partial, ...)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import nexla_ops

from . import audit, invoke, scopes
from .plans import PlanStore, Refused
from .tools import BY_NAME, PLAN_FLAGS, TOOLS

SAVED_PLAN = "saved-plan.json"  # a command's own saved plan (deploy_flow --plan --out)


def failure(kind: str, message: str, **extra) -> dict:
    return {"ok": False, "error": {"kind": kind, "message": nexla_ops.one_line(
        nexla_ops.redact_text(message)), **extra}}


@dataclass
class Calls:
    scope: str
    target: str  # ctx.target: the plan store's key
    connection: list  # flags every command gets (--api-url ...)
    deny: frozenset = frozenset()
    audit_log: str | None = None
    store: PlanStore = field(init=False)

    def __post_init__(self):
        self.store = PlanStore(self.target)
        # One call at a time: two apply_plan calls of one hash must not both apply it.
        self._one_at_a_time = threading.Lock()

    def tools(self) -> list:
        return [t for t in TOOLS if t.name not in self.deny]

    def call(self, name: str, arguments: dict | None) -> tuple[Any, bool]:
        """(the answer, whether it is an error)."""
        with self._one_at_a_time:
            try:
                answer = self._answer(name, arguments or {})
            except Exception as exc:  # the server keeps serving; the agent gets a kind
                answer = failure("failed", f"internal error: {exc.__class__.__name__}: {exc}")
        error = isinstance(answer, dict) and answer.get("ok") is False
        extra = {"target": self.target, "scope": self.scope}
        if error:
            extra["message"] = answer["error"]["message"]
        elif isinstance(answer, dict) and "plan_hash" in answer:
            extra["plan_hash"] = answer["plan_hash"]
        audit.record(self.audit_log, name, nexla_ops.redact(arguments or {}),
                     answer["error"]["kind"] if error else "ok", **extra)
        return nexla_ops.redact(answer), error

    def _answer(self, name: str, arguments: dict):
        from pydantic import ValidationError

        tool = BY_NAME.get(name)
        if tool is None or name in self.deny:
            return failure("not_found", f"no tool {name!r} on this server")
        try:
            args = tool.model.model_validate(arguments)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "arguments"
            return failure("bad_input", f"{where}: {first['msg']}")
        if not scopes.allows(self.scope, tool.scope):
            return failure("auth", f"{name} needs --scope {tool.scope}; this server runs at "
                                   f"--scope {self.scope}")
        if tool.kind == "apply":
            return self._apply(args.plan_hash)
        if tool.kind == "plan":
            return self._plan(tool, args)
        directory = self.store.scratch()
        try:
            return self._run(tool.command, tool.argv(args, directory), report=True)
        finally:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)

    def _run(self, command: str, argv: list, *, report: bool = False):
        """The command's document, or a failure. A read tool's document is its answer
        whatever the exit code (triage's ok: false means it found something broken, health
        answers in Nagios codes); only the failure document of a run that could not report
        (bad input, auth, ...) is an error."""
        outcome = invoke.run(command, [*argv, *self.connection])
        if report and not outcome.could_not_report:
            return outcome.document
        problem = outcome.failure
        if problem is None:
            return outcome.document
        answer = failure(problem["kind"], str(problem.get("message")),
                         exit_code=problem.get("exit_code", outcome.code))
        if isinstance(outcome.document, dict) and "error" not in outcome.document:
            answer["document"] = outcome.document  # what was done, item by item
        return answer

    def _plan(self, tool, args):
        directory = self.store.scratch()
        argv = [*tool.argv(args, directory), PLAN_FLAGS[tool.command]]
        if tool.saves_plans:
            argv += ["--out", os.path.join(directory, SAVED_PLAN)]
        document = self._run(tool.command, argv)
        if isinstance(document, dict) and document.get("ok") is False:
            import shutil

            shutil.rmtree(directory, ignore_errors=True)
            return document
        arguments = args.model_dump(mode="json")
        if tool.saves_plans and isinstance(document, dict):
            document.pop("saved_plan", None)  # a path inside the store, not the agent's
        deletes = tool.deletes(args, document)
        plan_hash = self.store.keep(directory, tool.name, arguments, document, deletes)
        return {"ok": True, "plan_hash": plan_hash, "tool": tool.name, "deletes": deletes,
                "plan": document}

    def _apply(self, plan_hash: str):
        try:
            plan = self.store.claim(plan_hash)  # now no other call or server can apply it
        except Refused as exc:
            return failure(exc.kind, exc.message)
        if plan.deletes and not scopes.allows(self.scope, scopes.READ_WRITE_DELETE):
            self.store.release(plan)  # still the agent's to apply at the right scope
            return failure("auth", f"plan {plan_hash} deletes; applying it needs --scope "
                                   f"{scopes.READ_WRITE_DELETE}")
        try:
            return self._apply_claimed(plan, plan_hash)
        finally:
            self.store.forget(plan)  # a plan applies once, even when it was refused

    def _apply_claimed(self, plan, plan_hash: str):
        tool = BY_NAME[plan.tool]
        if tool.saves_plans:  # the command checks its own saved plan against the live state
            document = self._run(tool.command, ["--apply", str(plan.directory / SAVED_PLAN),
                                                "--json"])
        else:
            document = self._replan_and_apply(tool, plan, plan_hash)
        if isinstance(document, dict) and document.get("ok") is False:
            return document
        return {"ok": True, "plan_hash": plan_hash, "tool": plan.tool, "applied": document}

    def _replan_and_apply(self, tool, plan, plan_hash: str):
        """Plan again: the same document means the live state has not moved; then apply."""
        from .plans import fingerprint

        args = tool.model.model_validate(plan.arguments)
        argv = tool.argv(args, str(plan.directory))
        again = self._run(tool.command, [*argv, PLAN_FLAGS[tool.command]])
        if fingerprint(plan.tool, plan.arguments, again) != plan_hash:
            return failure("failed", f"plan_hash: the live state changed since plan "
                                     f"{plan_hash} was made; nothing was applied. Plan again "
                                     "and review the new plan")
        return self._run(tool.command, argv)
