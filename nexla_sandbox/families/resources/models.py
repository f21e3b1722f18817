"""Generic copy rules: what a copied resource inherits and where it goes."""

from __future__ import annotations

import copy

NOT_COPIED = frozenset(("id", "owner_id", "org_id", "created_at", "updated_at", "flow_node_id",
                        "_accessors", "_discovering", "_discovery_due", "api_keys"))


class CopyModel:
    """Domain mixin: POST /{kind}/{id}/copy."""

    @staticmethod
    def _copyable(doc: dict) -> dict:
        """A deep copy of the fields a copy inherits (identity, ownership, place in a flow,
        accessors, discovery state and webhook keys are the new object's own)."""
        return {k: copy.deepcopy(v) for k, v in doc.items() if k not in NOT_COPIED}

    def copy_resource(self, kind: str, doc: dict, user: dict, opts: dict) -> dict:
        fields = self._copyable(doc)
        fields["copied_from_id"] = doc["id"]
        fields["name"] = f"{doc.get('name')} (copy)"
        if "status" in fields:
            fields["status"] = "PAUSED"
        if kind in ("data_sources", "data_sinks") and doc.get("data_credentials_id"):
            fields["data_credentials_id"] = self._credential_for_copy(
                doc["data_credentials_id"], user, opts)
        if opts.get("copy_access_controls"):
            fields["_accessors"] = copy.deepcopy(doc.get("_accessors", []))
        if kind == "data_sources":
            return self.create_source(user, fields, status="PAUSED")
        if kind == "data_sets":
            if fields.get("parent_data_set_id"):
                return self.create_nexset(user, fields)
            return self.new_doc("data_sets", user, fields)
        if kind == "data_sinks":
            return self.create_sink(user, fields)
        return self.new_doc(kind, user, fields)
