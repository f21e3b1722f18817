#!/usr/bin/env python3
"""Move every source and destination from one credential to another, flow by flow, with rollback.
Also `nexla-ops rotate-credential`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.rotate_credential import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
