#!/usr/bin/env python3
"""What is broken right now, ranked, with next steps (read-only). Also `nexla-ops triage`;
`--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.triage import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
