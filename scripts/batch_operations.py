#!/usr/bin/env python3
"""Apply one change to many Nexla flows or resources: safely, resumably, shardable. Also `nexla-ops
batch-operations`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.batch_operations import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
