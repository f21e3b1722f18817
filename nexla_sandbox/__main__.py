"""CLI: python -m nexla_sandbox [--host H] [--port P] [--db PATH] [--seed demo|empty] ...

The first stdout line is the API base URL; the service keys follow, then the control token.
Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

EXAMPLES = """examples:
  python -m nexla_sandbox --port 0                      # free port, throwaway demo org
  python -m nexla_sandbox --db sandbox.db --port 8080  # state survives a restart
  python -m nexla_sandbox --seed empty --latency-ms 50 --no-control
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nexla_sandbox", description="Local stateful emulator of the Nexla REST API.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one")
    parser.add_argument("--db", default=None, help="SQLite file; state survives restarts")
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo",
                        help="data for a new/empty db (default demo)")
    parser.add_argument("--reset", action="store_true", help="re-seed even if --db holds state")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay every API request")
    parser.add_argument("--discovery-delay", type=float, default=2.0,
                        help="seconds until a new source's nexset is detected (default 2)")
    parser.add_argument("--max-per-page", type=int, default=None, metavar="N",
                        help="serve at most N items per page whatever a client asks (default: "
                             "the usual cap of 100); shows walkers that stop early")
    parser.add_argument("--no-control", action="store_true", help="disable /_sandbox/* control API")
    parser.add_argument("--control-token", default=None,
                        help="fixed control API token (default: $NEXLA_SANDBOX_CONTROL_TOKEN, "
                             "else random)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (other machines can reach the sandbox)")
    parser.add_argument("--debug", action="store_true", help="log server errors to stderr")
    return parser


def _bad_setting(args) -> str | None:
    """What is wrong with a numeric flag, as one line; None when all are usable."""
    from .domain import setting_problem

    for key in ("latency_ms", "discovery_delay", "max_per_page"):
        value = getattr(args, key)
        problem = setting_problem(key, value)
        if problem:
            return f"--{key.replace('_', '-')}: {problem}, got {value!r}"
    if not 0 <= args.port <= 65535:
        return f"--port: expected 0 to 65535, got {args.port}"
    return None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    problem = _bad_setting(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from .server import Sandbox, build_app, check_bind, serve
    from .store import DatabaseInUse

    try:
        check_bind(args.host, args.allow_remote)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        app = build_app(args.db, args.seed, args.latency_ms, not args.no_control,
                        args.discovery_delay, None, args.reset, args.debug, args.control_token,
                        args.max_per_page)
    except DatabaseInUse as exc:
        print(exc, file=sys.stderr)
        return 3
    try:
        server = serve(app, args.host, args.port, args.allow_remote)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 3
    sandbox = Sandbox(app, server, None)
    print(sandbox.url, flush=True)
    for role, key in sandbox.service_keys.items():
        print(f"service key ({role}): {key}", flush=True)
    if sandbox.control_token:
        print(f"control token: {sandbox.control_token}", flush=True)
    print(f"sandbox listening on {sandbox.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
