"""WSGI app assembly, the threaded HTTP/1.1 server, and `start_sandbox`.

Why werkzeug: a maintained WSGI toolkit (the one moto builds on) for routing, Request and
Response. Being WSGI, the app can reach the raw client socket (environ["werkzeug.socket"]); the
"drop" and "commit then drop" faults need exactly that — an ASGI server cannot cut a connection
from inside the app, so a lost response could not be simulated there.
Why not werkzeug's own dev server: it closes the connection after every response on purpose,
so each request would pay a new TCP connection and thread. The small handler below speaks
HTTP/1.1 keep-alive (as Nexla does, and as the SDK's requests.Session expects) and hands each
request to the same WSGI app.
"""

from __future__ import annotations

import copy
import io
import ipaddress
import json
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_to_bytes

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from . import audit
from . import seed as seeds
from .ctx import Ctx
from .faults import Faults
from .models import ApiError, Domain, Settings
from .shapes import RawJSON
from .store import Store, to_json
from .urls import build_map

API_PREFIX = "/nexla-api"
JSON_TYPE = "application/json"
TOKEN_ENV = "NEXLA_SANDBOX_CONTROL_TOKEN"
# Host headers a local client sends; anything else may be a DNS-rebinding page in a browser.
LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?|::1")


class DroppedConnection(ConnectionError):
    """Raised after cutting the client socket; the HTTP handler then writes nothing."""


def _json_response(body, status=200, headers=None) -> Response:
    data = body.text if isinstance(body, RawJSON) else to_json(body)
    resp = Response(data, status=status, content_type=JSON_TYPE)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _rewritten(response: Response, fault) -> Response:
    """A rewrite fault's edit of a JSON answer (a contract test's way to break one field)."""
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return response
    kept = {k: v for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-type")}
    return _json_response(fault.rewrite(body), response.status_code, kept)


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
    def __init__(self, store: Store, settings: Settings, *, control: bool = True,
                 control_token: str | None = None):
        from .control import ControlAPI

        self.store = store
        self.settings = settings
        self.initial_settings = copy.copy(settings)
        self.dom = Domain(store, settings)
        self.faults = Faults()
        self.url_map, self.endpoints = build_map()
        self.adapter = self.url_map.bind("sandbox")
        self.control_token = (control_token or secrets.token_urlsafe(32)) if control else None
        self.control = ControlAPI(self, self.control_token) if control else None
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
            self.dom.note_due(0)  # the new state's discoveries and runs are due from scratch
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
        if fault is not None and fault.action == "rewrite":
            response = _rewritten(response, fault)
        if fault is not None and fault.action == "commit_then_fail":
            self.faults.record(method, api_path, query, None if fault.fail_with == "drop" else fault.fail_with,
                               "commit_then_fail", _logged_body(request), committed=response.status_code)
            if fault.fail_with == "drop":
                drop_connection(environ)
            return _json_response({"message": _status_text(fault.fail_with), "code": fault.fail_with},
                                  fault.fail_with)
        self.faults.record(method, api_path, query, response.status_code,
                           fault.action if fault is not None else None, _logged_body(request))
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
                    body = handler(Ctx(self.dom, request, args, user, root_url))
                    if user is not None and method not in ("GET", "HEAD"):
                        audit.record(self.dom, user, request)  # reads write nothing
                    return _json_response(body)
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
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None  # reads log no body (and pay no parse)
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # the handler already answered 400 for such a body
        return None


MAX_BODY = 50 * 1024 * 1024


class _WSGIHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive front for the WSGI app: reads the whole request body (so the next
    request line on the connection is never mistaken for body), answers with Content-Length."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection frees its thread after this
    app = None  # set per server
    debug = False
    check_host = True  # off for a remote bind that allow_remote permitted

    def do_request(self):
        refusal = self._refusal()
        if refusal is not None:
            self._refuse(refusal)
            return
        try:
            body = self._read_body()
        except ValueError as exc:
            self._refuse(str(exc))
            return
        environ = self._environ(body)
        started: list = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, headers]
            return chunks.append

        chunks: list = []
        try:
            result = self.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except ConnectionError:  # a drop fault already cut the socket
            self.close_connection = True
            return
        except Exception:  # the app maps errors itself; this is a last resort
            if self.debug:
                traceback.print_exc(file=sys.stderr)
            started[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", JSON_TYPE)]]
            chunks[:] = [json.dumps({"message": "Internal server error", "code": 500}).encode()]
        status, headers = started
        self._write(status, headers, b"".join(chunks))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_request

    def _refusal(self) -> str | None:
        """Why the request is refused before the app sees it (400), or None."""
        headers = self.headers
        lengths = headers.get_all("Content-Length") or ()
        if len(lengths) > 1 or (lengths and "Transfer-Encoding" in headers):
            # Proxies and servers disagree on which framing wins: request smuggling.
            return "ambiguous body framing: Content-Length with Transfer-Encoding, or twice"
        if self.check_host:
            hosts = headers.get_all("Host") or ()
            if len(hosts) != 1 or not LOOPBACK_HOST.fullmatch(hosts[0].strip().lower()):
                return "Host header must be 127.0.0.1, localhost or [::1] (with any port)"
        return None

    def _refuse(self, message: str):
        """400 and close: the rest of the connection's bytes cannot be trusted to frame."""
        self.close_connection = True
        self._write(400, [("Content-Type", JSON_TYPE)],
                    json.dumps({"message": message, "code": 400}).encode())

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    raise ValueError("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit() or int(length) > MAX_BODY:
            raise ValueError("bad or too large Content-Length")
        return self.rfile.read(int(length))

    def _environ(self, body: bytes) -> dict:
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ = {
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"), "QUERY_STRING": query,
            "SERVER_NAME": str(host), "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version, "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)), "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
        }
        for key, value in self.headers.items():
            name = key.upper().replace("-", "_")
            if name == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif name != "CONTENT_LENGTH":
                name = "HTTP_" + name
                environ[name] = f"{environ[name]},{value}" if name in environ else value
        return environ

    def _write(self, status, headers, body: bytes):
        code = status if isinstance(status, int) else int(status.split(" ", 1)[0])
        reason = status.split(" ", 1)[1] if isinstance(status, str) and " " in status else ""
        lines = [f"HTTP/1.1 {code} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("content-length", "connection")]
        if self.command == "HEAD":
            body = b""
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close" if self.close_connection else "Connection: keep-alive")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format, *args):  # no per-request access log (speed)
        if self.debug:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's 5 refuses connections under a burst of clients

    @property
    def host(self) -> str:
        return self.server_address[0]

    @property
    def port(self) -> int:
        return self.server_address[1]


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
        self.control_token = app.control_token
        self.control = ControlClient(self.root_url, token=self.control_token)

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
              service_key=None, reset=False, debug=False, control_token=None,
              max_per_page=None) -> SandboxApp:
    """The app over its store. Raises store.DatabaseInUse when another sandbox serves `db`.
    The control token is `control_token`, else $NEXLA_SANDBOX_CONTROL_TOKEN, else random."""
    settings = Settings(discovery_delay=float(discovery_delay), latency_ms=float(latency_ms),
                        admin_key=service_key, debug=debug, max_per_page=max_per_page)
    store = Store(db)
    app = SandboxApp(store, settings, control=control,
                     control_token=control_token or os.environ.get(TOKEN_ENV))
    if reset or store.is_empty():
        app.seed(seed)
    else:
        app.apply_admin_key()
    return app


def check_bind(host: str, allow_remote: bool = False):
    """Refuse (ValueError) a non-loopback bind address unless allow_remote; warn on stderr when
    it is allowed. The demo service keys are public, so other machines get the whole org."""
    if _is_loopback(host):
        return
    if not allow_remote:
        raise ValueError(f"--host {host!r} is not a loopback address; pass --allow-remote "
                         "to let other machines reach the sandbox")
    print(f"warning: serving on {host!r}: other machines can reach the sandbox and its public "
          "demo keys; Host header checks are off", file=sys.stderr, flush=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(app: SandboxApp, host="127.0.0.1", port=0, allow_remote=False) -> _Server:
    # Remote clients name the server's address in Host, so the check only suits a loopback bind.
    check_host = not allow_remote or _is_loopback(host)
    handler = type("SandboxHandler", (_WSGIHandler,), {
        "app": app, "debug": app.settings.debug, "check_host": check_host})
    return _Server((host, port), handler)


def start_sandbox(db=None, seed="demo", host="127.0.0.1", port=0, latency_ms=0, control=True,
                  discovery_delay=2.0, service_key=None, reset=False, debug=False,
                  allow_remote=False, control_token=None, max_per_page=None) -> Sandbox:
    """Start a sandbox serving in a daemon thread. With a `db` that already holds state the state
    is kept (seed ignored) unless reset=True. Raises ValueError for a non-loopback `host`
    without allow_remote, store.DatabaseInUse when another sandbox serves `db`."""
    check_bind(host, allow_remote)
    app = build_app(db, seed, latency_ms, control, discovery_delay, service_key, reset, debug,
                    control_token, max_per_page)
    try:
        server = serve(app, host, port, allow_remote)
    except BaseException:
        app.store.close()  # frees the db lock for a retry in this process
        raise
    # shutdown() waits for the loop's next poll: at the default 0.5 s, every --sandbox command
    # spent half a second exiting.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="nexla-sandbox", daemon=True)
    thread.start()
    return Sandbox(app, server, thread)
