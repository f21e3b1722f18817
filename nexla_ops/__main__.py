"""python -m nexla_ops <command>: the same as the nexla-ops console command."""

import sys

from nexla_ops.commands import main

sys.exit(main())
