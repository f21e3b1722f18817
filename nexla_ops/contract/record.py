"""--record DIR: one value-free shape fixture per endpoint, and reading them back."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .shape import shape_of


def fixture_name(endpoint_name: str) -> str:
    """"GET /data_sources/{source}/flow?flows_only=1" -> "GET_data_sources_source_flow_
    flows_only_1.json"."""
    return re.sub(r"[^A-Za-z0-9]+", "_", endpoint_name).strip("_") + ".json"


def write(directory: str, results) -> int:
    """Write the fixtures of the endpoints that answered; returns how many."""
    from nexla_ops.files import write_atomic

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    count = 0
    for r in results:
        if r.status != 200:
            continue
        doc = {"endpoint": r.endpoint.name, "reference": r.endpoint.key,
               "shape": shape_of(r.body)}
        write_atomic(root / fixture_name(r.endpoint.name),
                     json.dumps(doc, indent=2, sort_keys=True) + "\n")
        count += 1
    return count


def read(directory: str | Path) -> dict[str, dict]:
    """endpoint name -> recorded shape."""
    found = {}
    for path in sorted(Path(directory).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        found[doc["endpoint"]] = doc["shape"]
    return found
