"""The one URL map: API-relative paths (under /nexla-api) -> the families' handlers.

Each family lists its own routes (families/<family>/urls.py); this module assembles them, in a
fixed order, into the single werkzeug Map the server matches against."""

from __future__ import annotations

from werkzeug.routing import Map, Rule

from .domain import FLOW_KINDS
from .families.access import urls as access
from .families.auth import urls as auth
from .families.code_containers import urls as code_containers
from .families.credentials import urls as credentials
from .families.flows import urls as flows
from .families.genai import urls as genai
from .families.limits import urls as limits
from .families.lookups import urls as lookups
from .families.metrics import urls as metrics
from .families.nexsets import urls as nexsets
from .families.notifications import urls as notifications
from .families.orgs import urls as orgs
from .families.projects import urls as projects
from .families.resources import urls as resources
from .families.tasks import urls as tasks
from .families.teams import urls as teams
from .families.transforms import urls as transforms
from .families.users import urls as users
from .families.webhooks import urls as webhooks


def _routes():
    """(path, methods, handler, needs_auth): family-specific routes, then generic CRUD and copy,
    then accessors, then each flow kind's flow, log and metrics routes."""
    # limits and account metrics first: they take /limits and /users|orgs/{id}/... paths.
    routes = [*auth.ROUTES, *limits.ROUTES, *metrics.ACCOUNT_ROUTES, *users.ROUTES, *orgs.ROUTES,
              *code_containers.ROUTES, *flows.ROUTES,
              *metrics.FLOW_ROUTES, *flows.DOCS_ROUTES,
              *credentials.ROUTES, *nexsets.ROUTES, *teams.ROUTES, *projects.ROUTES,
              *transforms.ROUTES, *lookups.ROUTES, *notifications.ROUTES, *tasks.ROUTES,
              *genai.ROUTES]
    routes += resources.routes()
    routes += access.routes()
    for kind in FLOW_KINDS:
        routes += flows.resource_routes(kind) + metrics.resource_routes(kind)
    return routes


class MatchOnlyRule(Rule):
    """A rule the server matches but never builds a URL from. werkzeug compiles two URL
    builders per rule (Python source, then compile()), over half the sandbox's start-up for our
    270 rules; these stubs skip that. Were werkzeug to stop calling this hook, rules would only
    build their builders again, not break."""

    def _compile_builder(self, append_unknown: bool = True):
        def unbuildable(*args, **kwargs):
            raise NotImplementedError("the sandbox matches its routes; it never builds URLs")
        return unbuildable


def build_map() -> tuple[Map, dict]:
    """The API url map and endpoint -> (handler, needs_auth)."""
    rules, endpoints = [], {}
    for i, (path, methods, handler, auth_needed) in enumerate(_routes()):
        name = f"e{i}"
        rules.append(MatchOnlyRule(path, methods=methods, endpoint=name))
        endpoints[name] = (handler, auth_needed)
    path, methods, handler, auth_needed = webhooks.ROUTE
    rules.append(MatchOnlyRule(path, methods=methods, endpoint="webhook"))
    endpoints["webhook"] = (handler, auth_needed)
    return Map(rules, strict_slashes=False, merge_slashes=False), endpoints
