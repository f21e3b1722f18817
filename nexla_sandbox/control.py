"""The `/_sandbox/*` control API (not Nexla's; off with --no-control) and its Python client.

It can reset state, add faults and read raw state, so every call needs the start-up token in
the X-Sandbox-Token header (a web page cannot set that header cross-site), POSTs must be JSON
(no CORS-"simple" text/plain forms), and secrets are masked in what it returns.
"""

from __future__ import annotations

import hmac
import json
import sys

import requests
from werkzeug.wrappers import Request, Response

from . import schema_drift
from . import seed as seeds
from .domain import setting_problem
from .faults import RuleError, redact
from .models import ApiError

TOKEN_HEADER = "X-Sandbox-Token"
MAX_TICK = 100 * 365 * 86400  # a century: beyond, simulated dates overflow

STATE_KINDS = ("data_sources", "data_sets", "data_sinks", "data_credentials", "flows", "teams",
               "users", "orgs", "projects", "transforms", "attribute_transforms", "data_maps",
               "async_tasks", "runs", "webhook_records", "notifications",
               "gen_ai_integration_configs", "gen_ai_org_settings")


def _reply(body, status=200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status,
                    content_type="application/json")


def _mask(secret: str) -> str:
    """Enough to tell keys apart, not enough to use one."""
    return secret[:4] + "\u2026" if len(secret) > 8 else "\u2026"


def _number(body: dict, key: str, default=None, limit=None) -> float:
    value = body.get(key, default)
    # `0 <= value <= top` also refuses NaN (json.loads accepts NaN and Infinity literals)
    top = sys.float_info.max if limit is None else limit
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
        most = "" if limit is None else f" up to {limit}"
        raise ApiError(400, f"{key}: expected a finite non-negative number{most}")
    return float(value)


class ControlAPI:
    def __init__(self, app, token: str):
        self.app = app
        self.token = token.encode()

    def handle(self, request: Request) -> Response:
        # A task's download link stands in for Nexla's pre-signed URL: the API client that was
        # handed it never saw the control token.
        presigned = request.method == "GET" and request.path.startswith("/_sandbox/downloads/")
        given = request.headers.get(TOKEN_HEADER, "").encode()
        if not presigned and not hmac.compare_digest(given, self.token):
            return _reply({"message": f"control API: missing or wrong {TOKEN_HEADER} header "
                                      "(the control token the sandbox printed at start-up)",
                           "code": 401}, 401)
        if request.method == "POST" and request.mimetype != "application/json":
            return _reply({"message": "control API: POST bodies must be Content-Type "
                                      "application/json", "code": 415}, 415)
        try:
            return self._route(request)
        except ApiError as err:
            return _reply(err.body(), err.status)
        except RuleError as err:
            return _reply({"message": str(err), "code": 400}, 400)

    def _body(self, request: Request) -> dict:
        data = request.get_data()
        if not data.strip():
            return {}
        try:
            body = json.loads(data)
        except ValueError:
            raise ApiError(400, "Malformed JSON body") from None
        if not isinstance(body, dict):
            raise ApiError(400, "body: expected a JSON object")
        return body

    def _route(self, request: Request) -> Response:
        app, dom, store = self.app, self.app.dom, self.app.store
        parts = [p for p in request.path.split("/") if p][1:]
        method = request.method
        head = parts[0] if parts else ""
        if head == "reset" and method == "POST":
            name = self._body(request).get("seed", "demo")
            app.faults.reset()
            for key, value in vars(app.initial_settings).items():
                setattr(app.settings, key, value)
            app.seed(name)
            return _reply({"seed": name, "now": dom.now_iso()})
        if head == "tick" and method == "POST":
            seconds = _number(self._body(request), "seconds", 0, MAX_TICK)
            with store.lock, store.tx():
                return _reply(dom.tick(seconds))
        if head == "schema_change" and method == "POST":
            return _reply(self._schema_change(self._body(request)))
        if head == "requests":
            if method == "DELETE":
                app.faults.clear_log()
                return _reply({"requests": []})
            return _reply({"requests": app.faults.requests()})
        if head == "faults":
            if method == "POST":
                return _reply(app.faults.add(self._body(request)))
            if method == "DELETE" and len(parts) == 2:
                try:
                    removed = app.faults.remove(int(parts[1]))
                except ValueError:
                    raise ApiError(400, "fault id: expected an integer") from None
                if not removed:
                    raise ApiError(404, f"no fault {parts[1]}")
                return _reply({"deleted": int(parts[1])})
            if method == "DELETE":
                app.faults.clear()
                return _reply({"faults": []})
            return _reply({"faults": app.faults.list()})
        if head == "populate" and method == "POST":
            body = self._body(request)
            kind, count = body.pop("kind", None), body.pop("count", 0)
            with store.lock:
                return _reply(seeds.populate(dom, kind, count, body))
        if head == "config":
            if method == "POST":
                body = self._body(request)
                values = {key: body[key] for key in ("latency_ms", "discovery_delay",
                                                     "max_per_page") if key in body}
                for key, value in values.items():  # all checked before any is applied
                    problem = setting_problem(key, value)
                    if problem:
                        raise ApiError(400, f"{key}: {problem}")
                for key, value in values.items():
                    setattr(app.settings, key, value if key == "max_per_page" else float(value))
            return _reply({"latency_ms": app.settings.latency_ms,
                           "discovery_delay": app.settings.discovery_delay,
                           "max_per_page": app.settings.max_per_page})
        if head == "state" and len(parts) == 2:
            with store.lock:
                items = store.all(parts[1])
            return _reply({"items": redact(items)})
        if head == "info":
            keys = {role: _mask(key) for role, key in seeds.service_keys(dom).items()}
            return _reply({"url": app.base_url, "service_keys": keys,
                           "seed": store.meta("seeded"), "now": dom.now_iso(),
                           "kinds": STATE_KINDS})
        if head == "downloads" and len(parts) == 2:
            task_id = parts[1].split(".")[0]
            task = store.get("async_tasks", int(task_id)) if task_id.isascii() and task_id.isdigit() else None
            if task is None:
                raise ApiError(404, "no such download")
            return _reply(dom.task_view(task).get("result") or {})
        raise ApiError(404, f"unknown control endpoint {method} {request.path}")


    def _schema_change(self, body: dict) -> dict:
        unknown = sorted(set(body) - {"source_id", "after", *schema_drift.STEPS})
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown key (expected source_id, after, "
                                f"{', '.join(schema_drift.STEPS)})")
        source_id = body.get("source_id")
        if isinstance(source_id, bool) or not isinstance(source_id, int):
            raise ApiError(400, "source_id: expected a data source id (an integer)")
        after = _number(body, "after", 0, MAX_TICK)
        try:
            change = schema_drift.parse_change(body)
        except schema_drift.ChangeError as err:
            raise ApiError(400, str(err)) from None
        dom, store = self.app.dom, self.app.store
        with store.lock, store.tx():
            src = store.get("data_sources", source_id)
            if src is None:
                raise ApiError(400, f"source_id: no data source {source_id}")
            return dom.queue_schema_change(src, change, after)


class ControlClient:
    """Thin HTTP client for the control API (what tests and benchmarks use)."""

    def __init__(self, root_url: str, token: str | None = None, timeout: float = 30.0):
        self.root_url = root_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers[TOKEN_HEADER] = token

    def _call(self, method: str, path: str, body=None):
        resp = self.session.request(method, f"{self.root_url}/_sandbox{path}", json=body,
                                    timeout=self.timeout)
        if resp.status_code >= 400:
            raise RuntimeError(f"sandbox control {method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    def reset(self, seed: str = "demo") -> dict:
        return self._call("POST", "/reset", {"seed": seed})

    def tick(self, seconds: float) -> dict:
        return self._call("POST", "/tick", {"seconds": seconds})

    def requests(self) -> list[dict]:
        return self._call("GET", "/requests")["requests"]

    def clear_requests(self):
        self._call("DELETE", "/requests")

    def add_fault(self, **rule) -> dict:
        return self._call("POST", "/faults", rule)

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self):
        self._call("DELETE", "/faults")

    def remove_fault(self, fault_id: int):
        self._call("DELETE", f"/faults/{fault_id}")

    def populate(self, kind: str, count: int, **opts) -> dict:
        return self._call("POST", "/populate", {"kind": kind, "count": count, **opts})

    def configure(self, **settings) -> dict:
        return self._call("POST", "/config", settings)

    def schema_change(self, source_id: int, *, after: float = 0, **changes) -> dict:
        """Change the shape of a source's records upstream (rename=, retype=, add=, drop=,
        nullable=), `after` simulated seconds from now."""
        return self._call("POST", "/schema_change", {"source_id": source_id, "after": after,
                                                     **changes})

    def state(self, kind: str) -> list[dict]:
        return self._call("GET", f"/state/{kind}")["items"]

    def info(self) -> dict:
        return self._call("GET", "/info")

