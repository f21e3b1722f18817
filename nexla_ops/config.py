"""Settings: CLI flag > environment > .env > default, validated into a frozen Config whose
secrets are SecretStr. pydantic and dotenv are imported on first use, never at import."""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from .errors import BadInput, ConfigError
from .redact import one_line, register_secret

DEFAULT_API_URL = "https://dataops.nexla.io/nexla-api"
SANDBOX_DIR = ".nexla-sandbox"  # --sandbox keeps its state here, under the working directory
SANDBOX_DIR_ENV = "NEXLA_SANDBOX_DIR"  # ...or in this directory, wherever the command runs

# Every environment variable the scripts read (.env.example lists the same ones).
ENV_VARS = {
    "api_url": "NEXLA_API_URL",
    "service_key": "NEXLA_SERVICE_KEY",
    "access_token": "NEXLA_ACCESS_TOKEN",
    "timeout": "NEXLA_TIMEOUT",
    "max_attempts": "NEXLA_MAX_ATTEMPTS",
    "max_wait": "NEXLA_MAX_WAIT",
    "deadline": "NEXLA_DEADLINE",
}
DEFAULTS = {"api_url": DEFAULT_API_URL, "timeout": 30.0, "max_attempts": 5, "max_wait": 30.0,
            "deadline": 300.0}

logger = logging.getLogger("nexla_ops")


@functools.cache
def config_model():
    # Built on first use so importing this module (and --help) does not pay for pydantic.
    from pydantic import BaseModel, ConfigDict, Field, SecretStr

    class Config(BaseModel):
        """Resolved settings. Secrets are SecretStr: str()/repr() never show them."""

        model_config = ConfigDict(frozen=True)
        api_url: str
        service_key: SecretStr | None = None
        access_token: SecretStr | None = None
        timeout: float = Field(DEFAULTS["timeout"], gt=0)
        max_attempts: int = Field(DEFAULTS["max_attempts"], ge=1, le=100)
        max_wait: float = Field(DEFAULTS["max_wait"], ge=0)
        deadline: float = Field(DEFAULTS["deadline"], gt=0)
        sandbox: bool = False
        origins: dict[str, str] = Field(default_factory=dict)  # setting -> where it came from

        @property
        def auth_mode(self) -> str:
            if self.service_key is not None:
                return "service_key"
            return "access_token" if self.access_token is not None else "none"

    return Config


def validate_api_url(url: str) -> str:
    """An http(s) URL with a host and, if any, a port in range; ConfigError otherwise (a
    malformed URL is a configuration problem, exit 3, never an internal error)."""
    from urllib.parse import urlsplit

    url = str(url).strip()
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises ValueError for a port that is not a number in 0..65535
    except ValueError:
        valid = False
    if not valid or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ConfigError(f"NEXLA_API_URL is not a valid http(s) URL: {one_line(url, 120)!r} "
                          "(expected e.g. https://dataops.nexla.io/nexla-api)")
    return url.rstrip("/")


def _read_dotenv(args: Any = None, cwd: str | None = None) -> tuple[Path, dict]:
    """(path, non-empty values) of --env-file, else ./.env ({} when there is none)."""
    env_file = getattr(args, "env_file", None)
    env_path = Path(env_file) if env_file else Path(cwd or os.getcwd()) / ".env"
    if env_file and not env_path.is_file():
        raise ConfigError(f"--env-file {env_file}: no such file")
    if not env_path.is_file():
        return env_path, {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(env_path, encoding="utf-8")
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(f"{env_path}: not a UTF-8 text file of NAME=value lines") from None
    return env_path, {k: v for k, v in values.items() if v not in (None, "")}


def env_setting(name: str, args: Any = None) -> str | None:
    """A setting beyond Config (e.g. NEXLA_WEBHOOK_API_KEY): environment, else the .env file
    resolve_config reads (--env-file or ./.env)."""
    return os.environ.get(name) or _read_dotenv(args)[1].get(name)


def resolve_config(args: Any = None, *, environ: dict | None = None, cwd: str | None = None,
                   overrides: dict | None = None):
    """Resolve settings: CLI flag > environment > .env (cwd or --env-file) > default.

    The .env file is read with dotenv_values, never loaded into os.environ, so a value
    exported in the shell always beats the file. When both NEXLA_SERVICE_KEY and
    NEXLA_ACCESS_TOKEN are set, the service key wins (the SDK can fetch fresh tokens with it,
    a bare token just expires) and a warning says so. Missing credentials are reported by
    build_client(), so commands that never call the API work without them.
    """
    environ = os.environ if environ is None else environ
    env_path, dotenv = _read_dotenv(args, cwd)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, var in ENV_VARS.items():
        flag = getattr(args, name, None)  # no flags exist for secrets (see add_common_args)
        if flag is not None:
            values[name], sources[name] = flag, "flag"
        elif environ.get(var):
            values[name], sources[name] = environ[var], "environment"
        elif var in dotenv:
            values[name], sources[name] = dotenv[var], str(env_path.name)
        elif name in DEFAULTS:
            values[name], sources[name] = DEFAULTS[name], "default"
    for name, value in (overrides or {}).items():
        values[name], sources[name] = value, "sandbox"
    values["api_url"] = validate_api_url(values["api_url"])
    for name in ("service_key", "access_token"):
        register_secret(values.get(name))
    if values.get("service_key") and values.get("access_token"):
        logger.warning("both NEXLA_SERVICE_KEY and NEXLA_ACCESS_TOKEN are set; using the "
                       "service key (it can fetch fresh tokens)")
        values.pop("access_token")
    from pydantic import ValidationError

    try:
        return config_model()(**values, sandbox=bool(overrides), origins=sources)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else "setting"
        if sources.get(field) == "flag":  # a bad flag is bad input; a bad setting is config
            raise BadInput(f"--{field.replace('_', '-')}: {err['msg']}") from None
        raise ConfigError(f"{ENV_VARS.get(field, field)} (from {sources.get(field, 'default')})"
                          f": {err['msg']}") from None
