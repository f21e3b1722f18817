"""A JOLT-like transform subset, really applied to sample records, and JSON-schema inference.

Supported operations (documented in README.md): shift, default, remove, modify-overwrite-beta,
modify-default-beta, sort. A spec that cannot run at all (unknown operation, malformed spec)
raises SpecError; the caller then passes records through unchanged, as Nexla silently does. A
record that fails on its own (e.g. `=toInteger` on "abc") raises RecordError and is reported as
an error record while the others go on.
"""

from __future__ import annotations

import copy
import re

OPERATIONS = ("shift", "default", "remove", "modify-overwrite-beta", "modify-default-beta", "sort")


class SpecError(Exception):
    """The transform as a whole cannot run."""


class RecordError(Exception):
    """One record cannot be transformed."""


def validate_operations(ops) -> str | None:
    """Structural check done at create/update time; returns a message naming the bad item."""
    if not isinstance(ops, list):
        return "expected a list of {operation, spec} objects"
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            return f"[{i}]: expected an object with 'operation' and 'spec'"
        if not isinstance(op.get("operation"), str) or not op["operation"].strip():
            return f"[{i}].operation: expected a non-empty string"
        if "spec" in op and not isinstance(op["spec"], (dict, list)):
            return f"[{i}].spec: expected an object"
    return None


def apply_to_records(ops: list, records: list) -> tuple[list, list]:
    """Returns (outputs, errors). errors: [{"index", "record", "error"}]."""
    try:
        _check_runnable(ops)
    except SpecError:
        return [copy.deepcopy(r) for r in records], []
    outputs, errors = [], []
    for index, record in enumerate(records):
        try:
            outputs.append(apply_operations(ops, record))
        except RecordError as exc:
            errors.append({"index": index, "record": record, "error": str(exc)})
        except SpecError:
            return [copy.deepcopy(r) for r in records], []
    return outputs, errors


def _check_runnable(ops):
    for op in ops:
        if op.get("operation") not in OPERATIONS:
            raise SpecError(f"unsupported operation {op.get('operation')!r}")
        if not isinstance(op.get("spec", {}), dict):
            raise SpecError("spec must be an object")


def apply_operations(ops: list, record):
    data = copy.deepcopy(record)
    for op in ops:
        name, spec = op.get("operation"), op.get("spec", {})
        if name == "shift":
            out: dict = {}
            _shift(spec, data, [], out)
            data = out
        elif name == "default":
            _default(spec, data)
        elif name == "remove":
            _remove(spec, data)
        elif name in ("modify-overwrite-beta", "modify-default-beta"):
            _modify(spec, data, [data], overwrite=name == "modify-overwrite-beta")
        elif name == "sort":
            data = _sort(data)
        else:
            raise SpecError(f"unsupported operation {name!r}")
    return data


# -- shift -------------------------------------------------------------------------------------
def _spec_for_key(spec: dict, key: str):
    if key in spec:
        return spec[key]
    for pattern, value in spec.items():
        if "*" in pattern and pattern != "@":
            regex = "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$"
            if re.match(regex, key):
                return value
    return None


def _shift(spec: dict, data, keys: list, out: dict):
    if not isinstance(spec, dict):
        raise SpecError("shift spec must be an object")
    if "@" in spec:
        _write_targets(spec["@"], data, keys, out)
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        target = _spec_for_key(spec, key)
        if target is None:
            continue
        path_keys = [*keys, key]
        if isinstance(target, dict):
            _shift(target, value, path_keys, out)
        else:
            _write_targets(target, value, path_keys, out)


def _write_targets(target, value, keys: list, out: dict):
    targets = target if isinstance(target, list) else [target]
    for t in targets:
        if not isinstance(t, str):
            raise SpecError("shift targets must be strings")
        _put_path(out, _substitute(t, keys), copy.deepcopy(value))


def _substitute(path: str, keys: list) -> str:
    def repl(match):
        level = int(match.group(1) or 0)
        if level >= len(keys):
            raise SpecError(f"&{level} refers above the record root")
        return str(keys[-1 - level])

    return re.sub(r"&(\d*)", repl, path)


def _put_path(out: dict, path: str, value):
    parts = [p for p in path.split(".") if p]
    if not parts:
        raise SpecError("empty shift target")
    node = out
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    last = parts[-1]
    if last.endswith("[]"):
        node.setdefault(last[:-2], []).append(value)
    elif last in node:  # JOLT: several writes to one path collect into a list
        existing = node[last]
        node[last] = [*existing, value] if isinstance(existing, list) else [existing, value]
    else:
        node[last] = value


# -- default / remove / sort ----------------------------------------------------------------------
def _default(spec: dict, data):
    if not isinstance(data, dict):
        return
    for key, value in spec.items():
        if key == "*":
            for child in data.values():
                if isinstance(value, dict):
                    _default(value, child)
        elif key not in data or data[key] is None:
            data[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(data[key], dict):
            _default(value, data[key])


def _remove(spec: dict, data):
    if not isinstance(data, dict):
        return
    for key, value in spec.items():
        keys = list(data) if key == "*" else [key]
        for k in keys:
            if k not in data:
                continue
            if isinstance(value, dict) and value:
                _remove(value, data[k])
            else:
                del data[k]


def _sort(data):
    if isinstance(data, dict):
        return {k: _sort(data[k]) for k in sorted(data)}
    if isinstance(data, list):
        return [_sort(v) for v in data]
    return data


# -- modify ------------------------------------------------------------------------------------
def _modify(spec: dict, data, stack: list, overwrite: bool):
    if not isinstance(data, dict):
        return
    for key, value in spec.items():
        keys = list(data) if key == "*" else [key]
        for k in keys:
            if isinstance(value, dict):
                child = data.get(k)
                if isinstance(child, dict):
                    _modify(value, child, [*stack, child], overwrite)
                continue
            if not overwrite and data.get(k) is not None:
                continue
            if isinstance(value, str) and value.startswith("="):
                data[k] = _call(value[1:], data.get(k), stack, k)
            else:
                data[k] = copy.deepcopy(value)


_CALL = re.compile(r"^([A-Za-z]+)\s*(?:\((.*)\))?\s*$", re.S)


def _call(expr: str, current, stack: list, key: str):
    match = _CALL.match(expr)
    if not match:
        raise SpecError(f"cannot parse function {expr!r}")
    name, raw_args = match.group(1), match.group(2)
    args = [_arg(a, stack) for a in _split_args(raw_args)] if raw_args else [current]
    fn = _FUNCTIONS.get(name)
    if fn is None:
        raise SpecError(f"unsupported function {name!r}")
    try:
        return fn(*args)
    except RecordError:
        raise
    except (TypeError, ValueError, ZeroDivisionError, AttributeError) as exc:
        raise RecordError(f"{name} failed on field {key!r}: {exc}") from None


def _split_args(raw: str) -> list[str]:
    args, depth, quote, buf = [], 0, None, ""
    for ch in raw:
        if quote:
            buf += ch
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            buf += ch
        elif ch == "(":
            depth += 1
            buf += ch
        elif ch == ")":
            depth -= 1
            buf += ch
        elif ch == "," and depth == 0:
            args.append(buf.strip())
            buf = ""
        else:
            buf += ch
    if buf.strip():
        args.append(buf.strip())
    return args


_REF = re.compile(r"^@\(\s*(\d+)\s*,\s*([^)]*)\)$")


def _arg(text: str, stack: list):
    ref = _REF.match(text)
    if ref:
        level, path = int(ref.group(1)), ref.group(2).strip()
        if level < 1 or level > len(stack):
            raise SpecError(f"reference {text} is out of range")
        node = stack[-level]
        for part in [p for p in path.split(".") if p]:
            node = node.get(part) if isinstance(node, dict) else None
        return node
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _to_int(v):
    if isinstance(v, bool):
        raise RecordError(f"cannot convert {v!r} to integer")
    if isinstance(v, (int, float)):
        return int(v)
    if isinstance(v, str):
        try:
            return int(float(v.strip()))
        except ValueError:
            raise RecordError(f"cannot convert {v!r} to integer") from None
    raise RecordError(f"cannot convert {v!r} to integer")


def _to_float(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            raise RecordError(f"cannot convert {v!r} to number") from None
    raise RecordError(f"cannot convert {v!r} to number")


def _need_str(v, name):
    if not isinstance(v, str):
        raise RecordError(f"{name} needs a string, got {type(v).__name__}")
    return v


def _to_str(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _to_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise RecordError(f"cannot convert {v!r} to boolean")


def _numbers(args):
    flat = []
    for a in args:
        flat.extend(a if isinstance(a, list) else [a])
    return [_to_float(a) for a in flat]


_FUNCTIONS = {
    "toUpper": lambda v: _need_str(v, "toUpper").upper(),
    "toLower": lambda v: _need_str(v, "toLower").lower(),
    "trim": lambda v: _need_str(v, "trim").strip(),
    "toInteger": _to_int,
    "toLong": _to_int,
    "toDouble": _to_float,
    "toString": _to_str,
    "toBoolean": _to_bool,
    "concat": lambda *a: "".join("" if x is None else _to_str(x) for x in a),
    "join": lambda sep, *a: str(sep).join(_to_str(x) for x in a if x is not None),
    "abs": lambda v: abs(_to_float(v)) if isinstance(v, str) else abs(v),
    "size": lambda v: len(v),
    "min": lambda *a: min(_numbers(a)),
    "max": lambda *a: max(_numbers(a)),
    "intSum": lambda *a: int(sum(_numbers(a))),
    "doubleSum": lambda *a: sum(_numbers(a)),
    "divide": lambda a, b: _to_float(a) / _to_float(b),
}


# -- schema inference --------------------------------------------------------------------------
SCHEMA_URI = "http://json-schema.org/draft-04/schema#"


def infer_schema(records: list, keep_null: bool = False) -> dict:
    """The schema records share. A field that is null in some records and typed in others
    shows the type alone, or with `keep_null` JSON Schema's `["null", type]` (top-level and
    object fields; used below a source given a `nullable` schema change, see README.md)."""
    schema = {"type": "object", "properties": {}}
    for record in records:
        schema = _merge_keeping_null(schema, _schema_of(record)) if keep_null else _merge(
            schema, _schema_of(record))
    schema["$schema"] = SCHEMA_URI
    return schema


def _schema_of(value) -> dict:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: _schema_of(v) for k, v in value.items()}}
    if isinstance(value, list):
        items: dict = {}
        for v in value:
            items = _merge(items, _schema_of(v))
        return {"type": "array", "items": items}
    return {"type": "null"}


def _merge(a: dict, b: dict) -> dict:
    if not a:
        return b
    if a.get("type") == b.get("type") == "object":
        props = dict(a.get("properties", {}))
        for k, v in b.get("properties", {}).items():
            props[k] = _merge(props[k], v) if k in props else v
        return {"type": "object", "properties": props}
    if a.get("type") == b.get("type"):
        return a
    kinds = set()
    for t in (a.get("type"), b.get("type")):
        kinds.update(t if isinstance(t, list) else [t])
    if kinds == {"integer", "number"}:
        return {"type": "number"}
    if kinds - {"null"} and len(kinds - {"null"}) == 1:
        return b if b.get("type") != "null" else a
    return {"type": sorted(str(t) for t in kinds)}


def _types(schema: dict) -> set:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def _without_null(schema: dict) -> dict:
    kinds = _types(schema) - {"null"}
    if not kinds:
        return {}
    return {**schema, "type": kinds.pop() if len(kinds) == 1 else sorted(kinds)}


def _merge_keeping_null(a: dict, b: dict) -> dict:
    """_merge, except that null joins the other types instead of being dropped."""
    if "null" not in _types(a) | _types(b):
        if a.get("type") == b.get("type") == "object":
            props = dict(a.get("properties", {}))
            for k, v in b.get("properties", {}).items():
                props[k] = _merge_keeping_null(props[k], v) if k in props else v
            return {"type": "object", "properties": props}
        return _merge(a, b)
    a, b = _without_null(a), _without_null(b)
    merged = (_merge_keeping_null(a, b) if a and b else a or b)
    if not merged:
        return {"type": "null"}
    return {**merged, "type": sorted(_types(merged) | {"null"})}
