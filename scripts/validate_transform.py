#!/usr/bin/env python3
"""Prove a transform does what it claims before it goes live. Also `nexla-ops validate-transform`;
`--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.validate_transform import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
