#!/usr/bin/env python3
"""Start a Nexla async task, wait for it with backoff, and fetch its result. Also `nexla-ops
async-task`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.async_task import build_parser, main
from nexla_ops.tasks import task_state, wait_for_task

__all__ = ["build_parser", "main", "task_state", "wait_for_task"]

if __name__ == "__main__":
    sys.exit(main())
