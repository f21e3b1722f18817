"""Many resources, one change: the operations and their rules (here, light), and

    spec        the run's Spec from flags and files (ids, shard, patch, filters) and its targets
    api         reading and writing one item (Api), ItemFailed
    operations  Operation: decide and apply one item (pause, activate, delete, tag, ...)
    runner      the journaled, resumable, concurrent run; run(args, ctx)
"""

from __future__ import annotations

OPERATIONS = ("pause", "activate", "delete", "tag", "untag", "update", "copy")

# Types that have a status and pause/activate endpoints.
STATEFUL = frozenset({"flows", "sources", "nexsets", "destinations"})
TAGGABLE = frozenset({"flows", "sources", "nexsets", "destinations", "credentials", "lookups"})

# Fields `update` may change, with their JSON type. Deliberately absent: names (one name for a
# whole batch makes clashes), data_credentials_id (use rotate_credential.py: it probes, pauses
# and rolls back), transforms (prove them with validate_transform.py first), and secrets.
UPDATABLE: dict[str, dict[str, type | tuple[type, ...]]] = {
    "sources": {"description": str, "source_config": dict},
    "nexsets": {"description": str, "custom_config": dict, "output_schema_annotations": dict,
                "output_schema_validation_enabled": bool, "output_validation_schema": dict},
    "destinations": {"description": str, "sink_config": dict},
    "credentials": {"description": str},
    "lookups": {"description": str, "data_defaults": dict, "emit_data_default": bool},
}

OP_TYPES = {
    "pause": STATEFUL,
    "activate": STATEFUL,
    "delete": STATEFUL | {"credentials", "lookups", "projects", "transforms"},
    "tag": TAGGABLE,
    "untag": TAGGABLE,
    "update": frozenset(UPDATABLE),
    "copy": STATEFUL,
}

TARGET_STATUS = {"pause": "PAUSED", "activate": "ACTIVE"}

# Roles that may delete (Nexla: admin or owner); `access_roles` on an object lists the caller's.
DELETE_ROLES = frozenset({"owner", "admin"})
