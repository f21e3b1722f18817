"""Run rules: the hourly schedule, catch-up, each run's metrics and log lines, and the sums over a
window of runs that every metrics endpoint reports."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone

from ...domain import FIRST_RUN_DELAY, MAX_CATCH_UP_RUNS, ROLE_RANK, RUN_INTERVAL

FAIL_MESSAGES = {
    "postgres": "org.postgresql.util.PSQLException: Connection to warehouse-db:5432 refused",
    "snowflake": "net.snowflake.client.jdbc.SnowflakeSQLException: Incorrect username or password",
    "s3": "com.amazonaws.services.s3.model.AmazonS3Exception: Access Denied (403)",
    "rest": "HTTP 503 from upstream API after 3 attempts",
}

# The reference's log vocabulary: the node type of the line's resource, and SUMMARY for the
# count lines (LOG for the rest).
LOG_RESOURCE_TYPE = {"data_sources": "SOURCE", "data_sets": "DATASET", "data_sinks": "SINK"}


class RunModel:
    """Domain mixin for runs (stored per root flow node)."""

    def flow_runs(self, flow_id: int, *, brief: bool = False) -> list[dict]:
        """Runs of a flow visible at the current sim time, newest first. `brief`: only their
        figures (no resources, no logs), from memory: enough for a flow's metrics and run ids,
        where whole runs are read from SQLite."""
        now = self.now()
        read = self.store.briefs if brief else self.store.find
        runs = self.cached(("runs", flow_id, brief), lambda: sorted(
            read("runs", "flow_id", flow_id), key=lambda r: r["started_at"], reverse=True))
        return [r for r in runs if r["started_at"] <= now]

    def run_status(self, run: dict, now: float | None = None) -> str:
        return "RUNNING" if (self.now() if now is None else now) < run["finished_at"] else run["status"]

    def _run_due(self, root: dict, now: float) -> float:
        sim = root["_sim"]
        src = self.store.get("data_sources", root.get("data_source_id"))
        if not src or src.get("status") != "ACTIVE" or sim.get("stalled"):
            self.store.put("flows", {**root, "_scheduled": False})
            return math.inf
        due = sim.get("next_run_at") or now + FIRST_RUN_DELAY
        if due > now and sim.get("next_run_at") == due:
            return due  # nothing due yet: no write
        interval = max(float(sim.get("interval") or RUN_INTERVAL), 1.0)
        if due <= now:
            missed = int((now - due) // interval) + 1
            if missed > MAX_CATCH_UP_RUNS:
                due += (missed - MAX_CATCH_UP_RUNS) * interval
            count = sim.get("run_count", 0)
            while due <= now:
                failed = random.Random(f"{root['id']}:{count}").random() < sim.get("fail_rate", 0)
                self.make_run(root, due, failed=failed, seq=count)
                count += 1
                due += interval
            sim = {**sim, "run_count": count}
        self.store.put("flows", {**root, "_sim": {**sim, "next_run_at": due}})
        return due

    def make_run(self, root: dict, started: float, *, failed: bool, seq: int = 0,
                 records: int | None = None) -> dict:
        """One run of a flow, with per-resource metrics and log lines (ERROR lines on failure)."""
        rng = random.Random(f"run:{root['id']}:{seq}:{int(started)}")
        run_id = max(int(started * 1000), self.store.meta("last_run_id", 0) + 1)
        self.store.set_meta("last_run_id", run_id)
        duration = rng.uniform(20, 110)
        records = records if records is not None else rng.randint(200, 5000)
        size = records * rng.randint(180, 420)
        errors = rng.randint(max(1, records // 10), max(2, records // 2)) if failed else 0
        nodes = self.subtree(root)
        resources, logs = [], []
        ms = int(started * 1000)
        _, src = self.node_resource(root)
        src_name = src["name"] if src else "source"

        def log(offset_s, level, message, kind, rid, log_type="LOG"):
            logs.append({"timestamp": ms + int(offset_s * 1000), "level": level, "message": message,
                         "log_type": log_type, "resource_type": LOG_RESOURCE_TYPE[kind],
                         "resource_id": rid, "run_id": run_id})

        log(0, "INFO", f"Run {run_id} started for data source {src_name}", "data_sources",
            root.get("data_source_id"))
        step = duration / (len(nodes) + 1)
        for i, node in enumerate(nodes):
            kind, res = self.node_resource(node)
            if res is None:
                continue
            written = records - errors if kind == "data_sinks" else records
            resources.append({"resource_type": kind, "resource_id": res["id"],
                              "records": written, "size": written * (size // max(records, 1)),
                              "errors": errors if kind == "data_sinks" else 0})
            at = step * (i + 1)
            if kind == "data_sources":
                log(at, "INFO", f"Read {records} records from {res['name']}", kind, res["id"],
                    "SUMMARY")
            elif kind == "data_sets":
                log(at, "INFO", f"Processed {records} records in nexset {res['name']}", kind,
                    res["id"], "SUMMARY")
            else:
                if failed:
                    ctype = res.get("sink_type", "")
                    msg = FAIL_MESSAGES.get(ctype, f"Write to {ctype or 'destination'} failed")
                    log(at, "WARN", f"Retrying write batch to {res['name']} (attempt 3 of 3)", kind,
                        res["id"])
                    log(at + 0.5, "ERROR", f"{msg}; {errors} records failed writing to "
                        f"{res['name']}", kind, res["id"])
                else:
                    log(at, "INFO", f"Wrote {written} records to {res['name']}", kind, res["id"],
                        "SUMMARY")
        status = "FAILED" if failed else "SUCCESS"
        log(duration, "ERROR" if failed else "INFO",
            f"Run {run_id} finished with status {status}: {records} records, {errors} errors",
            "data_sources", root.get("data_source_id"), "SUMMARY")
        run = {"id": run_id, "flow_id": root["id"], "data_source_id": root.get("data_source_id"),
               "status": status, "started_at": started, "finished_at": started + duration,
               "records": records, "size": size, "errors": errors, "resources": resources,
               "logs": logs}
        return self.store.put("runs", run)

    # -- aggregates over a window of runs (the metrics, account and dashboard endpoints) ---------
    def runs_in(self, root: dict | None, lo: float, hi: float | None) -> list[dict]:
        """The flow's visible runs started in [lo, hi) (hi None: up to now), newest first."""
        runs = self.flow_runs(root["id"]) if root else []
        return [r for r in runs if r["started_at"] >= lo and (hi is None or r["started_at"] < hi)]

    def daily_totals(self, resources, lo: float, hi: float | None) -> list[dict]:
        """Per UTC day, the summed counts of (kind, doc) resources over their runs in the window:
        the one computation behind a resource's, a user's and an account's figures."""
        days: dict[str, dict] = {}
        for kind, doc in resources:
            for run in self.runs_in(self.root_of(doc), lo, hi):
                for res in run["resources"]:
                    if res["resource_type"] == kind and res["resource_id"] == doc["id"]:
                        day = _day(run["started_at"])
                        add_counts(days.setdefault(day, {"time": day, **zero_counts()}), res)
        return [days[k] for k in sorted(days)]

    def roots_with_role(self, user: dict, access_role: str | None) -> list[dict]:
        """Root flow nodes in the user's org that the user owns (no `access_role`, or `owner`) or
        holds `access_role` or a higher role on — the reference's access_role rule."""
        need = ROLE_RANK[access_role or "owner"]
        out = []
        for root in self.store.find("flows", "parent_node_id", None):
            if root.get("org_id", user["org_id"]) != user["org_id"]:
                continue
            roles = self.roles("flows", root, user)
            if ("owner" in roles) if need == ROLE_RANK["owner"] else self.rank(roles) >= need:
                out.append(root)
        return out

    def dashboard(self, roots, lo: float, hi: float | None) -> dict:
        """Each node's summed counts over the flows' runs in the window, keyed by resource id in
        the reference's groups; status from the flow's finished runs there: ERROR when the latest
        failed, WARNING when an earlier one did, else OK. Flows without runs there are left out."""
        out: dict[str, dict] = {group: {} for group in DASHBOARD_GROUPS.values()}
        for root in roots:
            runs = self.runs_in(root, lo, hi)
            finished = [self.run_status(r) for r in runs if self.run_status(r) != "RUNNING"]
            status = ("ERROR" if finished and finished[0] == "FAILED" else
                      "WARNING" if "FAILED" in finished else "OK")
            for run in runs:
                for res in run["resources"]:
                    group = out[DASHBOARD_GROUPS[res["resource_type"]]]
                    add_counts(group.setdefault(str(res["resource_id"]),
                                                {**zero_counts(), "status": status}), res)
        return out


DASHBOARD_GROUPS = {"data_sources": "sources", "data_sets": "datasets", "data_sinks": "sinks"}


def zero_counts() -> dict:
    return {"records": 0, "size": 0, "errors": 0}


def add_counts(total: dict, res: dict) -> dict:
    for key in ("records", "size", "errors"):
        total[key] += res[key]
    return total


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")
