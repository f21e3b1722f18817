#!/usr/bin/env python3
"""Daily records, bytes and errors of a flow, a resource, a user or the org, run statistics and
SLA attainment. Also `nexla-ops flow-metrics`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.flow_metrics import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
