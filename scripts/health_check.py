#!/usr/bin/env python3
"""Check the health of Nexla flows, for cron, Nagios, Prometheus and chat alerts. Also `nexla-ops
health-check`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.health_check import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main(watchdog=True))  # a script run is cron's: a hang past --timeout ends it
