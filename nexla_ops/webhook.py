"""Pushing records to a webhook source: reading JSON, JSONL or CSV, batching with stable ids,
the push journal, and in-doubt batches; run(args, ctx) is what push-webhook calls."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nexla_ops

WEBHOOK_KEY_VAR = "NEXLA_WEBHOOK_API_KEY"
DEFAULT_BATCH = 100
MAX_BATCH = 10_000
ID_ATTR, BATCH_ATTR = "_nexla_ops_id", "_nexla_ops_batch"
FORMATS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
SEMANTICS = ("at-least-once when --resend-in-doubt is used, otherwise at-most-once per run "
             "with in-doubt batches reported; records carry _nexla_ops_id for de-duplication")


# ---------------------------------------------------------------- input

def read_records(path: str, fmt: str | None) -> tuple[list[dict], str, str]:
    """(records, format, sha256 of the file). BadInput names the file, line and problem."""
    fmt = fmt or FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise nexla_ops.BadInput(f"--file {path}: cannot tell the format from the extension; "
                                 "pass --format json|jsonl|csv")
    from nexla_ops.files import parse_json, read_input_text

    text = read_input_text(path)  # a regular UTF-8 file under the size limit
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    text = text.removeprefix("\ufeff")
    if fmt == "json":
        value = parse_json(text, f"--file {path}") if text.strip() else []
        records = value if isinstance(value, list) else [value]
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise nexla_ops.BadInput(f"--file {path}: item {i}: expected a JSON object")
    elif fmt == "jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            record = parse_json(line, f"--file {path}: line {number}")
            if not isinstance(record, dict):
                raise nexla_ops.BadInput(f"--file {path}: line {number}: expected a JSON "
                                         "object")
            records.append(record)
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        records = []
        for row in reader:
            if None in row:
                raise nexla_ops.BadInput(f"--file {path}: line {reader.line_num}: more values "
                                         "than header columns")
            records.append(dict(row))
    return records, fmt, digest


def make_batches(records: list[dict], size: int, digest: str, *, tag: bool) -> list[dict]:
    """[{batch, first, last, records, sha256}] with the de-duplication attributes added."""
    batches = []
    for index, start in enumerate(range(0, len(records), size)):
        chunk = []
        for seq in range(start, min(start + size, len(records))):
            record = records[seq]
            if tag:
                if ID_ATTR in record or BATCH_ATTR in record:
                    raise nexla_ops.BadInput(f"--file: record {seq} already has {ID_ATTR} or "
                                             f"{BATCH_ATTR}; pass --no-dedup-attributes")
                record = {**record, ID_ATTR: f"{digest[:16]}:{seq}", BATCH_ATTR: index}
            chunk.append(record)
        payload = json.dumps(chunk, sort_keys=True, separators=(",", ":")).encode()
        batches.append({"batch": index, "first": start, "last": start + len(chunk) - 1,
                        "records": chunk, "sha256": hashlib.sha256(payload).hexdigest()})
    return batches


# ---------------------------------------------------------------- target (URL and key)

def split_url(url: str) -> tuple[str, str | None]:
    """(URL without any api_key query parameter, that api_key or None)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    key = next((v for k, v in query if k == "api_key"), None)
    rest = urlencode([(k, v) for k, v in query if k != "api_key"])
    return urlunsplit(parts._replace(query=rest)), key


def resolve_target(ctx: nexla_ops.Context, args: argparse.Namespace) -> dict:
    """{"url", "api_key", "source_id"}; the key is registered as a secret at once."""
    if args.url:
        url, key_in_url = split_url(args.url)
        nexla_ops.register_secret(key_in_url)
        key = nexla_ops.env_setting(WEBHOOK_KEY_VAR, args) or key_in_url
        if not key:
            raise nexla_ops.ConfigError(f"no webhook API key: set {WEBHOOK_KEY_VAR} (environment "
                                        "or .env), or use --source-id to read it from the source")
        nexla_ops.register_secret(key)
        return {"url": url, "api_key": key, "source_id": None}
    source = ctx.call(ctx.client.sources.get, args.source_id,
                      what=f"GET /data_sources/{args.source_id}")
    keys = [k for k in (getattr(source, "api_keys", None) or []) if isinstance(k, dict)]
    for k in keys:
        nexla_ops.register_secret(k.get("api_key"))
    usable = [k for k in keys if k.get("api_key") and k.get("url")]
    if not usable:
        raise nexla_ops.OpsError(
            f"source {args.source_id} ({getattr(source, 'source_type', '?')}) has no webhook "
            "API key visible to you: it is not a webhook source, or you need admin rights on it")
    url, key_in_url = split_url(str(usable[0]["url"]))
    nexla_ops.register_secret(key_in_url)
    return {"url": url, "api_key": str(usable[0]["api_key"]), "source_id": args.source_id}


def webhook_sender(ctx: nexla_ops.Context, api_key: str):
    """The SDK's webhook client on an HTTP client with urllib3 retries OFF.

    client.create_webhook_client() would share the API client's HTTP layer, which needs a
    service key even for --url; and the SDK's default RequestsHttpClient retries POSTs on
    429/5xx, which would double-send a batch. So: our own RequestsHttpClient(max_retries=0).
    """
    from nexla_sdk.http_client import RequestsHttpClient
    from nexla_sdk.resources.webhooks import WebhooksResource

    http = RequestsHttpClient(timeout=ctx.config.timeout, max_retries=0)
    retries = http.session.get_adapter("http://").max_retries
    if retries.total not in (0, False):  # pragma: no cover - guards against SDK changes
        raise nexla_ops.ConfigError("the SDK's webhook HTTP client still retries POSTs")
    return WebhooksResource(api_key=api_key, http_client=http)


# ---------------------------------------------------------------- checkpoint

def open_journal(args: argparse.Namespace, plan: dict):
    """The checkpoint journal (checkpoint.Journal), or None without --checkpoint."""
    if not args.checkpoint:
        return None
    from nexla_ops import journal as checkpoint

    try:
        if args.dry_run:  # read only: no lock, no writes
            events = (checkpoint.read_events(args.checkpoint, "push_webhook")[0]
                      if os.path.exists(args.checkpoint) else [])
            journal = checkpoint.Journal(args.checkpoint, events, -1)
        else:
            journal = checkpoint.Journal.open(args.checkpoint, resume=True,
                                              operation="push_webhook")
    except checkpoint.CheckpointError as exc:
        raise nexla_ops.BadInput(f"--checkpoint: {exc}") from None
    except OSError as exc:
        raise nexla_ops.BadInput(f"--checkpoint: cannot open {args.checkpoint} "
                                 f"({exc.strerror})") from None
    recorded = journal.plan()
    if recorded is None:
        if not args.dry_run:
            journal.write_plan(plan)
        return journal
    mismatched = [k for k in plan if recorded.get(k) != plan[k]]
    if mismatched:
        journal.close()
        raise nexla_ops.BadInput(f"--checkpoint {args.checkpoint}: written for a different run "
                                 f"({', '.join(mismatched)} differ); use a new checkpoint file")
    return journal


def batch_states(journal) -> dict[int, dict]:
    """batch index -> {"state": acked|in_doubt|rejected|not_sent, ...last event}."""
    states: dict[int, dict] = {}
    if journal is None:
        return states
    for key, entry in journal.items().items():
        outcome, intent = entry["outcome"], entry["intent"]
        if outcome is not None:
            states[int(key)] = {**outcome, "state": outcome["outcome"]}
        elif intent is not None:  # killed during the POST: it may have arrived
            states[int(key)] = {**intent, "state": "in_doubt",
                                "reason": "interrupted while sending"}
    return states


# ---------------------------------------------------------------- sending

def send_batch(ctx: nexla_ops.Context, sender: Any, url: str, batch: dict) -> dict:
    """POST one batch; returns an outcome dict. Raises AuthError on 401/403."""
    what = f"POST webhook batch {batch['batch']}"
    try:
        response = ctx.policy.call(sender.send_many_records, url, batch["records"],
                                   auth_method="header", idempotent=False, what=what)
    except nexla_ops.UnknownOutcome as exc:
        return {"outcome": "in_doubt", "reason": exc.failure.reason if exc.failure else
                "answer lost", "status": exc.status}
    except nexla_ops.Transient as exc:  # only not_sent / 429 are retried, so: never arrived
        return {"outcome": "not_sent", "reason": exc.message, "status": exc.status}
    except Exception as exc:
        failure = nexla_ops.classify(exc)
        if failure.kind == "auth":
            return {"outcome": "rejected", "reason": f"webhook API key rejected "
                    f"({failure.status}): {failure.reason}", "status": failure.status,
                    "auth": True}
        if failure.kind in ("refused", "not_found"):
            return {"outcome": "rejected", "reason": f"{failure.status}: {failure.reason}",
                    "status": failure.status}
        # 500, an unreadable 2xx, anything unexpected after the bytes left: may have arrived.
        return {"outcome": "in_doubt", "reason": failure.reason, "status": failure.status}
    processed = getattr(response, "processed", None)
    # Nexla answers datasetId (SDK 1.0.8 models dataset_id, which then stays None).
    dataset_id = getattr(response, "datasetId", None)
    return {"outcome": "acked", "processed": processed,
            "dataset_id": dataset_id if dataset_id is not None else
            getattr(response, "dataset_id", None)}


def push(ctx: nexla_ops.Context, args: argparse.Namespace, batches: list[dict], journal,
         target: dict) -> dict:
    """Send every batch that needs sending; returns the report (no exit code decisions)."""
    states = batch_states(journal)
    report: dict[str, Any] = {"sent": [], "skipped": [], "accepted": [], "in_doubt": [],
                              "rejected": [], "not_sent": [], "short": [], "pending": [],
                              "records_sent": 0, "processed": 0}
    sender = None if args.dry_run else webhook_sender(ctx, target["api_key"])
    stop: str | None = None
    for batch in batches:
        index, size = batch["batch"], len(batch["records"])
        brief = {"batch": index, "first": batch["first"], "last": batch["last"]}
        state = states.get(index, {}).get("state")
        if stop is not None:
            report["pending"].append(brief)
            continue
        if state == "acked":
            report["skipped"].append(brief)
            continue
        if state == "in_doubt" and args.accept_in_doubt:
            if not args.dry_run:
                journal.append({"event": "outcome", "key": str(index), "outcome": "acked",
                                "accepted_by_operator": True, **brief})
            report["accepted"].append(brief)
            continue
        if state == "in_doubt" and not args.resend_in_doubt:
            report["in_doubt"].append({**brief, "reason": states[index].get("reason"),
                                       "since": "an earlier run"})
            continue
        if args.dry_run:
            report["pending"].append({**brief, "would_send": size,
                                      **({"resend": True} if state == "in_doubt" else {})})
            continue
        attempts = ctx.policy.attempts if args.resend_in_doubt else 1
        for attempt in range(1, attempts + 1):
            if journal is not None:
                journal.append({"event": "intent", "key": str(index), "sha256": batch["sha256"],
                                "attempt": attempt, **brief})
            ctx.progress(f"batch {index + 1}/{len(batches)}")
            outcome = send_batch(ctx, sender, target["url"], batch)
            if journal is not None:
                journal.append({"event": "outcome", "key": str(index),
                                **{k: v for k, v in outcome.items() if k != "auth"}, **brief})
            if outcome["outcome"] != "in_doubt" or attempt == attempts:
                break
            wait = ctx.policy.wait_for(attempt)
            ctx.warn("batch %d in doubt (%s); re-sending (--resend-in-doubt) in %.1fs",
                     index, outcome["reason"], wait)
            time.sleep(wait)
        kind = outcome["outcome"]
        if kind == "acked":
            report["sent"].append(brief)
            report["records_sent"] += size
            processed = outcome.get("processed")
            report["processed"] += size if processed is None else processed
            target.setdefault("dataset_id", outcome.get("dataset_id"))
            if processed is not None and processed != size:
                report["short"].append({**brief, "records": size, "processed": processed})
            continue
        entry = {**brief, "reason": outcome["reason"], "status": outcome.get("status")}
        report[kind].append(entry)
        stop = kind if not outcome.get("auth") else "auth"
        ctx.warn("batch %d (records %d-%d): %s (%s); stopping", index, batch["first"],
                 batch["last"], kind.replace("_", " "), outcome["reason"])
    report["stopped"] = stop
    return report


def exit_code(report: dict, has_checkpoint: bool) -> tuple[int, str]:
    """The exit code and a one-line summary for the report."""
    if report["stopped"] == "auth":
        return nexla_ops.EXIT_AUTH, "the webhook rejected the API key"
    if report["rejected"]:
        return nexla_ops.EXIT_FAILED, "the webhook refused a batch"
    if report["in_doubt"]:
        listing = ", ".join(f"{b['batch']} (records {b['first']}-{b['last']})"
                            for b in report["in_doubt"])
        return nexla_ops.EXIT_PARTIAL, (
            f"batches in doubt: {listing}; they may or may not have been received. Check the "
            "nexset for their _nexla_ops_id values, then re-run with --accept-in-doubt, or "
            "with --resend-in-doubt to re-send them (duplicates possible)")
    if report["not_sent"]:
        if has_checkpoint or not report["sent"]:
            return nexla_ops.EXIT_TRANSIENT, "could not reach the webhook; nothing is in " \
                "doubt: re-run to continue"
        return nexla_ops.EXIT_PARTIAL, ("could not reach the webhook after some batches were "
                                        "sent; without --checkpoint a re-run re-sends them: "
                                        "send only the records listed under pending")
    if report["short"]:
        return nexla_ops.EXIT_PARTIAL, "the webhook processed fewer records than sent in " \
            "some batches (listed under short)"
    return nexla_ops.EXIT_OK, "all batches acknowledged"


# ---------------------------------------------------------------- CLI

def run(args: argparse.Namespace, ctx: nexla_ops.Context) -> int:
    # Everything the user gave is checked before the first request.
    if (args.source_id is None) == (args.url is None):
        raise nexla_ops.BadInput("--source-id/--url: give exactly one")
    if args.source_id is not None and args.source_id <= 0:
        raise nexla_ops.BadInput("--source-id: expected a positive source id")
    if args.url is not None:
        parts = urlsplit(args.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise nexla_ops.BadInput("--url: expected an http(s) webhook URL")
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise nexla_ops.BadInput(f"--batch-size: expected 1..{MAX_BATCH}")
    if args.accept_in_doubt and not args.checkpoint:
        raise nexla_ops.BadInput("--accept-in-doubt: needs the --checkpoint that recorded the "
                                 "in-doubt batches")
    records, fmt, digest = read_records(args.file, args.format)
    batches = make_batches(records, args.batch_size, digest, tag=not args.no_dedup_attributes)

    target = resolve_target(ctx, args)
    plan = {"input_sha256": digest, "records": len(records), "batch_size": args.batch_size,
            "batches": len(batches), "dedup_attributes": not args.no_dedup_attributes,
            # The source id identifies the target across runs (its URL's host may change,
            # e.g. the sandbox's port); an explicit URL is identified by its digest.
            "target": (f"source:{target['source_id']}" if target["source_id"] else
                       "url:" + hashlib.sha256(target["url"].encode()).hexdigest()[:16])}
    if not args.checkpoint and len(batches) > 1 and not args.dry_run:
        ctx.warn("no --checkpoint: after a failure a re-run cannot skip the batches already "
                 "sent")
    journal = open_journal(args, plan)
    try:
        report = push(ctx, args, batches, journal, target)
    finally:
        if journal is not None:
            journal.close()
    code, summary = exit_code(report, bool(args.checkpoint))
    doc = {"ok": code == nexla_ops.EXIT_OK, "dry_run": bool(args.dry_run), "summary": summary,
           "semantics": SEMANTICS,
           "target": {"source_id": target["source_id"], "url": target["url"],
                      "dataset_id": target.get("dataset_id")},
           "input": {"file": args.file, "format": fmt, "records": len(records),
                     "sha256": digest},
           "batch_size": args.batch_size, "batches": len(batches),
           "checkpoint": args.checkpoint, **report}
    if args.dry_run:
        doc["summary"] = (f"dry run: would send {len(doc['pending'])} of {len(batches)} "
                          f"batches; nothing sent")
        code = nexla_ops.EXIT_OK
    if args.json:
        ctx.out(doc, "json")
    else:
        ctx.out(render_text(doc), "text")
    if code != nexla_ops.EXIT_OK:
        ctx.warn("%s", summary)
    return code


def render_text(doc: dict) -> str:
    lines = [doc["summary"],
             f"target: {doc['target']['url']}"
             + (f" (source {doc['target']['source_id']})" if doc["target"]["source_id"] else ""),
             f"input: {doc['input']['records']} records ({doc['input']['format']}) in "
             f"{doc['batches']} batches of up to {doc['batch_size']}",
             f"sent now: {len(doc['sent'])} batches, {doc['records_sent']} records "
             f"({doc['processed']} processed); already acknowledged: {len(doc['skipped'])}"]
    for key in ("accepted", "in_doubt", "rejected", "not_sent", "short", "pending"):
        for b in doc[key]:
            extra = f": {b['reason']}" if b.get("reason") else ""
            lines.append(f"  {key.replace('_', ' ')}: batch {b['batch']} (records "
                         f"{b['first']}-{b['last']}){extra}")
    return "\n".join(lines)
