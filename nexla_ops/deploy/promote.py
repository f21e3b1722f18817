"""Promoting a deployment to another environment: `--credential-map map.yaml`.

The same config deploys to dev and prod (another --env-file, another API), but credentials
differ by name or id between the two. The map rewrites the config's credential references
before it is validated and planned, so the plan, a saved plan and the rollback all see the
prod config. Keys are the config's credential names (entries of `credentials`) or ids (its
`data_credentials_id` / `credential_id` values); values are the other environment's names
or ids:

    orders-s3-dev: orders-s3-prod     # a name for a name
    warehouse-pg-dev: 4711            # a name for an existing credential's id
    11: 12                            # an id for an id
"""

from __future__ import annotations

import copy
import re
from typing import Any

import nexla_ops

_NAME = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,255}$")
Ref = str | int  # a credential name or id


def _ref(value: Any, where: str) -> Ref:
    if isinstance(value, bool):
        raise nexla_ops.BadInput(f"{where}: expected a credential name or id, got a boolean")
    if isinstance(value, int):
        if not 0 < value < 2**63:
            raise nexla_ops.BadInput(f"{where}: expected a positive credential id, got "
                                     f"{str(value)[:30]}")
        return value
    if isinstance(value, str):
        if value.isascii() and value.isdigit():  # JSON keys are strings: "11" is the id 11
            return _ref(int(value), where)
        if _NAME.match(value):
            return value
        raise nexla_ops.BadInput(f"{where}: expected a credential name (1-255 characters, no "
                                 "control characters)")
    raise nexla_ops.BadInput(f"{where}: expected a credential name or id, got "
                             f"{type(value).__name__}")


def load_credential_map(path: str) -> dict[Ref, Ref]:
    doc = nexla_ops.load_structured_file(path)
    if not isinstance(doc, dict) or not doc:
        raise nexla_ops.BadInput("--credential-map: expected a mapping of this environment's "
                                 "credential names or ids to the other's (name: name, or id)")
    mapping: dict[Ref, Ref] = {}
    for key, value in doc.items():
        source = _ref(key, f"--credential-map: key {str(key)[:60]!r}")
        mapping[source] = _ref(value, f"--credential-map: {source!r}")
    return mapping


def map_credentials(raw: Any, mapping: dict[Ref, Ref], where: str, *,
                    strict: bool = True) -> Any:
    """A copy of the config with its credential references mapped. BadInput for a key that
    the config does not use (a typo would otherwise deploy with the dev credential), unless
    not `strict` (a directory's map: checked against all its files by unused_keys)."""
    cfg, used = _mapped(raw, mapping)
    unused = [k for k in mapping if k not in used]
    if strict and unused:
        raise nexla_ops.BadInput(f"--credential-map: {', '.join(map(repr, unused[:5]))} "
                                 f"{'is' if len(unused) == 1 else 'are'} not a credential "
                                 f"{where} uses")
    return cfg


def used_keys(raw: Any, mapping: dict[Ref, Ref]) -> set[Ref]:
    """The map's keys that the config uses."""
    return _mapped(raw, mapping)[1]


def _mapped(raw: Any, mapping: dict[Ref, Ref]) -> tuple[Any, set[Ref]]:
    if not isinstance(raw, dict):
        return raw, set()  # validate_config says what is wrong with it
    cfg = copy.deepcopy(raw)
    used: set[Ref] = set()
    entries = cfg.get("credentials") if isinstance(cfg.get("credentials"), list) else []
    added: list[str] = []  # names an id was mapped to: they need an entry of their own

    # Every reference and entry is mapped once, from its original value, so a swap
    # (a: b, b: a) swaps instead of cancelling out.
    def ref(spec: Any) -> None:
        if not isinstance(spec, dict):
            return
        name, cred_id = spec.get("credential"), spec.get("data_credentials_id")
        if isinstance(name, str) and name in mapping:
            used.add(name)
            target = mapping[name]
            if isinstance(target, int):
                del spec["credential"]
                spec["data_credentials_id"] = target
            else:
                spec["credential"] = target
        elif type(cred_id) is int and cred_id in mapping:
            used.add(cred_id)
            target = mapping[cred_id]
            if isinstance(target, int):
                spec["data_credentials_id"] = target
            else:
                del spec["data_credentials_id"]
                spec["credential"] = target
                added.append(target)

    ref(cfg.get("source"))
    destinations = cfg.get("destinations")
    for spec in [cfg.get("destination"), *(destinations if isinstance(destinations, list)
                                            else [])]:
        ref(spec)
    mapped_entries = []
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name in mapping:
            used.add(name)
            target = mapping[name]
            if isinstance(target, int):
                continue  # the other environment's existing credential, by id
            entry = {**entry, "name": target}
        mapped_entries.append(entry)
    names = {e.get("name") for e in mapped_entries if isinstance(e, dict)}
    for name in dict.fromkeys(added):
        if name not in names:
            mapped_entries.append({"name": name})
    if mapped_entries or "credentials" in cfg:
        cfg["credentials"] = mapped_entries
    default = cfg.get("credential_id")
    if type(default) is int and default in mapping:
        used.add(default)
        target = mapping[default]
        if isinstance(target, str):
            raise nexla_ops.BadInput(f"--credential-map: {default} is the config's credential_id "
                                     "(the default credential), which takes an id, not a name")
        cfg["credential_id"] = target
    return cfg, used
