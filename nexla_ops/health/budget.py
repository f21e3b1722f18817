"""The run's time budget (--timeout) and the watchdog that ends a run stuck past it."""

from __future__ import annotations

import os
import sys
import threading
import time

from .model import UNKNOWN

# Grace after --timeout before the watchdog ends a run stuck where no timeout reaches (e.g. a
# server trickling a response byte by byte: HTTP read timeouts apply per read, not in total).
WATCHDOG_GRACE = 3.0


class Deadline:
    """The run's total time budget (--timeout); every wait and HTTP timeout is capped by it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.monotonic()
        self.ends = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def arm_watchdog(timeout: float, *, prog: str, nagios_stdout: bool) -> threading.Timer:
    """Last resort for cron: end the process if something blocks past --timeout.

    `prog` prefixes the stderr line; `nagios_stdout` also prints Nagios' status line on stdout
    (--format nagios without --output), which it needs to show anything. Cancel the returned
    timer when the run ends.
    """

    def fire():
        message = f"health check still running {WATCHDOG_GRACE:g}s past its --timeout; giving up"
        if nagios_stdout:
            sys.stdout.write(f"NEXLA UNKNOWN - {message}\n")
            sys.stdout.flush()
        sys.stderr.write(f"{prog}: error: {message}\n")
        sys.stderr.flush()
        os._exit(UNKNOWN)

    timer = threading.Timer(timeout + WATCHDOG_GRACE, fire)
    timer.daemon = True
    timer.start()
    return timer
