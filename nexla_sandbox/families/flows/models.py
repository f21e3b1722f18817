"""Flow rules: flow nodes (a tree per source), status changes and scheduling, delete, copy."""

from __future__ import annotations

import copy
import secrets

from ...domain import FIRST_RUN_DELAY, ID_FLOOR, LABEL, NODE_FIELD, RUN_INTERVAL, ApiError


class FlowModel:
    """Domain mixin for flow nodes and the resources in them."""

    def add_node(self, kind: str, doc: dict, parent: dict | None, node_id: int | None = None,
                 **extra) -> dict:
        nid = node_id or self.store.next_id("flows", ID_FLOOR["flows"])
        node = {"id": nid, "origin_node_id": parent["origin_node_id"] if parent else nid,
                "parent_node_id": parent["id"] if parent else None,
                "data_source_id": None, "data_set_id": None, "data_sink_id": None,
                "project_id": parent.get("project_id") if parent else None,
                "flow_type": doc.get("flow_type") or "batch",
                "ingestion_mode": doc.get("ingest_method") or "POLL", **extra}
        node[NODE_FIELD[kind]] = doc["id"]
        if parent is None:
            node.update(org_id=doc["org_id"], owner_id=doc["owner_id"], _accessors=[],
                        _scheduled=False, _sim={"interval": RUN_INTERVAL, "fail_rate": 0.0,
                                                "stalled": False, "next_run_at": None,
                                                "run_count": 0})
        self.store.put("flows", node)
        self.store.put(kind, {**doc, "flow_node_id": nid})
        return node

    def node_resource(self, node: dict) -> tuple[str, dict | None]:
        for kind, field in NODE_FIELD.items():
            if node.get(field) is not None:
                return kind, self.store.get(kind, node[field])
        return "data_sources", None

    def children(self, node_id: int) -> list[dict]:
        return self.store.find("flows", "parent_node_id", node_id)

    def subtree(self, node: dict) -> list[dict]:
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(self.children(n["id"])))
        return out

    def root_of(self, doc: dict) -> dict | None:
        """The root node of the flow a source, nexset or destination is in."""
        node = self.store.get("flows", doc.get("flow_node_id"))
        return node and self.store.get("flows", node["origin_node_id"])

    def node_status(self, node: dict) -> str | None:
        _, res = self.node_resource(node)
        return res.get("status") if res else None

    def flow_node_for(self, kind: str, doc_id: int, user: dict, need="collaborator") -> dict:
        doc = self.get(kind, doc_id, user, need)
        node = self.store.get("flows", doc.get("flow_node_id"))
        if node is None:
            raise ApiError(404, f"{kind}/{doc_id} is not part of a flow", resource_type=kind,
                           resource_id=doc_id)
        return node

    def set_status(self, nodes: list[dict], status: str):
        for node in nodes:
            kind, res = self.node_resource(node)
            if res and res.get("status") != status:
                self.update_doc(kind, res, {"status": status})
            if node["parent_node_id"] is None:
                self._schedule(node, status == "ACTIVE")

    def _schedule(self, root: dict, active: bool):
        sim = dict(root["_sim"])
        if active and not root.get("_scheduled"):
            sim["next_run_at"] = self.now() + FIRST_RUN_DELAY
            self.note_due(sim["next_run_at"])
        self.store.put("flows", {**root, "_sim": sim, "_scheduled": active and not sim["stalled"]})

    def activate_nodes(self, node: dict, *, all_nodes: bool, status: str) -> list[dict]:
        """activate/pause: just this node's resource, or (all/full_tree) the whole flow."""
        if all_nodes:
            root = self.store.get("flows", node["origin_node_id"])
            nodes = self.subtree(root)
        else:
            nodes = [node]
        self.set_status(nodes, status)
        return nodes

    def _delete_nodes(self, nodes: list[dict]):
        """Delete flow nodes with their resources, and a root's run history with it."""
        for n in nodes:
            kind, res = self.node_resource(n)
            if res:
                self.store.delete(kind, res["id"])
            if n["parent_node_id"] is None:
                for run in self.store.find("runs", "flow_id", n["id"]):
                    self.store.delete("runs", run["id"])
            self.store.delete("flows", n["id"])

    def delete_flow(self, node: dict):
        nodes = self.subtree(node)
        if any(self.node_status(n) == "ACTIVE" for n in nodes):
            raise ApiError(409, "Flow is active; pause it before deleting", resource_type="flows",
                           resource_id=node["id"])
        self._delete_nodes(nodes)
        for project in self.store.all("projects"):
            if node["id"] in project.get("_flow_ids", []):
                ids = [i for i in project["_flow_ids"] if i != node["id"]]
                self.update_doc("projects", project, {"_flow_ids": ids})

    def delete_resource(self, kind: str, doc: dict):
        """DELETE /{kind}/{id}: refuses ACTIVE resources and resources with downstream nodes."""
        if doc.get("status") == "ACTIVE":
            raise ApiError(409, f"{LABEL[kind]} is active; pause it before deleting",
                           resource_type=kind, resource_id=doc["id"])
        node = self.store.get("flows", doc.get("flow_node_id"))
        if node:
            kids = self.children(node["id"])
            # A source's detected nexsets go with it, as long as nothing hangs off them.
            blocked = (any(self.children(k["id"]) for k in kids) if kind == "data_sources"
                       else bool(kids))
            if blocked:
                raise ApiError(409, f"{LABEL[kind]} {doc['id']} has downstream resources; delete "
                               f"them or delete the flow", resource_type=kind, resource_id=doc["id"])
            self._delete_nodes([node, *kids])
        self.store.delete(kind, doc["id"])  # also when it is in no flow

    def copy_flow(self, node: dict, user: dict, opts: dict) -> dict:
        """Copies the whole tree under `node` (usually a root); returns the new root node."""
        mapping: dict[int, dict] = {}
        cred_map: dict[int, int] = {}
        new_root = None
        for n in self.subtree(node):
            kind, res = self.node_resource(n)
            if res is None:
                continue
            fields = self._copyable(res)
            fields.update(copied_from_id=res["id"], status="PAUSED")
            if opts.get("copy_access_controls"):
                fields["_accessors"] = copy.deepcopy(res.get("_accessors", []))
            cid = res.get("data_credentials_id")
            if cid:
                if cid not in cred_map:
                    cred_map[cid] = self._credential_for_copy(cid, user, opts)
                fields["data_credentials_id"] = cred_map[cid]
            parent_new = mapping.get(n["parent_node_id"])
            if kind == "data_sources":
                fields["name"] = f"{res['name']} (copy)"
                if res.get("source_type") == "nexla_rest":
                    fields["api_keys"] = [{"id": self.store.next_id("api_keys", 0),
                                           "api_key": secrets.token_hex(20)}]
                new = self.new_doc(kind, user, fields)
            elif kind == "data_sets":
                if parent_new and parent_new.get("data_set_id"):
                    fields["parent_data_set_id"] = parent_new["data_set_id"]
                if parent_new and parent_new.get("data_source_id") and fields.get("data_source_id"):
                    fields["data_source_id"] = parent_new["data_source_id"]
                new = self.new_doc(kind, user, fields)
            else:
                if parent_new and parent_new.get("data_set_id"):
                    fields["data_set_id"] = parent_new["data_set_id"]
                new = self.new_doc(kind, user, fields)
            new_node = self.add_node(kind, new, parent_new)
            if parent_new is None:
                new_root = new_node
                if opts.get("copy_access_controls"):
                    root = self.store.get("flows", n["origin_node_id"])
                    self.store.put("flows", {**new_node, "_accessors": copy.deepcopy(
                        root.get("_accessors", []))})
            mapping[n["id"]] = new_node
        return self.store.get("flows", new_root["id"])
