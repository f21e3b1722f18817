"""Filters (name, regex, status, tag, id, owner) parsed from flags and matched on rows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import nexla_ops

# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    name: str | None = None  # lower-cased substring
    name_regex: re.Pattern | None = None
    statuses: frozenset = frozenset()  # upper-cased
    tags: tuple = ()
    ids: tuple = ()
    owner: str | None = None  # lower-cased id, e-mail or full name

    @property
    def client_side(self) -> bool:
        """True when some fetched items may be dropped (so pages should be as big as possible)."""
        return bool(self.name or self.name_regex or self.statuses or self.tags or self.owner)


def parse_filters(args) -> Filters:
    """Filters from parsed args (add_filter_args); BadInput names the bad flag."""
    ids = []
    for raw in getattr(args, "ids", None) or ():
        for part in str(raw).split(","):
            ids.append(nexla_ops.parse_id(part, "--id"))
    name_regex = None
    if getattr(args, "name_regex", None) is not None:
        try:
            name_regex = re.compile(args.name_regex, re.IGNORECASE)
        except re.error as exc:
            raise nexla_ops.BadInput(
                f"--name-regex: not a valid regular expression ({exc})"
            ) from None
    statuses = frozenset(
        part.strip().upper()
        for raw in getattr(args, "status", None) or ()
        for part in raw.split(",")
        if part.strip()
    )
    name = getattr(args, "name", None)
    owner = getattr(args, "owner", None)
    return Filters(
        name=name.lower() if name else None,
        name_regex=name_regex,
        statuses=statuses,
        tags=tuple(t for t in getattr(args, "tag", None) or () if t),
        ids=tuple(dict.fromkeys(ids)),
        owner=owner.strip().lower() if owner and owner.strip() else None,
    )


def matches(filters: Filters, row: dict, owner: dict | None) -> bool:
    names = (row.get("name") or "", row.get("origin_name") or "")
    if filters.name and not any(filters.name in n.lower() for n in names):
        return False
    if filters.name_regex and not any(filters.name_regex.search(n) for n in names):
        return False
    if filters.statuses and str(row.get("status") or "").upper() not in filters.statuses:
        return False
    if filters.tags and not all(tag in (row.get("tags") or ()) for tag in filters.tags):
        return False
    if filters.ids and row.get("id") not in filters.ids:
        return False
    if filters.owner:
        owner = owner or {}
        known = {str(owner.get(k, "")).lower() for k in ("id", "email", "full_name")}
        if filters.owner not in known:
            return False
    return True
