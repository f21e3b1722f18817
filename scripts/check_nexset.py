#!/usr/bin/env python3
"""Data contracts: schema drift against a baseline, and data-quality rules on samples (Nagios
exit codes). Also `nexla-ops check-nexset`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.check_nexset import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
