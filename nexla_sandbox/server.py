"""WSGI app assembly, the threaded HTTP server, and `start_sandbox`.

Why werkzeug: it is a maintained WSGI toolkit (the one moto builds on) with a routing Map,
Request/Response objects and a threaded server, and its server hands the app the raw client
socket (environ["werkzeug.socket"]). The "drop" and "commit then drop" faults need exactly that:
an ASGI server cannot cut a connection from inside the app, so a lost response could not be
simulated there.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import struct
import sys
import threading
import time
import traceback

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import seed as seeds
from .faults import Faults
from .models import ApiError, Domain, Settings
from .responses import Ctx, RawJSON, Reply
from .store import Store
from .urls import build_map

API_PREFIX = "/nexla-api"
JSON_TYPE = "application/json"


class DroppedConnection(ConnectionError):
    """Raised after cutting the client socket; werkzeug treats it as a dropped connection."""


def _json_response(body, status=200, headers=None) -> Response:
    data = body.text if isinstance(body, RawJSON) else json.dumps(body, separators=(",", ":"),
                                                                    allow_nan=False)
    resp = Response(data, status=status, content_type=JSON_TYPE)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _error_response(err: ApiError) -> Response:
    return _json_response(err.body(), err.status, err.headers)


def drop_connection(environ):
    """Reset the client's TCP connection (SO_LINGER 0 makes the close an RST)."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise DroppedConnection("connection dropped by sandbox fault")


class SandboxApp:
    def __init__(self, store: Store, settings: Settings, *, control: bool = True):
        from .control import ControlAPI

        self.store = store
        self.settings = settings
        self.initial_settings = copy.copy(settings)
        self.dom = Domain(store, settings)
        self.faults = Faults()
        self.url_map, self.endpoints = build_map()
        self.adapter = self.url_map.bind("sandbox")
        self.control = ControlAPI(self) if control else None
        self.base_url = ""  # set once the server knows its port
        self._snapshots: dict = {}

    # -- state lifecycle ------------------------------------------------------------------------
    def seed(self, name: str):
        """Fresh seed data. Each seed is built once per process and then restored from a
        snapshot, with the simulated clock set back to the instant it was built (so a reset is
        fast and every reset starts from the same simulated moment)."""
        if name not in ("demo", "empty"):
            raise ApiError(400, "seed: expected demo or empty")
        key = (name, self.settings.admin_key)
        with self.store.lock:
            self.dom._next_due = 0.0
            if key in self._snapshots:
                snap, sim_now = self._snapshots[key]
                self.store.restore(snap)
                with self.store.tx():
                    self.store.set_meta("clock_offset", sim_now - time.time())
                return
            self.store.wipe()
            (seeds.seed_demo if name == "demo" else seeds.seed_empty)(self.dom)
            self._snapshots[key] = (self.store.snapshot(), self.dom.now())

    def apply_admin_key(self):
        """A `service_key=` override also applies to a db that was seeded earlier."""
        key = self.settings.admin_key
        admin = self.store.get("users", 1)
        if key and admin and admin.get("_service_key") != key:
            with self.store.tx():
                self.store.put("users", {**admin, "_service_key": key})

    # -- WSGI -------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if path.startswith("/_sandbox"):
            if self.control is None:
                return _json_response({"message": "Not found", "code": 404}, 404)(environ, start_response)
            return self.control.handle(request)(environ, start_response)
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            api_path = path[len(API_PREFIX):] or "/"
        elif path.startswith("/webhook/"):
            api_path = path
        else:
            resp = _json_response({"message": f"Not found: {path} (the API is under {API_PREFIX})",
                                   "code": 404}, 404)
            return resp(environ, start_response)
        response = self.serve_api(request, api_path, environ)
        return response(environ, start_response)

    def serve_api(self, request: Request, api_path: str, environ) -> Response:
        method = request.method
        query = request.args.to_dict()
        if self.settings.latency_ms:
            time.sleep(self.settings.latency_ms / 1000.0)
        fault = self.faults.take(method, api_path)
        if fault is not None:
            if fault.action == "delay":
                time.sleep(fault.delay_ms / 1000.0)
            elif fault.action == "status":
                self.faults.record(method, api_path, query, fault.status, "status", _logged_body(request))
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                body = fault.body if fault.body is not None else {
                    "message": _status_text(fault.status), "code": fault.status}
                if fault.retry_after is not None and isinstance(body, dict):
                    body = {**body, "retry_after": fault.retry_after}
                return _json_response(body, fault.status, headers)
            elif fault.action == "drop":
                self.faults.record(method, api_path, query, None, "drop", _logged_body(request))
                drop_connection(environ)
        response = self.dispatch(request, method, api_path)
        if fault is not None and fault.action == "commit_then_fail":
            self.faults.record(method, api_path, query, None if fault.fail_with == "drop" else fault.fail_with,
                               "commit_then_fail", _logged_body(request), committed=response.status_code)
            if fault.fail_with == "drop":
                drop_connection(environ)
            return _json_response({"message": _status_text(fault.fail_with), "code": fault.fail_with},
                                  fault.fail_with)
        self.faults.record(method, api_path, query, response.status_code,
                           "delay" if fault is not None else None, _logged_body(request))
        return response

    def dispatch(self, request: Request, method: str, api_path: str) -> Response:
        try:
            endpoint, args = self.adapter.match(api_path, method)
        except NotFound:
            return _json_response({"message": f"Not found: {method} {api_path}", "code": 404}, 404)
        except MethodNotAllowed:
            return _json_response({"message": f"Method {method} not allowed on {api_path}",
                                   "code": 405}, 405)
        handler, needs_auth = self.endpoints[endpoint]
        root_url = f"{request.scheme}://{request.environ.get('HTTP_HOST', 'localhost')}"
        try:
            with self.store.lock:
                with self.store.tx():
                    self.dom.advance()
                with self.store.tx():
                    user = self.dom.authenticate(request.headers.get("Authorization", "")) if needs_auth else None
                    result = handler(Ctx(self.dom, request, args, user, root_url))
                    if isinstance(result, Reply):
                        return _json_response(result.body, result.status, result.headers)
                    return _json_response(result)
        except ApiError as err:
            return _error_response(err)
        except Exception:  # never leak a traceback to the client
            if self.settings.debug:
                traceback.print_exc(file=sys.stderr)
            return _json_response({"message": "Internal server error", "code": 500}, 500)


def _status_text(status: int) -> str:
    texts = {429: "Too many requests; retry later", 500: "Internal server error",
             502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout"}
    return texts.get(status, f"Error {status}")


def _logged_body(request: Request):
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log (speed); server errors only with --debug."""

    debug = False

    def log_request(self, *args, **kwargs):
        pass

    def log(self, type, message, *args):
        if self.debug:
            super().log(type, message, *args)


class Sandbox:
    """A running sandbox: `url`, `root_url`, `service_key(s)`, `control`; a context manager."""

    def __init__(self, app: SandboxApp, server, thread: threading.Thread | None):
        from .control import ControlClient

        self.app = app
        self.server = server
        self.thread = thread
        host = server.host if ":" not in server.host else f"[{server.host}]"
        self.root_url = f"http://{host}:{server.port}"
        self.url = self.root_url + API_PREFIX
        app.base_url = self.url
        keys = seeds.service_keys(app.dom)
        self.service_keys = keys
        self.service_key = keys["admin"]
        self.control = ControlClient(self.root_url)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.app.store.close()


def build_app(db=None, seed="demo", latency_ms=0, control=True, discovery_delay=2.0,
              service_key=None, reset=False, debug=False) -> SandboxApp:
    settings = Settings(discovery_delay=float(discovery_delay), latency_ms=float(latency_ms),
                        admin_key=service_key, debug=debug)
    store = Store(db)
    app = SandboxApp(store, settings, control=control)
    if reset or store.is_empty():
        app.seed(seed)
    else:
        app.apply_admin_key()
        app.dom._next_due = 0.0
    return app


def serve(app: SandboxApp, host="127.0.0.1", port=0):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    handler = type("SandboxHandler", (_QuietHandler,), {"debug": app.settings.debug})
    return make_server(host, port, app, threaded=True, request_handler=handler)


def start_sandbox(db=None, seed="demo", host="127.0.0.1", port=0, latency_ms=0, control=True,
                  discovery_delay=2.0, service_key=None, reset=False, debug=False) -> Sandbox:
    """Start a sandbox serving in a daemon thread. With a `db` that already holds state the state
    is kept (seed ignored) unless reset=True."""
    app = build_app(db, seed, latency_ms, control, discovery_delay, service_key, reset, debug)
    server = serve(app, host, port)
    thread = threading.Thread(target=server.serve_forever, name="nexla-sandbox", daemon=True)
    thread.start()
    return Sandbox(app, server, thread)
