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

    @property
    def expired(self) -> bool:
        return time.time() - self.created_at > PLAN_TTL


def fingerprint(tool: str, arguments: dict, document) -> str:
    return digest_of({"tool": tool, "arguments": arguments, "plan": document})


class PlanStore:
    def __init__(self, target: str):
        self.root = nexla_ops.target_path("mcp", target, "plans")

    def scratch(self) -> str:
        """A new private directory for a plan's files (kept() gives it its hash's name)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return tempfile.mkdtemp(prefix=".new-", dir=self.root)

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

    def load(self, plan_hash: str) -> Plan:
        path = self.root / plan_hash / "plan.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise Refused("not_found", f"plan_hash: no plan {plan_hash} (plans made by this "
                                       "server's plan tools, for this Nexla, apply once)") from None
        plan = Plan(record["tool"], record["arguments"], record["document"],
                    record["created_at"], record["deletes"], path.parent)
        if plan.expired:
            self.forget(plan_hash)
            raise Refused("failed", f"plan_hash: plan {plan_hash} expired ({PLAN_TTL:.0f} s "
                                    "after it was made); plan again")
        return plan

    def forget(self, plan_hash: str) -> None:
        shutil.rmtree(self.root / plan_hash, ignore_errors=True)
