"""Deployment drift as health: each deployment file in a directory planned read-only against
the live account (nexla_ops.deploy.drift) and judged OK (in sync), WARNING (drifted) or
UNKNOWN (could not be checked). The deploy engine (pydantic) loads only when a file is checked."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import nexla_ops
from nexla_ops.deploy.directory import SUFFIXES, deployment_file_names

from .budget import Deadline
from .model import OK, STATE_NAMES, UNKNOWN, WARNING
from .settings import ConfigProblem

CHANGES_SHOWN = 5  # per line; the JSON document lists every one
VALUE_CHARS = 60  # a transform or a whole config block would drown the line


def deployment_files(directory: str) -> list[str]:
    """The deployment files directly in `directory` (by suffix, any case; hidden files left
    out, as a shell glob would), sorted by name. ConfigProblem naming --deployments when the
    directory is missing, unreadable, not a directory or holds none."""
    expected = f"a directory of deployment files ({', '.join('*' + s for s in SUFFIXES)})"
    try:
        paths = deployment_file_names(directory)
    except NotADirectoryError:
        raise ConfigProblem(f"--deployments {directory}: not a directory; expected {expected}") from None
    except FileNotFoundError:
        raise ConfigProblem(f"--deployments {directory}: no such directory; expected {expected}") from None
    except OSError as exc:
        raise ConfigProblem(f"--deployments {directory}: cannot read ({exc.strerror or exc}); "
                            f"expected {expected}") from None
    if not paths:
        raise ConfigProblem(f"--deployments {directory}: no deployment files; expected {expected}")
    return paths


@dataclass
class DeploymentResult:
    """One deployment file's verdict. `drift` entries are nexla_ops.deploy.drift's (secret
    values masked by the planner, and redacted again here)."""

    path: str
    name: str | None  # the deployment's name; None when the file could not be read as one
    state: int
    drift: list = field(default_factory=list)
    error: str | None = None

    @property
    def file(self) -> str:
        return os.path.basename(self.path)

    @property
    def title(self) -> str:
        return f"deployment {self.name}" if self.name else f"deployment file {self.file}"

    def reason(self) -> str:
        if self.error is not None:
            return f"cannot check: {self.error}"
        if not self.drift:
            return f"in sync ({self.file})"
        shown = "; ".join(describe_change(entry) for entry in self.drift[:CHANGES_SHOWN])
        more = len(self.drift) - CHANGES_SHOWN
        return shown + (f"; +{more} more" if more > 0 else "")

    def as_doc(self) -> dict:
        return {"deployment": self.name, "path": self.path, "state": STATE_NAMES[self.state],
                "in_sync": self.state == OK, "reason": self.reason(), "drift": self.drift,
                "error": self.error}


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return nexla_ops.one_line(text, VALUE_CHARS)


def describe_change(entry: dict) -> str:
    """'data_sinks orders-warehouse name: "renamed" -> "orders-warehouse"' (live -> file), or
    'data_sinks orders-archive: create' for a whole object an apply would create or delete."""
    where = f"{entry['resource_type']} {entry['name']}"
    if entry["field"] is None:
        return f"{where}: {entry['action']}"
    if entry["live"] is None:
        return f"{where} {entry['field']}: -> {_shown(entry['config'])}"
    return f"{where} {entry['field']}: {_shown(entry['live'])} -> {_shown(entry['config'])}"


def result_from(checked) -> DeploymentResult:
    """A DeploymentResult from drift.check_file's DeploymentDrift."""
    name = None if checked.deployment is None else nexla_ops.redact_text(checked.deployment)
    if checked.error is not None:
        return DeploymentResult(checked.path, name, UNKNOWN,
                                error=nexla_ops.one_line(nexla_ops.redact_text(checked.error)))
    drift = nexla_ops.redact(checked.drift)  # the planner masked secrets; known ones go too
    return DeploymentResult(checked.path, name, WARNING if drift else OK, drift)


def check_deployments(ctx, paths: list[str], deadline: Deadline, concurrency: int) -> list:
    """[DeploymentResult] for `paths`, in order: each planned read-only (GETs only), at most
    `concurrency` at once; a file the deadline leaves unchecked is UNKNOWN."""
    from nexla_ops.deploy.drift import check_file

    from .observe import run_bounded

    # A FIFO, device or directory among them is refused by the file loader without blocking.
    tasks = {path: (lambda p=path: check_file(ctx, p)) for path in paths}
    ctx.progress(f"checking {len(tasks)} deployment file(s) for drift")
    done, failed = run_bounded(tasks, concurrency, deadline)
    ctx.progress_done()
    results = []
    for path in paths:
        if path in done:
            results.append(result_from(done[path]))
        elif path in failed:  # check_file returns its OpsErrors; this keeps one raised anyway
            results.append(DeploymentResult(path, None, UNKNOWN, error=failed[path].message))
        else:
            results.append(DeploymentResult(path, None, UNKNOWN, error=(
                f"not checked before the --timeout of {deadline.seconds:g}s")))
    return results


def deployment_counts(results) -> dict:
    """The summary's "deployments" part: how many were checked, in sync, drifted, unknown."""
    return {"checked": len(results),
            "in_sync": sum(r.state == OK for r in results),
            "drifted": sum(r.state == WARNING for r in results),
            "unknown": sum(r.state == UNKNOWN for r in results)}
