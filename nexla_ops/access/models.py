"""Accessor models (pydantic) and the accessor list parser: our own, because SDK 1.0.8's
accessor methods crash on non-empty lists (contract 23.3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

import nexla_ops
from nexla_ops.access import (
    IDENTITY_FIELDS,
    ROLES,
)

Role = Literal["owner", "admin", "operator", "collaborator"]


# ---------------------------------------------------------------- accessor models


class _Accessor(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    id: int | None = Field(default=None, gt=0)
    access_roles: tuple[Role, ...] = ()

    @model_validator(mode="after")
    def _has_identity(self):
        if all(getattr(self, name) is None for name in IDENTITY_FIELDS[self.type]):
            raise ValueError(f"{self.type} accessor needs one of: {', '.join(IDENTITY_FIELDS[self.type])}")
        return self


class UserAccessor(_Accessor):
    type: Literal["USER"] = "USER"
    email: str | None = None


class TeamAccessor(_Accessor):
    type: Literal["TEAM"] = "TEAM"
    name: str | None = None


class OrgAccessor(_Accessor):
    type: Literal["ORG"] = "ORG"
    client_identifier: str | None = None
    email_domain: str | None = None


Accessor = Annotated[UserAccessor | TeamAccessor | OrgAccessor, Field(discriminator="type")]
_ACCESSOR_LIST = TypeAdapter(list[Accessor])


def _normalised(item: Any) -> Any:
    """Accessor JSON with the type upper-cased and roles lower-cased, so parsing is exact."""
    if not isinstance(item, dict):
        return item
    item = dict(item)
    if isinstance(item.get("type"), str):
        item["type"] = item["type"].strip().upper()
    if isinstance(item.get("access_roles"), list):
        item["access_roles"] = [r.strip().lower() if isinstance(r, str) else r for r in item["access_roles"]]
    return item


def parse_accessor_list(body: Any, where: str) -> list[_Accessor]:
    """Parse the API's bare accessor array (a 204/empty body means no accessors)."""
    if body is None:
        return []
    if not isinstance(body, list):
        raise nexla_ops.ApiError(f"unexpected accessor response from {where}: expected a JSON array")
    try:
        return _ACCESSOR_LIST.validate_python([_normalised(item) for item in body])
    except ValidationError as exc:
        first = exc.errors()[0]
        raise nexla_ops.ApiError(
            f"unexpected accessor in response from {where}: "
            f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


def same_accessor(a: _Accessor, b: _Accessor) -> bool:
    """True when a and b name the same principal (the first identity field both carry decides)."""
    if a.type != b.type:
        return False
    for name in IDENTITY_FIELDS[a.type]:
        left, right = getattr(a, name), getattr(b, name)
        if left is not None and right is not None:
            if isinstance(left, str):
                return left.casefold() == right.casefold()
            return left == right
    return False


def find_accessor(accessors: list[_Accessor], wanted: _Accessor) -> _Accessor | None:
    return next((a for a in accessors if same_accessor(a, wanted)), None)


def sorted_roles(roles) -> list[str]:
    return sorted(set(roles), key=ROLES.index)


def identity(a: _Accessor) -> dict:
    """The accessor's identifying fields as JSON (what requests and reports carry)."""
    out = {"type": a.type}
    for name in IDENTITY_FIELDS[a.type]:
        value = getattr(a, name)
        if value is not None:
            out[name] = value
    return out


def describe(a: _Accessor) -> str:
    return " ".join(str(value) for value in identity(a).values())


def accessor_json(a: _Accessor) -> dict:
    return {**identity(a), "access_roles": sorted_roles(a.access_roles)}


def with_roles(a: _Accessor, roles) -> _Accessor:
    return a.model_copy(update={"access_roles": tuple(sorted_roles(roles))})


def owners(accessors: list[_Accessor]) -> list[_Accessor]:
    return [a for a in accessors if "owner" in a.access_roles]
