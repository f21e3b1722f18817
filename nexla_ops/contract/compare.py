"""A response body against our schema: findings that name field paths and JSON types only.

jsonschema's own messages quote the offending value, so they are never shown: each error is
rebuilt from its path, the keyword that failed and the JSON type of what was there. On top of
validation, documented fields that are absent are reported (the reference has almost no
`required` lists, so validation alone says little)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from nexla_ops.transforms import json_type  # one JSON type naming for records and bodies

# finding kinds, most serious first: an endpoint's verdict is its most serious finding
ENVELOPE, TYPE, MISSING = "envelope differs", "type differs", "missing field"
ORDER = (ENVELOPE, TYPE, MISSING)


@dataclass(frozen=True)
class Finding:
    kind: str
    field: str      # "flows[].children[].id"; "" is the body itself
    expected: str   # a JSON type, a list of them, or the documented rule
    got: str        # a JSON type, or "absent"

    def as_json(self) -> dict:
        return asdict(self)


def field_path(parts) -> str:
    out = ""
    for part in parts:
        out += "[]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _types(schema) -> set[str]:
    """The top-level JSON types a schema admits (empty: any)."""
    if not isinstance(schema, dict):
        return set()
    kinds = schema.get("type")
    if isinstance(kinds, str):
        return {kinds}
    if isinstance(kinds, list):
        return set(kinds)
    found: set[str] = set()
    for branch in schema.get("anyOf") or []:
        sub = _types(branch)
        if not sub:
            return set()
        found |= sub
    for branch in schema.get("allOf") or []:
        found |= _types(branch)
    return found


def _admits(types: set[str], value) -> bool:
    got = json_type(value)
    return not types or got in types or (got == "integer" and "number" in types)


def envelope(schema: dict, body) -> Finding | None:
    """Array vs object vs an array wrapped in an object: the body's outer type."""
    types = _types(schema)
    if _admits(types, body):
        return None
    got = json_type(body)
    if "array" in types and isinstance(body, dict):
        wrapped = [k for k, v in body.items() if isinstance(v, list)]
        if len(wrapped) == 1:
            got = f"object wrapping an array in {wrapped[0]!r}"
    return Finding(ENVELOPE, "", "|".join(sorted(types)), got)


def _expected(error) -> str:
    rule = error.validator
    if rule == "type":
        kinds = error.validator_value
        return "|".join(kinds) if isinstance(kinds, list) else str(kinds)
    if rule == "enum":
        return f"one of {len(error.validator_value)} documented values"
    if rule in ("minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength"):
        return f"{rule} {error.validator_value}"
    return rule


def _from_errors(errors) -> list[Finding]:
    out = []
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            # the branch that came closest: fewest errors of its own
            by_branch: dict[int, list] = {}
            for sub in error.context:
                by_branch.setdefault(sub.schema_path[0], []).append(sub)
            out += _from_errors(min(by_branch.values(), key=len))
            continue
        path = field_path(error.absolute_path)
        if error.validator == "required":
            missing = [n for n in error.validator_value if n not in (error.instance or {})]
            out += [Finding(MISSING, f"{path}.{n}" if path else n, "present", "absent")
                    for n in missing]
            continue
        got = json_type(error.instance)
        if error.validator == "enum":
            got = f"{got} outside them"
        out.append(Finding(TYPE, path, _expected(error), got))
    return out


def _missing(schema, body, path: str, out: list) -> None:
    """Documented properties absent from the body (through arrays, allOf and the closest
    anyOf branch)."""
    if not isinstance(schema, dict):
        return
    for branch in schema.get("allOf") or []:
        _missing(branch, body, path, out)
    if schema.get("anyOf"):
        tries = []
        for branch in schema["anyOf"]:
            if _admits(_types(branch), body):
                found: list = []
                _missing(branch, body, path, found)
                tries.append(found)
        if tries:
            out += min(tries, key=len)
    if isinstance(body, dict):
        for name, sub in (schema.get("properties") or {}).items():
            where = f"{path}.{name}" if path else name
            if name not in body:
                out.append(Finding(MISSING, where, "present", "absent"))
            else:
                _missing(sub, body[name], where, out)
    elif isinstance(body, list) and isinstance(schema.get("items"), dict):
        for item in body:
            _missing(schema["items"], item, f"{path}[]", out)


def _unique(findings) -> list[Finding]:
    return list(dict.fromkeys(findings))


def _is_under(field: str, prefixes) -> bool:
    return any(field == p or field.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def check(schema: dict, body, optional=()) -> list[Finding]:
    """Every finding for one body, most serious kinds first, each (kind, field) once.
    `optional`: field paths (and what is under them) whose absence is not a finding."""
    outer = envelope(schema, body)
    if outer:
        return [outer]
    from jsonschema import Draft202012Validator

    errors = Draft202012Validator(schema).iter_errors(body)
    found = _from_errors(errors)
    _missing(schema, body, "", found)
    found = [f for f in found if not (f.kind == MISSING and _is_under(f.field, optional))]
    return sorted(_unique(found), key=lambda f: (ORDER.index(f.kind), f.field))


def validates(schema: dict, body) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema).is_valid(body)
