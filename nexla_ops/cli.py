"""What every command shares: the common flags, stderr logging (redacted), and main_wrapper,
which runs a command and turns any failure into its exit code."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from .config import SANDBOX_DIR
from .context import Context
from .errors import EXIT_FAILED, EXIT_OK
from .failures import translate
from .redact import redact_text

logger = logging.getLogger("nexla_ops")


def add_common_args(parser: argparse.ArgumentParser, *, json_flag: bool = True,
                    timeout_flag: bool = True) -> None:
    """Connection, retry and output flags every script shares.

    There are deliberately no flags for the service key or token: command lines are visible to
    other users via ps and land in shell history. Use the environment or a .env file.
    """
    group = parser.add_argument_group("connection and output (defaults from the environment "
                                      "or .env: NEXLA_API_URL, NEXLA_SERVICE_KEY, ...)")
    group.add_argument("--env-file", metavar="PATH",
                       help="read settings from this file instead of ./.env")
    group.add_argument("--api-url", metavar="URL", help="Nexla API base URL (NEXLA_API_URL)")
    if timeout_flag:  # off for scripts whose own --timeout means something else
        group.add_argument("--timeout", type=float, metavar="S",
                           help="seconds per HTTP request (NEXLA_TIMEOUT, default 30)")
    group.add_argument("--max-attempts", type=int, metavar="N",
                       help="attempts per call for transient failures (NEXLA_MAX_ATTEMPTS, "
                            "default 5)")
    group.add_argument("--max-wait", type=float, metavar="S",
                       help="longest single wait between attempts, caps Retry-After "
                            "(NEXLA_MAX_WAIT, default 30)")
    group.add_argument("--deadline", type=float, metavar="S",
                       help="overall seconds per call including retries (NEXLA_DEADLINE, "
                            "default 300)")
    group.add_argument("--sandbox", action="store_true",
                       help=f"use the local sandbox with demo data (state in {SANDBOX_DIR}/)")
    group.add_argument("--sandbox-reset", action="store_true",
                       help="reseed the sandbox's demo data first (implies --sandbox)")
    group.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    group.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    group.add_argument("--debug", action="store_true",
                       help="error details and tracebacks on stderr (still redacted)")
    if json_flag:
        group.add_argument("--json", action="store_true",
                           help="print one JSON document on stdout")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (pytest's capsys swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _RedactingFormatter(logging.Formatter):
    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and logger.isEnabledFor(logging.DEBUG):
            message += "\n" + self.formatException(record.exc_info)
        label = {logging.WARNING: "warning: ", logging.ERROR: "error: ",
                 logging.CRITICAL: "error: ", logging.DEBUG: "debug: "}.get(record.levelno, "")
        return redact_text(f"{self.prog}: {label}{message}")


def setup_logging(prog: str, *, quiet: bool = False, verbose: bool = False,
                  debug: bool = False) -> None:
    """Logs go to stderr only, redacted; level from --quiet/--verbose/--debug."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_RedactingFormatter(prog))
    root.addHandler(handler)
    level = logging.DEBUG if (verbose or debug) else logging.ERROR if quiet else logging.INFO
    root.setLevel(level)
    # The SDK logs whole response bodies at DEBUG and an error line for every parse failure we
    # already report ourselves; keep it quiet unless debugging. urllib3 likewise.
    logging.getLogger("nexla_sdk").setLevel(logging.INFO if debug else logging.CRITICAL)
    logging.getLogger("urllib3").setLevel(logging.DEBUG if debug else logging.WARNING)
    # The in-process sandbox (--sandbox) must not mix its access log into a script's stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _exit_status(code: Any) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    sys.stderr.write(redact_text(str(code)) + "\n")
    return EXIT_FAILED


def main_wrapper(run: Callable[[Any, Context], int | None], parser: argparse.ArgumentParser,
                 argv: list[str] | None = None, *, exit_map: dict[int, int] | None = None) -> int:
    """Parse argv, set up logging, run run(args, ctx) and turn any failure into an exit code
    with one redacted line on stderr (details and traceback with --debug). exit_map remaps our
    codes (health_check: Nagios)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors: argparse already printed
        return _exit_status(exc.code)
    debug = bool(getattr(args, "debug", False))
    setup_logging(parser.prog, quiet=getattr(args, "quiet", False),
                  verbose=getattr(args, "verbose", False), debug=debug)
    ctx = Context(args)
    try:
        code = run(args, ctx)
        code = EXIT_OK if code is None else int(code)
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except KeyboardInterrupt:
        logger.error("interrupted")
        code = 130
    except BrokenPipeError:
        # stdout reader went away (e.g. `| head`); stop quietly like other CLI tools, and keep
        # the interpreter's final flush from failing again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    except Exception as exc:
        config = ctx._config
        err = translate(exc, "the API call", auth_mode=config.auth_mode if config else "",
                        api_url=config.api_url if config else None)
        logger.error("%s", err.message)
        if debug:
            if err.detail:
                logger.error("detail: %s", err.detail if isinstance(err.detail, str)
                             else json.dumps(err.detail, default=str))
            import traceback

            sys.stderr.write(redact_text("".join(traceback.format_exception(
                type(exc), exc, exc.__traceback__))))
        code = err.exit_code
    finally:
        try:
            ctx.close()
        except Exception as exc:  # never let cleanup hide the real result
            logger.debug("cleanup failed: %s", exc)
    return exit_map.get(code, code) if exit_map else code
