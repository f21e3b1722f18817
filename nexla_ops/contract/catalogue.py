"""The operator endpoints: the GETs a script, a doc block or the metrics family uses.

This is the one list the checker and tests/test_contract.py walk. Each entry names the
reference operation (the digest key its schema is filed under in schemas/), the path to call
with `{placeholders}` filled by discovery (discovery.py), the query the operator sends, and
the SDK 1.0.8 model that parses the answer (None where the SDK hands back the plain dict).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

SDK = "nexla_sdk.models"


@dataclass(frozen=True)
class Endpoint:
    key: str            # "GET /data_sources/{source_id}": the reference operation
    path: str           # "/data_sources/{source}": placeholders are discovery's id names
    used_by: str        # where the operator calls it (script, module or doc)
    params: dict = field(default_factory=dict)  # values may hold {placeholders} too
    sdk_model: str | None = None  # "module:Name" under nexla_sdk.models
    sdk_many: bool = False        # the SDK parses each item of a bare array
    optional: tuple = ()          # documented fields the reference's prose says this call omits

    @property
    def name(self) -> str:
        """The key plus its query, which tells apart two calls of one operation."""
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"GET {self.path}" + (f"?{query}" if query else "")


def _e(key, path, used_by, params=None, model=None, many=False, optional=()):
    return Endpoint(key, path, used_by, dict(params or {}), model and f"{SDK}.{model}", many,
                    tuple(optional))


# The reference's flows_only: "flows responses include sub-lists of the resources ... If you
# do not need resource details ... include the flows_only query parameter"; run metrics come
# only with include_run_metrics.
_FLOW_RESOURCES = ("code_containers", "data_credentials", "data_sets", "data_sinks",
                   "data_sources", "orgs", "projects", "shared_data_sets", "users")
FLOWS_ONLY = (*_FLOW_RESOURCES, "metrics")


OPERATOR_ENDPOINTS: tuple[Endpoint, ...] = (
    _e("GET /users/current", "/users/current", "nexla_ops/context.py (quickstart, every "
       "--owner filter)"),
    # resources: list_resources, batch_operations, rotate_credential, deploy_flow
    _e("GET /data_sources", "/data_sources", "list_resources.py", {"page": 1, "per_page": 5},
       "sources.responses:Source", True),
    _e("GET /data_sources/{source_id}", "/data_sources/{source}", "batch_operations.py, "
       "rotate_credential.py", model="sources.responses:Source"),
    _e("GET /data_sources/{source_id}?expand=1", "/data_sources/{source}", "deploy_flow.py",
       {"expand": 1}, "sources.responses:Source"),
    _e("GET /data_sets", "/data_sets", "list_resources.py", {"page": 1, "per_page": 5},
       "nexsets.responses:Nexset", True),
    _e("GET /data_sets/{set_id}", "/data_sets/{nexset}", "validate_transform.py, "
       "deploy_flow.py", model="nexsets.responses:Nexset"),
    _e("GET /data_sets/{set_id}/samples", "/data_sets/{nexset}/samples",
       "validate_transform.py", {"count": 5, "include_metadata": "true"},
       "nexsets.responses:NexsetSample", True),
    _e("GET /data_sinks", "/data_sinks", "list_resources.py", {"page": 1, "per_page": 5},
       "destinations.responses:Destination", True),
    _e("GET /data_sinks/{sink_id}", "/data_sinks/{sink}", "batch_operations.py, "
       "rotate_credential.py", model="destinations.responses:Destination"),
    _e("GET /data_credentials", "/data_credentials", "list_resources.py",
       {"page": 1, "per_page": 5}, "credentials.responses:Credential", True),
    _e("GET /data_credentials/{credential_id}", "/data_credentials/{credential}",
       "rotate_credential.py", model="credentials.responses:Credential"),
    _e("GET /data_credentials/{credential_id}/probe", "/data_credentials/{credential}/probe",
       "rotate_credential.py, deploy_flow.py"),
    # flows: list_resources, health_check, batch_operations, get_resource_logs
    _e("GET /flows", "/flows", "list_resources.py", {"flows_only": 1, "page": 1, "per_page": 5},
       "flows.responses:FlowResponse", optional=FLOWS_ONLY),
    _e("GET /flows", "/flows", "health_check.py", {"include_run_metrics": 1, "page": 1,
                                                   "per_page": 5},
       "flows.responses:FlowResponse"),
    _e("GET /flows/{flow_id}", "/flows/{flow}", "batch_operations.py, get_resource_logs.py",
       {"flows_only": 1}, "flows.responses:FlowResponse", optional=FLOWS_ONLY),
    _e("GET /{resource_type}/{resource_id}/flow", "/data_sources/{source}/flow",
       "deploy_flow.py, rotate_credential.py", {"flows_only": 1},
       "flows.responses:FlowResponse", optional=FLOWS_ONLY),
    # access: manage_access (every type it accepts reads /{type}/{id}/accessors)
    _e("GET /data_sources/{data_source_id}/accessors", "/data_sources/{source}/accessors",
       "manage_access.py", model="access.responses:AccessorResponse", many=True),
    _e("GET /data_sets/{data_set_id}/accessors", "/data_sets/{nexset}/accessors",
       "manage_access.py", model="access.responses:AccessorResponse", many=True),
    _e("GET /data_sinks/{data_sink_id}/accessors", "/data_sinks/{sink}/accessors",
       "manage_access.py", model="access.responses:AccessorResponse", many=True),
    _e("GET /data_credentials/{data_credential_id}/accessors",
       "/data_credentials/{credential}/accessors", "manage_access.py",
       model="access.responses:AccessorResponse", many=True),
    _e("GET /flows/{flow_id}/accessors", "/flows/{flow}/accessors", "manage_access.py",
       model="access.responses:AccessorResponse", many=True),
    _e("GET /projects/{project_id}/accessors", "/projects/{project}/accessors",
       "manage_access.py", model="access.responses:AccessorResponse", many=True),
    _e("GET /teams/{team_id}/accessors", "/teams/{team}/accessors", "manage_access.py",
       model="access.responses:AccessorResponse", many=True),
    # async tasks: async_task.py (nexla_ops/tasks.py)
    _e("GET /async_tasks/types", "/async_tasks/types", "async_task.py"),
    _e("GET /async_tasks/of_type/{task_type}", "/async_tasks/of_type/{task_type}",
       "async_task.py", model="async_tasks.responses:AsyncTask", many=True),
    _e("GET /async_tasks/{task_id}", "/async_tasks/{task}", "async_task.py",
       model="async_tasks.responses:AsyncTask"),
    _e("GET /async_tasks/{task_id}/result", "/async_tasks/{task}/result", "async_task.py"),
    # metrics and logs: get_resource_logs, health_check, REFERENCE.md "Metrics"
    _e("GET /{resource_type}/{resource_id}/metrics/run_summary",
       "/data_sources/{source}/metrics/run_summary", "health_check.py, get_resource_logs.py",
       {"page": 1, "size": 5}, "metrics.responses:MetricsByRunResponse"),
    _e("GET /{resource_type}/{resource_id}/metrics", "/data_sources/{source}/metrics",
       "metrics family (client.metrics.get_resource_daily_metrics)",
       {"from": "{since}", "aggregate": 1}, "metrics.responses:MetricsResponse"),
    _e("GET /data_flows/{resource_type}/{resource_id}/metrics",
       "/data_flows/data_sources/{source}/metrics", "metrics family",
       {"from": "{since}"}),
    _e("GET /data_flows/{resource_type}/{resource_id}/logs",
       "/data_flows/data_sources/{source}/logs", "metrics family",
       {"run_id": "{run}", "from": "{since_ms}"}),
    _e("GET /users/{user_id}/flows/account_metrics", "/users/{user}/flows/account_metrics",
       "metrics family (client.users.get_account_metrics)", {"from": "{since}"}),
    _e("GET /orgs/{org_id}/flows/account_metrics", "/orgs/{org}/flows/account_metrics",
       "metrics family (client.organizations.get_account_metrics)",
       {"from": "{since}"}),
    _e("GET /users/{user_id}/flows/dashboard", "/users/{user}/flows/dashboard",
       "metrics family (client.users.get_dashboard_metrics)"),
    _e("GET /users/{user_id}/metrics", "/users/{user}/metrics",
       "metrics family (client.users.get_daily_metrics)",
       {"resource_type": "SOURCE", "from": "{since}", "aggregate": 1}),
    _e("GET /limits", "/limits", "metrics family (client.metrics.get_rate_limits)"),
)


def select(pattern: str | None) -> list[Endpoint]:
    """The endpoints named exactly `pattern`, else those whose name or reference key matches
    it as a shell-style pattern (a plain substring matches too); all without one."""
    if not pattern:
        return list(OPERATOR_ENDPOINTS)
    exact = [e for e in OPERATOR_ENDPOINTS if pattern in (e.name, e.key)]
    if exact:  # a name as the table prints it ("?" in it is the query, not a wildcard)
        return exact
    glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
    return [e for e in OPERATOR_ENDPOINTS
            if fnmatch.fnmatchcase(e.name, glob) or fnmatch.fnmatchcase(e.key, glob)]
