"""A response body against SDK 1.0.8's pydantic model, parsed the way the SDK parses it:
a bare array item by item (dict items only), an object as a whole. Errors keep pydantic's
location and error type, never its message (which can quote the input)."""

from __future__ import annotations

import functools
import importlib
import typing


@functools.cache
def _adapter(spec: str):
    """(TypeAdapter, is the model a Union alias such as AccessorResponse)."""
    from pydantic import TypeAdapter

    module, name = spec.split(":")
    model = getattr(importlib.import_module(module), name)
    return TypeAdapter(model), typing.get_origin(model) is typing.Union


def sdk_errors(spec: str | None, body) -> list[dict]:
    """[{"field": ..., "error": ...}] the model raised, deduplicated; [] when it parses (or
    when the SDK hands the body back as a plain dict: spec None)."""
    if spec is None:
        return []
    from pydantic import ValidationError

    from .compare import field_path

    adapter, union = _adapter(spec)
    items = [(i, x) for i, x in enumerate(body) if isinstance(x, dict)] if isinstance(
        body, list) else [(None, body)]
    found: dict[tuple, None] = {}
    for index, item in items:
        try:
            adapter.validate_python(item)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                # a union error's location starts with the member's class name: not a field
                loc = list(err["loc"][1:] if union else err["loc"])
                prefix = [0] if index is not None else []
                found[(field_path(prefix + loc), err["type"])] = None
    return [{"field": f, "error": t} for f, t in found]

