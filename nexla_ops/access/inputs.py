"""What the user names: resources, roles and accessors from flags, CSV/JSON/YAML rows."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

import nexla_ops
from nexla_ops.access import (
    ACCESS_RESOURCE_TYPES,
    ACCESSOR_TYPES,
    INPUT_FIELDS,
    ROLES,
)

from .models import (
    OrgAccessor,
    TeamAccessor,
    UserAccessor,
    _Accessor,
    describe,
    find_accessor,
    sorted_roles,
)

# ---------------------------------------------------------------- input parsing


@dataclass(frozen=True)
class Resource:
    type: str  # the API collection name, e.g. data_sources
    id: int

    @property
    def accessors_path(self) -> str:
        return f"/{self.type}/{self.id}/accessors"

    @property
    def label(self) -> str:
        return f"{self.type}/{self.id}"

    def as_json(self) -> dict:
        return {"type": self.type, "id": self.id}


def bad(field_name: str, problem: str) -> nexla_ops.BadInput:
    return nexla_ops.BadInput(f"{field_name}: {problem}")


def parse_resource_type(value: Any, field_name: str) -> str:
    """The API collection path (data_sources, ...) of a resource type we manage access to."""
    return nexla_ops.resource_path(value, ACCESS_RESOURCE_TYPES, field=field_name)


def parse_roles(values: Any, field_name: str) -> list[str]:
    if values is None or values == "":
        return []
    if isinstance(values, str):
        values = values.replace("|", ";").replace(",", ";").replace(" ", ";").split(";")
    if not isinstance(values, list | tuple):
        raise bad(field_name, f"expected a list of roles, got {values!r}")
    roles = []
    for value in values:
        role = str(value).strip().lower()
        if not role:
            continue
        if role not in ROLES:
            raise bad(field_name, f"unknown role {value!r}; expected one of {', '.join(ROLES)}")
        roles.append(role)
    return sorted_roles(roles)


def build_accessor(kind: Any, ident: dict, roles: list[str], label) -> _Accessor:
    """An accessor from user input. label(name) spells a field the way the user wrote it:
    '--accessor-email' on the command line, 'row 3: accessor_email' in a file."""
    if kind in (None, ""):
        raise bad(label("type"), f"required ({', '.join(ACCESSOR_TYPES)})")
    kind_text = str(kind).strip().upper()
    if kind_text not in ACCESSOR_TYPES:
        raise bad(label("type"), f"expected one of {', '.join(ACCESSOR_TYPES)}, got {kind!r}")
    allowed = INPUT_FIELDS[kind_text]
    given = {name: value for name, value in ident.items() if value not in (None, "")}
    for name in given:
        if name not in allowed:
            raise bad(label(name), f"not valid for {kind_text} accessors "
                      f"(use {' or '.join(label(n) for n in allowed)})")
    if not given:
        raise bad(" or ".join(label(n) for n in allowed), f"required to name the {kind_text} accessor")
    if len(given) > 1:
        raise bad(" / ".join(label(n) for n in given), "give only one way to name the accessor")
    if "id" in given:
        given["id"] = nexla_ops.parse_id(given["id"], label("id"))
    else:
        given = {name: str(value).strip() for name, value in given.items()}
    if "@" not in given.get("email", "@"):
        raise bad(label("email"), f"expected an email address, got {given['email']!r}")
    model = {"USER": UserAccessor, "TEAM": TeamAccessor, "ORG": OrgAccessor}[kind_text]
    return model(**given, access_roles=tuple(roles))


def _pick(row: dict, *names: str) -> Any:
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
    return None


def accessor_from_row(row: Any, where: str, defaults: dict | None = None) -> _Accessor:
    """Accessor from a file row; keys may be `type/id/email/name/access_roles` or the
    `accessor_*`/`roles` spellings of the command-line flags."""
    if not isinstance(row, dict):
        raise bad(where.rstrip(": "), f"expected an object, got {type(row).__name__}")
    defaults = defaults or {}
    kind = _pick(row, "accessor_type", "type") or defaults.get("type")
    ident = {name: _pick(row, f"accessor_{name}", name) for name in ("id", "email", "name")}
    if not any(value is not None for value in ident.values()):
        ident = {name: defaults.get(name) for name in ("id", "email", "name")}
    roles_value = _pick(row, "access_roles", "roles", "role")
    roles = (parse_roles(roles_value, f"{where}roles") if roles_value is not None
             else list(defaults.get("roles", [])))
    return build_accessor(kind, ident, roles, lambda name: f"{where}accessor_{name}")


def cli_label(name: str) -> str:
    return f"--accessor-{name}"


def read_rows(path: str, what: str = "rows") -> list:
    """Rows from a CSV file (header line) or a JSON/YAML file (a list, or {"rows"/"accessors": [...]})."""
    if path.lower().endswith(".csv"):
        import io

        text = nexla_ops.files.read_input_text(path)  # a bounded regular UTF-8 file
        return [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
                for row in csv.DictReader(io.StringIO(text, newline=""))]
    data = nexla_ops.load_structured_file(path)
    if isinstance(data, dict):
        for key in ("rows", "accessors"):
            if isinstance(data.get(key), list):
                return data[key]
    if not isinstance(data, list):
        raise bad("--from-file", f"expected a list of {what}")
    return data


def desired_list(rows: Any, where: str) -> list[_Accessor]:
    """A full desired accessor list from a file (each entry needs roles; no duplicates)."""
    if not isinstance(rows, list):
        raise bad(where.rstrip(": "), "expected a list of accessors")
    accessors: list[_Accessor] = []
    for number, row in enumerate(rows, start=1):
        entry_where = f"{where}accessor {number}: "
        accessor = accessor_from_row(row, entry_where)
        if not accessor.access_roles:
            raise bad(entry_where + "access_roles",
                      "at least one role is required (leave the accessor out to remove it)")
        if find_accessor(accessors, accessor):
            raise bad(entry_where + "accessor", f"{describe(accessor)} is listed twice")
        accessors.append(accessor)
    return accessors
