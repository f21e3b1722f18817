"""A whole flow from any of its node ids.

GET /flows/{id} answers with the tree below that node: for a destination's node, only that
node, without the source. A command that takes "any node id of the flow" reads the node's
origin_node_id (the root's id, which every node carries) and then the root's tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def whole_flow(get: Callable[[str, dict], Any], node_id: int, params: dict | None = None):
    """The GET /flows body of the flow holding `node_id`, rooted at its origin node;
    get(path, params) is a raw GET (ctx.request or a health Api's get)."""
    body = get(f"/flows/{node_id}", dict(params or {}))
    flows = body.get("flows") if isinstance(body, dict) else None
    root = flows[0] if isinstance(flows, list) and flows and isinstance(flows[0], dict) else {}
    origin = root.get("origin_node_id")
    if isinstance(origin, int) and not isinstance(origin, bool) and origin != root.get("id"):
        return get(f"/flows/{origin}", dict(params or {}))
    return body
