"""HTTP handlers: parse and validate requests (400 names the field), call the domain, shape replies.

Each handler takes a Ctx and returns the JSON body (status 200; RawJSON when pre-serialized);
errors are raised as ApiError.
Validation happens before any mutation, so a rejected request changes nothing.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
from datetime import datetime, timezone

from . import transforms
from .models import FLOW_KINDS, ROLE_RANK, ApiError, Domain, not_found, parse_time
from .shapes import CACHED_SHAPES, RawJSON, Shaper

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
DESTINATION_TYPES = frozenset((
    "s3", "gcs", "azure_blb", "azure_data_lake", "ftp", "dropbox", "box", "gdrive", "sharepoint",
    "min_io_s3", "webdav", "mysql", "postgres", "supabase", "sqlserver", "oracle",
    "oracle_autonomous", "redshift", "snowflake", "snowflake_dcr", "bigquery", "databricks",
    "as400", "aws_athena", "azure_synapse", "cloudsql_mysql", "cloudsql_postgres",
    "cloudsql_sqlserver", "db2", "firebolt", "gcp_alloydb", "gcp_spanner", "hana_jdbc", "hive",
    "netsuite_jdbc", "sybase", "teradata", "delta_lake_azure_blb", "delta_lake_azure_data_lake",
    "delta_lake_s3", "s3_iceberg", "mongo", "dynamodb", "firebase", "kafka", "confluent_kafka",
    "google_pubsub", "jms", "tibco", "rest", "soap", "email", "data_map", "nexla_monitor",
    "pinecone"))
CONNECTOR_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_TRUE = ("1", "true", "True", "TRUE", "yes")
_FALSE = ("0", "false", "False", "FALSE", "no", "")


def deleted(what: str) -> dict:
    return {"code": 200, "message": f"{what} deleted"}


# == request context and validation ===============================================================
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object",
               list: "an array", float: "a number"}


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Fields:
    """Typed access to a JSON object body; every failure is a 400 naming the field."""

    def __init__(self, data: dict, prefix: str = ""):
        self.data = data
        self.prefix = prefix

    def has(self, name: str) -> bool:
        return name in self.data

    def _get(self, name, kind, required):
        where = f"{self.prefix}{name}"
        if name not in self.data or (self.data[name] is None and not required):
            if required:
                raise ApiError(400, f"{where}: required field is missing")
            return None
        value = self.data[name]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise ApiError(400, f"{where}: expected {_TYPE_NAMES[kind]}, got {_json_type(value)}")
        return value

    def str(self, name, required=False, allow_blank=False):
        value = self._get(name, str, required)
        if value is not None and not allow_blank and not value.strip():
            raise ApiError(400, f"{self.prefix}{name}: must not be blank")
        return value.strip() if isinstance(value, str) and not allow_blank else value

    def text(self, name, required=False):
        """A string kept as sent, blank allowed (descriptions, code, paths)."""
        return self.str(name, required, allow_blank=True)

    def int(self, name, required=False, minimum=None):
        value = self._get(name, int, required)
        if value is not None and minimum is not None and value < minimum:
            raise ApiError(400, f"{self.prefix}{name}: must be >= {minimum}")
        return value

    def bool(self, name, required=False):
        return self._get(name, bool, required)

    def obj(self, name, required=False):
        return self._get(name, dict, required)

    def list(self, name, required=False, of=None):
        value = self._get(name, list, required)
        if value is not None and of is not None:
            for i, item in enumerate(value):
                if not isinstance(item, of) or (of is int and isinstance(item, bool)):
                    raise ApiError(400, f"{self.prefix}{name}[{i}]: expected {_TYPE_NAMES[of]}, "
                                        f"got {_json_type(item)}")
        return value

    def strings(self, name, required=False):
        return self.list(name, required, of=str)

    def code(self, name, required=False):
        value = self.str(name, required)
        if value is not None and not CONNECTOR_CODE.match(value):
            raise ApiError(400, f"{self.prefix}{name}: expected a connector code such as 's3' or "
                                f"'postgres' (lower case letters, digits, _)")
        return value

    def present(self, **getters) -> dict:
        """The named fields that are present and not null, each checked by the named getter
        (in the order given, so the first bad one is reported): present(tags="strings")."""
        out = {}
        for name, getter in getters.items():
            value = getattr(self, getter)(name)
            if value is not None:
                out[name] = value
        return out

    def description_update(self, empty=None) -> dict:
        """An update's description: sent (even as null) sets it; null becomes `empty`."""
        if not self.has("description"):
            return {}
        value = self.text("description")
        return {"description": empty if value is None else value}


class Ctx:
    """One API request: the caller (None on unauthenticated routes), path args, query and body
    readers that fail with a 400 naming the parameter, and a Shaper for the caller."""

    def __init__(self, dom: Domain, request, args: dict, user: dict | None, root_url: str):
        self.dom = dom
        self.store = dom.store
        self.req = request
        self.args = args
        self.user = user
        self.root_url = root_url
        self.query = request.args
        self.shaper = Shaper(dom, user, root_url) if user else None
        self._body = _UNSET

    def raw_body(self):
        if self._body is _UNSET:
            data = self.req.get_data(cache=True)
            if not data.strip():
                self._body = None
            else:
                try:
                    self._body = json.loads(data, parse_constant=_reject_constant)
                except (ValueError, RecursionError) as exc:
                    raise ApiError(400, f"Malformed JSON body: {str(exc)[:120]}") from None
        return self._body

    def fields(self, *, required=True) -> Fields:
        body = self.raw_body()
        if body is None:
            if required:
                raise ApiError(400, "body: a JSON object is required")
            body = {}
        if not isinstance(body, dict):
            raise ApiError(400, f"body: expected a JSON object, got {_json_type(body)}")
        return Fields(body)

    def qbool(self, name) -> bool:
        value = self.query.get(name)
        if value is None:
            return False
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ApiError(400, f"{name}: expected 1/0 or true/false, got {value!r}")

    def qint(self, name, default=None, minimum=None):
        value = self.query.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ApiError(400, f"{name}: expected an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ApiError(400, f"{name}: must be >= {minimum}")
        return number

    def paging(self, size_param="per_page", default=DEFAULT_PAGE_SIZE, cap=MAX_PAGE_SIZE):
        """(page, size) from the query: `page` is 1-based; a size above `cap` is capped."""
        page = self.qint("page", 1, minimum=1)
        return page, min(self.qint(size_param, default, minimum=1), cap)

    def page(self, items) -> list:
        """One page of a list or a lazy iterator (only consumed up to the page's end)."""
        page, per_page = self.paging()
        start = (page - 1) * per_page
        if isinstance(items, list):
            return items[start:start + per_page]
        return list(itertools.islice(items, start, start + per_page))

    def access_role(self):
        role = self.query.get("access_role")
        if role is not None and role not in ROLE_RANK:
            raise ApiError(400, "access_role: expected owner, admin, operator or collaborator")
        return role


_UNSET = object()


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


# == auth ========================================================================================
def token(c: Ctx):
    return c.dom.login(c.req.headers.get("Authorization", ""))


def logout(c: Ctx):
    c.dom.logout(c.req.headers.get("Authorization", ""))
    return {"code": 200, "message": "Logged out"}


# == generic resource machinery =====================================================================
SHAPERS = {
    "data_credentials": Shaper.credential, "data_sources": Shaper.source,
    "data_sets": Shaper.nexset, "data_sinks": Shaper.sink, "teams": Shaper.team,
    "users": Shaper.user_obj, "orgs": Shaper.org_obj, "projects": Shaper.project,
    "transforms": Shaper.transform, "attribute_transforms": Shaper.attribute_transform,
    "data_maps": Shaper.lookup, "notifications": Shaper.notification,
    "async_tasks": Shaper.task, "gen_ai_integration_configs": Shaper.genai_config,
    "gen_ai_org_settings": Shaper.plain, "notification_settings": Shaper.plain,
    "notification_channel_settings": Shaper.plain,
}


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
    if kind == "data_credentials" and c.query.get("credentials_type"):
        docs = (d for d in docs if d["credentials_type"] == c.query["credentials_type"])
    if kind == "notifications":
        docs = _by_read(c, docs)
        if c.query.get("level"):
            docs = [d for d in docs if d["level"] == c.query["level"]]
        lo, hi = c.qint("from"), c.qint("to")
        if lo is not None:
            docs = [d for d in docs if (parse_time(d["created_at"]) or 0) >= lo]
        if hi is not None:
            docs = [d for d in docs if (parse_time(d["created_at"]) or 0) <= hi]
        docs = sorted(docs, key=lambda d: d["id"], reverse=True)
    return docs


def get_kind(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user)
        if kind == "data_sources":
            return c.shaper.source(doc, c.qbool("expand"), with_runs=True)
        return shape(c, kind, doc, c.qbool("expand"))
    return handler


def delete_kind(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user, "admin")
        if kind in FLOW_KINDS:
            c.dom.delete_resource(kind, doc)
        elif kind == "data_credentials":
            users = [f"{k}/{d['id']}" for k in ("data_sources", "data_sinks")
                     for d in c.store.find(k, "data_credentials_id", doc["id"])]
            if users:
                raise ApiError(409, f"Credential {doc['id']} is in use by {', '.join(users[:5])}",
                               resource_type=kind, resource_id=doc["id"])
            c.store.delete(kind, doc["id"])
        elif kind == "users":
            owned = [f"{k}/{d['id']}" for k in ("data_sources", "data_sets", "data_sinks",
                                               "data_credentials", "teams", "projects")
                     for d in c.store.find(k, "owner_id", doc["id"])]
            if owned:
                raise ApiError(409, f"User {doc['id']} still owns {len(owned)} resources (e.g. "
                                    f"{owned[0]}); transfer them first", resource_type=kind,
                               resource_id=doc["id"])
            c.store.delete(kind, doc["id"])
        else:
            c.store.delete(kind, doc["id"])
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
        opts = _copy_options(c)
        new = c.dom.copy_resource(kind, doc, c.user, opts)
        return shape(c, kind, new)
    return handler


def _copy_options(c: Ctx) -> dict:
    f = c.fields(required=False)
    opts = {}
    for name in ("reuse_data_credentials", "copy_access_controls", "copy_dependent_data_flows"):
        opts[name] = bool(f.bool(name))
    for name in ("owner_id", "org_id"):
        opts[name] = f.int(name)
    if opts["owner_id"] is not None and c.dom.user(opts["owner_id"]) is None:
        raise ApiError(400, f"owner_id: no such user {opts['owner_id']}")
    return opts


# == credentials ====================================================================================
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


def _require_probe_ok(c: Ctx, doc: dict):
    if not c.dom.probe_ok(doc):
        raise ApiError(400, "Invalid credentials", resource_type="data_credentials",
                       resource_id=doc["id"])


def probe(c: Ctx):
    doc = c.dom.get("data_credentials", c.args["id"], c.user, "operator")
    # Only a passing probe is recorded: a failing one is a 400, and its request's transaction
    # (see server.dispatch) keeps nothing.
    _require_probe_ok(c, doc)
    c.dom.update_doc("data_credentials", doc, {"verified_status": "VERIFIED",
                                               "verified_at": c.dom.now_iso()})
    return {"status": "ok", "message": "Connection successful",
            "connection_type": doc["credentials_type"]}


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
    return {"status": "ok", "message": "Tree probe completed",
            "connection_type": doc["credentials_type"], "object": tree}


def probe_sample(c: Ctx):
    doc = c.dom.get("data_credentials", c.args["id"], c.user, "operator")
    f = c.fields(required=False)
    f.text("path")
    _require_probe_ok(c, doc)
    return {"status": "ok", "message": "Sample probe completed",
            "connection_type": doc["credentials_type"],
            "output": {"contentType": "application/json",
                       "response": json.dumps([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])}}


# == sources ======================================================================================
def _credential_ref(c: Ctx, f: Fields, required=False):
    cid = f.int("data_credentials_id", required=required)
    if cid is not None:
        cred = c.store.get("data_credentials", cid)
        if cred is None:
            raise ApiError(400, f"data_credentials_id: no credential {cid}")
        c.dom.require("data_credentials", cred, c.user, "collaborator")
    return cid


# Optional create fields shared by sources and destinations (after the kind's own fields).
CONNECTOR_EXTRAS = {"vendor_endpoint_id": "int", "template_config": "obj", "tags": "strings"}


def _connector_changes(c: Ctx, f: Fields, config_key: str) -> dict:
    """The update fields sources and destinations share, in the order they are checked."""
    changes = {**f.present(name="str"), **f.description_update(), **f.present(**{config_key: "obj"})}
    if f.has("data_credentials_id"):  # null detaches the credential
        changes["data_credentials_id"] = _credential_ref(c, f)
    return changes


def create_source(c: Ctx, f: Fields):
    fields = {"name": f.str("name", required=True), "source_type": f.code("source_type", required=True),
              "description": f.text("description"),
              "data_credentials_id": _credential_ref(c, f),
              "source_config": f.obj("source_config") or {}}
    if f.str("ingest_method") is not None:  # checked non-blank, stored as sent
        fields["ingest_method"] = f.data["ingest_method"]
    fields.update(f.present(**CONNECTOR_EXTRAS))
    return c.dom.create_source(c.user, fields)


def update_source(c: Ctx, f: Fields, doc: dict):
    changes = {**_connector_changes(c, f, "source_config"), **f.present(tags="strings")}
    return c.dom.update_doc("data_sources", doc, changes)


# == nexsets ======================================================================================
def _transform_fields(c: Ctx, f: Fields, creating: bool) -> dict:
    out = {}
    custom = f.bool("has_custom_transform", required=creating)
    transform = f.obj("transform")
    transform_id = f.int("transform_id")
    if transform is not None:
        ops = transform.get("operations")
        problem = transforms.validate_operations(ops)
        if problem:
            raise ApiError(400, f"transform.operations{problem if problem.startswith('[') else ': ' + problem}")
        out["transform"] = transform
    if transform_id is not None:
        if c.store.get("transforms", transform_id) is None:
            raise ApiError(400, f"transform_id: no transform {transform_id}")
        out["transform_id"] = transform_id
    if custom is not None:
        out["has_custom_transform"] = custom
        if custom and transform is None and creating:
            raise ApiError(400, "transform: required when has_custom_transform is true")
    return out


NEXSET_EXTRAS = {"output_schema_annotations": "obj", "output_validation_schema": "obj",
                 "custom_config": "obj", "output_schema_validation_enabled": "bool"}


def create_nexset(c: Ctx, f: Fields):
    parent_id = f.int("parent_data_set_id", required=True)
    if c.store.get("data_sets", parent_id) is None:
        raise ApiError(400, f"parent_data_set_id: no nexset {parent_id}")
    fields = {"name": f.str("name", required=True), "parent_data_set_id": parent_id,
              "description": f.text("description"), **_transform_fields(c, f, True),
              **f.present(**NEXSET_EXTRAS)}
    sinks = f.list("data_sinks")
    for i, item in enumerate(sinks or []):
        if not isinstance(item, (int, dict)) or isinstance(item, bool):
            raise ApiError(400, f"data_sinks[{i}]: expected an id or an object")
    fields.update(f.present(tags="strings"))
    return c.dom.create_nexset(c.user, fields)


def update_nexset(c: Ctx, f: Fields, doc: dict):
    changes = {**f.present(name="str"), **f.description_update(), **_transform_fields(c, f, False),
               **f.present(**NEXSET_EXTRAS, tags="strings")}
    doc = c.dom.update_doc("data_sets", doc, changes)
    if doc.get("parent_data_set_id"):
        doc = c.store.put("data_sets", {**doc, "output_schema": c.dom.derived_schema(doc)})
    return doc


def samples(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user)
    count = min(c.qint("count", 10, minimum=0), 500)
    meta = c.qbool("include_metadata")
    c.qbool("live")
    records, errors = c.dom.samples(doc)
    root = c.dom.root_of(doc)
    runs = c.dom.flow_runs(root["id"]) if root else []
    run_id = runs[0]["id"] if runs else None
    out = []
    for i, record in enumerate(records[:count]):
        if meta:
            out.append({"rawMessage": record, "nexlaMetaData": {
                "runId": run_id, "ingestTime": int(c.dom.now() * 1000) - i * 1000,
                "resourceType": "DATA_SET", "resourceId": doc["id"], "offset": i}})
        else:
            out.append(record)
    if meta:
        for err in errors[:max(count - len(out), 0)]:
            out.append({"rawMessage": err["record"], "nexlaMetaData": {
                "runId": run_id, "resourceType": "DATA_SET", "resourceId": doc["id"],
                "error": err["error"], "errorRecord": True}})
    return out


def nexset_docs_recommendation(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user)
    fields = ", ".join(sorted((doc.get("output_schema") or {}).get("properties", {})))
    return {"recommendation": f"# {doc.get('name')}\nFields: {fields}", "status": "success"}


def list_docs(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user)
    return [c.shaper.plain(d) for d in doc.get("_docs", [])]


def update_docs(c: Ctx):
    doc = c.dom.get("data_sets", c.args["id"], c.user, "admin")
    f = c.fields()
    items = f.list("docs", required=True)
    out = []
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise ApiError(400, f"docs[{i}]: expected an object")
        d = Fields(raw, f"docs[{i}].")
        out.append({"id": c.store.next_id("doc_containers", 0), "name": d.str("name", required=True),
                    "text": d.text("text", required=True),
                    "doc_type": d.str("doc_type") or "md", "description": d.text("description"),
                    "access_roles": ["owner"], "tags": [], "created_at": c.dom.now_iso(),
                    "updated_at": c.dom.now_iso()})
    c.dom.update_doc("data_sets", doc, {"_docs": out})
    return out


# == destinations ===================================================================================
def create_sink(c: Ctx, f: Fields):
    sink_type = f.code("sink_type", required=True)
    if sink_type not in DESTINATION_TYPES:
        raise ApiError(400, f"sink_type: unknown destination connector {sink_type!r}")
    cid = _credential_ref(c, f, required=True)
    set_id = f.int("data_set_id", required=True)
    if c.store.get("data_sets", set_id) is None:
        raise ApiError(400, f"data_set_id: no nexset {set_id}")
    fields = {"name": f.str("name", required=True), "sink_type": sink_type,
              "data_credentials_id": cid, "data_set_id": set_id,
              "description": f.text("description"),
              "sink_config": f.obj("sink_config") or {}, **f.present(**CONNECTOR_EXTRAS)}
    return c.dom.create_sink(c.user, fields)


def update_sink(c: Ctx, f: Fields, doc: dict):
    changes = _connector_changes(c, f, "sink_config")
    new_set = f.int("data_set_id")
    if new_set is not None:
        nexset = c.dom.get("data_sets", new_set, c.user) if c.store.get("data_sets", new_set) else None
        if nexset is None:
            raise ApiError(400, f"data_set_id: no nexset {new_set}")
        changes["data_set_id"] = new_set
    changes.update(f.present(tags="strings"))
    old_set = doc.get("data_set_id")
    doc = c.dom.update_doc("data_sinks", doc, changes)
    if new_set is not None and new_set != old_set:
        c.dom.move_sink(doc, c.store.get("data_sets", new_set))
    return c.store.get("data_sinks", doc["id"])


# == activate / pause / flows =====================================================================
def resource_status(kind, status):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user, "operator")
        all_nodes = c.qbool("all") or c.qbool("full_tree")
        node = c.store.get("flows", doc.get("flow_node_id"))
        if node:
            c.dom.activate_nodes(node, all_nodes=all_nodes, status=status)
        else:
            c.dom.update_doc(kind, doc, {"status": status})
        return c.shaper.hybrid(kind, c.store.get(kind, doc["id"]))
    return handler


def _flows_reply(c: Ctx, nodes: list[dict]):
    """A FlowResponse for reads, honouring flows_only and include_run_metrics."""
    return c.shaper.flow_response(nodes, flows_only=c.qbool("flows_only"),
                                  metrics=c.qbool("include_run_metrics"))


def list_flows(c: Ctx):
    return _flows_reply(c, c.page(c.dom.visible("flows", c.user, c.access_role(), roots_only=True)))


def _flow_node(c: Ctx, need="collaborator") -> dict:
    return c.dom.get("flows", c.args["id"], c.user, need)


def _flow_root(c: Ctx) -> dict:
    """The root node of the flow that the node in the path belongs to."""
    return c.store.get("flows", _flow_node(c)["origin_node_id"])


def _resource_root(c: Ctx, kind: str, need="collaborator") -> dict:
    """The root node of the flow that the resource in the path is in (404 if none)."""
    node = c.dom.flow_node_for(kind, c.args["id"], c.user, need)
    return c.store.get("flows", node["origin_node_id"])


def get_flow(c: Ctx):
    return _flows_reply(c, [_flow_node(c)])


def flow_status(status):
    def handler(c: Ctx):
        node = _flow_node(c, "operator")
        c.dom.activate_nodes(node, all_nodes=c.qbool("all") or c.qbool("full_tree"), status=status)
        return c.shaper.flow_response([c.store.get("flows", node["id"])])
    return handler


def copy_flow(c: Ctx):
    node = _flow_node(c, "admin")
    opts = _copy_options(c)
    new_root = c.dom.copy_flow(node, c.user, opts)
    return c.shaper.flow_response([new_root])


def delete_flow(c: Ctx):
    node = _flow_node(c, "admin")
    c.dom.delete_flow(node)
    return deleted(f"Flow {node['id']}")


def resource_flow(kind):
    def handler(c: Ctx):
        return _flows_reply(c, [_resource_root(c, kind)])
    return handler


def delete_resource_flow(kind):
    def handler(c: Ctx):
        root = _resource_root(c, kind, "admin")
        c.dom.require("flows", root, c.user, "admin")
        c.dom.delete_flow(root)
        return deleted(f"Flow {root['id']}")
    return handler


def docs_recommendation(c: Ctx):
    node = _flow_node(c)
    return {"recommendation": f"# Flow {node['id']}\nGenerated by the sandbox.", "status": "success"}


# == logs and metrics ===============================================================================
def _visible_logs(c: Ctx, root: dict, run_id, lo_ms, hi_ms, levels=None) -> list[dict]:
    now_ms = c.dom.now() * 1000
    out = []
    for run in c.dom.flow_runs(root["id"]):
        if run_id is not None and run["id"] != run_id:
            continue
        for entry in run["logs"]:
            ts = entry["timestamp"]
            if ts > now_ms or (lo_ms is not None and ts < lo_ms) or (hi_ms is not None and ts > hi_ms):
                continue
            if levels and entry["level"] not in levels:
                continue
            out.append(entry)
    out.sort(key=lambda e: e["timestamp"], reverse=True)
    return out


def _logs_reply(c: Ctx, entries: list, run_id=None) -> dict:
    page, per_page = c.paging(default=DEFAULT_PAGE_SIZE * 5, cap=MAX_PAGE_SIZE * 10)
    chunk = entries[(page - 1) * per_page: page * per_page]
    return {"status": 200, "message": "Ok", "logs": {
        "data": [c.shaper.log_entry(e) for e in chunk],
        "meta": {"current_page": page, "pages_count": max(1, -(-len(entries) // per_page)),
                 "total_count": len(entries), "org_id": c.user["org_id"], "run_id": run_id}}}


def resource_flow_logs(kind):
    def handler(c: Ctx):
        root = _resource_root(c, kind)
        run_id = c.qint("run_id")
        lo, hi = c.qint("from"), c.qint("to")  # epoch milliseconds on this endpoint
        return _logs_reply(c, _visible_logs(c, root, run_id, lo, hi), run_id)
    return handler


def _seconds_window_ms(c: Ctx) -> tuple:
    """`from`/`to` given in epoch seconds → millisecond bounds, `to`'s whole second included."""
    lo, hi = c.qint("from"), c.qint("to")
    return (None if lo is None else lo * 1000, None if hi is None else hi * 1000 + 999)


def flow_logs(c: Ctx):
    root = _flow_root(c)
    run_id = c.qint("run_id")
    lo_ms, hi_ms = _seconds_window_ms(c)
    severity = c.query.get("severity")
    levels = {s.strip().upper() for s in severity.split(",")} if severity else None
    return _logs_reply(c, _visible_logs(c, root, run_id, lo_ms, hi_ms, levels), run_id)


def flow_logs_v2(c: Ctx):
    root = _flow_root(c)
    f = c.fields(required=False)
    run_ids = f.list("run_ids", of=int)
    severity = f.strings("severity")
    log_type = f.strings("log_type")
    search = f.text("search_string")
    lo_ms, hi_ms = _seconds_window_ms(c)
    size = min(c.qint("size", 100, minimum=1), 1000)
    entries = _visible_logs(c, root, None, lo_ms, hi_ms,
                            {s.upper() for s in severity} if severity else None)
    if run_ids:
        entries = [e for e in entries if e["run_id"] in run_ids]
    if log_type:
        entries = [e for e in entries if e["log_type"] in log_type]
    if search:
        entries = [e for e in entries if search.lower() in e["message"].lower()]
    if c.query.get("sort") == "asc":
        entries.reverse()
    return {"status": 200, "message": "Ok", "logs": {
        "data": [c.shaper.log_entry(e) for e in entries[:size]],
        "meta": {"total_count": len(entries), "org_id": c.user["org_id"]}}}


def run_status(c: Ctx):
    root = _flow_root(c)
    run = c.store.get("runs", c.args["run_id"])
    if run is None or run["flow_id"] != root["id"] or run["started_at"] > c.dom.now():
        raise not_found("runs", c.args["run_id"])
    return {"status": 200, "message": "Ok", "run": c.shaper.run(run), "run_id": run["id"],
            "flow_id": root["id"], "run_status": c.dom.run_status(run)}


def _data_set_for(c: Ctx, kind: str, doc: dict):
    if kind == "data_sets":
        return doc["id"]
    if kind == "data_sinks":
        return doc.get("data_set_id")
    found = c.store.find("data_sets", "data_source_id", doc["id"])
    return found[0]["id"] if found else None


def run_summary(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user)
        root = c.dom.root_of(doc)
        runs = c.dom.flow_runs(root["id"]) if root else []
        if c.query.get("orderby") in ("runId", "lastWritten") and c.query.get("sort") == "asc":
            runs = runs[::-1]
        page, size = c.paging("size")
        chunk = runs[(page - 1) * size: page * size]
        set_id = _data_set_for(c, kind, doc)
        return {"status": 200, "metrics": {
            "data": [c.shaper.run(r, set_id) for r in chunk],
            "meta": {"currentPage": page, "pageCount": max(1, -(-len(runs) // size)),
                     "totalCount": len(runs)}}}
    return handler


def _date_arg(c: Ctx, name, required=False):
    value = c.query.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(400, f"{name}: required (YYYY-MM-DD)")
        return None
    ts = parse_time(value)
    if ts is None:
        raise ApiError(400, f"{name}: expected a date YYYY-MM-DD, got {value!r}")
    return ts


def _runs_in_dates(c: Ctx, root: dict | None) -> list[dict]:
    """The flow's runs started within the `from`..`to` days (`to`'s whole day included)."""
    lo = _date_arg(c, "from", required=True)
    hi = _date_arg(c, "to")
    runs = c.dom.flow_runs(root["id"]) if root else []
    return [r for r in runs if r["started_at"] >= lo and (hi is None or r["started_at"] < hi + 86400)]


def _add_counts(total: dict, res: dict):
    for key in ("records", "size", "errors"):
        total[key] += res[key]


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")


def daily_metrics(kind):
    def handler(c: Ctx):
        doc = c.dom.get(kind, c.args["id"], c.user)
        days: dict[str, dict] = {}
        for run in _runs_in_dates(c, c.dom.root_of(doc)):
            day = days.setdefault(_day(run["started_at"]), {"time": _day(run["started_at"]),
                                                            "records": 0, "size": 0, "errors": 0})
            for res in run["resources"]:
                if res["resource_type"] == kind and res["resource_id"] == doc["id"]:
                    _add_counts(day, res)
        return {"status": 200, "metrics": [days[k] for k in sorted(days)]}
    return handler


def resource_flow_metrics(kind):
    def handler(c: Ctx):
        data: dict[str, dict] = {}
        for run in _runs_in_dates(c, _resource_root(c, kind)):
            for res in run["resources"]:
                entry = data.setdefault(str(res["resource_id"]), {
                    "resource_type": res["resource_type"], "records": 0, "size": 0, "errors": 0,
                    "runId": run["id"], "runs": 0})
                _add_counts(entry, res)
                entry["runs"] += 1
        return {"status": 200, "message": "Ok", "metrics": {
            "data": data, "meta": {"currentPage": 1, "pageCount": 1, "totalCount": len(data)}}}
    return handler


# == accessors ======================================================================================
ACCESSOR_KINDS = ("data_sources", "data_sets", "data_sinks", "data_credentials", "flows",
                  "projects", "teams", "data_maps", "transforms", "attribute_transforms",
                  "notifications", "users", "orgs")


def accessors(kind, mode):
    def handler(c: Ctx):
        need = "collaborator" if mode == "get" else "admin"
        doc = c.dom.get(kind, c.args["id"], c.user, need)
        if kind == "flows":  # flow accessors live on the root node
            doc = c.store.get("flows", doc["origin_node_id"])
        if mode != "get":
            body = c.raw_body()
            if body is None and mode == "remove":
                entries = None
            else:
                f = c.fields()
                raw = f.list("accessors", required=True)
                entries = [c.dom.resolve_accessor(a, f"accessors[{i}]", need_roles=mode != "remove")
                           for i, a in enumerate(raw)]
            doc = c.dom.change_accessors(kind, doc, mode, entries)
        return c.dom.accessor_list(kind, doc)
    return handler


def audit_log(kind):
    def handler(c: Ctx):
        c.dom.get(kind, c.args["id"], c.user)
        return []
    return handler


# == teams ========================================================================================
def _members(c: Ctx, items, where="members") -> list[dict]:
    out = []
    for i, raw in enumerate(items or []):
        if not isinstance(raw, dict):
            raise ApiError(400, f"{where}[{i}]: expected an object with id or email")
        m = Fields(raw, f"{where}[{i}].")
        user = None
        if m.int("id") is not None:
            user = c.dom.user(raw["id"])
        elif m.str("email") is not None:
            user = c.dom.user_by_email(raw["email"])
        else:
            raise ApiError(400, f"{where}[{i}]: id or email is required")
        if user is None:
            raise ApiError(400, f"{where}[{i}]: no such user")
        out.append({"id": user["id"], "admin": bool(m.bool("admin"))})
    return out


def _team_name_free(c: Ctx, name: str, except_id=None):
    for team in c.store.find("teams", "name", name):
        if team["id"] != except_id and team["org_id"] == c.user["org_id"]:
            raise ApiError(409, f"A team named {name!r} already exists", resource_type="teams",
                           resource_id=team["id"])


def create_team(c: Ctx, f: Fields):
    name = f.str("name", required=True)
    members = _members(c, f.list("members"))
    desc = f.text("description") or ""
    _team_name_free(c, name)
    return c.dom.new_doc("teams", c.user, {"name": name, "description": desc, "members": members})


def update_team(c: Ctx, f: Fields, doc: dict):
    changes = {}
    if f.str("name") is not None:
        _team_name_free(c, f.str("name"), doc["id"])
        changes["name"] = f.str("name")
    changes.update(f.description_update(""))
    if f.list("members") is not None:
        changes["members"] = _members(c, f.data["members"])
    return c.dom.update_doc("teams", doc, changes)


def team_members(mode):
    def handler(c: Ctx):
        doc = c.dom.get("teams", c.args["id"], c.user, "collaborator" if mode == "get" else "admin")
        if mode != "get":
            body = c.raw_body()
            incoming = None if body is None else _members(c, c.fields().list("members", required=True))
            current = list(doc.get("members", []))
            if mode == "replace":
                current = incoming or []
            elif mode == "merge":
                for m in incoming or []:
                    current = [x for x in current if x["id"] != m["id"]] + [m]
            else:
                gone = {m["id"] for m in incoming} if incoming is not None else None
                current = [] if gone is None else [x for x in current if x["id"] not in gone]
            doc = c.dom.update_doc("teams", doc, {"members": current})
        return [c.shaper.member(m) for m in doc.get("members", [])]
    return handler


# == users and orgs ================================================================================
def current_user(c: Ctx):
    return c.shaper.current_user()


def create_user(c: Ctx, f: Fields):
    if not c.user.get("is_org_admin"):
        raise ApiError(403, "requires org admin role to create users; you have: member",
                       resource_type="users")
    email = f.str("email", required=True).lower()
    name = f.str("full_name", required=True)
    if "@" not in email:
        raise ApiError(400, "email: expected an email address")
    if c.dom.user_by_email(email):
        raise ApiError(409, f"A user with email {email} already exists", resource_type="users")
    return c.dom.new_doc("users", c.user, {
        "email": email, "full_name": name, "status": f.str("status") or "ACTIVE",
        "is_org_admin": bool(f.bool("admin")), "user_tier": f.str("user_tier") or "PAID"})


def update_user(c: Ctx, f: Fields, doc: dict):
    changes = {}
    if f.str("name") is not None:
        changes["full_name"] = f.str("name")
    if f.str("email") is not None:
        changes["email"] = f.str("email").lower()
    if f.str("status") is not None:
        changes["status"] = f.str("status")
    if f.bool("admin") is not None:
        changes["is_org_admin"] = f.data["admin"]
    return c.dom.update_doc("users", doc, changes)


def user_settings(c: Ctx):
    return [{"id": f"ui-{c.user['id']}", "owner": {"id": c.user["id"]},
             "org": {"id": c.user["org_id"]}, "user_settings_type": "UI", "settings": {}}]


# == projects =======================================================================================
def _project_flow_ids(c: Ctx, f: Fields) -> list[int]:
    ids = list(f.list("flows", of=int) or [])
    for i, item in enumerate(f.list("data_flows") or []):
        if not isinstance(item, dict):
            raise ApiError(400, f"data_flows[{i}]: expected an object")
        d = Fields(item, f"data_flows[{i}].")
        src_id, set_id = d.int("data_source_id"), d.int("data_set_id")
        kind, rid = ("data_sources", src_id) if src_id is not None else ("data_sets", set_id)
        if rid is None:
            raise ApiError(400, f"data_flows[{i}]: data_source_id or data_set_id is required")
        doc = c.store.get(kind, rid)
        root = doc and c.dom.root_of(doc)
        if root is None:
            raise ApiError(400, f"data_flows[{i}]: {kind}/{rid} is not in a flow")
        ids.append(root["id"])
    for fid in ids:
        node = c.store.get("flows", fid)
        if node is None:
            raise ApiError(400, f"flows: no flow {fid}")
        c.dom.require("flows", node, c.user, "collaborator")
    return [c.store.get("flows", i)["origin_node_id"] for i in dict.fromkeys(ids)]


def _set_project(c: Ctx, project: dict, ids: list[int]) -> dict:
    old = set(project.get("_flow_ids", []))
    for fid in old - set(ids):
        node = c.store.get("flows", fid)
        if node and node.get("project_id") == project["id"]:
            c.store.put("flows", {**node, "project_id": None})
    for fid in ids:
        node = c.store.get("flows", fid)
        c.store.put("flows", {**node, "project_id": project["id"]})
    return c.dom.update_doc("projects", project, {"_flow_ids": ids})


def create_project(c: Ctx, f: Fields):
    name = f.str("name", required=True)
    desc = f.text("description") or ""
    ids = _project_flow_ids(c, f)
    project = c.dom.new_doc("projects", c.user, {"name": name, "description": desc, "_flow_ids": []})
    return _set_project(c, project, ids)


def update_project(c: Ctx, f: Fields, doc: dict):
    changes = {**f.present(name="str"), **f.description_update("")}
    doc = c.dom.update_doc("projects", doc, changes)
    if f.has("data_flows") or f.has("flows"):
        doc = _set_project(c, doc, _project_flow_ids(c, f))
    return doc


def project_flows(mode):
    def handler(c: Ctx):
        doc = c.dom.get("projects", c.args["id"], c.user, "collaborator" if mode in ("get", "search") else "admin")
        if mode in ("get", "search"):
            if mode == "search":
                f = c.fields(required=False)
                f.list("filters")
            roots = [n for n in (c.store.get("flows", i) for i in doc.get("_flow_ids", [])) if n]
            return c.shaper.flow_response(roots)
        body = c.raw_body()
        ids = None if body is None else _project_flow_ids(c, c.fields())
        current = list(doc.get("_flow_ids", []))
        if mode == "replace":
            current = ids or []
        elif mode == "merge":
            current = list(dict.fromkeys(current + (ids or [])))
        else:
            current = [] if ids is None else [i for i in current if i not in ids]
        doc = _set_project(c, doc, current)
        return [c.shaper.project_flow(doc, i) for i in doc["_flow_ids"]]
    return handler


# == transforms =====================================================================================
def _transform_create(kind):
    def creator(c: Ctx, f: Fields):
        fields = {"name": f.str("name", required=True),
                  "output_type": f.str("output_type", required=True),
                  "code_type": f.str("code_type", required=True),
                  "code_encoding": f.str("code_encoding", required=True),
                  "reusable": True if f.bool("reusable") is None else f.data["reusable"],
                  "description": f.text("description"),
                  "code": _transform_code(kind, f, required=True),
                  **f.present(code_config="obj", custom_config="obj", data_credentials_id="int",
                              runtime_data_credentials_id="int", tags="strings")}
        return c.dom.new_doc(kind, c.user, fields)
    return creator


def _transform_code(kind, f: Fields, required=False):
    if kind == "transforms":
        code = f.list("code", required=required)
        if code is not None:
            problem = transforms.validate_operations(code)
            if problem:
                raise ApiError(400, f"code{problem if problem.startswith('[') else ': ' + problem}")
        return code
    return f.text("code", required)


def _transform_update(kind):
    def updater(c: Ctx, f: Fields, doc: dict):
        changes = {**f.present(name="str", output_type="str", code_type="str", code_encoding="str"),
                   **f.description_update(), **f.present(reusable="bool")}
        code = _transform_code(kind, f)
        if code is not None:
            changes["code"] = code
        changes.update(f.present(code_config="obj", custom_config="obj"))
        return c.dom.update_doc(kind, doc, changes)
    return updater


def public_transforms(kind):
    def handler(c: Ctx):
        docs = [d for d in c.store.all(kind) if d.get("reusable")]
        return [shape(c, kind, d) for d in c.page(docs)]
    return handler


# == lookups ========================================================================================
def _entries(f: Fields, key: str, name="data_map") -> list[dict]:
    items = f.list(name) or []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(400, f"{name}[{i}]: expected an object")
        if key not in item:
            raise ApiError(400, f"{name}[{i}].{key}: the map primary key is missing")
    return items


def create_lookup(c: Ctx, f: Fields):
    key = f.str("map_primary_key", required=True)
    fields = {"name": f.str("name", required=True), "data_type": f.str("data_type", required=True),
              "map_primary_key": key, "description": f.text("description") or "",
              "data_defaults": f.obj("data_defaults") or {},
              "emit_data_default": bool(f.bool("emit_data_default")),
              "_entries": {str(e[key]): e for e in _entries(f, key)}, **f.present(tags="strings")}
    return c.dom.new_doc("data_maps", c.user, fields)


def update_lookup(c: Ctx, f: Fields, doc: dict):
    changes = {**f.present(name="str", map_primary_key="str"), **f.description_update(""),
               **f.present(data_defaults="obj", emit_data_default="bool", tags="strings")}
    return c.dom.update_doc("data_maps", doc, changes)


def upsert_entries(c: Ctx):
    doc = c.dom.get("data_maps", c.args["id"], c.user, "admin")
    items = _entries(c.fields(), doc["map_primary_key"], "entries")
    entries = dict(doc.get("_entries", {}))
    for e in items:
        entries[str(e[doc["map_primary_key"]])] = e
    c.dom.update_doc("data_maps", doc, {"_entries": entries})
    return items


def get_entries(c: Ctx):
    doc = c.dom.get("data_maps", c.args["id"], c.user)
    keys = [k for k in c.args["keys"].split(",") if k]
    entries = doc.get("_entries", {})
    return [entries[k] for k in keys if k in entries]


def delete_entries(c: Ctx):
    doc = c.dom.get("data_maps", c.args["id"], c.user, "admin")
    keys = [k for k in c.args["keys"].split(",") if k]
    entries = {k: v for k, v in doc.get("_entries", {}).items() if k not in keys}
    removed = len(doc.get("_entries", {})) - len(entries)
    c.dom.update_doc("data_maps", doc, {"_entries": entries})
    return {"code": 200, "message": f"{removed} entries deleted"}


# == notifications ================================================================================
def _by_read(c: Ctx, docs) -> list:
    """Notifications filtered by the `read` query flag, when given."""
    if c.query.get("read") is None:
        return docs
    want = c.qbool("read")
    return [d for d in docs if bool(d.get("read_at")) == want]


def notification_count(c: Ctx):
    return {"count": len(_by_read(c, c.dom.visible("notifications", c.user)))}


def mark_notifications(read: bool):
    def handler(c: Ctx):
        body = c.raw_body()
        if c.query.get("notification_id") == "all" or body is None:
            ids = None
        elif isinstance(body, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in body):
            ids = set(body)
        else:
            raise ApiError(400, "body: expected a JSON array of notification ids")
        changed = 0
        for doc in c.dom.visible("notifications", c.user):
            if ids is None or doc["id"] in ids:
                c.dom.update_doc("notifications", doc, {"read_at": c.dom.now_iso() if read else None})
                changed += 1
        return {"code": 200, "message": f"{changed} notifications updated"}
    return handler


def delete_all_notifications(c: Ctx):
    docs = c.dom.visible("notifications", c.user)
    for doc in docs:
        c.store.delete("notifications", doc["id"])
    return {"code": 200, "message": f"{len(docs)} notifications deleted"}


def notification_types(c: Ctx):
    return list(c.store.all("notification_types"))


def notification_type(c: Ctx):
    for t in c.store.all("notification_types"):
        if t["event_type"] == c.query.get("event_type") and t["resource_type"] == c.query.get("resource_type"):
            return t
    raise ApiError(404, "No notification type for that event_type and resource_type")


def create_channel_setting(c: Ctx, f: Fields):
    channel = f.str("channel", required=True)
    if channel not in ("APP", "EMAIL", "SMS", "SLACK", "WEBHOOKS"):
        raise ApiError(400, "channel: expected APP, EMAIL, SMS, SLACK or WEBHOOKS")
    return c.dom.new_doc("notification_channel_settings", c.user,
                         {"channel": channel, "config": f.obj("config", required=True)})


def create_notification_setting(c: Ctx, f: Fields):
    type_id = f.int("notification_type_id", required=True)
    ntype = c.store.get("notification_types", type_id)
    if ntype is None:
        raise ApiError(400, f"notification_type_id: no notification type {type_id}")
    return c.dom.new_doc("notification_settings", c.user, {
        "channel": f.str("channel", required=True), "notification_type_id": type_id,
        "status": f.str("status") or "ACTIVE", "config": f.obj("config") or {},
        "notification_resource_type": f.str("notification_resource_type") or ntype["resource_type"],
        "resource_id": f.int("resource_id"), "name": ntype["name"],
        "description": ntype["description"], "code": ntype["id"] * 100,
        "category": ntype["category"], "event_type": ntype["event_type"],
        "resource_type": ntype["resource_type"], "priority": None})


# == async tasks ====================================================================================
TASK_TYPES = ["BulkDeleteNotifications", "BulkPauseFlows", "BulkActivateFlows", "ExportFlows",
              "CallDataCredentialsProbe", "FailDemoTask"]


def create_task(c: Ctx, f: Fields):
    task_type = f.str("type", required=True)
    args = f.obj("arguments", required=True)
    priority = f.int("priority")
    now = c.dom.now()
    return c.dom.new_doc("async_tasks", c.user, {
        "type": task_type, "arguments": args, "priority": priority, "status": "pending",
        "acknowledged": False, "_started": now})


def tasks_where(field):
    def handler(c: Ctx):
        views = [c.dom.task_view(t) for t in c.dom.visible("async_tasks", c.user)]
        return [v for v in views if v[field] == c.args["value"]]
    return handler


def task_types(c: Ctx):
    return list(TASK_TYPES)


def explain_task(c: Ctx):
    return {"type": c.args["value"], "arguments": {"ids": "array of ids", "fail": "bool (sandbox)"}}


def rerun_task(c: Ctx):
    doc = c.dom.get("async_tasks", c.args["id"], c.user, "operator")
    doc = c.dom.update_doc("async_tasks", doc, {"_started": c.dom.now(), "acknowledged": False})
    return c.dom.task_view(doc)


def task_result(c: Ctx):
    view = c.dom.task_view(c.dom.get("async_tasks", c.args["id"], c.user))
    if view["status"] not in ("completed", "failed"):
        raise ApiError(409, f"Task {view['id']} is {view['status']}; no result yet",
                       resource_type="async_tasks", resource_id=view["id"])
    return view["result"] if view["status"] == "completed" else {"error": view["error"]}


def task_download(c: Ctx):
    view = c.dom.task_view(c.dom.get("async_tasks", c.args["id"], c.user))
    if view["status"] != "completed":
        raise ApiError(409, f"Task {view['id']} is {view['status']}; nothing to download",
                       resource_type="async_tasks", resource_id=view["id"])
    return f"{c.root_url}/_sandbox/downloads/{view['id']}.json"


def task_ack(c: Ctx):
    doc = c.dom.get("async_tasks", c.args["id"], c.user)
    c.dom.update_doc("async_tasks", doc, {"acknowledged": True})
    return {"code": 200, "message": "Acknowledged"}


# == genai ======================================================================================
def create_genai_config(c: Ctx, f: Fields):
    fields = {"name": f.str("name", required=True), "type": f.str("type", required=True),
              "config": f.obj("config", required=True),
              "data_credentials_id": _credential_ref(c, f, required=True),
              "description": f.text("description"), "status": "active"}
    return c.dom.new_doc("gen_ai_integration_configs", c.user, fields)


def update_genai_config(c: Ctx, f: Fields, doc: dict):
    changes = f.present(name="text", type="text", description="text", status="text", config="obj")
    if f.has("data_credentials_id"):
        changes["data_credentials_id"] = _credential_ref(c, f)
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


def limits(c: Ctx):
    return {"rate_limits": {"requests_per_minute": 600, "burst": 100}, "org_id": c.user["org_id"]}


# == webhooks =====================================================================================
_STANDARD_HEADERS = {"host", "content-type", "content-length", "accept", "accept-encoding",
                     "connection", "user-agent", "authorization"}


def webhook(c: Ctx):
    """POST {root}/webhook/{source_id}: api_key in the query or Basic base64(api_key)."""
    src = c.store.get("data_sources", c.args["id"])
    if src is None or not src.get("api_keys"):
        raise not_found("webhook", c.args["id"])
    key = c.query.get("api_key")
    auth = c.req.headers.get("Authorization", "")
    if key is None and auth.lower().startswith("basic "):
        try:
            key = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").rstrip(":")
        except (ValueError, UnicodeDecodeError):
            key = None
    if not key or key not in {k["api_key"] for k in src["api_keys"]}:
        raise ApiError(401, "Invalid or missing api_key for this webhook")
    body = c.raw_body()
    records = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
    if records is None or any(not isinstance(r, dict) for r in records):
        raise ApiError(400, "body: expected a JSON object or an array of objects")
    extra = {}
    if c.qbool("include_headers"):
        extra.update({f"header_{k.lower()}": v for k, v in c.req.headers.items()
                      if k.lower() not in _STANDARD_HEADERS})
    if c.qbool("include_url_params"):
        skip = {"api_key", "include_headers", "include_url_params", "force_schema_detection"}
        extra.update({f"url_param_{k}": v for k, v in c.query.items() if k not in skip})
    detected = c.store.find("data_sets", "data_source_id", src["id"])
    set_id = detected[0]["id"] if detected else None
    now = c.dom.now_iso()
    for record in records:
        c.store.put("webhook_records", {"id": c.store.next_id("webhook_records", 0),
                                        "source_id": src["id"], "data_set_id": set_id,
                                        "record": {**copy.deepcopy(record), **extra},
                                        "received_at": now})
    if detected and records:
        nexset = detected[0]
        c.store.put("data_sets", {**nexset, "output_schema": transforms.infer_schema(
            c.dom.samples(nexset)[0])})
    return {"dataset_id": set_id, "processed": len(records)}


# == create/update registries =======================================================================
CREATORS = {
    "data_credentials": create_credential, "data_sources": create_source,
    "data_sets": create_nexset, "data_sinks": create_sink, "teams": create_team,
    "users": create_user, "projects": create_project,
    "transforms": _transform_create("transforms"),
    "attribute_transforms": _transform_create("attribute_transforms"),
    "data_maps": create_lookup, "async_tasks": create_task,
    "gen_ai_integration_configs": create_genai_config, "gen_ai_org_settings": create_genai_setting,
    "notification_channel_settings": create_channel_setting,
    "notification_settings": create_notification_setting,
}


def notification_settings_where(c: Ctx):
    docs = c.dom.visible("notification_settings", c.user)
    if "type_id" in c.args:
        docs = [d for d in docs if d["notification_type_id"] == c.args["type_id"]]
    else:
        docs = [d for d in docs if d["notification_resource_type"] == c.args["resource_type"].upper()
                and d.get("resource_id") == c.args["resource_id"]]
    return [c.shaper.plain(d) for d in docs]


def _update_plain(kind, getters: dict):
    def updater(c: Ctx, f: Fields, doc: dict):
        return c.dom.update_doc(kind, doc, f.present(**getters))
    return updater


UPDATERS = {
    "data_credentials": update_credential, "data_sources": update_source,
    "data_sets": update_nexset, "data_sinks": update_sink, "teams": update_team,
    "users": update_user, "projects": update_project,
    "transforms": _transform_update("transforms"),
    "attribute_transforms": _transform_update("attribute_transforms"),
    "data_maps": update_lookup, "gen_ai_integration_configs": update_genai_config,
    "notification_channel_settings": _update_plain("notification_channel_settings",
                                                   {"channel": "str", "config": "obj"}),
    "notification_settings": _update_plain("notification_settings",
                                           {"status": "str", "config": "obj", "channel": "str",
                                            "checked": "bool"}),
    "notifications": _update_plain("notifications", {}),
}
