"""Who may do what. This module holds the light constants (roles, accessor types); the rest:

    models      accessor models and the accessor-list parser (SDK 1.0.8 workaround)
    inputs      resources, roles and accessors (and desired lists) from flags and files
    api         reading and writing accessor lists, Resolver, the last-owner guard, AuditTrail
    changes     Change: planned from the current list, applied with a verified read-back; drift
    operations  list, grant, revoke and set: plain values in, results as data out
    audit       audit (and --fix) of many resources against a desired-state file
    report      text renderings of those results (no pydantic)
"""

ROLES = ("owner", "admin", "operator", "collaborator")  # highest rank first
ACCESSOR_TYPES = ("USER", "TEAM", "ORG")
# Which fields identify an accessor of each type in API answers, in the order they are compared,
# and the ones a user may name it by (--accessor-id/-email/-name, or the same keys in files).
IDENTITY_FIELDS = {"USER": ("id", "email"), "TEAM": ("id", "name"),
                   "ORG": ("id", "client_identifier", "email_domain")}
INPUT_FIELDS = {"USER": ("id", "email"), "TEAM": ("id", "name"), "ORG": ("id",)}
DEFAULT_AUDIT_LOG = "nexla-access-audit.jsonl"

# The resource types that have accessors (contract §11): our names; any spelling
# nexla_ops.resource_path takes (API names, singular, ...) works.
ACCESS_RESOURCE_TYPES = ("sources", "nexsets", "destinations", "credentials", "flows",
                         "projects", "teams", "transforms", "lookups", "attribute_transforms",
                         "code_containers", "data_schemas", "doc_containers")
