#!/usr/bin/env python3
"""Send records from a JSON, JSONL or CSV file to a Nexla webhook source, in batches. Also
`nexla-ops push-webhook`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.push_webhook import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
