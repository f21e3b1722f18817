"""The API side of one item: read it, write it, and the failures that end only that item."""

from __future__ import annotations

import contextlib
import threading

import nexla_ops
from nexla_ops import listing

# --------------------------------------------------------------------------- the API side


class ItemFailed(Exception):
    """One item could not be processed (the batch goes on)."""


class Api:
    """The reads and writes an operation needs, for one kind of object."""

    def __init__(self, ctx, kind: listing.Kind):
        self.ctx = ctx
        self.kind = kind
        self._copy_index: dict[int, set[int]] | None = None
        self._lock = threading.Lock()

    @property
    def is_flow(self) -> bool:
        return self.kind.name == "flows"

    def read(self, item_id: int) -> dict:
        """The current object (flows: the root node plus `origin`: (path, id))."""
        if self.is_flow:
            body = self.ctx.request("GET", f"/flows/{item_id}", params={"flows_only": 1})
            nodes = (body or {}).get("flows") or []
            if not nodes:
                raise nexla_ops.NotFound(f"flow {item_id} not found")
            return nodes[0]
        body = self.ctx.request("GET", f"/{self.kind.path}/{item_id}")
        if not isinstance(body, dict):
            raise nexla_ops.ApiError(f"GET /{self.kind.path}/{item_id}: unexpected response")
        return body

    @staticmethod
    def origin(node: dict) -> tuple[str, int]:
        for key, path in (("data_source_id", "data_sources"), ("data_set_id", "data_sets"),
                          ("data_sink_id", "data_sinks")):
            if node.get(key) is not None:
                return path, int(node[key])
        raise ItemFailed(f"flow {node.get('id')} has no origin resource")

    def set_status(self, item_id: int, verb: str) -> None:
        if self.is_flow:
            self.ctx.request("PUT", f"/flows/{item_id}/{verb}", params={"all": 1})
        else:
            self.ctx.request("PUT", f"/{self.kind.path}/{item_id}/{verb}")

    def delete(self, item_id: int) -> None:
        path = f"/flows/{item_id}" if self.is_flow else f"/{self.kind.path}/{item_id}"
        # NotFound: a retried DELETE whose first attempt went through; it is gone, as wanted.
        with contextlib.suppress(nexla_ops.NotFound):
            self.ctx.request("DELETE", path)

    def put(self, path: str, item_id: int, body: dict) -> dict:
        return self.ctx.request("PUT", f"/{path}/{item_id}", json=body)

    # -- copies: found again by copied_from_id, so a lost answer never makes a second copy --
    def copy_path(self, obj: dict) -> tuple[str, int]:
        """(collection, id) whose copied_from_id identifies a copy of this item."""
        return self.origin(obj) if self.is_flow else (self.kind.path, int(obj["id"]))

    def copies_of(self, path: str, original_id: int, *, fresh: bool = False) -> set[int]:
        with self._lock:
            if self._copy_index is None or fresh:
                index: dict[int, set[int]] = {}
                for obj in self.ctx.paginate(f"/{path}"):
                    if isinstance(obj, dict) and obj.get("copied_from_id") is not None:
                        index.setdefault(int(obj["copied_from_id"]), set()).add(int(obj["id"]))
                self._copy_index = index
            return set(self._copy_index.get(original_id, ()))

    def copy(self, item_id: int, options: dict, path: str, original_id: int,
             before: set[int]) -> int:
        """POST .../copy once; returns the new object's id (flows: the new flow's id)."""

        def find():
            new = self.copies_of(path, original_id, fresh=True) - before
            return {"found": min(new)} if new else None

        def create():
            prefix = "/flows" if self.is_flow else f"/{self.kind.path}"
            return self.ctx.client.request("POST", f"{prefix}/{item_id}/copy", json=options)

        body = self.ctx.create_once(find, create, what=f"copy {self.kind.name} {item_id}")
        if isinstance(body, dict) and "found" in body:
            return self.copy_result_id(path, body["found"])
        if self.is_flow:
            nodes = (body or {}).get("flows") or []
            if not nodes:
                raise ItemFailed("flow copy answered without a flow")
            return int(nodes[0]["id"])
        return int(body["id"])

    def copy_result_id(self, path: str, copy_origin_id: int) -> int:
        """The copy's id as the user sees it: for flows, the flow holding the copied origin."""
        if not self.is_flow:
            return copy_origin_id
        body = self.ctx.request("GET", f"/{path}/{copy_origin_id}/flow", params={"flows_only": 1})
        nodes = (body or {}).get("flows") or []
        return int(nodes[0]["id"]) if nodes else copy_origin_id
