"""Generic resource handlers: list/get/create/update/delete/copy for every kind in
resources/urls.py; each family registers its kind's body rules (CREATORS, UPDATERS) and any
list filter or delete rule here."""

from __future__ import annotations

from ...ctx import Ctx, deleted
from ...domain import FLOW_KINDS, ApiError
from ...shapes import CACHED_SHAPES, RawJSON, Shaper
from ..credentials import responses as credential_responses
from ..destinations import responses as destination_responses
from ..genai import responses as genai_responses
from ..lookups import responses as lookup_responses
from ..nexsets import responses as nexset_responses
from ..notifications import responses as notification_responses
from ..projects import responses as project_responses
from ..sources import responses as source_responses
from ..tasks import responses as task_responses
from ..teams import responses as team_responses
from ..transforms import responses as transform_responses
from ..users import responses as user_responses

SHAPERS = {
    "data_credentials": Shaper.credential, "data_sources": Shaper.source_one,
    "data_sets": Shaper.nexset, "data_sinks": Shaper.sink_one, "teams": Shaper.team,
    "users": Shaper.user_obj, "orgs": Shaper.org_obj, "projects": Shaper.project,
    "transforms": Shaper.transform, "attribute_transforms": Shaper.attribute_transform,
    "data_maps": Shaper.lookup, "notifications": Shaper.notification,
    "async_tasks": Shaper.task, "gen_ai_integration_configs": Shaper.genai_config,
    "gen_ai_org_settings": Shaper.plain, "notification_settings": Shaper.plain,
    "notification_channel_settings": Shaper.plain,
}


_FAMILIES = (credential_responses, source_responses, nexset_responses, destination_responses,
             team_responses, user_responses, project_responses, transform_responses,
             lookup_responses, task_responses, genai_responses, notification_responses)
CREATORS = {kind: fn for family in _FAMILIES for kind, fn in family.CREATORS.items()}
UPDATERS = {kind: fn for family in _FAMILIES for kind, fn in family.UPDATERS.items()}
LIST_FILTERS = {"data_credentials": credential_responses.filter_list,
                "notifications": notification_responses.filter_list,
                "notification_settings": notification_responses.filter_settings,
                "async_tasks": task_responses.filter_list}
DELETERS = {"data_credentials": credential_responses.delete_credential,
            "users": user_responses.delete_user, "async_tasks": task_responses.delete_task}


def shape(c: Ctx, kind: str, doc: dict, expand=False):
    if kind == "flows":
        return c.shaper.flow_response([doc])
    return SHAPERS[kind](c.shaper, doc, expand)


def list_kind(kind):
    def handler(c: Ctx):
        role = c.access_role()
        expand = c.qbool("expand")
        page = c.page(_filter_list(c, kind, c.dom.visible(kind, c.user, role)))
        if kind in CACHED_SHAPES:
            return RawJSON("[" + ",".join(c.shaper.cached_json(kind, d, expand) for d in page) + "]")
        return [shape(c, kind, d, expand) for d in page]
    return handler


def _filter_list(c: Ctx, kind: str, docs: list) -> list:
    filter_list = LIST_FILTERS.get(kind)
    return docs if filter_list is None else filter_list(c, docs)


def get_kind(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user)
        if kind == "data_sources":
            return c.shaper.source(doc, c.qbool("expand"), with_runs=True, one=True)
        return shape(c, kind, doc, c.qbool("expand"))
    return handler


def _delete_plain(c: Ctx, kind: str, doc: dict):
    c.store.delete(kind, doc["id"])


def delete_kind(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user, "admin")
        if kind in FLOW_KINDS:
            c.dom.delete_resource(kind, doc)
        else:
            DELETERS.get(kind, _delete_plain)(c, kind, doc)
        return deleted(f"{kind}/{doc['id']}")
    return handler


def create_kind(kind):
    def handler(c: Ctx):
        f = c.fields()
        doc = CREATORS[kind](c, f)
        return shape(c, kind, doc)
    return handler


def update_kind(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user, "admin")
        f = c.fields()
        doc = UPDATERS[kind](c, f, doc)
        return shape(c, kind, doc)
    return handler


def copy_kind(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user, "admin")
        opts = copy_options(c)
        new = c.dom.copy_resource(kind, doc, c.user, opts)
        return shape(c, kind, new)
    return handler


def copy_options(c: Ctx) -> dict:
    f = c.fields(required=False)
    opts = {}
    for name in ("reuse_data_credentials", "copy_access_controls", "copy_dependent_data_flows"):
        opts[name] = bool(f.bool(name))
    for name in ("owner_id", "org_id"):
        opts[name] = f.int(name)
    if opts["owner_id"] is not None and c.dom.user(opts["owner_id"]) is None:
        raise ApiError(400, f"owner_id: no such user {opts['owner_id']}")
    return opts
