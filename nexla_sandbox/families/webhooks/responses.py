"""Webhook handler: POST {root}/webhook/{source_id} (api key auth, not a bearer token)."""

from __future__ import annotations

import base64
import copy

from ... import transforms
from ...ctx import Ctx
from ...domain import ApiError, not_found

_STANDARD_HEADERS = {"host", "content-type", "content-length", "accept", "accept-encoding",
                     "connection", "user-agent", "authorization"}


def webhook(c: Ctx):
    """POST {root}/webhook/{source_id}: api_key in the query or Basic base64(api_key)."""
    src = c.store.get("data_sources", c.args["id"])
    if src is None or not src.get("api_keys"):
        raise not_found("webhook", c.args["id"])
    key = c.query.get("api_key")
    auth = c.req.headers.get("Authorization", "")
    if key is None and auth.lower().startswith("basic "):
        try:
            key = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").rstrip(":")
        except (ValueError, UnicodeDecodeError):
            key = None
    if not key or key not in {k["api_key"] for k in src["api_keys"]}:
        raise ApiError(401, "Invalid or missing api_key for this webhook")
    body = c.raw_body()
    records = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
    if records is None or any(not isinstance(r, dict) for r in records):
        raise ApiError(400, "body: expected a JSON object or an array of objects")
    extra = {}
    if c.qbool("include_headers"):
        extra.update({f"header_{k.lower()}": v for k, v in c.req.headers.items()
                      if k.lower() not in _STANDARD_HEADERS})
    if c.qbool("include_url_params"):
        skip = {"api_key", "include_headers", "include_url_params", "force_schema_detection"}
        extra.update({f"url_param_{k}": v for k, v in c.query.items() if k not in skip})
    detected = c.store.find("data_sets", "data_source_id", src["id"])
    set_id = detected[0]["id"] if detected else None
    now = c.dom.now_iso()
    for record in records:
        c.store.put("webhook_records", {"id": c.store.next_id("webhook_records", 0),
                                        "source_id": src["id"], "data_set_id": set_id,
                                        "record": {**copy.deepcopy(record), **extra},
                                        "received_at": now})
    if detected and records:
        nexset = detected[0]
        c.store.put("data_sets", {**nexset, "output_schema": transforms.infer_schema(
            c.dom.samples(nexset)[0])})
    # The reference's key is datasetId; SDK 1.0.8's WebhookResponse.dataset_id reads None.
    return {"datasetId": set_id, "processed": len(records)}
