"""Context: what a command's run(args, ctx) receives. Lazy config and client, API calls under
the retry policy (call, request, paginate, create_once), the optional in-process sandbox, and
output to stdout and stderr."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .client import build_client
from .config import SANDBOX_DIR, SANDBOX_DIR_ENV, resolve_config
from .errors import ConfigError, Transient, UnknownOutcome
from .failures import IDEMPOTENT_METHODS, classify, describe_callable, translate
from .output import emit
from .paging import PageWalk
from .redact import one_line, redact_text, register_secret
from .retry import RetryPolicy

PAGE_SIZE = 100  # Nexla's maximum per_page; larger values are silently capped by the server
SANDBOX_WAIT = 30.0  # seconds a --sandbox command waits for another one using the same state

logger = logging.getLogger("nexla_ops")


class Context:
    """What run(args, ctx) receives: lazy config and client, the retry policy, output."""

    def __init__(self, args: Any = None, *, config: Any = None) -> None:
        self.args = args if args is not None else argparse.Namespace()
        self._config = config
        self._client = None
        self._policy: RetryPolicy | None = None
        self._sandbox = None
        self._lock = threading.RLock()
        self._token_ready = False
        self._user: dict | None = None
        self._progress_shown = False

    # -- configuration -------------------------------------------------------------------------
    @property
    def config(self):
        with self._lock:
            if self._config is None:
                overrides = self._start_sandbox() if self.wants_sandbox else None
                self._config = resolve_config(self.args, overrides=overrides)
            return self._config

    @property
    def target(self) -> str:
        """The API this run talks to, the same from run to run: its URL, or for --sandbox the
        sandbox's state file (its port changes every run)."""
        sandbox = self.sandbox
        if sandbox is not None:
            return f"sandbox:{self._sandbox_db}"
        return self.config.api_url.rstrip("/")

    @property
    def wants_sandbox(self) -> bool:
        return bool(getattr(self.args, "sandbox", False) or
                    getattr(self.args, "sandbox_reset", False))

    @property
    def sandbox(self):
        """The in-process sandbox (with .control) when --sandbox is on, else None."""
        _ = self.config
        return self._sandbox

    def _start_sandbox(self) -> dict:
        try:
            from nexla_sandbox import start_sandbox
        except ImportError:
            # Running from a checkout that was not pip-installed: the package sits beside
            # scripts/.
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            try:
                from nexla_sandbox import start_sandbox
            except ImportError as exc:
                raise ConfigError("--sandbox needs the nexla_sandbox package: run "
                                  "python -m pip install -e .") from exc
        import os

        from nexla_sandbox.store import DatabaseInUse

        state_dir = Path(os.environ.get(SANDBOX_DIR_ENV) or Path.cwd() / SANDBOX_DIR).absolute()
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--sandbox: cannot create {state_dir} ({exc.strerror})") from None
        db = state_dir / "state.db"
        new = not db.exists()
        reset = bool(getattr(self.args, "sandbox_reset", False))
        # Two --sandbox commands in one directory take turns on its database: a second server
        # on the same file would serve stale state.
        waited_until = time.monotonic() + SANDBOX_WAIT
        while True:
            try:
                self._sandbox = start_sandbox(db=str(db), seed="demo", reset=reset)
                self._sandbox_db = db
                break
            except DatabaseInUse as exc:
                if time.monotonic() >= waited_until:
                    raise ConfigError(f"--sandbox: {exc}; wait for it to finish, or set "
                                      f"{SANDBOX_DIR_ENV} to another directory") from None
                time.sleep(0.1)
        for key in [*getattr(self._sandbox, "service_keys", {}).values(),
                    self._sandbox.service_key, getattr(self._sandbox, "control_token", None)]:
            register_secret(key)
        state = "a new demo org" if new else "reseeded" if reset else "existing state"
        logger.info("using the local sandbox at %s (%s in %s)", self._sandbox.url, state, db)
        # The sandbox's own admin key replaces any configured key or token.
        return {"api_url": self._sandbox.url, "service_key": self._sandbox.service_key,
                "access_token": None}

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = build_client(self.config,
                                            getattr(self.args, "concurrency", None))
            return self._client

    @property
    def policy(self) -> RetryPolicy:
        if self._policy is None:
            self._policy = RetryPolicy.from_config(self.config)
        return self._policy

    # -- calling the API -------------------------------------------------------------------------
    def _ensure_token(self, budget_ends: float | None = None) -> None:
        # Fetch the session token once, under a lock and the retry policy, before the first
        # real call: concurrent first calls share one token, and a POST never fails because of
        # a token fetch (a failed token fetch means our request was never sent).
        if self._token_ready:
            return
        with self._lock:
            client = self.client
            if not self._token_ready and self.config.auth_mode == "service_key":
                http = client.http_client
                default_timeout = http.timeout
                if budget_ends is not None:  # the SDK's token call takes no timeout argument
                    http.timeout = max(0.05, min(default_timeout,
                                                 budget_ends - time.monotonic()))
                try:
                    self._translated(self.policy.call, client.get_access_token,
                                     idempotent=True, what="POST /token",
                                     budget_ends=budget_ends)
                finally:
                    http.timeout = default_timeout
            self._token_ready = True

    def _translated(self, runner: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
        try:
            return runner(*args, what=what, **kwargs)
        except Exception as exc:
            raise translate(exc, what, auth_mode=self.config.auth_mode,
                            api_url=self.config.api_url) from exc

    def call(self, fn: Callable, *args: Any, idempotent: bool = True, what: str | None = None,
             budget_ends: float | None = None, **kwargs: Any) -> Any:
        """Call an SDK function under the retry policy; failures become OpsError subclasses.

        Pass idempotent=False for creates/POSTs: they are never blindly re-sent (use
        create_once). `what` names the call in messages, e.g. "GET /data_sources/123".
        budget_ends (time.monotonic() value): retries and the token fetch fit in the time
        left; with none left, Transient without sending. (Per-attempt HTTP timeouts are capped
        too with ctx.request; SDK methods take no timeout argument.)
        """
        self._ensure_token(budget_ends)
        return self._translated(self.policy.call, fn, *args, idempotent=idempotent,
                                what=what or describe_callable(fn), budget_ends=budget_ends,
                                **kwargs)

    def request(self, method: str, path: str, *, idempotent: bool | None = None,
                budget_ends: float | None = None, what: str | None = None,
                **kwargs: Any) -> Any:
        """Raw client.request (no response parsing) under the policy: the workaround for SDK
        parsing bugs (e.g. accessors, contract §23.3). kwargs: params=, json=, ...
        With budget_ends, each attempt's HTTP timeout is also capped at the time left.
        `what` names the call in messages (default "METHOD /path")."""
        method = method.upper()
        what = what or f"{method} {path}"
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        send = self.client.request
        if budget_ends is not None:
            send = _within_budget(send, budget_ends, self.config.timeout, what)
        if method == "DELETE":
            send = _deleted_is_done(send, what)
        return self.call(send, method, path, idempotent=idempotent, what=what,
                         budget_ends=budget_ends, **kwargs)

    def paginate(self, fetch: Callable | str, *, per_page: int = PAGE_SIZE,
                 limit: int | None = None, params: dict | None = None,
                 what: str | None = None, prefetch: int = 1) -> Iterator[Any]:
        """Yield items page by page (page=1.., per_page<=PAGE_SIZE) until the walk ends
        (nexla_ops.paging: never on a page merely shorter than asked) or `limit` items.
        `fetch` is a plain SDK list method (e.g. client.sources.list; do not pass ctx.call) or
        an API path string fetched raw (bare-array endpoints only). `prefetch`: pages in
        flight at once when every page is wanted (ignored with a limit)."""
        per_page = max(1, min(per_page, PAGE_SIZE))
        if limit:
            per_page = min(per_page, limit)
        what = what or (fetch if isinstance(fetch, str) else describe_callable(fetch))

        def fetch_page(page: int):
            query = {**(params or {}), "page": page, "per_page": per_page}
            if isinstance(fetch, str):
                return self.request("GET", fetch, params=query)
            return self.call(fetch, what=what, **query)

        count = 0
        walk = PageWalk(fetch_page, what=what, per_page=per_page,
                        prefetch=1 if limit else prefetch)
        for items in walk:
            for item in items:
                yield item
                count += 1
                if limit and count >= limit:
                    return

    def create_once(self, find: Callable[[], Any], create: Callable[[], Any], *,
                    what: str = "create") -> Any:
        """Create something at most once although answers can be lost.

        create() is sent without blind retries. When its outcome is unknown (timeout, dropped
        connection, 502/503/504), find() looks the object up (by its unique name or tag); if
        it exists that object is returned, otherwise create() is tried again after a backoff,
        up to the policy's attempts. Returns whatever create() or find() returned.
        """
        policy = self.policy
        for attempt in range(1, policy.attempts + 1):
            try:
                return self.call(create, idempotent=False, what=what)
            except UnknownOutcome as exc:
                logger.warning("%s: outcome unknown (%s); looking it up before trying again",
                               what, exc.failure.reason if exc.failure else "lost answer")
                found = self.call(find, idempotent=True, what=f"look-up after {what}")
                if found:
                    logger.info("%s: it was created despite the lost answer; using it", what)
                    return found
                if attempt == policy.attempts:
                    raise Transient(f"{what}: outcome unknown after {attempt} attempt(s) and "
                                    "not found; safe to re-run", failure=exc.failure,
                                    attempts=attempt) from exc
                wait = policy.wait_for(attempt, exc.failure)
                logger.warning("%s: attempt %d/%d not applied (%s); retrying in %.1fs", what,
                               attempt, policy.attempts,
                               exc.failure.reason if exc.failure else "lost answer", wait)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def current_user(self) -> dict:
        """Raw GET /users/current, cached for the process."""
        if self._user is None:
            self._user = self.request("GET", "/users/current") or {}
        return self._user

    # -- output ----------------------------------------------------------------------------------
    def out(self, obj: Any, fmt: str | None = None) -> None:
        """Data to stdout: fmt json|jsonl|text; default json with --json, else text."""
        if fmt is None:
            fmt = getattr(self.args, "format", None) or (
                "json" if getattr(self.args, "json", False) else "text")
        self.progress_done()
        emit(obj, fmt)

    def log(self, message: str, *args: Any) -> None:
        logger.info(message, *args)

    def warn(self, message: str, *args: Any) -> None:
        logger.warning(message, *args)

    def debug(self, message: str, *args: Any) -> None:
        logger.debug(message, *args)

    def progress(self, text: str) -> None:
        """Overwrite one status line on stderr, only on a TTY and not with --quiet."""
        if getattr(self.args, "quiet", False) or not sys.stderr.isatty():
            return
        sys.stderr.write("\r\x1b[K" + one_line(redact_text(text), 120))
        sys.stderr.flush()
        self._progress_shown = True

    def progress_done(self) -> None:
        if self._progress_shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._progress_shown = False

    def close(self) -> None:
        self.progress_done()
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


def _within_budget(send: Callable, budget_ends: float, timeout: float, what: str) -> Callable:
    """Each attempt waits at most the time left (and never starts without any)."""

    def attempt(*args: Any, **kwargs: Any) -> Any:
        left = budget_ends - time.monotonic()
        if left < 0.05:
            raise Transient(f"{what}: time budget used up; not sent")
        return send(*args, timeout=min(timeout, left), **kwargs)

    return attempt


def _deleted_is_done(send: Callable, what: str) -> Callable:
    """A retried DELETE that meets 404 after an attempt whose answer was lost has succeeded:
    that earlier attempt deleted it."""
    maybe_applied = False

    def attempt(*args: Any, **kwargs: Any) -> Any:
        nonlocal maybe_applied
        try:
            return send(*args, **kwargs)
        except Exception as exc:
            kind = classify(exc).kind
            if kind == "not_found" and maybe_applied:
                logger.info("%s: already gone after an attempt whose answer was lost; done", what)
                return None
            maybe_applied = maybe_applied or kind in ("unavailable", "lost", "server_error")
            raise

    return attempt
