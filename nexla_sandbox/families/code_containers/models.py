"""Code-container rules (no HTTP): body validation and the public list."""

from __future__ import annotations

from ...domain import ApiError

KIND = "code_containers"
CODE_TYPES = ("jolt_standard", "jolt_custom", "python", "python3", "javascript")
OUTPUT_TYPES = ("record", "attribute", "custom")
RESOURCE_TYPES = ("transform", "ai_function", "source", "sink", "error", "validator")
AI_FUNCTION_TYPES = ("chunker", "context_enricher", "query_rewriter", "reranker")
ENCODINGS = ("none", "base64")
# CodeContainerMutable's required fields (the reference's list).
REQUIRED = ("name", "output_type", "reusable", "code", "code_type", "code_encoding")


def _enum(f, name: str, allowed: tuple):
    value = f.str(name)
    if value is not None and value not in allowed:
        raise ApiError(400, f"{name}: expected one of {', '.join(allowed)}")
    return value


def container_fields(f, *, creating: bool) -> dict:
    """The stored fields a create/update body sets (400 names the first bad field)."""
    if creating:
        for name in REQUIRED:
            if not f.has(name) or f.data[name] is None:
                raise ApiError(400, f"{name}: required field is missing")
    out = f.present(name="str", reusable="bool", public="bool", custom_config="obj",
                    code_config="obj", tags="strings", data_credentials_id="int",
                    runtime_data_credentials_id="int")
    out.update(f.description_update(empty=""))
    for name, allowed in (("output_type", OUTPUT_TYPES), ("code_type", CODE_TYPES),
                          ("code_encoding", ENCODINGS), ("resource_type", RESOURCE_TYPES),
                          ("ai_function_type", AI_FUNCTION_TYPES)):
        value = _enum(f, name, allowed)
        if value is not None:
            out[name] = value
    if f.has("code"):
        code = f.data["code"]
        # The reference allows a string or an array of {operation, spec} objects.
        if isinstance(code, str):
            code = [{"operation": "nexla.custom", "spec": {"script": code}}]
        elif not isinstance(code, list) or not all(isinstance(op, dict) for op in code):
            raise ApiError(400, "code: expected a string or an array of objects")
        out["code"] = code
    if creating:
        out.setdefault("resource_type", "transform")
        out.setdefault("public", False)
        out.setdefault("description", "")
        out.update(copied_from_id=None)
    return out


def public_containers(store) -> list[dict]:
    return [d for d in store.iter_all(KIND) if d.get("public")]
