#!/usr/bin/env python3
"""Check a Nexla's answers against the published API reference and SDK 1.0.8's models. Also
`nexla-ops contract-check`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.contract_check import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
