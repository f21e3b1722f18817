"""Saved plans: `--plan --out plan.json` now, `--apply plan.json` later (after review, from CI).

A saved plan holds the config as written (secrets stay ${ENV:VAR} references; the file is
0600 anyway), the actions shown for review, and a fingerprint of the live state they were
planned against. Applying it re-reads the state under the deployment lock and refuses, before
any write, when the fingerprint differs ("state changed since plan") or when the same config
on that state would now do something else. So what is applied is exactly what was reviewed."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import nexla_ops

from .observe import State, parent_id

FORMAT = "nexla-ops saved plan"
VERSION = 1
OPTIONS = ("adopt", "prune", "allow_replace", "destroy")  # the flags a plan was made with

# What the planner reads from each live object (plus updated_at, which moves on any edit,
# compared or not). Run history and counters are left out: they change without anyone
# changing the deployment.
_PLANNED_FIELDS = ("id", "name", "tags", "description", "updated_at", "status", "source_type",
                   "sink_type", "credentials_type", "source_config", "sink_config",
                   "data_credentials_id", "data_set_id", "has_custom_transform", "transform",
                   "transform_id")


def _projection(obj: dict | None, volatile: tuple[str, ...] = ()) -> dict | None:
    if obj is None:
        return None
    seen = {key: obj.get(key) for key in _PLANNED_FIELDS if key in obj and key not in volatile}
    seen["parent"] = parent_id(obj)
    return seen


def state_fingerprint(state: State) -> str:
    """sha256 of what the plan was built from: equal fingerprints plan equally."""
    return digest_of(_seen(state))


def digest_of(value: Any) -> str:
    """sha256 of a JSON-like value, independent of key order."""
    return hashlib.sha256(_canonical(value).encode()).hexdigest()


def _seen(state: State) -> dict:
    seen = {
        # A credential's updated_at moves with every probe (the plan probes them): left out.
        "credentials": {name: _projection(c, volatile=("updated_at",))
                        for name, c in sorted(state.creds.items())},
        "source": _projection(state.source), "source_adopted": state.source_adopted,
        "detected": _projection(state.detected), "derived": _projection(state.derived),
        "derived_adopted": state.derived_adopted,
        "sinks": {key: _projection(s) for key, s in sorted(state.sinks.items())},
        "sinks_adopted": dict(sorted(state.sinks_adopted.items())),
        "flow": _projection(state.flow),
        "strays": sorted(([kind, o.get("id")] for kind, o in state.strays), key=str),
    }
    return seen


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class SavedPlan:
    api_url: str
    deployment: str
    config: dict  # the raw config: ${ENV:VAR} references unresolved
    options: dict  # the flags that change what is planned (adopt, prune, allow_replace, destroy)
    state_fingerprint: str
    actions: list[dict]
    created_at: str = ""

    def body(self) -> dict:
        return {"api_url": self.api_url, "deployment": self.deployment, "config": self.config,
                "options": self.options, "state_fingerprint": self.state_fingerprint,
                "actions": self.actions}

    @property
    def digest(self) -> str:
        """sha256 of the whole plan: shown to the reviewer, checked on load."""
        return digest_of(self.body())

    def other_api(self, target: str, path: str) -> str | None:
        """Why this plan must not be applied to `target` (it was made against another API)."""
        if self.api_url == target:
            return None
        return (f"{path} was planned against {self.api_url}, not {target}; plan again "
                "against this API")

    def changed_since(self, fingerprint: str, actions: list[dict]) -> str | None:
        """Why the state just read is not the one planned against (None: it is)."""
        if fingerprint != self.state_fingerprint:
            return "the deployment's live objects differ from those the plan was made against"
        if actions != self.actions:
            return "the same config on today's state plans other actions"
        return None

    def document(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "created_at": self.created_at,
                **self.body(), "plan_sha256": self.digest}


def refusal_under_lock(stored: SavedPlan | None, fingerprint: str, actions: list[dict], plan,
                       advice: str) -> str | None:
    """Why a plan read again under the deployment lock must not go ahead (None: it may): the
    state moved since a saved plan was made (`advice` follows), or the plan refuses itself."""
    changed = stored.changed_since(fingerprint, actions) if stored else None
    if changed:
        return f"state changed since plan: {changed}; {advice}"
    return plan.refusal()


def save(path: str, plan: SavedPlan) -> None:
    """Write the plan to `path` as --output writes (a FIFO or device written through, never
    replaced), 0600: it holds the config."""
    plan.created_at = plan.created_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps(nexla_ops.to_jsonable(plan.document()), indent=2, default=str) + "\n"
    nexla_ops.write_output(path, text, "--out", private=True)


def check_plan_format(doc: Any, path: str, *, flag: str, fmt: str, version: int,
                      what: str, made_by: str) -> dict:
    """`doc` if it is a plan document of `fmt` at `version`; BadInput naming `flag` otherwise
    (a saved deploy plan, a migration plan)."""
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise nexla_ops.BadInput(f"{flag}: {path} is not {what} (made by {made_by} --plan "
                                 "--out FILE)")
    if type(doc.get("version")) is not int or doc["version"] != version:
        raise nexla_ops.BadInput(f"{flag}: {path} is a version {doc.get('version')!r} plan; "
                                 f"this nexla-ops reads version {version}")
    return doc


def load(path: str) -> SavedPlan:
    """A saved plan from `path`; BadInput if it is not one of ours or was edited."""
    doc = check_plan_format(nexla_ops.load_structured_file(path), path, flag="--apply",
                            fmt=FORMAT, version=VERSION, what="a nexla-ops saved plan",
                            made_by="deploy_flow")
    try:
        plan = SavedPlan(api_url=doc["api_url"], deployment=doc["deployment"],
                         config=doc["config"], options=doc["options"],
                         state_fingerprint=doc["state_fingerprint"], actions=doc["actions"],
                         created_at=doc.get("created_at", ""))
    except KeyError as exc:
        raise nexla_ops.BadInput(f"--apply: {path}: {exc.args[0]} is missing") from None
    if not (isinstance(plan.config, dict) and isinstance(plan.options, dict)
            and isinstance(plan.actions, list)):
        raise nexla_ops.BadInput(f"--apply: {path}: config, options or actions has the wrong "
                                 "type")
    unknown = set(plan.options) - set(OPTIONS)
    if unknown or not all(isinstance(v, bool) for v in plan.options.values()):
        raise nexla_ops.BadInput(f"--apply: {path}: options must map {', '.join(OPTIONS)} to "
                                 "true or false")
    if not isinstance(plan.deployment, str) or not isinstance(plan.api_url, str):
        raise nexla_ops.BadInput(f"--apply: {path}: deployment and api_url must be strings")
    if doc.get("plan_sha256") != plan.digest:
        raise nexla_ops.BadInput(f"--apply: {path} was changed after it was saved "
                                 "(plan_sha256 does not match); plan again")
    plan.options = {**dict.fromkeys(OPTIONS, False), **plan.options}
    return plan
