"""Credential handlers: create/update bodies, probes, the in-use delete rule, credential refs."""

from __future__ import annotations

import json

from ...ctx import Ctx, Fields
from ...domain import ApiError
from .models import rejected_message


def _check_secret_object(f: Fields) -> dict | None:
    creds = f.obj("credentials")
    if creds is not None:
        for key, value in creds.items():
            if isinstance(value, (dict, list)):
                continue
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise ApiError(400, f"credentials.{key}: unsupported value")
    return creds


def create_credential(c: Ctx, f: Fields):
    name = f.str("name", required=True)
    ctype = f.code("credentials_type", required=True)
    desc = f.text("description")
    creds = _check_secret_object(f) or {}
    fields = {"name": name, "credentials_type": ctype, "description": desc,
              "verified_status": None, "verified_at": None, "copied_from_id": None,
              "_secret": creds, "_non_secure": c.dom.split_secrets(creds),
              **f.present(auth_template_id="int", vendor_id="int", template_config="obj",
                          tags="strings")}
    return c.dom.new_doc("data_credentials", c.user, fields)


def update_credential(c: Ctx, f: Fields, doc: dict):
    changes = {**f.present(name="str"), **f.description_update()}
    creds = _check_secret_object(f)
    if creds is not None:
        changes.update(_secret=creds, _non_secure=c.dom.split_secrets(creds),
                       verified_status=None, verified_at=None)
    changes.update(f.present(tags="strings"))
    return c.dom.update_doc("data_credentials", doc, changes)


class InvalidCredential(ApiError):
    """GET .../probe of a credential the remote system rejects: the reference's 403 body is
    {status, message}, unlike a missing role's {message, code, ...}."""

    def __init__(self, cred_id: int):
        super().__init__(403, rejected_message(cred_id))

    def body(self) -> dict:
        return {"status": 403, "message": self.message}


def _require_probe_ok(c: Ctx, doc: dict):
    if not c.dom.probe_ok(doc):
        raise ApiError(400, "Invalid credentials", resource_type="data_credentials",
                       resource_id=doc["id"])


def probe(c: Ctx):
    doc = c.dom.get("data_credentials", c.args["id"], c.user, "operator")
    # Only a passing probe is recorded: a failing one is a 403, and its request's transaction
    # (see server.dispatch) keeps nothing.
    if not c.dom.probe_ok(doc):
        raise InvalidCredential(doc["id"])
    c.dom.update_doc("data_credentials", doc, {"verified_status": "VERIFIED",
                                               "verified_at": c.dom.now_iso()})
    # The reference's synchronous answer is {"output": {...}}; the flat fields stay for SDK
    # 1.0.8's probe(), which returns the body as it is.
    result = {"status": "ok", "message": "Connection successful",
              "connection_type": doc["credentials_type"]}
    return {**result, "output": result}


def probe_tree(c: Ctx):
    doc = c.dom.get("data_credentials", c.args["id"], c.user, "operator")
    f = c.fields()
    f.int("depth", required=True, minimum=0)
    f.text("path")
    _require_probe_ok(c, doc)
    tree = {"demo-bucket": {"orders": {"2024-01-01.json": {}, "2024-01-02.json": {}},
                            "customers": {"customers.csv": {}}}}
    if doc["credentials_type"] in ("postgres", "mysql", "snowflake", "redshift", "sqlserver"):
        tree = {"analytics": {"public": {"orders": {}, "customers": {}}}}
    return {"status": "ok", "message": "Ok",
            "connection_type": doc["credentials_type"], "object": tree}


def probe_sample(c: Ctx):
    doc = c.dom.get("data_credentials", c.args["id"], c.user, "operator")
    f = c.fields(required=False)
    f.text("path")
    _require_probe_ok(c, doc)
    return {"status": "ok", "message": "Ok",
            "connection_type": doc["credentials_type"],
            "output": {"contentType": "application/json",
                       "response": json.dumps([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])}}


def credential_ref(c: Ctx, f: Fields, required=False):
    cid = f.int("data_credentials_id", required=required)
    if cid is not None:
        cred = c.store.get("data_credentials", cid)
        if cred is None:
            raise ApiError(400, f"data_credentials_id: no credential {cid}")
        c.dom.require("data_credentials", cred, c.user, "collaborator")
    return cid


def filter_list(c: Ctx, docs):
    """GET /data_credentials?credentials_type=..."""
    if c.query.get("credentials_type"):
        docs = (d for d in docs if d["credentials_type"] == c.query["credentials_type"])
    return docs


def delete_credential(c: Ctx, kind: str, doc: dict):
    """A credential still used by a source or destination is not deleted (409)."""
    users = [f"{k}/{d['id']}" for k in ("data_sources", "data_sinks")
             for d in c.store.find(k, "data_credentials_id", doc["id"])]
    if users:
        raise ApiError(409, f"Credential {doc['id']} is in use by {', '.join(users[:5])}",
                       resource_type=kind, resource_id=doc["id"])
    c.store.delete(kind, doc["id"])


CREATORS = {"data_credentials": create_credential}
UPDATERS = {"data_credentials": update_credential}
