#!/usr/bin/env python3
"""Export existing flows as deployment configs that deploy_flow accepts. Also
`nexla-ops export-flow`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.export_flow import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
