"""The request context shared by every family's handlers: Ctx (caller, path args, query and
body readers that fail with a 400 naming the parameter, paging, a Shaper) and Fields.

Each handler takes a Ctx and returns the JSON body (status 200; RawJSON when pre-serialized);
errors are raised as ApiError. Validation happens before any mutation, so a rejected request
changes nothing.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING

from .domain import ROLE_RANK, ApiError
from .shapes import Shaper

if TYPE_CHECKING:
    from .models import Domain

MAX_PAGE_SIZE = 100

DEFAULT_PAGE_SIZE = 20

CONNECTOR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_TRUE = ("1", "true", "True", "TRUE", "yes")

_FALSE = ("0", "false", "False", "FALSE", "no", "")


def deleted(what: str) -> dict:
    return {"code": "200", "message": f"{what} deleted"}  # the reference types code as a string


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object",
               list: "an array", float: "a number"}


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Fields:
    """Typed access to a JSON object body; every failure is a 400 naming the field."""

    def __init__(self, data: dict, prefix: str = ""):
        self.data = data
        self.prefix = prefix

    def has(self, name: str) -> bool:
        return name in self.data

    def _get(self, name, kind, required):
        where = f"{self.prefix}{name}"
        if name not in self.data or (self.data[name] is None and not required):
            if required:
                raise ApiError(400, f"{where}: required field is missing")
            return None
        value = self.data[name]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ApiError(400, f"{where}: expected {_TYPE_NAMES[kind]}, got {_json_type(value)}")
        return value

    def str(self, name, required=False, allow_blank=False):
        value = self._get(name, str, required)
        if value is not None and not allow_blank and not value.strip():
            raise ApiError(400, f"{self.prefix}{name}: must not be blank")
        return value.strip() if isinstance(value, str) and not allow_blank else value

    def text(self, name, required=False):
        """A string kept as sent, blank allowed (descriptions, code, paths)."""
        return self.str(name, required, allow_blank=True)

    def int(self, name, required=False, minimum=None):
        value = self._get(name, int, required)
        if value is not None and minimum is not None and value < minimum:
            raise ApiError(400, f"{self.prefix}{name}: must be >= {minimum}")
        return value

    def bool(self, name, required=False):
        return self._get(name, bool, required)

    def obj(self, name, required=False):
        return self._get(name, dict, required)

    def list(self, name, required=False, of=None):
        value = self._get(name, list, required)
        if value is not None and of is not None:
            for i, item in enumerate(value):
                if not isinstance(item, of) or (of is int and isinstance(item, bool)):
                    raise ApiError(400, f"{self.prefix}{name}[{i}]: expected {_TYPE_NAMES[of]}, "
                                        f"got {_json_type(item)}")
        return value

    def strings(self, name, required=False):
        return self.list(name, required, of=str)

    def code(self, name, required=False):
        value = self.str(name, required)
        if value is not None and not CONNECTOR_CODE.match(value):
            raise ApiError(400, f"{self.prefix}{name}: expected a connector code such as 's3' or "
                                f"'postgres' (lower case letters, digits, _)")
        return value

    def present(self, **getters) -> dict:
        """The named fields that are present and not null, each checked by the named getter
        (in the order given, so the first bad one is reported): present(tags="strings")."""
        out = {}
        for name, getter in getters.items():
            value = getattr(self, getter)(name)
            if value is not None:
                out[name] = value
        return out

    def description_update(self, empty=None) -> dict:
        """An update's description: sent (even as null) sets it; null becomes `empty`."""
        if not self.has("description"):
            return {}
        value = self.text("description")
        return {"description": empty if value is None else value}


class Ctx:
    """One API request: the caller (None on unauthenticated routes), path args, query and body
    readers that fail with a 400 naming the parameter, and a Shaper for the caller."""

    def __init__(self, dom: Domain, request, args: dict, user: dict | None, root_url: str):
        self.dom = dom
        self.store = dom.store
        self.req = request
        self.args = args
        self.user = user
        self.root_url = root_url
        self.query = request.args
        self.shaper = Shaper(dom, user, root_url) if user else None
        self._body = _UNSET

    def raw_body(self):
        if self._body is _UNSET:
            data = self.req.get_data(cache=True)
            if not data.strip():
                self._body = None
            else:
                try:
                    self._body = json.loads(data, parse_constant=_reject_constant)
                except (ValueError, RecursionError) as exc:
                    raise ApiError(400, f"Malformed JSON body: {str(exc)[:120]}") from None
        return self._body

    def fields(self, *, required=True) -> Fields:
        body = self.raw_body()
        if body is None:
            if required:
                raise ApiError(400, "body: a JSON object is required")
            body = {}
        if not isinstance(body, dict):
            raise ApiError(400, f"body: expected a JSON object, got {_json_type(body)}")
        return Fields(body)

    def qbool(self, name) -> bool:
        value = self.query.get(name)
        if value is None:
            return False
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ApiError(400, f"{name}: expected 1/0 or true/false, got {value!r}")

    def qint(self, name, default=None, minimum=None):
        value = self.query.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ApiError(400, f"{name}: expected an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ApiError(400, f"{name}: must be >= {minimum}")
        return number

    def paging(self, size_param="per_page", default=DEFAULT_PAGE_SIZE, cap=MAX_PAGE_SIZE):
        """(page, size) from the query: `page` is 1-based; a size above `cap` (or the server-wide
        `max_per_page` setting, when lower) is capped."""
        page = self.qint("page", 1, minimum=1)
        cap = min(cap, self.dom.settings.max_per_page or cap)
        return page, min(self.qint(size_param, default, minimum=1), cap)

    def page(self, items) -> list:
        """One page of a list or a lazy iterator (only consumed up to the page's end)."""
        page, per_page = self.paging()
        start = (page - 1) * per_page
        if isinstance(items, list):
            return items[start:start + per_page]
        return list(itertools.islice(items, start, start + per_page))

    def access_role(self):
        role = self.query.get("access_role")
        if role is not None and role not in ROLE_RANK:
            raise ApiError(400, "access_role: expected owner, admin, operator or collaborator")
        return role


_UNSET = object()


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")
