"""Run a command in this process, as `nexla-ops <command> ... --json` would, and hand back its
one JSON document. Commands write their document to stdout, which is the MCP wire here, so
each run's stdout and stderr go to buffers; one command runs at a time (stdout is the
process's)."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import threading
from dataclasses import dataclass
from typing import Any

_ONE_AT_A_TIME = threading.Lock()


@dataclass
class Outcome:
    code: int
    document: Any  # the command's JSON document (None when it printed none)
    stderr: str

    @property
    def could_not_report(self) -> bool:
        """No document, or only the {"ok": false, "error"} one a failed run prints."""
        doc = self.document
        return not isinstance(doc, (dict, list)) or (
            isinstance(doc, dict) and set(doc) == {"ok", "error"} and doc["ok"] is False)

    @property
    def failure(self) -> dict | None:
        """The {"exit_code", "kind", "message"} of a failed run, None for a document. A
        command's own document that says ok: false (a batch with failed items, deploy's
        error text) is a failure too, its kind from the exit code."""
        from nexla_ops.cli import FAILURE_KINDS

        doc = self.document
        failed = doc is None or (isinstance(doc, dict) and doc.get("ok") is False)
        if not failed:
            return None
        error = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(error, dict) and isinstance(error.get("kind"), str):
            return error
        last = (self.stderr.strip().splitlines() or [""])[-1].split(": error: ", 1)[-1]
        message = error if isinstance(error, str) and error else last
        return {"exit_code": self.code, "kind": FAILURE_KINDS.get(self.code, "failed"),
                "message": message or f"exit code {self.code}"}


def run(command: str, argv: list[str]) -> Outcome:
    module = importlib.import_module(f"nexla_ops.commands.{command}")
    out, err = io.StringIO(), io.StringIO()
    with _ONE_AT_A_TIME, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = module.main(argv)  # no prog: health_check would arm its exit watchdog
    text = out.getvalue()
    try:
        document = json.loads(text) if text.strip() else None
    except ValueError:
        document = {"ok": False, "error": {"exit_code": code, "kind": "failed",
                                           "message": "the command printed no JSON document"}}
    return Outcome(code, document, err.getvalue())
