"""The assembled Domain: BaseDomain (domain.py) plus each resource family's rules mixin.

Families keep their state and domain rules in families/<family>/models.py (no HTTP there);
this module composes them into the one Domain the server, seed and control API use, and
re-exports the shared names (ApiError, Settings, ...) that used to live here.
"""

from __future__ import annotations

from .domain import (
    FIRST_RUN_DELAY,
    FLOW_KINDS,
    ID_FLOOR,
    LABEL,
    MAX_CATCH_UP_RUNS,
    NODE_FIELD,
    ROLE_RANK,
    ROLES,
    RUN_INTERVAL,
    ApiError,
    BaseDomain,
    Settings,
    iso,
    not_found,
    parse_time,
)
from .families.access.models import AccessModel
from .families.auth.models import TOKEN_TTL, AuthModel
from .families.credentials.models import CredentialModel
from .families.destinations.models import DestinationModel
from .families.flows.models import FlowModel
from .families.metrics.models import FAIL_MESSAGES, RunModel
from .families.nexsets.models import NexsetModel
from .families.resources.models import NOT_COPIED, CopyModel
from .families.sources.models import SourceModel, sample_records
from .families.tasks.models import TASK_STEP_SECONDS, TaskModel

__all__ = ["FAIL_MESSAGES", "FIRST_RUN_DELAY", "FLOW_KINDS", "ID_FLOOR", "LABEL",
           "MAX_CATCH_UP_RUNS", "NODE_FIELD", "NOT_COPIED", "ROLES", "ROLE_RANK", "RUN_INTERVAL",
           "TASK_STEP_SECONDS", "TOKEN_TTL", "ApiError", "Domain", "Settings", "iso", "not_found",
           "parse_time", "sample_records"]


class Domain(BaseDomain, AuthModel, CredentialModel, FlowModel, SourceModel, NexsetModel,
             DestinationModel, CopyModel, RunModel, AccessModel, TaskModel):
    """The emulated org's rules over one Store; one per server, used under the store lock."""
