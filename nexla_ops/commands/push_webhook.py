"""Send records from a JSON, JSONL or CSV file to a Nexla webhook source, in batches.

Delivery semantics (precise; Nexla documents no idempotency key for webhooks, and the
webhook does not deduplicate):

* Each batch is one POST of a JSON array to the webhook URL. The SDK's HTTP retries are off
  for it; our retry policy re-sends a batch only when the POST provably did not reach Nexla
  (connection refused, connect timeout) or was refused with 429.
* A batch whose answer is lost after it may have arrived (read timeout, dropped connection,
  5xx, an unreadable 2xx) is IN DOUBT: it is not re-sent. The run stops, lists the in-doubt
  batches and exits 7. Then either
  - check the nexset (each record carries `_nexla_ops_id`, see below) and mark them
    delivered with --accept-in-doubt, or
  - re-send them with --resend-in-doubt, accepting at-least-once delivery (duplicates are
    possible; downstream can drop them by `_nexla_ops_id`).
* --checkpoint FILE keeps a JSONL journal (fsynced): the plan (input digest, batch size,
  target), then per batch an intent line before the POST and an outcome line after it. A
  re-run with the same file skips acknowledged batches, leaves in-doubt ones alone (unless
  told otherwise, as above) and sends the rest. A batch whose intent has no outcome (the
  process was killed during the POST) is in doubt too.
* Every record gets `_nexla_ops_id` = "<first 16 hex of the file's sha256>:<record index>"
  and `_nexla_ops_batch` = <batch index>: the same on every re-run, so duplicates from
  at-least-once delivery are identical and easy to drop. --no-dedup-attributes leaves the
  records as they are.

The webhook URL and API key come from the source (--source-id: GET /data_sources/ID,
api_keys[0]) or from --url plus NEXLA_WEBHOOK_API_KEY (environment or .env). The key is sent
in the Authorization header (Basic), never in the URL, and is never printed.
"""

from __future__ import annotations

import argparse

import nexla_ops
from nexla_ops.parsing import id_flag, number_flag
from nexla_ops.webhook import BATCH_ATTR, DEFAULT_BATCH, ID_ATTR, WEBHOOK_KEY_VAR

EXAMPLES = """examples:
  # push a JSONL file to webhook source 127 in batches of 500, resumable
  python scripts/push_webhook.py --source-id 127 --file events.jsonl --batch-size 500 \\
      --checkpoint events.push.jsonl
  # same again after a crash or exit 6: acknowledged batches are skipped
  python scripts/push_webhook.py --source-id 127 --file events.jsonl --batch-size 500 \\
      --checkpoint events.push.jsonl
  # exit 7 listed in-doubt batches: re-send them, accepting possible duplicates
  python scripts/push_webhook.py --source-id 127 --file events.jsonl --batch-size 500 \\
      --checkpoint events.push.jsonl --resend-in-doubt
  # ... or, having found them in the nexset, record them as delivered without sending
  python scripts/push_webhook.py --source-id 127 --file events.jsonl --batch-size 500 \\
      --checkpoint events.push.jsonl --accept-in-doubt
  # a CSV to an explicit URL (key from NEXLA_WEBHOOK_API_KEY); plan only
  NEXLA_WEBHOOK_API_KEY=... python scripts/push_webhook.py --url https://HOST/webhook/127 \\
      --file rows.csv --dry-run

delivery: at-least-once at best, never silently. A batch whose answer was lost is "in doubt":
  not re-sent unless --resend-in-doubt. Records carry _nexla_ops_id for de-duplication.
exit codes: 0 all batches acknowledged; 1 the webhook refused a batch (4xx); 2 bad input;
  3 no API key; 4 key rejected; 6 could not reach the webhook (nothing in doubt; re-run);
  7 batches in doubt or partly processed (listed)
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "push_webhook.py",
        description=__doc__,
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", required=True, metavar="FILE",
                        help="records: a JSON array (.json), one object per line (.jsonl, "
                             ".ndjson) or CSV with a header row (.csv; values stay strings)")
    parser.add_argument("--format", choices=["json", "jsonl", "csv"],
                        help="override the format the extension implies")
    parser.add_argument("--source-id", type=id_flag, metavar="ID",
                        help="the webhook source: its URL and API key are read from it")
    parser.add_argument("--url", metavar="URL",
                        help=f"webhook URL; the API key comes from {WEBHOOK_KEY_VAR}")
    parser.add_argument("--batch-size", type=number_flag(int, 1), default=DEFAULT_BATCH,
                        metavar="N",
                        help=f"records per POST (default {DEFAULT_BATCH})")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="JSONL journal of batch outcomes; a re-run with it skips "
                             "acknowledged batches")
    doubt = parser.add_mutually_exclusive_group()
    doubt.add_argument("--resend-in-doubt", action="store_true",
                       help="re-send batches whose answer was lost (at-least-once: "
                            "duplicates possible)")
    doubt.add_argument("--accept-in-doubt", action="store_true",
                       help="record in-doubt batches of the checkpoint as delivered, "
                            "without sending them (after checking the nexset)")
    parser.add_argument("--no-dedup-attributes", action="store_true",
                        help=f"do not add {ID_ATTR} / {BATCH_ATTR} to the records")
    parser.add_argument("--dry-run", action="store_true",
                        help="show which batches would be sent; send and write nothing")
    nexla_ops.add_common_args(parser)
    return parser


def run(args, ctx) -> int:
    from nexla_ops import webhook

    return webhook.run(args, ctx)


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    return nexla_ops.main_wrapper(run, build_parser(prog), argv)
