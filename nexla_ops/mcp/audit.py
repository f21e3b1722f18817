"""One JSON line per tool call (as manage_access logs its writes): when, which tool, its
arguments (redacted), and how it ended."""

from __future__ import annotations

from datetime import datetime, timezone

import nexla_ops


def record(path: str | None, tool: str, arguments: dict, outcome: str, **extra) -> None:
    if not path:
        return
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tool": tool,
             "arguments": arguments, "outcome": outcome, **extra}
    nexla_ops.append_jsonl(path, entry)  # redacted, O_APPEND, fsynced, 0600
