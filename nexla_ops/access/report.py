"""Text renderings of the results the operations return (plain dicts in, table text out).

No pydantic here: everything is read from the JSON-shaped results, so a caller that already has
them (the command line, a future MCP server) can render without the models.
"""

from __future__ import annotations

import nexla_ops


def roles_text(roles: list[str] | None) -> str:
    return ",".join(roles) if roles else "(none)"


def accessors_text(entries: list[dict]) -> str:
    return "; ".join(f"{e['type']} {e.get('id') or e.get('email') or e.get('name')}="
                     f"{','.join(e['access_roles'])}" for e in entries) or "(none)"


def _label(resource: dict) -> str:
    return f"{resource['type']}/{resource['id']}"


def _accessor_text(ident: dict) -> str:
    return " ".join(str(v) for v in ident.values())  # as describe(), from JSON


def list_table(result: dict) -> str:
    """The accessors of list_accessors()'s result as a table (empty list: call no_accessors)."""
    return nexla_ops.format_table(
        [{"type": a["type"], "id": a.get("id"), "email/name": a.get("email") or a.get("name"),
          "roles": ",".join(a["access_roles"])}
         for a in result["accessors"]], ["type", "id", "email/name", "roles"])


def text_row(r: dict) -> dict:
    ident = r["accessor"]
    return {
        "row": r.get("row"),
        "result": r["result"],
        "resource": _label(r["resource"]),
        "accessor": _accessor_text(ident),
        "before": roles_text(r.get("before")) if "before" in r else "",
        "after": roles_text(r.get("after")) if "after" in r else "",
        "error": r.get("error", ""),
    }


def failed_rows(result: dict) -> list[dict]:
    return [r for r in result["results"] if r["result"] == "failed"]


def changes_table(result: dict, bulk: bool) -> str:
    """grant_revoke()'s result as a table; bulk adds the file's row numbers."""
    columns = (["row"] if bulk else []) + ["result", "resource", "accessor", "before", "after"]
    if failed_rows(result):
        columns.append("error")
    return nexla_ops.format_table([text_row(r) for r in result["results"]], columns)


def set_text(result: dict) -> list[str]:
    """set_accessors()'s result as lines: the outcome, then before/after."""
    return [f"{result['result']}: {_label(result['resource'])}",
            nexla_ops.format_table(
                [{"": "before", "accessors": accessors_text(result["before"])},
                 {"": "after", "accessors": accessors_text(result["after"])}],
                ["", "accessors"])]


def audit_table(result: dict) -> str:
    """audit_resources()'s result as a table: one line per drift (or per resource in sync)."""
    reports = result["resources"]
    rows = []
    for r in reports:
        label = _label(r["resource"])
        for d in r.get("drift") or [{}]:
            rows.append({"resource": label, "status": r["status"], "drift": d.get("kind"),
                         "accessor": _accessor_text(d.get("accessor", {})),
                         "actual": roles_text(d["actual"]) if d else "",
                         "desired": roles_text(d["desired"]) if d else "",
                         "error": r.get("error", "")})
    columns = ["resource", "status", "drift", "accessor", "actual", "desired"]
    if any(r.get("error") for r in reports):
        columns.append("error")
    return nexla_ops.format_table(rows, columns)


def unresolved(result: dict) -> list[dict]:
    """The resources of an audit that are not in the desired state when it ends."""
    return [r for r in result["resources"] if r["status"] not in ("in_sync", "fixed")]
