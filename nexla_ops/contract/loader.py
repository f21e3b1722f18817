"""Our checked-in schemas (schemas/<family>.json), one lookup by reference key."""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources


@functools.lru_cache(maxsize=1)
def all_schemas() -> dict[str, dict]:
    """"METHOD /path" -> JSON Schema, over every family file."""
    found: dict[str, dict] = {}
    for entry in sorted(resources.files(__package__).joinpath("schemas").iterdir(),
                        key=lambda p: p.name):
        if entry.name.endswith(".json"):
            found.update(json.loads(entry.read_text(encoding="utf-8")))
    return found


def schema_for(key: str) -> dict:
    """One schema, as the caller's own copy: all_schemas() is cached, and a caller that edits
    what it got (a test reading an artefact as meant) must not change it for the next."""
    try:
        return copy.deepcopy(all_schemas()[key])
    except KeyError:
        raise KeyError(f"no schema for {key!r} in nexla_ops/contract/schemas/") from None
