#!/usr/bin/env python3
"""List Nexla resources of one type: every page, filtered, streamed. Also `nexla-ops
list-resources`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.list_resources import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
