"""Write schemas/*.json from the published reference's digest plus overrides.json.

Run by hand when the reference or the overrides change, then review and check in the diff:
    python -m nexla_ops.contract.build /path/to/nexla-published-api/digest.json
Nothing runs this at check or test time.

The reference's known artefacts are normalised here (not facts about the API):
- `type: "null"` (an example that was null) becomes "any type": we only know it may be null;
- `format: "nullable"` adds "null" to the field's type;
- `additionalProperties: false` (from an example with no more fields) is dropped;
- `oneOf` becomes `anyOf` (several branches overlap);
- `{"same_as": KEY}` is resolved; the health section (the GenAI service) is skipped.
overrides.json adds the few corrections that need a reason each (nullable fields, a misfiled
response).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE / "schemas"
SKIPPED_FILES = ("nexla-health-api-openapi.yml",)
# schema keywords whose value is a schema / a list of schemas / a name -> schema map
_ONE = ("items", "not", "additionalProperties")
_MANY = ("anyOf", "oneOf", "allOf")
_MAP = ("properties", "patternProperties")


def family_of(file: str) -> str:
    """nexla-destinations-data-sinks-api-openapi.yml -> destinations."""
    name = file.removeprefix("nexla-").removesuffix("-api-openapi.yml")
    return name.split("-")[0] if name.startswith(("destinations", "nexsets")) else name


def normalise(schema):
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in _MAP and isinstance(value, dict):
            out[key] = {name: normalise(sub) for name, sub in value.items()}
        elif key in _MANY and isinstance(value, list):
            out["anyOf" if key == "oneOf" else key] = [normalise(sub) for sub in value]
        elif key in _ONE and isinstance(value, dict):
            out[key] = normalise(value)
        elif key == "additionalProperties" and value is False:
            continue
        else:
            out[key] = value
    types = out.get("type")
    if types == "null" or types == ["null"]:
        del out["type"]  # only an example's null: the real type is unknown
    if out.get("format") == "nullable":
        del out["format"]
        if isinstance(types, str):
            out["type"] = [types, "null"]
        elif isinstance(types, list) and "null" not in types:
            out["type"] = [*types, "null"]
    return out


def _field(schema: dict, path: str) -> dict:
    node = schema
    for part in path.split("."):
        node = node.get("items", node) if part == "[]" else node["properties"][part]
    return node


def apply_overrides(key: str, schema: dict, overrides: dict) -> dict:
    """`nullable` field paths get "null" added to their type (a reference example that showed
    a value where the API documents the field as optional); `free_form` field paths keep only
    their type (the reference spelled out one example's contents, such as a record schema)."""
    for path in overrides.get("free_form", {}).get(key, []):
        node = _field(schema, path)
        for detail in ("properties", "items", "required", "additionalProperties"):
            node.pop(detail, None)
    for path in overrides.get("nullable", {}).get(key, []):
        node = _field(schema, path)
        kinds = node.get("type")
        if isinstance(kinds, str):
            node["type"] = [kinds, "null"]
        elif isinstance(kinds, list) and "null" not in kinds:
            node["type"] = [*kinds, "null"]
    return schema


def build(digest: dict, overrides: dict) -> dict[str, dict]:
    """family -> {"METHOD /path": schema}."""
    families: dict[str, dict] = {}
    for key, entry in digest.items():
        if entry.get("file") in SKIPPED_FILES or not entry.get("response_200"):
            continue
        body = entry["response_200"]
        seen = {key}
        while isinstance(body, dict) and "same_as" in body:
            target = body["same_as"]
            if target in seen:
                raise ValueError(f"{key}: same_as loop through {target}")
            seen.add(target)
            body = digest[target]["response_200"]
        why = overrides.get("misfiled", {}).get(key)
        if why:
            schema = {"$comment": f"misfiled in the reference: {why}", "type": "object"}
        else:
            schema = apply_overrides(key, normalise(body), overrides)
        families.setdefault(family_of(entry["file"]), {})[key] = schema
    return families


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m nexla_ops.contract.build DIGEST.json\n")
        return 2
    digest = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    overrides = json.loads((HERE / "overrides.json").read_text(encoding="utf-8"))
    SCHEMAS.mkdir(exist_ok=True)
    for old in SCHEMAS.glob("*.json"):
        old.unlink()
    for family, schemas in sorted(build(digest, overrides).items()):
        text = json.dumps(schemas, indent=2, sort_keys=True) + "\n"
        (SCHEMAS / f"{family}.json").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
