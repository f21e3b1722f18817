"""Value-free shapes: keys and JSON types only, arrays collapsed to one element shape.

A shape node is {"type": T} with T a JSON type or a sorted list of them; objects add
"properties" (name -> node), arrays add "items" (the merged shape of every element; absent for
an empty array). `--record` writes these; a recorded shape (say, from a real org) is compared
with a live one by compare_shapes()."""

from __future__ import annotations

from nexla_ops.transforms import json_type

from .compare import MISSING, TYPE, Finding


def shape_of(value) -> dict:
    kind = json_type(value)
    node: dict = {"type": kind}
    if kind == "object":
        node["properties"] = {str(k): shape_of(v) for k, v in sorted(value.items())}
    elif kind == "array":
        items = None
        for element in value:
            items = shape_of(element) if items is None else merge(items, shape_of(element))
        if items is not None:
            node["items"] = items
    return node


def _type_set(node: dict) -> set[str]:
    kind = node.get("type")
    return set(kind) if isinstance(kind, list) else {kind}


def merge(a: dict, b: dict) -> dict:
    kinds = _type_set(a) | _type_set(b)
    node: dict = {"type": sorted(kinds) if len(kinds) > 1 else kinds.pop()}
    if "properties" in a or "properties" in b:
        left, right = a.get("properties", {}), b.get("properties", {})
        node["properties"] = {name: merge(left[name], right[name])
                              if name in left and name in right else (left.get(name)
                                                                      or right[name])
                              for name in sorted(set(left) | set(right))}
    if "items" in a or "items" in b:
        node["items"] = merge(a["items"], b["items"]) if "items" in a and "items" in b \
            else a.get("items") or b["items"]
    return node


def _comparable(kinds: set[str]) -> set[str]:
    """null says nothing about the type; an integer is a number."""
    return {"number" if k == "integer" else k for k in kinds} - {"null"}


def compare_shapes(recorded: dict, live: dict, path: str = "") -> list[Finding]:
    """What the recorded shape has that the live one lacks or types differently."""
    out: list[Finding] = []
    want, got = _comparable(_type_set(recorded)), _comparable(_type_set(live))
    if want and got and not want & got:
        return [Finding(TYPE, path, "|".join(sorted(_type_set(recorded))),
                        "|".join(sorted(_type_set(live))))]
    live_props = live.get("properties", {})
    for name, sub in recorded.get("properties", {}).items():
        where = f"{path}.{name}" if path else name
        if name not in live_props:
            if "object" in _type_set(live):
                out.append(Finding(MISSING, where, "present", "absent"))
        else:
            out += compare_shapes(sub, live_props[name], where)
    if "items" in recorded and "items" in live:
        out += compare_shapes(recorded["items"], live["items"], f"{path}[]")
    return out
