"""Response shapes: stored docs → the JSON objects Nexla sends (contract sections 3-20).

Every shape here is what nexla-sdk 1.0.8's models accept *because Nexla sends it*: required
non-null strings (team/project/lookup descriptions), lower-case sink_format, transform
access_roles as an object, complete owner/org/connector objects, no nulls in non-nullable lists.
"""

from __future__ import annotations

import functools
import zlib

from .models import NODE_FIELD, Domain, iso
from .store import to_json

SINK_FORMATS = ("json", "csv", "parquet", "avro", "xml", "delimited", "fixed_width")
FILE_CONNECTORS = {"s3", "gcs", "azure_blb", "azure_data_lake", "ftp", "dropbox", "box", "gdrive",
                   "sharepoint", "min_io_s3", "webdav", "file_upload", "delta_lake_s3",
                   "delta_lake_azure_blb", "delta_lake_azure_data_lake", "s3_iceberg"}
API_CONNECTORS = {"rest", "soap", "nexla_rest", "email", "nexla_monitor"}
STREAM_CONNECTORS = {"kafka", "confluent_kafka", "google_pubsub", "jms", "tibco"}


class RawJSON:
    """An already-serialized JSON body (a handler may return it instead of an object)."""

    def __init__(self, text: str):
        self.text = text


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k[0] != "_"}


def _format_of(config) -> str:
    fmt = config.get("format") if isinstance(config, dict) else None
    return fmt.upper() if isinstance(fmt, str) and fmt else "JSON"


@functools.lru_cache(maxsize=256)
def connector(code: str) -> dict:
    """Shared per connector code: shapes may embed it but must not modify it."""
    if code in FILE_CONNECTORS:
        ctype = "file"
    elif code in API_CONNECTORS:
        ctype = "api"
    elif code in STREAM_CONNECTORS:
        ctype = "stream"
    else:
        ctype = "database"
    return {"id": zlib.crc32(code.encode()) % 9000 + 1000, "type": code, "connection_type": ctype,
            "name": code.replace("_", " ").title(), "description": f"{code} connector",
            "nexset_api_compatible": True}


@functools.lru_cache(maxsize=256)
def vendor(code: str) -> dict:
    """The connector's vendor: the sandbox has one vendor per connector code (shared; do not
    modify)."""
    info = connector(code)
    return {"id": info["id"], "name": code, "display_name": info["name"],
            "connection_type": info["connection_type"]}


@functools.lru_cache(maxsize=256)
def vendor_endpoint(code: str) -> dict:
    """The vendor's one endpoint (the sandbox has one per vendor; shared, do not modify)."""
    info = vendor(code)
    return {"id": info["id"], "name": f"{code}_default", "display_name": info["display_name"],
            "vendor_id": info["id"]}


class Shaper:
    """Shapes docs for one caller (access_roles are the caller's own roles)."""

    def __init__(self, dom: Domain, user: dict, root_url: str = ""):
        self.dom = dom
        self.store = dom.store
        self.user = user
        self.root_url = root_url
        self._owners: dict = {}  # per-request caches: a page repeats the same owner/org
        self._orgs: dict = {}

    # -- nested objects -----------------------------------------------------------------------
    def owner(self, doc: dict) -> dict:
        owner_id = doc.get("owner_id")
        cached = self._owners.get(owner_id)
        if cached is None:
            user = self.dom.user(owner_id)
            # The sandbox verifies no email: an account's email counts as verified when made.
            cached = {"id": owner_id or 0, "full_name": "Unknown user",
                      "email": "unknown@invalid.example", "email_verified_at": None} \
                if user is None else {
                "id": user["id"], "full_name": user["full_name"], "email": user["email"],
                "email_verified_at": user.get("email_verified_at") or user.get("created_at")}
            self._owners[owner_id] = cached
        return cached

    def org(self, doc: dict) -> dict:
        org_id = doc.get("org_id")
        cached = self._orgs.get(org_id)
        if cached is None:
            org = self.dom.org(org_id)
            # org_webhook_host: the host webhook URLs are served from (here, the sandbox)
            cached = {"id": org["id"], "name": org["name"], "email": org.get("email"),
                      "org_webhook_host": org.get("org_webhook_host") or self.root_url}
            for key in ("email_domain", "client_identifier"):
                if org.get(key):
                    cached[key] = org[key]
            self._orgs[org_id] = cached
        return cached

    def cached_json(self, kind: str, doc: dict, expand: bool = False) -> str:
        """Serialized shape of a source, nexset, destination or credential — these depend only
        on stored state and the caller — reused until the next store write."""
        return self.dom.cached(("shape", kind, doc["id"], self.user["id"], expand, self.root_url),
                               lambda: to_json(CACHED_SHAPES[kind](self, doc, expand)))

    def roles(self, kind: str, doc: dict) -> list[str]:
        return self.dom.access_roles(kind, doc, self.user)

    def common(self, kind: str, doc: dict) -> dict:
        out = public(doc)
        out.update(owner=self.owner(doc), org=self.org(doc), access_roles=self.roles(kind, doc))
        out["tags"] = list(doc.get("tags") or [])
        return out

    def detected(self, nexset: dict) -> dict:
        """A source's `data_sets` entry: brief() plus the schema and transform fields."""
        return {**self.brief(nexset), "output_schema": nexset.get("output_schema") or {},
                "source_schema": nexset.get("source_schema") or nexset.get("output_schema") or {},
                "transform": nexset.get("transform") or {}, "sample_service_id": None}

    def brief(self, nexset: dict) -> dict:
        return {"id": nexset["id"], "owner_id": nexset["owner_id"], "org_id": nexset["org_id"],
                "name": nexset.get("name"), "description": nexset.get("description"), "version": 1,
                "created_at": nexset.get("created_at"), "updated_at": nexset.get("updated_at")}

    # -- credentials --------------------------------------------------------------------------
    def credential(self, doc: dict, expand: bool = False) -> dict:
        out = self.common("data_credentials", doc)
        out.update(connector=connector(doc["credentials_type"]),
                   vendor=vendor(doc["credentials_type"]), template_config={}, api_keys=[],
                   managed=False, credentials_version="1",
                   credentials_non_secure_data=dict(doc.get("_non_secure") or {}),
                   verified_status=doc.get("verified_status"),
                   verified_at=doc.get("verified_at"))
        return out

    def embedded_credential(self, doc: dict) -> dict | None:
        cred = self.store.get("data_credentials", doc.get("data_credentials_id"))
        return self.credential(cred) if cred else None

    # -- sources ------------------------------------------------------------------------------
    def source(self, doc: dict, expand: bool = False, with_runs: bool = False,
               one: bool = False) -> dict:
        """`one`: a single-object answer (GET by id, create, update), which embeds the
        credential as the reference's GET/POST schemas do; lists embed it with expand only."""
        out = self.common("data_sources", doc)
        node = self.store.get("flows", doc.get("flow_node_id"))
        out.setdefault("code_container_id", None)
        out.update(connector_type=doc["source_type"], connector=connector(doc["source_type"]),
                   connection_type=connector(doc["source_type"])["connection_type"],
                   vendor=vendor(doc["source_type"]),
                   vendor_endpoint=vendor_endpoint(doc["source_type"]),
                   template_config={}, data_sink_id=None,
                   ingestion_mode=node.get("ingestion_mode") if node else doc.get("ingest_method"),
                   managed=False, auto_generated=False, has_template=False,
                   source_format=_format_of(doc.get("source_config")),
                   poll_schedule=None if doc["source_type"] == "nexla_rest" else "every 1 hour",
                   origin_node_id=node["origin_node_id"] if node else None,
                   data_sets=[self.detected(n) for n in self.store.find(
                       "data_sets", "data_source_id", doc["id"])],
                   api_keys=[], run_ids=[])
        if doc.get("api_keys") and self.dom.rank(self.dom.roles("data_sources", doc, self.user)) >= 3:
            out["api_keys"] = [{"id": k["id"], "api_key": k["api_key"],
                                "url": f"{self.root_url}/webhook/{doc['id']}"} for k in doc["api_keys"]]
        if with_runs and node:
            runs = self.dom.flow_runs(node["origin_node_id"], brief=True)[:5]
            out["run_ids"] = [{"id": r["id"], "created_at": iso(r["started_at"])} for r in runs]
        if expand or one:
            out["data_credentials"] = self.embedded_credential(doc)
        return out

    def source_one(self, doc: dict, expand: bool = False) -> dict:
        return self.source(doc, expand, one=True)

    def source_brief(self, src: dict) -> dict:
        """A nexset's `data_source`, with the fields the reference lists for it."""
        return {"id": src["id"], "owner_id": src["owner_id"], "org_id": src["org_id"],
                "name": src.get("name"), "description": src.get("description"),
                "status": src.get("status"), "source_type": src["source_type"],
                "connector": connector(src["source_type"]), "vendor_id": src.get("vendor_id")}

    # -- nexsets ------------------------------------------------------------------------------
    def sink_simple(self, sink: dict) -> dict:
        return {"id": sink["id"], "owner_id": sink["owner_id"], "org_id": sink["org_id"],
                "name": sink["name"], "status": sink.get("status"), "sink_type": sink["sink_type"]}

    def nexset(self, doc: dict, expand: bool = False) -> dict:
        out = self.common("data_sets", doc)
        parent = self.store.get("data_sets", doc.get("parent_data_set_id"))
        node = self.store.get("flows", doc.get("flow_node_id"))
        sinks = self.store.find("data_sinks", "data_set_id", doc["id"])
        out.setdefault("code_container_id", None)
        out.update(parent_data_sets=[self.brief(parent)] if parent else [],
                   data_sink_ids=[s["id"] for s in sinks], managed=False,
                   public=bool(doc.get("public")),
                   data_sinks=[self.sink_simple(s) for s in sinks],
                   origin_node_id=node["origin_node_id"] if node else None)
        src = self.store.get("data_sources", doc.get("data_source_id"))
        out["data_source"] = None if src is None else self.source(src) if expand else \
            self.source_brief(src)
        return out

    # -- destinations ---------------------------------------------------------------------------
    def sink(self, doc: dict, expand: bool = False, one: bool = False) -> dict:
        """`one` embeds the credential, as source() does."""
        out = self.common("data_sinks", doc)
        cfg = doc.get("sink_config") or {}
        fmt = cfg.get("format") or cfg.get("data_format")
        fmt = fmt.lower() if isinstance(fmt, str) else None
        if fmt not in SINK_FORMATS:
            fmt = "json" if doc["sink_type"] in FILE_CONNECTORS else None
        nexset = self.store.get("data_sets", doc.get("data_set_id"))
        node = self.store.get("flows", doc.get("flow_node_id"))
        root = node and self.store.get("flows", node["origin_node_id"])
        out.update(connector_type=doc["sink_type"], connector=connector(doc["sink_type"]),
                   connection_type=connector(doc["sink_type"])["connection_type"],
                   vendor=vendor(doc["sink_type"]),
                   vendor_endpoint=vendor_endpoint(doc["sink_type"]), template_config={},
                   flow_type=root.get("flow_type") if root else None,
                   managed=False, in_memory=False, sink_format=fmt, has_template=False,
                   sink_schedule=None, data_map_id=None, data_map=None,
                   origin_node_id=node["origin_node_id"] if node else None,
                   data_source_id=root.get("data_source_id") if root else None,
                   data_set={"id": nexset["id"], "owner_id": nexset["owner_id"],
                             "org_id": nexset["org_id"],
                             "copied_from_id": nexset.get("copied_from_id"),
                             "name": nexset.get("name") or "",
                             "description": nexset.get("description"),
                             "status": nexset.get("status"),
                             "output_schema": nexset.get("output_schema"), "version": 1,
                             "created_at": nexset.get("created_at"),
                             "updated_at": nexset.get("updated_at")} if nexset else None)
        if expand or one:
            out["data_credentials"] = self.embedded_credential(doc)
        return out

    def sink_one(self, doc: dict, expand: bool = False) -> dict:
        return self.sink(doc, expand, one=True)

    # -- flows --------------------------------------------------------------------------------
    def node_tree(self, node: dict) -> dict:
        kind, res = self.dom.node_resource(node)
        out = {"id": node["id"], "origin_node_id": node["origin_node_id"],
               "parent_node_id": node["parent_node_id"],
               "shared_origin_node_id": node.get("shared_origin_node_id"),
               "data_source_id": node.get("data_source_id"),
               "data_set_id": node.get("data_set_id"), "data_sink_id": node.get("data_sink_id"),
               "status": res.get("status") if res else None,
               "project_id": node.get("project_id"), "flow_type": node.get("flow_type"),
               "ingestion_mode": node.get("ingestion_mode"),
               "name": res.get("name") if res else None,
               "description": res.get("description") if res else None,
               "children": [self.node_tree(c) for c in self.dom.children(node["id"])]}
        return out

    def flow_metrics_json(self, root_id: int) -> str:
        """One flow's `metrics` elements (its 10 newest runs), comma-joined. A run is only ever
        added by a store write, with a start in the past, and a finished run never changes, so
        once all ten have finished the text stands until the next write; while one is RUNNING
        it is rebuilt per request."""
        key = ("metrics", root_id)
        text = self.dom.derived().get(key)
        if text is None:
            now = self.dom.now()
            runs = self.dom.flow_runs(root_id, brief=True)[:10]
            metrics = []
            for run in runs:
                status = self.dom.run_status(run, now)
                metrics.append(
                    {"origin_node_id": root_id, "records": run["records"], "size": run["size"],
                     "errors": run["errors"], "reporting_date": iso(run["started_at"]),
                     "run_id": run["id"], "status": status, "started_at": iso(run["started_at"]),
                     "finished_at": iso(run["finished_at"]) if status != "RUNNING" else None,
                     "data_source_id": run["data_source_id"]})
            text = to_json(metrics)[1:-1]
            if all(run["finished_at"] <= now for run in runs):
                self.dom.derived()[key] = text
        return text

    def flow_response(self, nodes: list[dict], *, flows_only=False, metrics=False) -> RawJSON:
        """FlowResponse for the trees rooted at `nodes` (usually root nodes), joined from
        cached fragments: a page of 100 flows is mostly string joins, not shaping + encoding."""
        parts = ['{"flows":[', ",".join(self.dom.cached(("tree", n["id"]), lambda n=n: to_json(
            self.node_tree(n))) for n in nodes), "]"]
        if metrics:
            fragments = (self.flow_metrics_json(n["origin_node_id"]) for n in nodes)
            parts += [',"metrics":[', ",".join(f for f in fragments if f), "]"]
        if not flows_only:
            parts.append(self.dom.cached(
                ("flow_resources", tuple(n["id"] for n in nodes), self.user["id"], self.root_url),
                lambda: self._flow_resources_json(nodes)))
        parts.append("}")
        return RawJSON("".join(parts))

    def _flow_resources_json(self, nodes: list[dict]) -> str:
        """The FlowResponse members after `flows`/`metrics`, as `,"data_sources":[...],...`."""
        found = {kind: {} for kind in NODE_FIELD}
        for top in nodes:
            for node in self.dom.subtree(top):
                kind, res = self.dom.node_resource(node)
                if res:
                    found[kind][res["id"]] = res
        creds, users, projects = {}, {}, {}
        for kind in ("data_sources", "data_sinks"):
            for res in found[kind].values():
                cred = self.store.get("data_credentials", res.get("data_credentials_id"))
                if cred:
                    creds[cred["id"]] = cred
        for bucket in found.values():
            for res in bucket.values():
                user = self.dom.user(res.get("owner_id"))
                if user:
                    users[user["id"]] = {"id": user["id"], "full_name": user["full_name"],
                                         "email": user["email"]}
        for n in nodes:
            project = self.store.get("projects", n.get("project_id"))
            if project:
                projects[project["id"]] = {"id": project["id"], "owner_id": project["owner_id"],
                                           "org_id": project["org_id"], "name": project["name"],
                                           "description": project.get("description") or "",
                                           "access_roles": self.roles("projects", project)}
        org = self.org({"org_id": self.user["org_id"]})
        parts = []
        for kind, docs in (("data_sources", found["data_sources"].values()),
                           ("data_sets", found["data_sets"].values()),
                           ("data_sinks", found["data_sinks"].values()),
                           ("data_credentials", creds.values())):
            parts.append(f',"{kind}":[' + ",".join(self.cached_json(kind, d) for d in docs) + "]")
        parts.append(',"code_containers":[],"shared_data_sets":[],"orgs":[' + to_json(org)
                     + '],"users":' + to_json(list(users.values()))
                     + ',"projects":' + to_json(list(projects.values())))
        return "".join(parts)

    def hybrid(self, kind: str, doc: dict) -> dict:
        """activate/pause body: the resource plus `flows` (valid as the resource AND FlowResponse)."""
        shaped = {"data_sources": self.source, "data_sets": self.nexset, "data_sinks": self.sink}[kind](doc)
        node = self.store.get("flows", doc.get("flow_node_id"))
        shaped["flows"] = [self.node_tree(node)] if node else []
        return shaped

    # -- runs and logs ----------------------------------------------------------------------------
    def log_entry(self, entry: dict) -> dict:
        # Stored lines keep the connector-style WARN; the reference's severity enum says WARNING.
        severity = "WARNING" if entry["level"] == "WARN" else entry["level"]
        return {"timestamp": entry["timestamp"], "level": severity, "severity": severity,
                "message": entry["message"], "log": entry["message"],
                "log_type": entry["log_type"], "resource_type": entry["resource_type"],
                "resource_id": entry["resource_id"], "run_id": entry["run_id"]}

    def run(self, run: dict, data_set_id=None) -> dict:
        status = self.dom.run_status(run)
        return {"runId": run["id"], "run_id": run["id"], "flow_id": run["flow_id"],
                "dataSetId": data_set_id, "records": run["records"], "size": run["size"],
                "errors": run["errors"], "lastWritten": int(run["finished_at"] * 1000),
                "status": status, "started_at": iso(run["started_at"]),
                "finished_at": iso(run["finished_at"]) if status != "RUNNING" else None}

    # -- teams, users, orgs ---------------------------------------------------------------------
    def member(self, m: dict) -> dict:
        user = self.dom.user(m["id"])
        return {"id": m["id"], "email": user["email"] if user else m.get("email", ""),
                "admin": bool(m.get("admin"))}

    def team(self, doc: dict, expand: bool = False) -> dict:
        out = self.common("teams", doc)
        out.update(description=doc.get("description") or "",
                   members=[self.member(m) for m in doc.get("members", [])],
                   member=any(m["id"] == self.user["id"] for m in doc.get("members", [])))
        return out

    def user_obj(self, doc: dict, expand: bool = False) -> dict:
        org = self.dom.org(doc["org_id"])
        out = {k: v for k, v in public(doc).items() if k not in ("owner_id",)}
        out.update(super_user=False, impersonated=False,
                   default_org={"id": org["id"], "name": org["name"]},
                   user_tier=doc.get("user_tier", "PAID"), status=doc.get("status", "ACTIVE"),
                   account_locked=False,
                   org_memberships=[{"id": org["id"], "name": org["name"],
                                     "is_admin": bool(doc.get("is_org_admin")),
                                     "org_membership_status": "ACTIVE"}])
        if expand:
            summary = {}
            for kind in ("data_sources", "data_sets", "data_sinks", "data_maps"):
                owned = [d for d in self.store.all(kind) if d.get("owner_id") == doc["id"]]
                summary[kind] = {"owner": {
                    "total": len(owned),
                    "active": sum(1 for d in owned if d.get("status") == "ACTIVE"),
                    "paused": sum(1 for d in owned if d.get("status") == "PAUSED")}}
            out["account_summary"] = summary
        return out

    def current_user(self) -> dict:
        out = self.user_obj(self.user)
        org = self.dom.org(self.user["org_id"])
        out["org"] = {"id": org["id"], "name": org["name"]}
        out["org_id"] = org["id"]
        return out

    def org_obj(self, doc: dict, expand: bool = False) -> dict:
        out = public(doc)
        out["access_roles"] = self.roles("orgs", doc)
        return out

    # -- projects, transforms, lookups, others ----------------------------------------------------
    def project_flow(self, project: dict, flow_id: int) -> dict | None:
        root = self.store.get("flows", flow_id)
        if root is None:
            return None
        kind, res = self.dom.node_resource(root)
        return {"id": root["id"], "project_id": project["id"],
                "data_source_id": root.get("data_source_id"), "data_set_id": root.get("data_set_id"),
                "data_sink_id": root.get("data_sink_id"), "name": res.get("name") if res else None,
                "description": res.get("description") if res else None,
                "created_at": res.get("created_at") if res else None,
                "updated_at": res.get("updated_at") if res else None}

    def project(self, doc: dict, expand: bool = False) -> dict:
        out = self.common("projects", doc)
        flows = [f for f in (self.project_flow(doc, i) for i in doc.get("_flow_ids", [])) if f]
        out.update(description=doc.get("description") or "", data_flows=flows, flows=flows,
                   flows_count=len(flows))
        return out

    def transform(self, doc: dict, expand: bool = False, kind: str = "transforms") -> dict:
        out = public(doc)
        out.pop("owner_id", None)
        roles = self.roles(kind, doc)
        out.update(owner=self.owner(doc), org=self.org(doc),
                   access_roles={r: True for r in roles} or None,  # an object here, not a list
                   resource_type="TRANSFORM" if kind == "transforms" else "ATTRIBUTE_TRANSFORM",
                   managed=False,
                   data_sets=[d["id"] for d in self.store.find("data_sets", "transform_id", doc["id"])])
        return out

    def attribute_transform(self, doc: dict, expand: bool = False) -> dict:
        return self.transform(doc, expand, kind="attribute_transforms")

    def lookup(self, doc: dict, expand: bool = False) -> dict:
        out = self.common("data_maps", doc)
        entries = doc.get("_entries", {})
        out.update(description=doc.get("description") or "", public=False, managed=False,
                   use_versioning=False, data_defaults=doc.get("data_defaults") or {},
                   emit_data_default=bool(doc.get("emit_data_default")),
                   map_entry_count=len(entries),
                   map_entry_schema={"type": "object", "properties": {
                       k: {"type": "string"} for e in list(entries.values())[:1] for k in e}})
        return out

    def notification(self, doc: dict, expand: bool = False) -> dict:
        return self.common("notifications", doc)

    def task(self, doc: dict, expand: bool = False) -> dict:
        out = self.dom.task_view(doc)
        stored = out["status"] == "completed" and not doc.get("_acknowledged")
        out.update(result_url=f"{self.root_url}/_sandbox/downloads/{doc['id']}.json"
                   if stored else None, owner=self.owner(doc), org=self.org(doc))
        return out

    def genai_config(self, doc: dict, expand: bool = False) -> dict:
        out = public(doc)
        out["provider"] = doc.get("type")
        return out

    def plain(self, doc: dict, expand: bool = False) -> dict:
        return public(doc)


# The shapes cached_json may reuse: they depend only on stored state and the caller.
CACHED_SHAPES = {"data_sources": Shaper.source, "data_sets": Shaper.nexset,
                 "data_sinks": Shaper.sink, "data_credentials": Shaper.credential}
