"""Run rules: the hourly schedule, catch-up, and each run's metrics and log lines."""

from __future__ import annotations

import math
import random

from ...domain import FIRST_RUN_DELAY, MAX_CATCH_UP_RUNS, RUN_INTERVAL

FAIL_MESSAGES = {
    "postgres": "org.postgresql.util.PSQLException: Connection to warehouse-db:5432 refused",
    "snowflake": "net.snowflake.client.jdbc.SnowflakeSQLException: Incorrect username or password",
    "s3": "com.amazonaws.services.s3.model.AmazonS3Exception: Access Denied (403)",
    "rest": "HTTP 503 from upstream API after 3 attempts",
}


class RunModel:
    """Domain mixin for runs (stored per root flow node)."""

    def flow_runs(self, flow_id: int) -> list[dict]:
        """Runs of a flow visible at the current sim time, newest first."""
        now = self.now()
        runs = self.cached(("runs", flow_id), lambda: sorted(
            self.store.find("runs", "flow_id", flow_id), key=lambda r: r["started_at"], reverse=True))
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

        def log(offset_s, level, message, kind, rid, log_type="RUN"):
            logs.append({"timestamp": ms + int(offset_s * 1000), "level": level, "message": message,
                         "log_type": log_type, "resource_type": kind, "resource_id": rid,
                         "run_id": run_id})

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
                log(at, "INFO", f"Read {records} records from {res['name']}", kind, res["id"])
            elif kind == "data_sets":
                log(at, "INFO", f"Processed {records} records in nexset {res['name']}", kind, res["id"])
            else:
                if failed:
                    ctype = res.get("sink_type", "")
                    msg = FAIL_MESSAGES.get(ctype, f"Write to {ctype or 'destination'} failed")
                    log(at, "WARN", f"Retrying write batch to {res['name']} (attempt 3 of 3)", kind,
                        res["id"])
                    log(at + 0.5, "ERROR", f"{msg}; {errors} records failed writing to "
                        f"{res['name']}", kind, res["id"], "RECORD")
                else:
                    log(at, "INFO", f"Wrote {written} records to {res['name']}", kind, res["id"])
        status = "FAILED" if failed else "SUCCESS"
        log(duration, "ERROR" if failed else "INFO",
            f"Run {run_id} finished with status {status}: {records} records, {errors} errors",
            "data_sources", root.get("data_source_id"))
        run = {"id": run_id, "flow_id": root["id"], "data_source_id": root.get("data_source_id"),
               "status": status, "started_at": started, "finished_at": started + duration,
               "records": records, "size": size, "errors": errors, "resources": resources,
               "logs": logs}
        return self.store.put("runs", run)
