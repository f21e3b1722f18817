"""A data-quality rules file: which nexset, and the rules its samples must meet.

    nexset: 123
    rules:
      - {field: amount, check: not_null}
      - {field: amount, check: range, min: 0, max: 10000, severity: warning}
      - {field: status, check: allowed, values: [new, paid]}
      - {field: currency, check: regex, pattern: "^[A-Z]{3}$"}
      - {field: created_at, check: max_age, max_age: 24h}
      - {check: min_count, count: 10}

Each rule is one of the CHECKS kinds (the ``check`` key picks it), may carry ``severity``
(critical, the default, or warning) and a ``name``; any other key is refused, so a typo is
bad input rather than a rule that silently checks nothing. load_rules turns every problem into
one BadInput line naming the rule's path in the file (``rules[1].check: unknown check ...``).
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

import nexla_ops
from nexla_ops.transforms import MAX_SAMPLES

CHECKS = ("not_null", "type", "unique", "range", "regex", "allowed", "max_age", "min_count")
TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")
MAX_RULES = 1_000
MAX_PATTERN = 1_000  # characters; a longer regex is not a rule anyone reviews
MAX_TEXT = 500  # a field path or a rule name
MAX_ALLOWED = 10_000
MAX_AGE = 1e11  # seconds (about 3,000 years)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}  # parse_duration's


def _printable(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"expected a non-empty {what}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"expected a {what} of at most {MAX_TEXT} characters")
    if not value.isprintable():
        raise ValueError(f"expected a printable {what} (no control characters)")
    return value


def _field_path(value: str) -> str:
    _printable(value, "field name")
    if any(not part for part in value.split(".")):
        raise ValueError("expected a field name; nested fields as a.b (no empty parts)")
    return value


def _nexset_id(value: Any) -> int:
    try:
        return nexla_ops.parse_id(value, "nexset")
    except nexla_ops.BadInput:
        raise ValueError("expected a positive integer id") from None


def _duration(value: Any) -> float:
    """parse_duration's forms (90, 90s, 30m, 24h, 7d, 1w, 1h30m), but up to MAX_AGE: a
    max_age of a century is a real rule for historical data, unlike a century's wait."""
    expected = "expected a duration like 24h, 7d or a number of seconds"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(expected)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number of seconds")
    if not isinstance(value, str):
        seconds = float(value)
    else:
        # one number and unit read here, past parse_duration's bound; the rest ("1h30m") by it
        single = re.fullmatch(r"\s*(\d{1,15}(?:\.\d{1,15})?)\s*([smhdw]?)\s*", value.lower())
        try:
            seconds = (float(single.group(1)) * UNITS[single.group(2) or "s"] if single
                       else nexla_ops.parse_duration(value, field="max_age"))
        except nexla_ops.BadInput:
            raise ValueError(expected) from None
    if not 0 < seconds <= MAX_AGE:
        raise ValueError(f"expected a duration above 0 and at most {MAX_AGE:.0f} seconds")
    return seconds


def _pattern(value: str) -> str:
    if not value:
        raise ValueError("expected a non-empty regular expression")
    if len(value) > MAX_PATTERN:
        raise ValueError(f"expected a regular expression of at most {MAX_PATTERN} characters")
    import regex  # what quality matches with (re lacks a timeout)

    try:
        regex.compile(value)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"expected a valid regular expression ({exc})") from None
    return value


def _finite(value: float | None) -> float | None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _types(value: str | list) -> tuple[str, ...]:
    kinds = [value] if isinstance(value, str) else value
    if not kinds:
        raise ValueError(f"expected a type or a non-empty list of: {', '.join(TYPES)}")
    return tuple(dict.fromkeys(kinds))


@cache
def models() -> dict:
    """{"RulesFile": model, "Rule": the union, each check: its model}, built on first use:
    importing pydantic stays out of --help."""
    from typing import Annotated, Literal, Union

    from pydantic import (
        AfterValidator,
        BaseModel,
        BeforeValidator,
        ConfigDict,
        Field,
        StrictBool,
        StrictFloat,
        StrictInt,
        StrictStr,
        model_validator,
    )

    FieldPath = Annotated[StrictStr, AfterValidator(_field_path), Field(
        description="the field's name; nested fields as a.b",
        json_schema_extra={"minLength": 1, "maxLength": MAX_TEXT})]
    Number = Annotated[StrictInt | StrictFloat, AfterValidator(_finite)]
    # no null: every rule but not_null skips null values, so an allowed null would never count
    Scalar = StrictStr | StrictInt | StrictFloat | StrictBool

    class Base(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    class RuleBase(Base):
        severity: Literal["critical", "warning"] = Field(
            "critical", description="what a failure makes the nexset: CRITICAL (default) or "
                                    "WARNING")
        name: Annotated[StrictStr, AfterValidator(lambda v: _printable(v, "rule name"))] \
            | None = Field(None, description="the rule's name in reports (default: "
                                             "'<check> <field>')")

        @property
        def label(self) -> str:
            field = getattr(self, "field", None)
            return self.name or (f"{self.check} {field}" if field else self.check)

    class NotNull(RuleBase):
        """Every sample has the field, and not null (a missing field counts as null)."""
        check: Literal["not_null"]
        field: FieldPath

    class TypeRule(RuleBase):
        """Every non-null value has this JSON type (or one of these)."""
        check: Literal["type"]
        field: FieldPath
        type: Annotated[Literal[TYPES] | list[Literal[TYPES]],  # type: ignore[valid-type]
                        AfterValidator(_types)]

    class Unique(RuleBase):
        """No non-null value repeats within the samples read."""
        check: Literal["unique"]
        field: FieldPath

    class Range(RuleBase):
        """Every non-null value is a number within [min, max]."""
        model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["min"]},
                                                               {"required": ["max"]}]})
        check: Literal["range"]
        field: FieldPath
        min: Number | None = None
        max: Number | None = None

        @model_validator(mode="after")
        def _bounds(self):
            if self.min is None and self.max is None:
                raise ValueError("expected min, max or both")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"expected min <= max, got min {self.min} > max {self.max}")
            return self

    class Regex(RuleBase):
        """Every non-null value is a string the pattern matches (re.search: anchor it with ^
        and $ to match the whole value)."""
        check: Literal["regex"]
        field: FieldPath
        pattern: Annotated[StrictStr, AfterValidator(_pattern),
                           Field(json_schema_extra={"minLength": 1, "maxLength": MAX_PATTERN})]

    class Allowed(RuleBase):
        """Every non-null value is one of these."""
        check: Literal["allowed"]
        field: FieldPath
        values: Annotated[list[Scalar], Field(min_length=1, max_length=MAX_ALLOWED)]

    class MaxAge(RuleBase):
        """Every non-null value is a timestamp (ISO-8601, or epoch seconds or milliseconds)
        at most max_age old."""
        check: Literal["max_age"]
        field: FieldPath
        max_age: Annotated[Any, BeforeValidator(_duration), Field(
            json_schema_extra={"anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[smhdwSMHDW]?\s*)+$"},
                                         {"type": "number", "exclusiveMinimum": 0}]},
            description="a duration: 90, 90s, 30m, 24h, 7d, 1w, or seconds")]

    class MinCount(RuleBase):
        """At least `count` samples were read (with `field`: with a non-null value there)."""
        check: Literal["min_count"]
        count: Annotated[StrictInt, Field(ge=0, le=MAX_SAMPLES)]
        field: FieldPath | None = None

    kinds = (NotNull, TypeRule, Unique, Range, Regex, Allowed, MaxAge, MinCount)
    Rule = Annotated[Union[kinds], Field(discriminator="check")]  # noqa: UP007

    class RulesFile(Base):
        """Data-quality rules for one nexset, evaluated on its samples."""
        nexset: Annotated[Any, BeforeValidator(_nexset_id), Field(
            json_schema_extra={"anyOf": [{"type": "integer", "minimum": 1},
                                         {"type": "string", "pattern": "^[0-9]{1,19}$"}]},
            description="the nexset's id")]
        rules: Annotated[list[Rule], Field(min_length=1, max_length=MAX_RULES)]

    return {"RulesFile": RulesFile, "Rule": Rule,
            **{k.model_fields["check"].annotation.__args__[0]: k for k in kinds}}


def json_schema() -> dict:
    """The rules file's JSON Schema (Draft 2020-12), for editors and CI linting."""
    schema = models()["RulesFile"].model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "nexla-ops data-quality rules file", **{
                k: v for k, v in schema.items() if k != "title"}}


# ---------------------------------------------------------------- loading


def _keys() -> frozenset:
    """Every key a rules file may have: the rest of a pydantic location is its own labels
    (a union's member 'int', the check's tag, 'function-after[...]')."""
    names = {"nexset", "rules"}
    for model in models().values():
        names.update(getattr(model, "model_fields", ()))
    return frozenset(names)


def _path(loc: tuple, kind: str) -> tuple:
    """The error's place in the file: ('rules', 1, 'range', 'min', 'int') -> ('rules', 1,
    'min'); an unknown key (extra_forbidden) keeps its own name last."""
    keys = _keys()
    if loc[:1] == ("rules",) and len(loc) > 2 and isinstance(loc[1], int) and loc[2] in CHECKS:
        loc = loc[:2] + loc[3:]  # the check's tag, which the union puts in
    kept = tuple(step for step in loc[:-1] if isinstance(step, int) or step in keys)
    last = loc[-1:] if loc and (kind == "extra_forbidden" or isinstance(loc[-1], int)
                                or loc[-1] in keys) else ()
    return kept + last


def _where(path: tuple) -> str:
    """('rules', 1, 'min') -> 'rules[1].min'."""
    text = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)
    return text.lstrip(".") or "(top level)"


_EXPECTED = {
    "missing": "required",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def _describe(error: dict, rule_keys: dict) -> tuple[str, str]:
    """(where, what was expected) for one pydantic error."""
    kind, ctx = error["type"], error.get("ctx") or {}
    path = _path(tuple(error["loc"]), kind)
    where = _where(path)
    key = next((step for step in reversed(path) if isinstance(step, str)), "")
    if kind == "union_tag_invalid":
        tag = nexla_ops.one_line(nexla_ops.redact_text(str(ctx.get("tag", ""))), 40)
        return f"{where}.check", f"unknown check {tag!r}; expected one of {', '.join(CHECKS)}"
    if kind == "union_tag_not_found":
        return f"{where}.check", f"required; expected one of {', '.join(CHECKS)}"
    if kind == "extra_forbidden":
        allowed = rule_keys.get(path[:-1]) or ("nexset", "rules")
        return where, f"unknown key; expected one of {', '.join(allowed)}"
    if key == "type" and kind not in ("missing", "value_error"):
        return where, f"expected a type or a list of types: {', '.join(TYPES)}"
    if key in ("min", "max") and kind != "value_error":
        return where, "expected a finite number"
    if key == "values" and isinstance(path[-1], int):
        return where, "expected a string, number or boolean"
    if key == "max_age" and kind == "missing":
        return where, "required: a duration like 24h, 7d or a number of seconds"
    if kind == "literal_error":
        return where, f"expected one of {ctx.get('expected', '')}".replace("'", "")
    if kind in ("too_short", "too_long"):
        return where, ("expected at least one item" if kind == "too_short"
                       else f"expected at most {ctx.get('max_length')} items")
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return where, f"expected an integer {'>=' if 'ge' in ctx else '<='} {bound}"
    if kind == "value_error":
        return where, str(ctx.get("error", error["msg"]))
    return where, _EXPECTED.get(kind, error["msg"])


def _rule_keys(data: Any) -> dict:
    """{("rules", i): the keys rule i may have}, for naming them when one is unknown."""
    out: dict = {}
    rules = data.get("rules") if isinstance(data, dict) else None
    kinds = models()
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        model = kinds.get(rule.get("check")) if isinstance(rule, dict) \
            and isinstance(rule.get("check"), str) else None
        if model is not None:
            out[("rules", i)] = tuple(model.model_fields)
    return out


def load_rules(path: str):
    """The rules file at `path` as a RulesFile; BadInput (one line: '--rules PATH: where:
    what was expected') for anything else."""
    from pydantic import ValidationError

    try:
        data = nexla_ops.load_structured_file(path)
    except nexla_ops.BadInput as exc:
        raise nexla_ops.BadInput(f"--rules {exc.message}") from None
    name = nexla_ops.one_line(nexla_ops.redact_text(str(path)), 200)
    if not isinstance(data, dict):
        raise nexla_ops.BadInput(f"--rules {name}: expected a mapping with nexset and rules")
    try:
        return models()["RulesFile"].model_validate(data)
    except ValidationError as exc:
        where, what = _describe(exc.errors(include_url=False)[0], _rule_keys(data))
        where = nexla_ops.one_line(nexla_ops.redact_text(where), 120)
        raise nexla_ops.BadInput(f"--rules {name}: {where}: "
                                 f"{nexla_ops.one_line(what, 300)}") from None
