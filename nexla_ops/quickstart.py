"""The first-run checks (nexla_quickstart.py, `nexla-ops quickstart`): configuration, reaching
the API, authentication, who you are, one page of each resource type, and the next commands to
try. quickstart(ctx) returns the result as data; render_text(result) is the human summary."""

from __future__ import annotations

from typing import Any

import nexla_ops
from nexla_ops.paging import PageWalk

# (label, API path). Each list is counted from its first page or two (count_kind).
KINDS = [(name, "/" + nexla_ops.RESOURCE_TYPES[name])
         for name in ("sources", "nexsets", "destinations", "flows", "credentials")]
SAMPLE_IDS = 3


def identify(current: Any) -> tuple[dict, dict]:
    """(user, org) from the raw GET /users/current body, which nests differently across
    API versions: the user may be top-level or under "user", the org under "org",
    "current_org", "default_org" or the first org membership."""
    body = current if isinstance(current, dict) else {}
    user = body.get("user") if isinstance(body.get("user"), dict) else body
    org: Any = None
    for candidate in (body.get("org"), body.get("current_org"), user.get("org"),
                      user.get("current_org"), user.get("default_org")):
        if isinstance(candidate, dict) and candidate.get("id") is not None:
            org = candidate
            break
    memberships = user.get("org_memberships") or []
    if org is None and memberships and isinstance(memberships[0], dict):
        org = memberships[0]
    org = org or {}
    return ({"id": user.get("id"), "email": user.get("email")},
            {"id": org.get("id"), "name": org.get("name")})


def count_kind(ctx: nexla_ops.Context, label: str, path: str) -> tuple[Any, list]:
    """(count, sample ids) from at most two pages; the count is "N+" when more may follow.

    A page shorter than asked may be the server's own page size rather than the end of the
    list (nexla_ops.paging), so only a second page settles it."""
    def fetch_page(page: int) -> list:
        params = {"page": page, "per_page": nexla_ops.PAGE_SIZE}
        if label == "flows":
            # GET /flows answers one object whose "flows" lists the root flows (contract §9).
            body = ctx.request("GET", path, params={**params, "flows_only": 1}) or {}
            items = (body.get("flows") or []) if isinstance(body, dict) else []
        else:
            items = ctx.request("GET", path, params=params) or []
        if not isinstance(items, list):
            raise nexla_ops.ApiError(f"unexpected response shape from GET {path} (expected a list)")
        return items

    pages = iter(PageWalk(fetch_page, what=f"GET {path}"))
    first = next(pages, [])
    ids = [item.get("id") for item in first if isinstance(item, dict)]
    if len(first) >= nexla_ops.PAGE_SIZE:
        return f"{len(first)}+", ids[:SAMPLE_IDS]
    second = next(pages, []) if first else []
    count: Any = len(first) + len(second)
    if second and len(second) >= len(first):
        count = f"{count}+"
    return count, ids[:SAMPLE_IDS]


def next_commands(result: dict, sandbox: bool) -> list[str]:
    from nexla_ops.commands import command_line

    suffix = " --sandbox" if sandbox else ""
    source_ids = result["samples"].get("sources") or []
    nexset_ids = result["samples"].get("nexsets") or []
    logs = command_line("get_resource_logs")
    logs = (f"{logs} --resource-type data_sets --resource-id {nexset_ids[0]}{suffix}"
            if nexset_ids else
            f"{logs} --resource-type data_sources --resource-id {source_ids[0]}{suffix}"
            if source_ids else f"{command_line('deploy_flow')} --print-schema{suffix}")
    return [
        f"{command_line('list_resources')} --type sources --limit 5{suffix}",
        f"{command_line('health_check')} --all{suffix}",
        logs,
    ]


def quickstart(ctx: nexla_ops.Context) -> dict:
    """Run the checks; raises OpsError (with .partial set to what was learned) on failure."""
    result: dict[str, Any] = {"api_url": None, "auth_mode": None, "sandbox": False,
                              "user": None, "org": None, "counts": {}, "samples": {},
                              "next_commands": [], "ok": False}
    try:
        config = ctx.config  # exit 3: malformed URL or settings
        result.update(api_url=config.api_url, auth_mode=config.auth_mode,
                      sandbox=config.sandbox)
        _ = ctx.client  # exit 3: no credentials
        ctx.log("checking %s (%s)", config.api_url, config.auth_mode.replace("_", " "))
        user, org = identify(ctx.current_user())  # reaches the API and authenticates
        result.update(user=user, org=org)
        for label, path in KINDS:
            try:
                result["counts"][label], result["samples"][label] = count_kind(ctx, label, path)
            except nexla_ops.AuthError as exc:
                if exc.status == 401:
                    raise
                # A role without list rights on one type is worth reporting, not fatal.
                ctx.warn("%s: %s", label, exc.message)
                result["counts"][label], result["samples"][label] = None, []
        result["next_commands"] = next_commands(result, config.sandbox)
        result["ok"] = True
        return result
    except nexla_ops.OpsError as exc:
        exc.partial = result
        raise


def render_text(result: dict) -> str:
    user, org = result["user"] or {}, result["org"] or {}
    lines = [
        "Nexla quickstart: OK",
        f"  API       {result['api_url']}" + ("  (local sandbox)" if result["sandbox"] else ""),
        f"  auth      {result['auth_mode'].replace('_', ' ')}",
        f"  user      {user.get('email')} (id {user.get('id')})",
        f"  org       {org.get('name')} (id {org.get('id')})",
        "",
        "  resource       count  sample ids",
    ]
    for label, _ in KINDS:
        count = result["counts"].get(label)
        ids = ", ".join(str(i) for i in result["samples"].get(label) or []) or "-"
        lines.append(f"  {label:<13} {'?' if count is None else count!s:>6}  {ids}")
    lines += ["", "Next, try:"] + [f"  {cmd}" for cmd in result["next_commands"]]
    return "\n".join(lines)

