"""Seeds: the documented demo org (stable ids, see README.md), an empty org, and bulk populate."""

from __future__ import annotations

import random

from . import audit
from .models import RUN_INTERVAL, ApiError, Domain

ORG_ID = 7
SERVICE_KEYS = {"admin": "sbx-admin-key-demo-0001", "operator": "sbx-operator-key-demo-0002",
                "collaborator": "sbx-collaborator-key-demo-0003", "dev": "sbx-dev-key-demo-0004"}

ORDERS_TRANSFORM = {"version": 1, "operations": [
    {"operation": "shift", "spec": {"order_id": "id", "customer_id": "customer.id",
                                    "amount": "amount", "currency": "currency", "status": "status",
                                    "country": "customer.country", "created_at": "created_at"}},
    {"operation": "modify-overwrite-beta", "spec": {"status": "=toUpper",
                                                    "customer": {"country": "=toUpper"}}},
    {"operation": "default", "spec": {"source_system": "orders-s3"}},
]}


def service_keys(dom: Domain) -> dict:
    keys = dict(SERVICE_KEYS)
    if dom.settings.admin_key:
        keys["admin"] = dom.settings.admin_key
    return keys


def _base(dom: Domain, keys: dict):
    """Org 7 and user 1 (Ada, org admin): present in every seed so the admin key works."""
    dom.store.put("orgs", {"id": ORG_ID, "name": "Demo Org", "client_identifier": "demo",
                           "email": "ada@demo.example", "email_domain": "demo.example", "status": "ACTIVE",
                           "owner_id": 1, "org_id": ORG_ID, "created_at": dom.now_iso(),
                           "updated_at": dom.now_iso()})
    ada = {"id": 1, "org_id": ORG_ID}
    dom.new_doc("users", ada, {"email": "ada@demo.example", "full_name": "Ada Admin",
                               "status": "ACTIVE", "is_org_admin": True, "user_tier": "PAID",
                               "_service_key": keys["admin"]}, doc_id=1)
    return dom.user(1)


def seed_empty(dom: Domain):
    with dom.store.tx():
        _base(dom, service_keys(dom))
        _notification_types(dom)
        audit.record_seed(dom, dom.user(1))
        dom.store.set_meta("seeded", "empty")


def _notification_types(dom: Domain):
    # event_type and resource_type: values of the reference's enums (families/notifications)
    types = [(1, "Flow run failed", "ERROR", "DATA_FLOW"), (2, "Source error", "ERROR", "SOURCE"),
             (3, "Flow stale", "MONITOR", "DATA_FLOW"), (4, "Sink write error", "ERROR", "SINK")]
    for tid, name, event, rtype in types:
        dom.store.put("notification_types", {
            "id": tid, "name": name, "description": f"{name} notification", "category": "DATA",
            "default": True, "status": True, "event_type": event, "resource_type": rtype})


def _acc(kind, ident, *roles):
    return {"type": kind, "id": ident, "access_roles": list(roles)}


def seed_demo(dom: Domain):
    keys = service_keys(dom)
    store = dom.store
    now = dom.now()
    with store.tx():
        ada = _base(dom, keys)
        _notification_types(dom)
        for uid, email, name, key in ((2, "omar@demo.example", "Omar Operator", keys["operator"]),
                                      (3, "cleo@demo.example", "Cleo Collaborator",
                                       keys["collaborator"]),
                                      (4, "dana@demo.example", "Dana Dev", keys["dev"])):
            dom.new_doc("users", ada, {"email": email, "full_name": name, "status": "ACTIVE",
                                       "is_org_admin": False, "user_tier": "PAID",
                                       "_service_key": key}, doc_id=uid)
        dom.new_doc("teams", ada, {"name": "data-ops", "description": "Pipeline operators",
                                   "members": [{"id": 1, "admin": True}, {"id": 2, "admin": False}],
                                   "_accessors": [_acc("USER", 4, "collaborator")]}, doc_id=42)
        dom.new_doc("teams", ada, {"name": "analytics", "description": "Analysts",
                                   "members": [{"id": 3, "admin": False}, {"id": 4, "admin": False}],
                                   "_accessors": [_acc("TEAM", 42, "admin")]}, doc_id=43)
        # credentials
        for cid, name, ctype, secret, public_cfg in (
                (11, "orders-s3-cred", "s3", {"access_key_id": "AKIASANDBOX11",
                                              "secret_key": "s3-secret-demo"}, {"region": "us-east-1"}),
                (12, "warehouse-postgres-cred", "postgres", {"password": "pg-demo-pass"},
                 {"host": "warehouse-db", "port": 5432, "database": "analytics", "username": "etl"}),
                (13, "broken-snowflake-cred", "snowflake", {"password": "wrong-password"},
                 {"account": "demo-xy123", "username": "loader", "warehouse": "LOAD_WH"}),
                (14, "events-api-cred", "rest", {"api_token": "events-demo-token"},
                 {"base_url": "https://events.demo.example/api"})):
            dom.new_doc("data_credentials", ada, {
                "name": name, "credentials_type": ctype, "description": f"{ctype} demo credential",
                "verified_status": "FAILED" if cid == 13 else "VERIFIED",
                "verified_at": dom.now_iso(), "copied_from_id": None,
                "_secret": {**public_cfg, **secret}, "_non_secure": public_cfg,
                "_accessors": [_acc("TEAM", 42, "operator")]}, doc_id=cid)
        # sources, detected nexsets, flows
        operator = [_acc("USER", 2, "operator")]
        sources = (
            (123, "orders-s3", "s3", 11, {"path": "demo-bucket/orders/", "format": "json"}, "orders"),
            (124, "customers-postgres", "postgres", 12, {"table": "public.customers"}, "customers"),
            (125, "events-rest-api", "rest", 14, {"url": "https://events.demo.example/api/events"},
             "events"),
            (126, "legacy-orders-ftp", "ftp", 11, {"path": "/exports/orders/"}, "legacy-orders"),
            (127, "clickstream-webhook", "nexla_rest", None, {}, "clickstream"),
        )
        for sid, name, stype, cred, cfg, set_name in sources:
            status = "PAUSED" if sid == 126 else "ACTIVE"
            accessors = ([_acc("USER", 2, "operator"), _acc("USER", 3, "collaborator"),
                          _acc("TEAM", 43, "collaborator")] if sid == 123 else list(operator))
            flow_id = 1000 + (sid - 122)  # flows 1001..1005
            dom.create_source(ada, {"name": name, "source_type": stype,
                                    "description": f"Demo {stype} source",
                                    "data_credentials_id": cred, "source_config": cfg,
                                    "_accessors": accessors},
                              doc_id=sid, status=status, discover=False, node_id=flow_id)
            store.put("flows", {**store.get("flows", flow_id), "_accessors": list(operator)})
            nexset = dom._discover(store.get("data_sources", sid), doc_id=sid, name=set_name,
                                   node_id=1100 + sid - 122)
            store.put("data_sets", {**nexset, "_accessors": [_acc("TEAM", 43, "collaborator")]})
        # derived nexset 223 and destinations
        dom.create_nexset(ada, {"name": "orders-clean", "parent_data_set_id": 123,
                                "description": "Orders with a normalised shape",
                                "has_custom_transform": True, "transform": ORDERS_TRANSFORM,
                                "_accessors": [_acc("TEAM", 43, "collaborator")]},
                          doc_id=223, node_id=1201)
        for did, name, stype, cred, set_id, cfg, status, node_id in (
                (301, "orders-warehouse", "postgres", 12, 223, {"table": "analytics.orders"},
                 "ACTIVE", 1301),
                (302, "customers-warehouse", "postgres", 12, 124, {"table": "analytics.customers"},
                 "ACTIVE", 1302),
                (303, "events-archive", "s3", 11, 125, {"path": "demo-archive/events/",
                                                        "format": "json"}, "ACTIVE", 1303),
                (304, "legacy-orders-archive", "s3", 11, 126, {"path": "demo-archive/legacy/",
                                                               "format": "csv"}, "PAUSED", 1304)):
            dom.create_sink(ada, {"name": name, "sink_type": stype, "data_credentials_id": cred,
                                  "data_set_id": set_id, "description": f"Demo {stype} destination",
                                  "sink_config": cfg, "status": status,
                                  "_accessors": list(operator)}, doc_id=did, node_id=node_id)
        for fid in range(1001, 1006):
            root = store.get("flows", fid)
            nodes = dom.subtree(root)
            status = "PAUSED" if fid == 1004 else "ACTIVE"
            dom.set_status(nodes, status)
        # reusable transforms, project, lookup
        dom.new_doc("transforms", ada, {
            "name": "normalize-orders", "description": "Upper-case country codes",
            "reusable": True, "output_type": "record", "code_type": "jolt_standard",
            "code_encoding": "none", "code": [
                {"operation": "shift", "spec": {"*": "&"}},
                {"operation": "modify-overwrite-beta", "spec": {"country": "=toUpper"}}],
            "_accessors": [_acc("TEAM", 42, "collaborator")]}, doc_id=901)
        dom.new_doc("attribute_transforms", ada, {
            "name": "upper-case", "description": "Upper-cases a string attribute",
            "reusable": True, "output_type": "attribute", "code_type": "python",
            "code_encoding": "none", "code": "def transform(value):\n    return value.upper()\n",
            "_accessors": [_acc("TEAM", 42, "collaborator")]}, doc_id=951)
        dom.new_doc("projects", ada, {"name": "orders-analytics",
                                      "description": "Orders pipeline and reporting",
                                      "_flow_ids": [1001],
                                      "_accessors": [_acc("TEAM", 42, "admin")]}, doc_id=61)
        store.put("flows", {**store.get("flows", 1001), "project_id": 61})
        for node in dom.subtree(store.get("flows", 1001))[1:]:
            store.put("flows", {**node, "project_id": 61})
        dom.new_doc("data_maps", ada, {
            "name": "country-codes", "description": "ISO country code to name",
            "data_type": "string", "map_primary_key": "code", "data_defaults": {"name": "Unknown"},
            "emit_data_default": True,
            "_entries": {"US": {"code": "US", "name": "United States"},
                         "DE": {"code": "DE", "name": "Germany"},
                         "FR": {"code": "FR", "name": "France"},
                         "GB": {"code": "GB", "name": "United Kingdom"}},
            "_accessors": [_acc("TEAM", 43, "collaborator")]}, doc_id=55)
        # 30 days of older history (one run per 6 hours) with the orders flow's two incidents,
        # then the last 72 hours hourly: healthy, failing (~50%, since 3 days ago), stale (last
        # success ~30 h ago), paused, webhook
        hours = 72
        for fid, stop_hours_ago in ((1001, 0), (1002, 0), (1003, 30), (1005, 0)):
            _older_history(dom, fid, now - stop_hours_ago * 3600 - (hours - 1) * RUN_INTERVAL,
                           incidents=fid == 1001)
        _history(dom, 1001, now, hours, fail_rate=0.0)
        _history(dom, 1002, now, hours, fail_rate=0.5, last_failed=True)
        _history(dom, 1003, now, hours, fail_rate=0.0, stop_hours_ago=30, stalled=True)
        _history(dom, 1004, now, hours, fail_rate=0.0, stop_hours_ago=24 * 5 - 72 + 48)
        _history(dom, 1005, now, hours, fail_rate=0.0)
        # notifications about the failing and the stale flow
        for nid, level, rid, rtype, msg, mid in (
                (601, "ERROR", 124, "SOURCE", "Flow 1002 run failed: 1 destination write error", 1),
                (602, "ERROR", 302, "SINK", "customers-warehouse: connection to warehouse-db refused", 4),
                (603, "WARN", 125, "SOURCE", "events-rest-api has not delivered data for 30 hours", 3),
                (604, "INFO", 123, "SOURCE", "orders-s3 run completed", 1)):
            dom.new_doc("notifications", ada, {"level": level, "resource_id": rid,
                                               "resource_type": rtype, "message_id": mid,
                                               "message": msg, "read_at": None}, doc_id=nid)
        for cid, name, public in ((971, "chunk-paragraphs", False), (972, "shared-dedupe", True)):
            dom.new_doc("code_containers", ada, {
                "name": name, "description": f"Demo code container {name}", "reusable": True,
                "public": public, "resource_type": "transform", "output_type": "record",
                "code_type": "python", "code_encoding": "none", "code_config": {},
                "custom_config": None, "data_credentials_id": None, "copied_from_id": None,
                "code": [{"operation": "nexla.custom", "spec": {
                    "language": "python", "encoding": "none",
                    "script": "def transform(input, metadata, args):\n    return input\n"}}],
                "_accessors": [_acc("TEAM", 42, "collaborator")]}, doc_id=cid)
        audit.record_seed(dom, ada)
        store.set_meta("seeded", "demo")
    dom.note_due(0)


def _history(dom: Domain, flow_id: int, now: float, runs: int, *, fail_rate: float,
             last_failed=False, stop_hours_ago=0, stalled=False, rng_name="history"):
    """`runs` hourly runs of a flow; its schedule then goes on from the newest (an ACTIVE,
    not stalled flow runs again an hour later)."""
    root = dom.store.get("flows", flow_id)
    rng = random.Random(f"{rng_name}:{flow_id}")
    last = now - 1800 - stop_hours_ago * 3600  # newest run: half an hour before "now" (or earlier)
    for seq in range(runs):
        failed = rng.random() < fail_rate or (last_failed and seq == runs - 1)
        dom.make_run(root, last - (runs - 1 - seq) * RUN_INTERVAL, failed=failed, seq=seq)
    root = dom.store.get("flows", flow_id)
    sim = {**root["_sim"], "fail_rate": fail_rate, "stalled": stalled, "run_count": runs,
           "next_run_at": last + RUN_INTERVAL}
    active = dom.node_status(root) == "ACTIVE" and not stalled
    dom.store.put("flows", {**root, "_sim": sim, "_scheduled": active})


OLDER_DAYS = 30  # the seed's history reaches this many days back
OLDER_INTERVAL = 6 * 3600
# Incidents of the orders flow (1001), in whole UTC days before today: a day every run failed, and
# a late day whose runs only resumed at 18:00 UTC.
ERROR_DAY_AGO = 12
LATE_DAY_AGO = 19
LATE_DAY_RESUMES = 18 * 3600


def _older_history(dom: Domain, flow_id: int, hourly_from: float, *, incidents: bool):
    """The history before a flow's hourly runs (from `hourly_from`, about now - 72 h): a run every
    6 hours from OLDER_DAYS ago, each carrying about six hours' records, so daily totals stay level
    across the switch to hourly runs."""
    root = dom.store.get("flows", flow_id)
    rng = random.Random(f"older:{flow_id}")
    now = dom.now()
    today = now - now % 86400
    start = today - OLDER_DAYS * 86400
    hourly_from -= 1800  # the newest hourly run is half an hour before "now"
    at, seq = start + 1800, -10_000  # negative seqs never meet the hourly runs' seeds
    while at < hourly_from - OLDER_INTERVAL / 2:
        day_ago = int((today - (at - at % 86400)) // 86400)
        late = incidents and day_ago == LATE_DAY_AGO and at % 86400 < LATE_DAY_RESUMES
        if not late:
            failed = incidents and day_ago == ERROR_DAY_AGO
            dom.make_run(root, at, failed=failed, seq=seq, records=rng.randint(6 * 200, 6 * 5000))
        at += OLDER_INTERVAL
        seq += 1


# == bulk populate ================================================================================
POPULATE_KINDS = ("credentials", "sources", "flows", "teams")


def populate(dom: Domain, kind: str, count: int, opts: dict) -> dict:
    """Bulk-create `count` objects in one transaction (tests and benchmarks)."""
    if kind not in POPULATE_KINDS:
        raise ApiError(400, f"kind: expected one of {', '.join(POPULATE_KINDS)}")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 100_000:
        raise ApiError(400, "count: expected an integer 0..100000")
    prefix = opts.get("name_prefix", "bulk")
    if not isinstance(prefix, str):
        raise ApiError(400, "name_prefix: expected a string")
    owner = dom.user(opts.get("owner_id", 1))
    if owner is None:
        raise ApiError(400, "owner_id: no such user")
    ids = []
    now = dom.now()
    with dom.store.tx():
        if kind == "credentials":
            for i in range(count):
                ids.append(dom.new_doc("data_credentials", owner, {
                    "name": f"{prefix}-cred-{i}", "credentials_type": opts.get("type", "s3"),
                    "description": None, "_secret": {"secret_key": f"bulk-{i}"},
                    "_non_secure": {}})["id"])
        elif kind == "sources":
            for i in range(count):
                src = dom.create_source(owner, {"name": f"{prefix}-source-{i}",
                                                "source_type": opts.get("type", "s3")},
                                        status=opts.get("status", "PAUSED"),
                                        discover=bool(opts.get("nexsets", False)))
                ids.append(src["id"])
        elif kind == "teams":
            for i in range(count):
                ids.append(dom.new_doc("teams", owner, {"name": f"{prefix}-team-{i}",
                                                        "description": "", "members": []})["id"])
        else:
            runs = int(opts.get("runs", 10))
            fail_rate = float(opts.get("fail_rate", 0.0))
            status = opts.get("status", "ACTIVE")
            cred = dom.new_doc("data_credentials", owner, {
                "name": f"{prefix}-cred", "credentials_type": "s3", "description": None,
                "_secret": {"secret_key": "bulk"}, "_non_secure": {}})
            for i in range(count):
                src = dom.create_source(owner, {"name": f"{prefix}-orders-{i}", "source_type": "s3",
                                                "data_credentials_id": cred["id"]},
                                        status=status, discover=False)
                nexset = dom._discover(src)
                dom.create_sink(owner, {"name": f"{prefix}-sink-{i}", "sink_type": "s3",
                                        "data_credentials_id": cred["id"],
                                        "data_set_id": nexset["id"], "status": status})
                # The sink is created with `status`; discovery only knows ACTIVE or PAUSED.
                dom.store.put("data_sets", {**dom.store.get("data_sets", nexset["id"]),
                                            "status": status})
                _history(dom, src["flow_node_id"], now, runs, fail_rate=fail_rate, rng_name="bulk")
                ids.append(src["flow_node_id"])
    dom.note_due(0)
    return {"kind": kind, "count": len(ids), "ids": ids}
