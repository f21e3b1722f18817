"""Thresholds and the monitors config file (JSON or YAML, per-resource overrides)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import nexla_ops

RESOURCE_TYPES = ("data_sources", "data_sets", "data_sinks", "flows")


@dataclass(frozen=True)
class Thresholds:
    max_age: float
    warn_error_rate: float
    crit_error_rate: float
    window: int
    stall_runs: int
    stuck_after: float
    expect_paused: bool = False


class ConfigProblem(Exception):
    """Bad flag or config value; reported as UNKNOWN (exit 3) in one line naming the field."""


THRESHOLD_KEYS = {
    "max_age": "max_age",
    "warn_error_rate": "warn_error_rate",
    "threshold": "warn_error_rate",
    "crit_error_rate": "crit_error_rate",
    "window": "window",
    "stall_runs": "stall_runs",
    "stuck_after": "stuck_after",
}
INFO_KEYS = {"type", "id", "name", "description", "expect"}


def _duration(value, where):
    try:
        seconds = nexla_ops.parse_duration(str(value))
    except Exception:
        raise ConfigProblem(f"{where}: expected a duration like 30m, 24h or 2d, got {value!r}") from None
    if seconds <= 0:
        raise ConfigProblem(f"{where}: expected a positive duration, got {value!r}")
    return float(seconds)


def _rate(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigProblem(f"{where}: expected a rate between 0 and 1, got {value!r}")
    try:
        rate = float(value)
    except ValueError:
        raise ConfigProblem(f"{where}: expected a rate between 0 and 1, got {value!r}") from None
    if not 0 <= rate <= 1:
        raise ConfigProblem(f"{where}: expected a rate between 0 and 1, got {value!r}")
    return rate


def _count(value, where, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigProblem(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ConfigProblem(f"{where}: expected a whole number >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ConfigProblem(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    return number


def parse_rate(value, where: str) -> float:
    """A rate between 0 and 1 (a float, int or string), else ConfigProblem naming `where`."""
    return _rate(value, where)


def apply_overrides(base: Thresholds, values: dict, where: str) -> Thresholds:
    changes = {}
    for key, value in values.items():
        target = THRESHOLD_KEYS.get(key)
        if target is None:
            continue
        field_name = f"{where}.{key}"
        if target in ("max_age", "stuck_after"):
            changes[target] = _duration(value, field_name)
        elif target in ("warn_error_rate", "crit_error_rate"):
            changes[target] = _rate(value, field_name)
        else:
            changes[target] = _count(value, field_name, 1 if target == "window" else 0)
    if "expect" in values:
        expect = str(values["expect"]).lower()
        if expect not in ("paused", "active"):
            raise ConfigProblem(f"{where}.expect: expected 'paused' or 'active', got {values['expect']!r}")
        changes["expect_paused"] = expect == "paused"
    merged = replace(base, **changes)
    check_rates(merged, where)
    return merged


def check_rates(th: Thresholds, where: str):
    if th.crit_error_rate < th.warn_error_rate:
        raise ConfigProblem(
            f"{where}: crit_error_rate ({th.crit_error_rate}) must not be below "
            f"warn_error_rate ({th.warn_error_rate})"
        )


@dataclass(frozen=True)
class Target:
    """A resource named in the config file, with the thresholds for the flow that holds it."""

    type: str
    id: int
    thresholds: Thresholds

    @property
    def label(self):
        return f"{self.type}/{self.id}"


def load_config(path: str, defaults: Thresholds) -> list[Target]:
    try:
        doc = nexla_ops.load_structured_file(path)
    except nexla_ops.OpsError as exc:
        raise ConfigProblem(f"--config: {exc.message}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
        raise ConfigProblem(f"--config {path}: expected an object with a 'resources' list")
    for key in doc:
        if key not in ("resources", "defaults"):
            raise ConfigProblem(f"--config {path}: unknown key {key!r} (expected resources, defaults)")
    base = defaults
    if "defaults" in doc:
        if not isinstance(doc["defaults"], dict):
            raise ConfigProblem("defaults: expected an object")
        unknown = set(doc["defaults"]) - set(THRESHOLD_KEYS) - {"expect"}
        if unknown:
            raise ConfigProblem(f"defaults.{sorted(unknown)[0]}: unknown key")
        base = apply_overrides(defaults, doc["defaults"], "defaults")
    targets = []
    for index, entry in enumerate(doc["resources"]):
        where = f"resources[{index}]"
        if not isinstance(entry, dict):
            raise ConfigProblem(f"{where}: expected an object like {{\"type\": \"data_sources\", \"id\": 123}}")
        unknown = set(entry) - set(THRESHOLD_KEYS) - INFO_KEYS
        if unknown:
            raise ConfigProblem(f"{where}.{sorted(unknown)[0]}: unknown key")
        kind = entry.get("type")
        if kind not in RESOURCE_TYPES:
            raise ConfigProblem(f"{where}.type: expected one of {', '.join(RESOURCE_TYPES)}, got {kind!r}")
        ident = entry.get("id")
        if isinstance(ident, bool) or not isinstance(ident, int) or ident <= 0:
            raise ConfigProblem(f"{where}.id: expected a positive integer, got {ident!r}")
        targets.append(Target(kind, ident, apply_overrides(base, entry, where)))
    if not targets:
        raise ConfigProblem(f"--config {path}: 'resources' is empty")
    return targets
