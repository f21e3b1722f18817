#!/usr/bin/env python3
"""Move destinations to a new derived nexset: plan, validate, switch, verify, roll back. Also
`nexla-ops migrate-nexset`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.migrate_nexset import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
