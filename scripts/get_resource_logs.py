#!/usr/bin/env python3
"""Show the run logs of a Nexla source, nexset or destination: filtered, summarised, followed. Also
`nexla-ops get-resource-logs`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.get_resource_logs import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
