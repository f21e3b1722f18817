"""The SDK client as we use it: its own HTTP retries off (our policy owns retries), our timeout.
nexla_sdk is imported here on first use only."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

# requests keeps 10 connections a host; more threads than that open and drop extra ones
# ("Connection pool is full"), a new TCP connection per request.
DEFAULT_POOL = 10


def build_client(config: Any, pool_size: int | None = None):
    """NexlaClient with the SDK's own HTTP retries OFF (we own the policy), our timeout, and a
    connection pool for `pool_size` threads at once."""
    if config.auth_mode == "none":
        raise ConfigError("no credentials: set NEXLA_SERVICE_KEY (or NEXLA_ACCESS_TOKEN) in the "
                          "environment or in .env, or try the local sandbox with --sandbox")
    from nexla_sdk import NexlaClient
    from nexla_sdk.http_client import RequestsHttpClient
    from requests.adapters import HTTPAdapter

    http = RequestsHttpClient(timeout=config.timeout, max_retries=0)
    adapter = HTTPAdapter(pool_maxsize=max(DEFAULT_POOL, pool_size or 0), max_retries=0)
    for scheme in ("http://", "https://"):
        http.session.mount(scheme, adapter)
    if config.auth_mode == "service_key":
        return NexlaClient(service_key=config.service_key.get_secret_value(),
                           base_url=config.api_url, http_client=http, trace_enabled=False)
    return NexlaClient(access_token=config.access_token.get_secret_value(),
                       base_url=config.api_url, http_client=http, trace_enabled=False)
