#!/usr/bin/env python3
"""The nexla-ops retry policy for your own code, a circuit breaker, and a re-run wrapper. Also
`nexla-ops retry-helpers`; `--help` for every option."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout runs uninstalled

from nexla_ops.commands.retry_helpers import build_parser, main
from nexla_ops.resilience import (
    CircuitBreaker,
    CircuitOpen,
    call_with_retries,
    make_client,
    with_retries,
)

__all__ = [
    "CircuitBreaker",
    "CircuitOpen",
    "build_parser",
    "call_with_retries",
    "main",
    "make_client",
    "with_retries",
]

if __name__ == "__main__":
    sys.exit(main())
