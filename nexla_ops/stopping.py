"""SIGTERM: the process is asked to stop.

The handler raises Terminated in the main thread, so the command unwinds through its cleanup
and, with --json, still prints its one failure document. It also sets STOP: every later API
attempt, in any thread, raises Terminated before it is sent, so worker threads end too instead
of retrying on. Two exceptions: once the command has begun writing its output, the handler
only sets STOP (a document is never cut off halfway), and inside `cleanup()` (a roll-back, a
temporary object's deletion) calls still go out and the handler waits.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable

STOP = threading.Event()
_cleaning = 0  # cleanup() blocks open; only touched from the main thread
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a command SIGTERM ended


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException: no `except Exception` may swallow it)."""

    def __init__(self, message: str = "terminated (SIGTERM)"):
        super().__init__(message)
        self.message = message


def check(what: str) -> None:
    """Before an API attempt: Terminated once SIGTERM arrived, unless cleaning up."""
    if STOP.is_set() and not _cleaning:
        raise Terminated(f"{what}: not sent: terminated (SIGTERM)")


@contextlib.contextmanager
def cleanup():
    """Calls that undo or finish a change: they go out even after SIGTERM."""
    global _cleaning
    _cleaning += 1
    try:
        yield
    finally:
        _cleaning -= 1


@contextlib.contextmanager
def sigterm_stops(output_started: Callable[[], bool]):
    """SIGTERM handling for one command run (main thread only; restored afterwards)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    STOP.clear()

    def handler(signum, frame):
        STOP.set()
        if not _cleaning and not output_started():
            raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def map_threads(fn: Callable, items, workers: int, name: str = "work") -> list:
    """list(map(fn, items)) on up to `workers` threads. An error or a SIGTERM is raised at once:
    queued calls are dropped and threads still in a call are not waited for (after SIGTERM
    they send nothing more, and the process exits without them)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        return list(pool.map(fn, items))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
