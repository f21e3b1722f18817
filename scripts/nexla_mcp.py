#!/usr/bin/env python3
"""Serve nexla-ops to an agent over MCP (stdio): read tools, plan tools and apply_plan
by hash, under a --scope ceiling. Also `nexla-ops mcp`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.nexla_mcp import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
