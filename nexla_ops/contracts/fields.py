"""A nexset's output_schema as field paths with their types and nullability.

Nexla publishes output_schema only as a JSON-Schema-like object (``{"type": "object",
"properties": {...}}``); how it marks a nullable field is not published. A field here is
nullable when its ``type`` lists ``"null"`` or it says ``"nullable": true`` (the OpenAPI
spelling): the two ways a JSON-Schema-like document says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_FIELDS = 10_000  # a wider schema is not a nexset anyone checks by hand; refused as bad input


@dataclass(frozen=True, slots=True)
class FieldType:
    types: tuple[str, ...]  # sorted, without "null"; ("any",) when the schema names no type
    nullable: bool = False

    @property
    def label(self) -> str:
        return "|".join(self.types) + ("|null" if self.nullable else "")

    def to_doc(self) -> dict:
        return {"type": "|".join(self.types), "nullable": self.nullable}

    @classmethod
    def from_doc(cls, doc: Any, field: str) -> FieldType:
        import nexla_ops

        if not isinstance(doc, dict) or not isinstance(doc.get("type"), str) \
                or not isinstance(doc.get("nullable", False), bool):
            raise nexla_ops.BadInput(f"{field}: expected {{\"type\": \"string\", \"nullable\": "
                                     f"false}}")
        types = tuple(sorted(t for t in doc["type"].split("|") if t and t != "null")) or ("any",)
        return cls(types, doc.get("nullable", False) or "null" in doc["type"].split("|"))


def _field_type(node: Any) -> FieldType:
    kind = node.get("type") if isinstance(node, dict) else None
    kinds = [str(k) for k in kind] if isinstance(kind, list) else [str(kind)] if kind else []
    nullable = "null" in kinds or (isinstance(node, dict) and node.get("nullable") is True)
    named = sorted(set(kinds) - {"null"})
    # {"type": "null"} alone: every sample was null, so its real type is unknown
    return FieldType(tuple(named) or ("any",), nullable)


def schema_fields(schema: Any, prefix: str = "", depth: int = 0) -> dict[str, FieldType]:
    """{"a": object, "a.b": integer, "c": array, "c[]": object, "c[].d": string} in the
    schema's own order. Objects' properties nest with "."; an array's items are "[]" (their
    type), and their properties nest under it."""
    fields: dict[str, FieldType] = {}
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(props, dict) and depth <= 64:
        for name, node in props.items():
            _add(fields, f"{prefix}{name}", node, depth)
    return fields


def _add(fields: dict, path: str, node: Any, depth: int) -> None:
    fields[path] = _field_type(node)
    if isinstance(node, dict) and depth < 64:
        fields.update(schema_fields(node, path + ".", depth + 1))
        if isinstance(node.get("items"), dict):
            _add(fields, path + "[]", node["items"], depth + 1)


def leaf_of(path: str) -> str:
    """'a.b' -> 'b', 'c[].d' -> 'd', 'c[]' -> 'c[]', 'top' -> 'top'."""
    return path.rpartition(".")[2]


def parent_of(path: str) -> str:
    """'a.b' -> 'a', 'c[].d' -> 'c[]', 'top' -> ''."""
    return path.rpartition(".")[0]
