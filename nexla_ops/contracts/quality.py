"""check_nexset.py quality: a rules file's rules evaluated on its nexset's samples.

What a rule counts (``checked`` and ``failed`` in its finding):

* not_null checks every sample; a missing field counts as null. It is the rule for presence:
  every other rule skips missing and null values.
* type, range, regex, allowed and max_age check each non-null value. range wants a JSON
  number (a numeric string fails: say the type you mean), regex a string (a search, so anchor
  with ^ and $; a pattern that backtracks past a second on one value is UNKNOWN), allowed compares as JSON does (true is not 1, "1" is not 1). max_age reads
  ISO-8601 strings (no offset means UTC) and epoch seconds or milliseconds (12+ digits); a
  value that is not a timestamp fails, with itself as the example.
* unique is over the samples read, nothing more: a sample cannot prove the whole nexset
  unique, only catch a repeat. ``failed`` counts the values that repeat an earlier one.
* min_count counts the samples read (with ``field``, those with a non-null value there);
  error records among the samples are not samples of the nexset's data and count for nothing.

A rule with nothing to check (no samples, or the field absent or null in every one) is
UNKNOWN, not a pass: a misspelt field must not pass forever. Examples are the first three
distinct offending values, shortened, and [REDACTED] when the field's name looks secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import nexla_ops
from nexla_ops.health.model import CRITICAL, OK, UNKNOWN, WARNING
from nexla_ops.transforms import flatten_record, is_error_sample, json_type

from .model import Finding, NexsetResult

EXAMPLES = 3
EXAMPLE_CHARS = 80  # an example value longer than this is shortened
MATCH_CHARS = 10_000  # regex is matched on at most this much of a value
MATCH_SECONDS = 1.0  # per value: a pattern that backtracks longer is not judged (UNKNOWN)
MISSING = object()


# ---------------------------------------------------------------- evaluating (pure)


@dataclass(frozen=True)
class Clock:
    """The evaluation's time: `now` for max_age, and what is left of the run's --timeout."""

    now: datetime
    deadline: Any = None  # anything with remaining(), e.g. health.budget.Deadline

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline.remaining()


@dataclass
class Outcome:
    checked: int = 0
    failed: int = 0
    examples: list = field(default_factory=list)
    unjudged: str = ""  # why the rule could not be judged at all

    def fail(self, example: Any) -> None:
        self.failed += 1
        if len(self.examples) < EXAMPLES and _key(example) not in map(_key, self.examples):
            self.examples.append(example)


def _secret(path: str) -> bool:
    return nexla_ops.is_secret_key(path) or any(nexla_ops.is_secret_key(p)
                                                for p in path.split("."))


def _example(value: Any, secret: bool) -> Any:
    """An offending value as shown: redacted, shortened, one line."""
    if secret:
        return nexla_ops.REDACTED
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list)):
        value = json.dumps(nexla_ops.redact(value), ensure_ascii=False, default=str)
    return nexla_ops.one_line(nexla_ops.redact_text(str(value)), EXAMPLE_CHARS)


def _key(value: Any) -> tuple:
    """A value as JSON compares it: True is not 1, 1 is 1.0, objects by content."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _is_type(value: Any, kinds: tuple) -> bool:
    kind = json_type(value)
    if kind == "number" and isinstance(value, float) and value.is_integer():
        kind = "integer"  # JSON Schema: 1.0 is an integer
    return kind in kinds or (kind == "integer" and "number" in kinds)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def age_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _values(rule, flat: list) -> list:
    """The rule's field's non-null values, in sample order."""
    out = []
    for record in flat:
        value = record.get(rule.field, MISSING)
        if value is not MISSING and value is not None:
            out.append(value)
    return out


def _not_null(rule, flat, secret, clock) -> tuple[Outcome, str]:
    outcome = Outcome(checked=len(flat))
    for i, record in enumerate(flat, 1):
        value = record.get(rule.field, MISSING)
        if value is MISSING or value is None:
            outcome.fail(f"sample {i}: {'missing' if value is MISSING else 'null'}")
    return outcome, "samples missing or null"


def _each(rule, flat, secret, ok) -> Outcome:
    values = _values(rule, flat)
    outcome = Outcome(checked=len(values))
    for value in values:
        if not ok(value):
            outcome.fail(_example(value, secret))
    return outcome


def _type(rule, flat, secret, clock):
    return (_each(rule, flat, secret, lambda v: _is_type(v, rule.type)),
            f"values not of type {'|'.join(rule.type)}")


def _range(rule, flat, secret, clock):
    low = -float("inf") if rule.min is None else rule.min
    high = float("inf") if rule.max is None else rule.max
    bounds = (f"[{rule.min}, {rule.max}]" if rule.min is not None and rule.max is not None
              else f">= {rule.min}" if rule.min is not None else f"<= {rule.max}")
    # `low <= v <= high` rather than a negated test: a NaN from the API is out of range
    return (_each(rule, flat, secret, lambda v: _number(v) and low <= v <= high),
            f"values not a number {bounds}")


def _regex(rule, flat, secret, clock):
    import regex  # re has no timeout: a pattern like ^(a+)+$ must not hang the check

    pattern = regex.compile(rule.pattern)

    def matches(value) -> bool:
        timeout = max(0.01, min(MATCH_SECONDS, clock.remaining()))
        return isinstance(value, str) and pattern.search(value[:MATCH_CHARS],
                                                         timeout=timeout) is not None

    try:
        outcome = _each(rule, flat, secret, matches)
    except TimeoutError:
        return Outcome(unjudged=f"the pattern took over {MATCH_SECONDS:g}s on one value: "
                                "it backtracks; simplify it"), ""
    return outcome, f"values not matching {nexla_ops.one_line(rule.pattern, 60)!r}"


def _allowed(rule, flat, secret, clock):
    allowed = {_key(v) for v in rule.values}
    shown = ", ".join(json.dumps(v, ensure_ascii=False) for v in rule.values[:10])
    more = ", ..." if len(rule.values) > 10 else ""
    return (_each(rule, flat, secret, lambda v: _key(v) in allowed),
            f"values not one of [{nexla_ops.one_line(shown, 120)}{more}]")


def _max_age(rule, flat, secret, clock):
    def fresh(value):
        moment = nexla_ops.api_time(value)
        return moment is not None and (clock.now - moment).total_seconds() <= rule.max_age

    return (_each(rule, flat, secret, fresh),
            f"values older than {age_text(rule.max_age)} or not timestamps")


def _min_count(rule, flat, secret, clock):
    have = len(flat) if rule.field is None else len(_values(rule, flat))
    outcome = Outcome(checked=have, failed=int(have < rule.count))
    where = "samples" if rule.field is None else f"samples with {rule.field}"
    return outcome, f"{where}, expected at least {rule.count}"


def _unique(rule, flat, secret, clock):
    seen: set = set()
    values = _values(rule, flat)
    outcome = Outcome(checked=len(values))
    for value in values:
        key = _key(value)
        if key in seen:
            outcome.fail(_example(value, secret))
        seen.add(key)
    return outcome, "values repeating an earlier one (in these samples)"


EVALUATORS = {"not_null": _not_null, "type": _type, "unique": _unique, "range": _range,
              "regex": _regex, "allowed": _allowed, "max_age": _max_age,
              "min_count": _min_count}


def judge_rule(rule, flat: list, clock: Clock) -> Finding:
    field_name = getattr(rule, "field", None)
    secret = field_name is not None and _secret(field_name)
    outcome, what = EVALUATORS[rule.check](rule, flat, secret, clock)
    label = nexla_ops.one_line(rule.label, 120)
    doc = {"rule": rule.label, "check": rule.check, "field": field_name,
           "severity": rule.severity, "passed": None, "checked": outcome.checked,
           "failed": outcome.failed, "examples": outcome.examples}
    if outcome.unjudged:
        return Finding(UNKNOWN, f"{label}: not checked ({outcome.unjudged})", doc)
    if rule.check == "min_count":
        doc["passed"] = not outcome.failed
        state = OK if doc["passed"] else _failing(rule)
        return Finding(state, f"{label}: {outcome.checked} {what}", doc)
    if outcome.checked == 0:
        why = "no samples" if not flat else f"{field_name} absent or null in all {len(flat)}"
        return Finding(UNKNOWN, f"{label}: not checked ({why})", doc)
    doc["passed"] = not outcome.failed
    if doc["passed"]:
        return Finding(OK, f"{label}: all {outcome.checked} pass", doc)
    shown = ", ".join(e if isinstance(e, str) and e.startswith("sample ")
                      else json.dumps(e, ensure_ascii=False) for e in outcome.examples)
    return Finding(_failing(rule), nexla_ops.one_line(
        f"{label}: {outcome.failed} of {outcome.checked} {what} (e.g. {shown})"), doc)


def _failing(rule) -> int:
    return WARNING if rule.severity == "warning" else CRITICAL


def evaluate(rules_file, records: list[dict], now: datetime, *, name: str = "",
             deadline=None) -> NexsetResult:
    """One finding per rule, in the file's order, on these sample records; a regex still
    running when `deadline` (the run's --timeout) is up leaves its rule UNKNOWN."""
    flat = [flatten_record(r) for r in records]
    clock = Clock(now, deadline)
    return NexsetResult(rules_file.nexset, name,
                        [judge_rule(rule, flat, clock) for rule in rules_file.rules],
                        note=f"{len(records)} samples checked")


# ---------------------------------------------------------------- the run


@dataclass
class Plan:
    files: list  # [(path, RulesFile)] in the order given


def prepare(args) -> Plan:
    """Every --rules file read and validated: BadInput before anything is sent."""
    from .rules import load_rules

    if not args.rules:
        raise nexla_ops.BadInput("--rules FILE: required (a rules file naming its nexset; "
                                 "--print-schema shows the format)")
    plan, owner = Plan([]), {}
    for path in args.rules:
        rules_file = load_rules(path)
        if rules_file.nexset in owner:
            raise nexla_ops.BadInput(f"--rules {path}: nexset {rules_file.nexset} is also in "
                                     f"{owner[rules_file.nexset]}: one rules file per nexset")
        owner[rules_file.nexset] = path
        for i, rule in enumerate(rules_file.rules):
            if rule.check == "min_count" and rule.count > args.samples:
                raise nexla_ops.BadInput(f"--rules {path}: rules[{i}].count: {rule.count} is "
                                         f"more than --samples {args.samples}, so it could "
                                         "never pass; raise --samples")
        plan.files.append((path, rules_file))
    return plan


def sample_records(body: Any, what: str) -> tuple[list[dict], int]:
    """(records, error samples skipped) from GET /data_sets/{id}/samples with metadata: each
    item {"rawMessage": record, "nexlaMetaData": {...}} or a bare record."""
    if not isinstance(body, list):
        raise nexla_ops.ApiError(f"{what}: unexpected response shape (expected an array)")
    records, errors = [], 0
    for item in body:
        wrapped = isinstance(item, dict) and "rawMessage" in item
        record = item.get("rawMessage") if wrapped else item
        if wrapped and is_error_sample(item.get("nexlaMetaData")):
            errors += 1
        elif isinstance(record, dict):  # a sample that is not an object has no fields
            records.append(record)
    return records, errors


def read(api, nexset_id: int, count: int) -> tuple[str, list, int]:
    """(name, records, error samples skipped) of one nexset."""
    what = f"GET /data_sets/{nexset_id}"
    nexset = api.get(f"/data_sets/{nexset_id}")
    if not isinstance(nexset, dict):
        raise nexla_ops.ApiError(f"{what}: unexpected response shape (expected an object)")
    body = api.get(f"/data_sets/{nexset_id}/samples",
                   {"count": count, "include_metadata": True, "live": False})
    records, errors = sample_records(body, f"{what}/samples")
    return nexla_ops.one_line(str(nexset.get("name") or ""), 200), records[:count], errors


def check(args, ctx, api, deadline, plan: Plan) -> tuple[list, list, bool]:
    """(results, notes, complete): a result per rules file, in nexset id order."""
    from nexla_ops.health.observe import run_bounded

    tasks = {rules_file.nexset: (lambda i=rules_file.nexset: read(api, i, args.samples))
             for _, rules_file in plan.files}
    ctx.progress(f"reading samples of {len(tasks)} nexset(s)")
    done, failed = run_bounded(tasks, args.concurrency, deadline)
    now = datetime.now(timezone.utc)
    results, complete = [], True
    for _, rules_file in plan.files:
        nexset_id = rules_file.nexset
        if nexset_id in done:
            name, records, errors = done[nexset_id]
            result = evaluate(rules_file, records, now, name=name, deadline=deadline)
            if len(records) < args.samples:  # the nexset had no more to give
                result.note += f" (of the {args.samples} asked for)"
            if errors:
                result.note += f" ({errors} error samples skipped)"
            results.append(result)
            continue
        complete = False
        error = failed.get(nexset_id)
        why = ("not found" if isinstance(error, nexla_ops.NotFound)
               else f"not read before the --timeout of {deadline.seconds:g}s"
               if error is None else f"could not read the nexset: {error.message}")
        results.append(NexsetResult(nexset_id, "", unknown=True, note=why))
    results.sort(key=lambda r: r.nexset_id)
    return results, [], complete
