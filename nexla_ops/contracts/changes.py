"""How one nexset shape became another: each field's change, additive or breaking.

An added field is additive: consumers that ignore unknown fields keep working. A removed or
renamed field, a changed type and a changed nullability are breaking: a destination mapped to
the old shape writes nulls or fails. A rename is a removed and an added field of the same type
that keep their name under another parent (a move), or their parent under another name;
among several candidates the nearest by position in the schema. It is reported once: the
fields beneath a renamed, removed or added object are not reported again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fields import FieldType, leaf_of, parent_of

ADDED, REMOVED, RENAMED = "added", "removed", "renamed"
TYPE_CHANGED, NULLABILITY_CHANGED = "type_changed", "nullability_changed"
BREAKING_KINDS = (REMOVED, RENAMED, TYPE_CHANGED, NULLABILITY_CHANGED)


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    field: str  # the field's path in the baseline (for an added field, in the live schema)
    before: FieldType | None = None
    after: FieldType | None = None
    renamed_to: str | None = None

    @property
    def breaking(self) -> bool:
        return self.kind in BREAKING_KINDS

    def describe(self) -> str:
        if self.kind == ADDED:
            return f"{self.field} added ({self.after.label})"
        if self.kind == REMOVED:
            return f"{self.field} removed (was {self.before.label})"
        if self.kind == RENAMED:
            return f"{self.field} renamed to {self.renamed_to} ({self.before.label})"
        if self.kind == TYPE_CHANGED:
            return f"{self.field} type {self.before.label} -> {self.after.label}"
        was = "nullable" if self.before.nullable else "not nullable"
        now = "nullable" if self.after.nullable else "not nullable"
        return f"{self.field} {was} -> {now}"

    def to_doc(self) -> dict:
        doc = {"kind": self.kind, "field": self.field, "breaking": self.breaking,
               "message": self.describe()}
        if self.before is not None:
            doc["before"] = self.before.to_doc()
        if self.after is not None:
            doc["after"] = self.after.to_doc()
        if self.renamed_to is not None:
            doc["renamed_to"] = self.renamed_to
        return doc


def _pair_renames(removed: list[str], added: list[str], before: dict, after: dict,
                  order_before: dict, order_after: dict) -> dict[str, str]:
    """{old path: new path} for removed/added fields that look like one field renamed: first
    a field moved under another parent keeping its name and type (customer.country ->
    country), then one under the same parent keeping its type (amount -> total). Among
    several candidates the nearest by position wins: a rename keeps the field where it was."""
    pairs: dict[str, str] = {}
    free = list(added)
    for same in (lambda old, new: leaf_of(old) == leaf_of(new),
                 lambda old, new: parent_of(old) == parent_of(new)):
        for old in (path for path in removed if path not in pairs):
            candidates = [new for new in free if same(old, new)
                          and after[new].types == before[old].types]
            if candidates:
                new = min(candidates, key=lambda n: abs(order_after[n] - order_before[old]))
                pairs[old] = new
                free.remove(new)
    return pairs


def _under(path: str, roots) -> bool:
    """Is `path` beneath one of `roots` (an object's properties, or its array's items)?"""
    return any(path.startswith(root + ".") or path.startswith(root + "[]") for root in roots)


def _outermost(renames: dict[str, str]) -> dict[str, str]:
    """The renames not inside another renamed object: the others follow from them."""
    return {old: new for old, new in renames.items()
            if not _under(old, renames) and not _under(new, renames.values())}


def _as_before(path: str, roots: dict[str, str]) -> str:
    """A live path under a renamed object, spelt as in the baseline (shipping.zip ->
    billing.zip for billing renamed to shipping), so what changed inside it is compared."""
    for old, new in roots.items():
        if path == new or _under(path, [new]):
            return old + path[len(new):]
    return path


def classify(before: dict[str, FieldType], after: dict[str, FieldType]) -> list[Change]:
    """Every change from `before` to `after` (fields.schema_fields of each), breaking first,
    then in the baseline's field order."""
    order_before = {path: i for i, path in enumerate(before)}
    order_after = {path: i for i, path in enumerate(after)}
    renames = _outermost(_pair_renames([p for p in before if p not in after],
                                       [p for p in after if p not in before],
                                       before, after, order_before, order_after))
    # The live schema seen through the renames: each renamed object's fields under their
    # baseline paths, and where each of those lives now.
    live = {_as_before(path, renames): path for path in after}
    seen = {old: after[now] for old, now in live.items()}
    changes: list[Change] = [Change(RENAMED, old, before[old], after[new], renamed_to=new)
                             for old, new in renames.items()]
    gone = [p for p in before if p not in seen]
    for path in gone:
        if not _under(path, gone):  # a removed object is one change, not one per field
            changes.append(Change(REMOVED, path, before[path], None))
    for path in before:
        if path not in seen or path in renames:  # a rename's own before/after say the rest
            continue
        was, now = before[path], seen[path]
        if was.types != now.types:
            changes.append(Change(TYPE_CHANGED, path, was, now))
        elif was.nullable != now.nullable:
            changes.append(Change(NULLABILITY_CHANGED, path, was, now))
    new = [p for p in seen if p not in before]
    for path in new:
        if not _under(path, new):
            changes.append(Change(ADDED, live[path], None, seen[path]))
    rank = {kind: i for i, kind in enumerate(BREAKING_KINDS + (ADDED,))}
    position = {**{live[p]: order_after[live[p]] for p in new}, **order_before}
    return sorted(changes, key=lambda c: (not c.breaking, position.get(c.field, 0), rank[c.kind]))
