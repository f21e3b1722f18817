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
from typing import TYPE_CHECKING, Any

from .config import SANDBOX_DIR
from .errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from .failures import translate
from .files import report_count
from .output import dumps
from .parsing import number_flag
from .redact import one_line, redact_text
from .stopping import EXIT_TERMINATED, STOP, Terminated, sigterm_stops

if TYPE_CHECKING:  # the context (config, retries, the client) loads only once a command runs
    from .context import Context

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
        group.add_argument("--timeout", type=number_flag(float, 0, above=True), metavar="S",
                           help="seconds per HTTP request (NEXLA_TIMEOUT, default 30)")
    group.add_argument("--max-attempts", type=number_flag(int, 1, maximum=100), metavar="N",
                       help="attempts per call for transient failures (NEXLA_MAX_ATTEMPTS, "
                            "default 5)")
    group.add_argument("--max-wait", type=number_flag(float, 0), metavar="S",
                       help="longest single wait between attempts, caps Retry-After "
                            "(NEXLA_MAX_WAIT, default 30)")
    group.add_argument("--deadline", type=number_flag(float, 0, above=True), metavar="S",
                       help="overall seconds per call including retries (NEXLA_DEADLINE, "
                            "default 300)")
    group.add_argument("--sandbox", action="store_true",
                       help=f"use the local sandbox with demo data (state in ./{SANDBOX_DIR}/, "
                            "or in $NEXLA_SANDBOX_DIR)")
    group.add_argument("--sandbox-reset", action="store_true",
                       help="reseed the sandbox's demo data first (implies --sandbox)")
    group.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    group.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    group.add_argument("--debug", action="store_true",
                       help="error details and tracebacks on stderr (still redacted)")
    if json_flag:
        group.add_argument("--json", action="store_true",
                           help="print one JSON document on stdout")


def renamed(action: type[argparse.Action], new: str) -> type[argparse.Action]:
    """An argparse action class (e.g. argparse._StoreAction) that also takes old spellings of
    the flag `new`, warning on stderr when one is used; list the old ones after `new` in
    add_argument."""

    class Renamed(action):  # type: ignore[valid-type, misc]
        def __call__(self, parser, namespace, values, option_string=None):
            if option_string and option_string != new:
                sys.stderr.write(f"{parser.prog}: warning: {option_string} is deprecated; "
                                 f"use {new}\n")
            super().__call__(parser, namespace, values, option_string)

    return Renamed


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


# What a failure document's "kind" says for each exit code (health_check passes Nagios names).
FAILURE_KINDS = {1: "failed", 2: "bad_input", 3: "config", 4: "auth", 5: "not_found",
                 6: "transient", 7: "partial", 130: "interrupted", EXIT_TERMINATED: "terminated"}


class _WatchedStdout:
    """sys.stdout that notes whether anything was written, so a failed --json run that printed
    nothing can still print its one document."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.written = False

    def write(self, text: str) -> int:
        self.written = self.written or bool(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _LastError(logging.Handler):
    """Remembers the last error logged: the message of a failure document when a command
    returned its exit code instead of raising."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.message = record.getMessage()


def wants_json(args: Any, argv: list[str] | None) -> bool:
    """--json, or --format json; read from argv when argparse refused the command line."""
    if args is not None:
        return bool(getattr(args, "json", False)) or getattr(args, "format", None) == "json"
    words = list(sys.argv[1:] if argv is None else argv)
    return "--json" in words or "--format=json" in words or any(
        a == "--format" and b == "json" for a, b in zip(words, words[1:], strict=False))


def failure_document(code: int, message: str | None, error: Any = None,
                     kinds: dict[int, str] = FAILURE_KINDS) -> dict:
    """{"ok": false, "error": {"exit_code", "kind", "message", "status"?, "detail"?}}: what
    --json prints when a command fails before it has printed its own document."""
    body: dict[str, Any] = {"exit_code": code, "kind": kinds.get(code, "failed"),
                            "message": one_line(redact_text(
                                message or f"failed with exit code {code}"))}
    if getattr(error, "status", None) is not None:
        body["status"] = error.status
    if getattr(error, "detail", None) is not None:
        body["detail"] = error.detail
    return {"ok": False, "error": body}


def main_wrapper(run: Callable[[Any, Context], int | None], parser: argparse.ArgumentParser,
                 argv: list[str] | None = None, *,
                 failure_kinds: dict[int, str] = FAILURE_KINDS) -> int:
    """Parse argv, set up logging, run run(args, ctx) and turn any failure into an exit code
    with one redacted line on stderr (details and traceback with --debug). With --json, a
    failure that printed nothing on stdout prints failure_document() there, so stdout always
    holds exactly one JSON document."""
    last_error = _LastError()
    logging.getLogger().addHandler(last_error)
    watched = _WatchedStdout(sys.stdout)
    sys.stdout = watched
    args, error = None, None
    parsers = list(_with_subparsers(parser))
    for each in parsers:
        each.error = _remembering(each, last_error)  # type: ignore[method-assign]
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and usage errors: argparse already printed
            code = _exit_status(exc.code)
        else:
            reports = report_count()
            code, error = _run(run, parser, args, output_started=lambda: watched.written)
            if report_count() != reports:  # the command's own document went to --output
                watched.written = True
        if code and not watched.written and wants_json(args, argv):
            doc = failure_document(code, error.message if error else last_error.message,
                                   error, failure_kinds)
            with contextlib.suppress(OSError, ValueError):
                watched.write(dumps(doc) + "\n")
                watched.flush()
        if STOP.is_set() and _workers_left():
            # SIGTERM means now: a worker may sit in an HTTP read for up to --timeout, and the
            # interpreter would wait for it at exit (its next attempt would not be sent anyway).
            with contextlib.suppress(OSError, ValueError):
                watched.flush()
                sys.stderr.flush()
            os._exit(code)
        return code
    finally:
        sys.stdout = watched._stream
        for each in parsers:
            del each.error  # the class's own method again
        logging.getLogger().removeHandler(last_error)


def _workers_left() -> bool:
    import threading

    return any(t is not threading.main_thread() and not t.daemon and t.is_alive()
               for t in threading.enumerate())


def _with_subparsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _with_subparsers(sub)


def _remembering(parser: argparse.ArgumentParser, last_error: _LastError) -> Callable[[str], Any]:
    """parser.error that keeps argparse's message for the failure document and prints it as
    one line (the field and what was expected), not the whole usage text; a parser class with
    its own error() (health_check: Nagios UNKNOWN) keeps it."""
    own_error = type(parser).error is not argparse.ArgumentParser.error
    error = parser.error

    def remember(message: str) -> Any:
        last_error.message = message
        if own_error:
            return error(message)
        parser.exit(EXIT_BAD_INPUT, f"{parser.prog}: error: {message} (see --help)\n")

    return remember


def _run(run: Callable[[Any, Context], int | None], parser: argparse.ArgumentParser,
         args: Any, output_started: Callable[[], bool] = lambda: False) -> tuple[int, Any]:
    """(exit code, the OpsError behind it or None)."""
    debug = bool(getattr(args, "debug", False))
    setup_logging(parser.prog, quiet=getattr(args, "quiet", False),
                  verbose=getattr(args, "verbose", False), debug=debug)
    from .context import Context

    ctx = Context(args)
    error = None
    try:
        with sigterm_stops(output_started):
            code = run(args, ctx)
        code = EXIT_OK if code is None else int(code)
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except KeyboardInterrupt:
        logger.error("interrupted")
        code = 130
    except Terminated as exc:
        logger.error("%s", exc.message)
        code = EXIT_TERMINATED
    except BrokenPipeError:
        # stdout reader went away (e.g. `| head`); stop quietly like other CLI tools, and keep
        # the interpreter's final flush from failing again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    except Exception as exc:
        config = ctx._config
        error = translate(exc, "the API call", auth_mode=config.auth_mode if config else "",
                          api_url=config.api_url if config else None)
        logger.error("%s", error.message)
        if debug:
            if error.detail:
                logger.error("detail: %s", error.detail if isinstance(error.detail, str)
                             else json.dumps(error.detail, default=str))
            import traceback

            sys.stderr.write(redact_text("".join(traceback.format_exception(
                type(exc), exc, exc.__traceback__))))
        code = error.exit_code
    finally:
        try:
            ctx.close()
        except Exception as exc:  # never let cleanup hide the real result
            logger.debug("cleanup failed: %s", exc)
    return code, error
