"""GenAI handlers: integration configs, org settings, the active config for a usage."""

from __future__ import annotations

from ...ctx import Ctx, Fields
from ...domain import ApiError
from ..credentials.responses import credential_ref


def create_genai_config(c: Ctx, f: Fields):
    fields = {"name": f.str("name", required=True), "type": f.str("type", required=True),
              "config": f.obj("config", required=True),
              "data_credentials_id": credential_ref(c, f, required=True),
              "description": f.text("description"), "status": "active"}
    return c.dom.new_doc("gen_ai_integration_configs", c.user, fields)


def update_genai_config(c: Ctx, f: Fields, doc: dict):
    changes = f.present(name="text", type="text", description="text", status="text", config="obj")
    if f.has("data_credentials_id"):
        changes["data_credentials_id"] = credential_ref(c, f)
    return c.dom.update_doc("gen_ai_integration_configs", doc, changes)


def create_genai_setting(c: Ctx, f: Fields):
    config_id = f.int("gen_ai_config_id", required=True)
    config = c.store.get("gen_ai_integration_configs", config_id)
    if config is None:
        raise ApiError(400, f"gen_ai_config_id: no config {config_id}")
    usage = f.str("gen_ai_usage", required=True)
    if usage not in ("all", "gen_docs", "check_code"):
        raise ApiError(400, "gen_ai_usage: expected all, gen_docs or check_code")
    return c.dom.new_doc("gen_ai_org_settings", c.user, {
        "gen_ai_usage": usage, "gen_ai_config_id": config_id,
        "active_config": {"id": config["id"], "name": config["name"]}})


def active_genai_config(c: Ctx):
    usage = c.query.get("gen_ai_usage")
    if not usage:
        raise ApiError(400, "gen_ai_usage: required")
    for s in reversed(c.dom.visible("gen_ai_org_settings", c.user)):
        if s["gen_ai_usage"] in (usage, "all"):
            return {"gen_ai_usage": usage, "active_config": s["active_config"]}
    return {"gen_ai_usage": usage, "active_config": None}


CREATORS = {"gen_ai_integration_configs": create_genai_config,
            "gen_ai_org_settings": create_genai_setting}
UPDATERS = {"gen_ai_integration_configs": update_genai_config}
