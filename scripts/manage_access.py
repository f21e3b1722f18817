#!/usr/bin/env python3
"""Manage who can access Nexla resources: list, grant, revoke, set and audit accessors. Also
`nexla-ops manage-access`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.manage_access import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
