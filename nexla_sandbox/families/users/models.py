"""User rules (no HTTP): resource transfer between users, quarantine settings."""

from __future__ import annotations

from ...domain import ApiError

# UserTransferable's keys (the reference's schema); the sandbox holds objects for these.
HELD = {"code_containers": ("code_containers", "transforms", "attribute_transforms"),
        "data_credentials": ("data_credentials",), "data_maps": ("data_maps",),
        "data_sets": ("data_sets",), "data_sinks": ("data_sinks",),
        "data_sources": ("data_sources",), "projects": ("projects",), "teams": ("teams",)}
NOT_HELD = ("catalog_configs", "code_filters", "custom_data_flows", "dashboard_transforms",
            "data_schemas", "data_sets_api_keys", "data_sinks_api_keys", "data_sources_api_keys",
            "doc_containers", "org_idp_mappings", "users_api_keys")


def owned(store, user_id: int, org_id: int, kinds) -> list[tuple[str, dict]]:
    return [(kind, d) for kind in kinds for d in store.find(kind, "owner_id", user_id)
            if d.get("org_id") == org_id]


def transferable(store, user_id: int, org_id: int) -> dict:
    out = {key: sorted(d["id"] for _, d in owned(store, user_id, org_id, kinds))
           for key, kinds in HELD.items()}
    out.update({key: [] for key in NOT_HELD})
    return dict(sorted(out.items()))


def transfer(dom, user: dict, org_id: int, delegate: dict) -> dict:
    """Move ownership of everything `user` owns in `org_id` to `delegate` (flow nodes too, so
    the flows stay with their resources). Returns the reference's UserTransferred body."""
    if delegate["id"] == user["id"]:
        raise ApiError(400, "delegate_owner_id: must differ from the user whose resources move")
    if delegate.get("org_id") != org_id or delegate.get("_membership", "ACTIVE") != "ACTIVE":
        raise ApiError(400, f"delegate_owner_id: user {delegate['id']} is not an active member "
                            f"of org {org_id}")
    moved = transferable(dom.store, user["id"], org_id)
    kinds = [k for ks in HELD.values() for k in ks] + ["flows"]
    for kind, doc in owned(dom.store, user["id"], org_id, kinds):
        dom.update_doc(kind, doc, {"owner_id": delegate["id"]})
    moved["transfer_user_resources"] = {"previous_owner_id": user["id"],
                                        "new_owner_id": delegate["id"], "org_id": org_id}
    return moved
