#!/usr/bin/env python3
"""First run: check the configuration, reach the Nexla API, authenticate, say who you are and what
you can see (one page of each resource type), and suggest the next commands. Also `nexla-ops
quickstart`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.nexla_quickstart import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
