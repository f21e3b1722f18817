"""Permission levels, lowest first: each allows what the ones before it allow."""

from __future__ import annotations

READ, READ_WRITE, READ_WRITE_DELETE = "read", "read-write", "read-write-delete"
SCOPES = (READ, READ_WRITE, READ_WRITE_DELETE)


def allows(granted: str, needed: str) -> bool:
    return SCOPES.index(granted) >= SCOPES.index(needed)
