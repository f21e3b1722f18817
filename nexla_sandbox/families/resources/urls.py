"""Generic CRUD and copy routes."""

from __future__ import annotations

from . import responses as r

GENERIC_KINDS = ("data_credentials", "data_sources", "data_sets", "data_sinks", "teams", "users",
                 "projects", "transforms", "attribute_transforms", "data_maps", "async_tasks",
                 "notifications", "gen_ai_integration_configs", "gen_ai_org_settings",
                 "notification_settings", "notification_channel_settings")
COPYABLE = ("data_credentials", "data_sources", "data_sets", "data_sinks", "transforms",
            "attribute_transforms")
NO_CREATE = ("notifications",)
NO_UPDATE = ("async_tasks",)


def routes() -> list:
    out = []
    for kind in GENERIC_KINDS:
        out.append((f"/{kind}", ["GET"], r.list_kind(kind), True))
        if kind not in NO_CREATE:
            out.append((f"/{kind}", ["POST"], r.create_kind(kind), True))
        out.append((f"/{kind}/<int:id>", ["GET"], r.get_kind(kind), True))
        if kind not in NO_UPDATE:
            out.append((f"/{kind}/<int:id>", ["PUT"], r.update_kind(kind), True))
        out.append((f"/{kind}/<int:id>", ["DELETE"], r.delete_kind(kind), True))
    for kind in COPYABLE:
        out.append((f"/{kind}/<int:id>/copy", ["POST"], r.copy_kind(kind), True))
    return out
