"""Nexset rules: samples (detected, webhook-fed, or transformed from the parent), schemas, create."""

from __future__ import annotations

import copy

from ... import transforms
from ..sources.models import sample_records


class NexsetModel:
    """Domain mixin for data_sets."""

    def transform_ops(self, nexset: dict) -> list | None:
        if nexset.get("has_custom_transform") and isinstance(nexset.get("transform"), dict):
            return nexset["transform"].get("operations", [])
        tr = self.store.get("transforms", nexset.get("transform_id"))
        if tr:
            return tr.get("code") or []
        return None

    def samples(self, nexset: dict, depth: int = 0) -> tuple[list, list]:
        """(records, errors) of a nexset: detected samples or webhook records; derived ones are
        the parent's records with the transform really applied."""
        if depth > 50:
            return [], []
        if nexset.get("parent_data_set_id"):
            parent = self.store.get("data_sets", nexset["parent_data_set_id"])
            if parent is None:
                return [], []
            records, _ = self.samples(parent, depth + 1)
            ops = self.transform_ops(nexset)
            if ops is None:
                return copy.deepcopy(records), []
            return transforms.apply_to_records(ops, records)
        hooked = self.store.find("webhook_records", "data_set_id", nexset["id"])
        if hooked:
            return [copy.deepcopy(r["record"]) for r in hooked[-100:]][::-1], []
        made_from = nexset.get("_samples_of")
        if not made_from:
            return [], []
        return self.drifted(nexset.get("data_source_id"), sample_records(made_from)), []

    def derived_schema(self, nexset: dict) -> dict:
        records, _ = self.samples(nexset)
        return transforms.infer_schema(records, self.keeps_nulls(self._source_above(nexset)))

    def _source_above(self, nexset: dict, depth: int = 0):
        """The id of the source a nexset's records come from (through its parents)."""
        parent = self.store.get("data_sets", nexset.get("parent_data_set_id"))
        if parent is None or depth > 50:
            return nexset.get("data_source_id")
        return self._source_above(parent, depth + 1)

    def create_nexset(self, user: dict, fields: dict, *, doc_id=None, node_id=None) -> dict:
        parent = self.get("data_sets", fields["parent_data_set_id"], user)
        parent_node = self.store.get("flows", parent.get("flow_node_id"))
        fields = {"status": parent.get("status") if parent.get("status") == "ACTIVE" else "PAUSED",
                  "description": None, "data_source_id": None, "transform_id": None,
                  "flow_type": parent.get("flow_type", "batch"), "copied_from_id": None,
                  **fields}
        nexset = self.new_doc("data_sets", user, fields, doc_id)
        nexset = self.store.put("data_sets", {**nexset, "output_schema": self.derived_schema(nexset)})
        if parent_node:
            self.add_node("data_sets", nexset, parent_node, node_id)
        return self.store.get("data_sets", nexset["id"])
