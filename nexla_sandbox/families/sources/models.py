"""Source rules: creating a source (its flow root), discovering its detected nexset, and the
upstream schema changes its records go through (control API `schema_change`)."""

from __future__ import annotations

import math
import random
import secrets
from datetime import datetime, timezone

from ... import schema_drift, transforms
from ...domain import ApiError, iso

MAX_SCHEMA_CHANGES = 100  # per source: each sample read replays them all


# Sample records per kind of data, chosen from the source's name (or type).
def sample_records(source: dict, count: int = 20) -> list[dict]:
    name = (source.get("name") or "").lower()
    rng = random.Random(f"samples:{source['id']}")
    base = 1700000000
    records = []
    for i in range(count):
        ts = datetime.fromtimestamp(base + i * 3600 + rng.randint(0, 3599), timezone.utc)
        stamp = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        if "order" in name:
            records.append({"order_id": 10001 + i, "customer_id": 500 + rng.randint(0, 40),
                            "amount": round(rng.uniform(5, 500), 2), "currency": "USD",
                            "status": rng.choice(["new", "paid", "shipped", "cancelled"]),
                            "country": rng.choice(["us", "de", "fr", "gb"]), "created_at": stamp})
        elif "customer" in name:
            first = rng.choice(["ana", "ben", "chen", "dara", "eli", "fay"])
            records.append({"customer_id": 500 + i, "name": first.title(),
                            "email": f"{first}{i}@example.com",
                            "country": rng.choice(["US", "DE", "FR", "GB"]),
                            "lifetime_value": round(rng.uniform(0, 5000), 2), "updated_at": stamp})
        elif "click" in name or source.get("source_type") == "nexla_rest":
            records.append({"session_id": f"s-{1000 + i}", "page": rng.choice(["/", "/cart", "/pay"]),
                            "referrer": rng.choice(["google", "direct", "newsletter"]),
                            "duration_ms": rng.randint(100, 90000), "ts": stamp})
        elif "event" in name:
            records.append({"event_id": f"evt-{i:05d}", "type": rng.choice(["login", "view", "buy"]),
                            "user_id": rng.randint(1, 300), "ts": stamp,
                            "properties": {"device": rng.choice(["ios", "android", "web"])}})
        else:
            records.append({"id": i + 1, "name": f"item-{i + 1}", "value": rng.randint(0, 1000),
                            "updated_at": stamp})
    return records


class SourceModel:
    """Domain mixin for data_sources."""

    def create_source(self, user: dict, fields: dict, *, doc_id=None, status="INIT",
                      discover=True, node_id=None) -> dict:
        fields = {"status": status, "description": None, "data_credentials_id": None,
                  "source_config": {}, "ingest_method": "POLL", "flow_type": "batch",
                  "copied_from_id": None, **fields}
        if fields["source_type"] == "nexla_rest":
            fields["ingest_method"] = "API"
            fields["flow_type"] = "streaming"
            fields.setdefault("api_keys", [{"id": self.store.next_id("api_keys", 0),
                                            "api_key": secrets.token_hex(20)}])
        if discover:
            fields["_discovering"] = True
            fields["_discovery_due"] = self.now() + max(self.settings.discovery_delay, 0.001)
            self.note_due(fields["_discovery_due"])
        src = self.new_doc("data_sources", user, fields, doc_id)
        self.add_node("data_sources", src, None, node_id)
        return self.store.get("data_sources", src["id"])

    def _discover(self, src: dict, doc_id=None, name=None, node_id=None) -> dict:
        """The detected nexset of a source (appears `discovery_delay` after creation)."""
        owner = self.user(src["owner_id"]) or {"id": src["owner_id"], "org_id": src["org_id"]}
        samples = self.drifted(src["id"], sample_records(src))
        nexset = self.new_doc("data_sets", owner, {
            "name": name or (src["name"].rsplit("-", 1)[0] if "-" in src["name"] else src["name"]),
            "description": f"Detected from data source {src['id']}",
            "status": "ACTIVE" if src.get("status") == "ACTIVE" else "PAUSED",
            "data_source_id": src["id"], "parent_data_set_id": None, "transform_id": None,
            "has_custom_transform": False, "flow_type": src.get("flow_type", "batch"),
            "output_schema": transforms.infer_schema(samples, self.keeps_nulls(src["id"])),
            # What the samples are made from, not the records: they regenerate identically
            # (seeded by the source id), and 20 records per nexset were most of its size.
            "_samples_of": {key: src.get(key) for key in ("id", "name", "source_type")},
            "copied_from_id": None}, doc_id)
        self.store.put("data_sources", {**self.store.get("data_sources", src["id"]),
                                        "_discovering": False, "_discovery_due": None})
        parent = self.store.get("flows", src["flow_node_id"])
        self.add_node("data_sets", nexset, parent, node_id)
        return self.store.get("data_sets", nexset["id"])

    # == upstream schema changes ================================================================
    # A source's `_schema_changes` ([{at, applied, rename, retype, ...}], in landing order) are
    # replayed over its generated sample records; `_schema_pending` marks a source with changes
    # still due, for advance().
    def applied_changes(self, source_id) -> list[dict]:
        src = self.store.get("data_sources", source_id)
        return [c for c in (src or {}).get("_schema_changes", ()) if c["applied"]]

    def drifted(self, source_id, records: list[dict]) -> list[dict]:
        """`records` as the source reads them now: its landed schema changes applied."""
        return schema_drift.apply_changes(self.applied_changes(source_id), records)

    def keeps_nulls(self, source_id) -> bool:
        """Does the source's schema show nulls (a `nullable` change has landed)?"""
        return any("nullable" in c for c in self.applied_changes(source_id))

    def _detected(self, src: dict) -> list[dict]:
        return [n for n in self.store.find("data_sets", "data_source_id", src["id"])
                if not n.get("parent_data_set_id")]

    def queue_schema_change(self, src: dict, change: dict, after: float) -> dict:
        """Queue `change` to land `after` seconds from now (never before a change queued
        earlier, so changes land in the order they were checked in); lands it at once when
        due. Raises ApiError 400 naming the body key."""
        if src.get("source_type") == "nexla_rest":
            raise ApiError(400, f"source_id: data source {src['id']} is a webhook source: its "
                                "records are the ones pushed to it; push the new shape instead")
        changes = src.get("_schema_changes", [])
        if len(changes) >= MAX_SCHEMA_CHANGES:
            raise ApiError(400, f"source_id: data source {src['id']} already has "
                                f"{MAX_SCHEMA_CHANGES} schema changes (reset to start over)")
        detected = self._detected(src)
        made_from = (detected[0].get("_samples_of") if detected else None) or src
        # Checked against the records as they will be once every queued change has landed.
        upcoming = schema_drift.apply_changes(changes, sample_records(made_from))
        try:
            schema_drift.apply_change(change, upcoming)
        except schema_drift.ChangeError as err:
            raise ApiError(400, str(err)) from None
        now = self.now()
        at = max(now + after, changes[-1]["at"] if changes else now)
        self.store.put("data_sources", {**src, "_schema_pending": True, "_schema_changes": [
            *changes, {"at": at, "applied": False, **change}]})
        self.note_due(at)
        changed = self.land_schema_changes(self.store.get("data_sources", src["id"]), now)[0]
        return {"source_id": src["id"], "applies_at": iso(at), "applied": at <= now,
                "nexsets": changed}

    def land_schema_changes(self, src: dict, now: float) -> tuple[list[int], float]:
        """Apply the source's changes due by `now`; returns (ids of the nexsets whose
        output_schema changed, when the next change is due or inf)."""
        changes = [c if c["applied"] or c["at"] > now else {**c, "applied": True}
                   for c in src.get("_schema_changes", ())]
        due = min((c["at"] for c in changes if not c["applied"]), default=math.inf)
        if changes == src.get("_schema_changes", []):
            return [], due
        self.store.put("data_sources", {**src, "_schema_changes": changes,
                                        "_schema_pending": due < math.inf})
        return self._refresh_schemas(src), due

    def _refresh_schemas(self, src: dict) -> list[int]:
        """Re-infer output_schema of the source's detected nexsets and every nexset derived
        from them (in place: see README.md, fidelity); the ids whose schema changed."""
        changed, seen, queue = [], set(), self._detected(src)
        while queue:
            nexset = queue.pop(0)
            if nexset["id"] in seen:
                continue
            seen.add(nexset["id"])
            schema = self.derived_schema(nexset)
            if schema != nexset.get("output_schema"):
                self.store.put("data_sets", {**nexset, "output_schema": schema,
                                             "updated_at": self.now_iso()})
                changed.append(nexset["id"])
            queue.extend(self.store.find("data_sets", "parent_data_set_id", nexset["id"]))
        return changed
