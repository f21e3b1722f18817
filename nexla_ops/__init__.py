"""nexla-ops: operate production Nexla data pipelines.

The package is split by concept, and this module re-exports the pieces a command or a user's
own code needs, so ``import nexla_ops`` then ``nexla_ops.Context`` works as it always has::

    errors      exit codes EXIT_OK..EXIT_PARTIAL (0..7); OpsError and its kinds: BadInput (2),
                ConfigError (3), AuthError (4), NotFound (5), Transient (6), UnknownOutcome
                (6, a POST whose answer was lost), LockBusy (6), Partial (7), ApiError (1)
    redact      redact(obj), redact_text(s), register_secret(v), sanitize_text(s), one_line(s),
                escape_text(s) (API text on one line of text output)
    output      to_jsonable(obj), dumps(obj), emit(obj, fmt), format_table(rows, columns)
    files       write_atomic(path, text), append_jsonl(path, record), lock_file(path, wait=),
                load_structured_file(path), open_output / write_output / check_output_path
                (--output: '-' is stdout, symlinks followed, devices and FIFOs in place),
                state_dir() (per-user state and locks), target_path(folder, api_url, name)
    parsing     parse_id, parse_duration, parse_time (strict, user input); api_time,
                api_count, api_id (lenient, for API answers)
    resources   RESOURCE_TYPES, resource_type(value, allowed), resource_path(value, allowed)
    config      resolve_config(args) -> Config (CLI flag > environment > .env > default),
                env_setting(name, args), ENV_VARS, DEFAULTS
    client      build_client(config): NexlaClient with the SDK's own retries off
    failures    classify(exc) -> Failure; translate(exc, what) -> OpsError; probe_rejection(exc)
    probe       probe_credential(get, cred_id) -> ProbeVerdict(ok, reason, missing)
    paging      PageWalk(fetch): walks pages until one cannot be full (never "fewer than asked")
    retry       RetryPolicy(attempts, max_wait, deadline).call(fn, idempotent=, what=)
    context     Context(args): ctx.config, ctx.client, ctx.call, ctx.request, ctx.paginate,
                ctx.create_once, ctx.current_user, ctx.out, ctx.log/warn/debug, ctx.progress
    cli         add_common_args(parser), setup_logging(prog), main_wrapper(run, parser, argv),
                renamed(action, new) (a flag's deprecated spellings)
    commands    the argparse shells behind ``nexla-ops <command>`` and ``scripts/*.py``

Domains (no argparse; results returned as data) live in their own modules and subpackages:
deploy, health, access, batch, rotation, webhook, tasks, logs, listing, transforms.

Importing this package never imports nexla_sdk, pydantic, tenacity or dotenv (``--help`` stays
fast and SDK-free); they are imported on first use.
"""

from __future__ import annotations

import logging
from typing import Any

from .lazy import lazy_exports

# Eager: importing the submodule `redact` binds that name in the package, hiding a lazy export.
from .redact import redact as redact

# Each public name -> the module that defines it. Imported on first use (PEP 562): a
# command's --help loads only what its parser needs, not the whole package.
_EXPORTS = {
    **dict.fromkeys((
        "add_common_args", "main_wrapper", "renamed", "setup_logging",
    ), "cli"),
    **dict.fromkeys((
        "build_client",
    ), "client"),
    **dict.fromkeys((
        "DEFAULT_API_URL", "DEFAULTS", "ENV_VARS", "SANDBOX_DIR", "env_setting",
        "resolve_config", "validate_api_url",
    ), "config"),
    **dict.fromkeys((
        "PAGE_SIZE", "Context",
    ), "context"),
    **dict.fromkeys((
        "EXIT_AUTH", "EXIT_BAD_INPUT", "EXIT_CONFIG", "EXIT_DRIFT", "EXIT_FAILED",
        "EXIT_NOT_FOUND",
        "EXIT_OK", "EXIT_PARTIAL", "EXIT_TRANSIENT", "ApiError", "AuthError",
        "BadInput", "ConfigError", "LockBusy", "NotFound", "OpsError", "Partial",
        "Transient", "UnknownOutcome",
    ), "errors"),
    **dict.fromkeys((
        "IDEMPOTENT_METHODS", "Failure", "classify", "probe_rejection", "translate",
    ), "failures"),
    **dict.fromkeys((
        "append_jsonl", "check_output_path", "load_structured_file", "lock_file",
        "open_output", "state_dir", "target_name", "target_path", "write_atomic",
        "write_output",
    ), "files"),
    **dict.fromkeys((
        "dumps", "emit", "format_table", "to_jsonable",
    ), "output"),
    **dict.fromkeys((
        "api_count", "api_id", "api_time", "parse_duration", "parse_id", "parse_time",
    ), "parsing"),
    **dict.fromkeys((
        "REDACTED", "escape_text", "is_secret_key", "one_line", "redact_text",
        "register_secret", "sanitize_text",
    ), "redact"),
    **dict.fromkeys((
        "RESOURCE_TYPES", "resource_path", "resource_type",
    ), "resources"),
    **dict.fromkeys((
        "RetryPolicy",
    ), "retry"),
}

logger = logging.getLogger("nexla_ops")  # every module logs here; cli.setup_logging routes it

__all__ = sorted([*_EXPORTS, "Config", "logger", "redact"])


_exported = lazy_exports(__name__, globals(), _EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "Config":  # a pydantic model, built on first use
        from .config import config_model

        return config_model()
    return _exported(name)
