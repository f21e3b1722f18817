"""Source rules: creating a source (its flow root) and discovering its detected nexset."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timezone

from ... import transforms


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
        samples = sample_records(src)
        nexset = self.new_doc("data_sets", owner, {
            "name": name or (src["name"].rsplit("-", 1)[0] if "-" in src["name"] else src["name"]),
            "description": f"Detected from data source {src['id']}",
            "status": "ACTIVE" if src.get("status") == "ACTIVE" else "PAUSED",
            "data_source_id": src["id"], "parent_data_set_id": None, "transform_id": None,
            "has_custom_transform": False, "flow_type": src.get("flow_type", "batch"),
            "output_schema": transforms.infer_schema(samples),
            # What the samples are made from, not the records: they regenerate identically
            # (seeded by the source id), and 20 records per nexset were most of its size.
            "_samples_of": {key: src.get(key) for key in ("id", "name", "source_type")},
            "copied_from_id": None}, doc_id)
        self.store.put("data_sources", {**self.store.get("data_sources", src["id"]),
                                        "_discovering": False, "_discovery_due": None})
        parent = self.store.get("flows", src["flow_node_id"])
        self.add_node("data_sets", nexset, parent, node_id)
        return self.store.get("data_sets", nexset["id"])
