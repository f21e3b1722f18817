"""Destination rules: creating a sink under a nexset and moving it to another one."""

from __future__ import annotations


class DestinationModel:
    """Domain mixin for data_sinks."""

    def create_sink(self, user: dict, fields: dict, *, doc_id=None, node_id=None) -> dict:
        nexset = self.get("data_sets", fields["data_set_id"], user)
        fields = {"status": "PAUSED", "description": None, "sink_config": {},
                  "copied_from_id": None, **fields}
        sink = self.new_doc("data_sinks", user, fields, doc_id)
        parent = self.store.get("flows", nexset.get("flow_node_id"))
        if parent:
            self.add_node("data_sinks", sink, parent, node_id)
        return self.store.get("data_sinks", sink["id"])

    def move_sink(self, sink: dict, nexset: dict):
        """PUT /data_sinks/{id} with a new data_set_id re-parents the sink's flow node."""
        node = self.store.get("flows", sink.get("flow_node_id"))
        parent = self.store.get("flows", nexset.get("flow_node_id"))
        if node and parent:
            self.store.put("flows", {**node, "parent_node_id": parent["id"],
                                     "origin_node_id": parent["origin_node_id"]})
        elif parent:
            self.add_node("data_sinks", sink, parent)
