"""URL map: API-relative paths (under /nexla-api) → handlers in responses.py."""

from __future__ import annotations

from werkzeug.routing import Map, Rule

from . import responses as r

GENERIC_KINDS = ("data_credentials", "data_sources", "data_sets", "data_sinks", "teams", "users",
                 "projects", "transforms", "attribute_transforms", "data_maps", "async_tasks",
                 "notifications", "gen_ai_integration_configs", "gen_ai_org_settings",
                 "notification_settings", "notification_channel_settings")
COPYABLE = ("data_credentials", "data_sources", "data_sets", "data_sinks", "transforms",
            "attribute_transforms")
NO_CREATE = ("notifications",)
NO_UPDATE = ("async_tasks",)


def _routes():
    """(path, methods, handler, needs_auth)."""
    routes = [
        ("/token", ["POST"], r.token, False),
        ("/token/logout", ["POST"], r.logout, False),
        ("/users/current", ["GET"], r.current_user, True),
        ("/user_settings", ["GET"], r.user_settings, True),
        ("/orgs", ["GET"], r.list_kind("orgs"), True),
        ("/orgs/<int:id>", ["GET"], r.get_kind("orgs"), True),
        ("/limits", ["GET"], r.limits, True),
        # flows
        ("/flows", ["GET"], r.list_flows, True),
        ("/flows/<int:id>", ["GET"], r.get_flow, True),
        ("/flows/<int:id>", ["DELETE"], r.delete_flow, True),
        ("/flows/<int:id>/activate", ["PUT"], r.flow_status("ACTIVE"), True),
        ("/flows/<int:id>/pause", ["PUT"], r.flow_status("PAUSED"), True),
        ("/flows/<int:id>/copy", ["POST"], r.copy_flow, True),
        ("/flows/<int:id>/logs", ["GET"], r.flow_logs, True),
        ("/flows/<int:id>/logs_v2", ["POST"], r.flow_logs_v2, True),
        ("/flows/<int:id>/run_status/<int:run_id>", ["GET"], r.run_status, True),
        ("/flows/<int:id>/docs/recommendation", ["POST"], r.docs_recommendation, True),
        # credentials
        ("/data_credentials/<int:id>/probe", ["GET"], r.probe, True),
        ("/data_credentials/<int:id>/probe/tree", ["POST"], r.probe_tree, True),
        ("/data_credentials/<int:id>/probe/sample", ["POST"], r.probe_sample, True),
        # nexsets
        ("/data_sets/<int:id>/samples", ["GET"], r.samples, True),
        ("/data_sets/<int:id>/docs", ["GET"], r.list_docs, True),
        ("/data_sets/<int:id>/docs", ["POST"], r.update_docs, True),
        ("/data_sets/<int:id>/docs/recommendation", ["POST"], r.nexset_docs_recommendation, True),
        # teams
        ("/teams/<int:id>/members", ["GET"], r.team_members("get"), True),
        ("/teams/<int:id>/members", ["PUT"], r.team_members("merge"), True),
        ("/teams/<int:id>/members", ["POST"], r.team_members("replace"), True),
        ("/teams/<int:id>/members", ["DELETE"], r.team_members("remove"), True),
        # projects
        ("/projects/<int:id>/flows", ["GET"], r.project_flows("get"), True),
        ("/projects/<int:id>/flows", ["PUT"], r.project_flows("merge"), True),
        ("/projects/<int:id>/flows", ["POST"], r.project_flows("replace"), True),
        ("/projects/<int:id>/flows", ["DELETE"], r.project_flows("remove"), True),
        ("/projects/<int:id>/flows/search", ["POST"], r.project_flows("search"), True),
        # transforms
        ("/transforms/public", ["GET"], r.public_transforms("transforms"), True),
        ("/attribute_transforms/public", ["GET"], r.public_transforms("attribute_transforms"), True),
        # lookups
        ("/data_maps/<int:id>/entries", ["PUT"], r.upsert_entries, True),
        ("/data_maps/<int:id>/entries/<path:keys>", ["GET"], r.get_entries, True),
        ("/data_maps/<int:id>/entries/<path:keys>", ["DELETE"], r.delete_entries, True),
        # notifications
        ("/notifications/count", ["GET"], r.notification_count, True),
        ("/notifications/all", ["DELETE"], r.delete_all_notifications, True),
        ("/notifications/mark_read", ["PUT"], r.mark_notifications(True), True),
        ("/notifications/mark_unread", ["PUT"], r.mark_notifications(False), True),
        ("/notification_types", ["GET"], r.notification_types, True),
        ("/notification_types/list", ["GET"], r.notification_type, True),
        ("/notification_settings/notification_types/<int:type_id>", ["GET"],
         r.notification_settings_where, True),
        ("/notification_settings/<resource_type>/<int:resource_id>", ["GET"],
         r.notification_settings_where, True),
        # async tasks
        ("/async_tasks/types", ["GET"], r.task_types, True),
        ("/async_tasks/of_type/<value>", ["GET"], r.tasks_where("type"), True),
        ("/async_tasks/by_status/<value>", ["GET"], r.tasks_where("status"), True),
        ("/async_tasks/explain_arguments/<value>", ["GET"], r.explain_task, True),
        ("/async_tasks/<int:id>/rerun", ["POST"], r.rerun_task, True),
        ("/async_tasks/<int:id>/result", ["GET"], r.task_result, True),
        ("/async_tasks/<int:id>/download_link", ["GET"], r.task_download, True),
        ("/async_tasks/<int:id>/acknowledge", ["POST"], r.task_ack, True),
        # genai
        ("/gen_ai_org_settings/active_config", ["GET"], r.active_genai_config, True),
    ]
    for kind in GENERIC_KINDS:
        routes.append((f"/{kind}", ["GET"], r.list_kind(kind), True))
        if kind not in NO_CREATE:
            routes.append((f"/{kind}", ["POST"], r.create_kind(kind), True))
        routes.append((f"/{kind}/<int:id>", ["GET"], r.get_kind(kind), True))
        if kind not in NO_UPDATE:
            routes.append((f"/{kind}/<int:id>", ["PUT"], r.update_kind(kind), True))
        routes.append((f"/{kind}/<int:id>", ["DELETE"], r.delete_kind(kind), True))
    for kind in COPYABLE:
        routes.append((f"/{kind}/<int:id>/copy", ["POST"], r.copy_kind(kind), True))
    for kind in r.ACCESSOR_KINDS:
        for method, mode in (("GET", "get"), ("PUT", "merge"), ("POST", "replace"),
                             ("DELETE", "remove")):
            routes.append((f"/{kind}/<int:id>/accessors", [method], r.accessors(kind, mode), True))
        routes.append((f"/{kind}/<int:id>/audit_log", ["GET"], r.audit_log(kind), True))
    for kind in ("data_sources", "data_sets", "data_sinks"):
        routes += [
            (f"/{kind}/<int:id>/activate", ["PUT"], r.resource_status(kind, "ACTIVE"), True),
            (f"/{kind}/<int:id>/pause", ["PUT"], r.resource_status(kind, "PAUSED"), True),
            (f"/{kind}/<int:id>/flow", ["GET"], r.resource_flow(kind), True),
            (f"/{kind}/<int:id>/flow", ["DELETE"], r.delete_resource_flow(kind), True),
            (f"/{kind}/<int:id>/flow/logs", ["GET"], r.resource_flow_logs(kind), True),
            (f"/{kind}/<int:id>/flow/metrics", ["GET"], r.resource_flow_metrics(kind), True),
            (f"/{kind}/<int:id>/metrics", ["GET"], r.daily_metrics(kind), True),
            (f"/{kind}/<int:id>/metrics/run_summary", ["GET"], r.run_summary(kind), True),
        ]
    return routes


def build_map() -> tuple[Map, dict]:
    """The API url map and endpoint → (handler, needs_auth)."""
    rules, endpoints = [], {}
    for i, (path, methods, handler, auth) in enumerate(_routes()):
        name = f"e{i}"
        rules.append(Rule(path, methods=methods, endpoint=name))
        endpoints[name] = (handler, auth)
    rules.append(Rule("/webhook/<int:id>", methods=["POST"], endpoint="webhook"))
    endpoints["webhook"] = (r.webhook, False)
    return Map(rules, strict_slashes=False, merge_slashes=False), endpoints
