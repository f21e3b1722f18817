#!/usr/bin/env python3
"""Deploy a Nexla flow declaratively: credential -> source -> nexset -> destinations -> active
flow. Also `nexla-ops deploy-flow`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.deploy_flow import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
