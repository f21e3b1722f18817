"""The plans an agent has been shown, by hash: a write is only ever the apply of one of them.

A plan tool runs its command's planning mode (--plan or --dry-run) and keeps the arguments,
the files they need and the plan document, 0600 in the per-user state directory (per target),
under the sha256 of all three. apply_plan(hash) plans again and applies only if the new plan
is the same document (the live state has not moved), then forgets the plan: a hash applies
once. Plans expire after PLAN_TTL.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nexla_ops
from nexla_ops.deploy.saved import digest_of

PLAN_TTL = 3600.0  # seconds a plan can be applied after it was made


class Refused(Exception):
    """apply_plan will not apply: `kind` is the exit-code kind an agent branches on."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class Plan:
    tool: str
    arguments: dict
    document: object
    created_at: float
    deletes: bool
    directory: Path
    hash: str = ""

    @property
    def expired(self) -> bool:
        return time.time() - self.created_at > PLAN_TTL


def fingerprint(tool: str, arguments: dict, document) -> str:
    return digest_of({"tool": tool, "arguments": arguments, "plan": document})


class PlanStore:
    def __init__(self, target: str):
        self.root = nexla_ops.target_path("mcp", target, "plans")

    def scratch(self) -> str:
        """A new private directory for a plan's files (keep() gives it its hash's name).
        Expired plans go first: what they hold (a config, say) is not kept longer."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sweep()
        return tempfile.mkdtemp(prefix=".new-", dir=self.root)

    def sweep(self) -> None:
        cutoff = time.time() - PLAN_TTL
        for entry in self.root.iterdir():
            try:
                if entry.is_dir() and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue

    def keep(self, scratch: str, tool: str, arguments: dict, document, deletes: bool) -> str:
        plan_hash = fingerprint(tool, arguments, document)
        record = {"tool": tool, "arguments": arguments, "document": document,
                  "created_at": time.time(), "deletes": deletes}
        with open(os.path.join(scratch, "plan.json"), "w", encoding="utf-8",
                  opener=lambda p, f: os.open(p, f, 0o600)) as handle:
            json.dump(record, handle)
        target = self.root / plan_hash
        if target.exists():  # the same plan again: the newest copy counts
            shutil.rmtree(target, ignore_errors=True)
        os.rename(scratch, target)
        return plan_hash

    def claim(self, plan_hash: str) -> Plan:
        """The plan, taken out of the store by a rename: of two calls (or two servers) that
        apply one hash, only one gets it."""
        unknown = Refused("not_found", f"plan_hash: no plan {plan_hash} (plans are made by "
                                       "the plan tools, for this Nexla, and apply once)")
        claimed = self.root / f".applying-{plan_hash}-{os.getpid()}-{time.monotonic_ns()}"
        try:
            os.rename(self.root / plan_hash, claimed)
            record = json.loads((claimed / "plan.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise unknown from None
        plan = Plan(record["tool"], record["arguments"], record["document"],
                    record["created_at"], record["deletes"], claimed)
        plan.hash = plan_hash
        if plan.expired:
            self.forget(plan)
            raise Refused("failed", f"plan_hash: plan {plan_hash} expired ({PLAN_TTL:.0f} s "
                                    "after it was made); plan again")
        return plan

    def release(self, plan: Plan) -> None:
        """Put a claimed plan back, unapplied."""
        os.rename(plan.directory, self.root / plan.hash)

    def forget(self, plan: Plan) -> None:
        shutil.rmtree(plan.directory, ignore_errors=True)
