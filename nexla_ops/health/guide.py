"""The --help epilog of `nexla-ops health-check`: what each check means, how alerts,
Prometheus metrics, credentials, deployment drift and the config file work, and examples."""

EXAMPLES = """\
checks (per flow; the flow's state is its worst check):
  status      ACTIVE is OK; PAUSED is WARNING unless expected paused (then OK, and the run
              checks below are skipped); ERROR/FAILED/SUSPENDED on any node is CRITICAL.
  staleness   age of the last successful run: over --max-age WARNING, over 2x CRITICAL.
  error rate  failed runs / finished runs among the flow's last --window runs (runs still in
              progress are not counted). Above --warn-error-rate WARNING, above
              --crit-error-rate CRITICAL. Example: 3 failed of 10 finished = 0.30.
  stall       every one of the last --stall-runs finished runs moved zero records: WARNING.
  stuck       a run in progress longer than --stuck-after: WARNING; over 2x CRITICAL.
  credentials with --probe-credentials, each credential the flow uses is probed; a rejected
              probe is CRITICAL.
  Overall exit code: the worst flow (or deployment) state, ranked CRITICAL > WARNING >
  UNKNOWN > OK.
  Unreachable API, rejected key, bad config or flag, lock held: 3 (UNKNOWN), one line.
  What --timeout leaves unchecked is UNKNOWN, and the run ends (a watchdog ends it if stuck).

alerts (--alert-webhook): one POST per run, only when a flow enters WARNING/CRITICAL or moves
  between them, is still failing --realert-after later, or recovers (one message). JSON with a
  Slack-compatible "text" plus "events" and "summary". State is kept in --state-file; a failed
  POST is retried briefly, logged, due again next run, and never changes the exit code.

prometheus (--format prometheus --output FILE.prom, written atomically): nexla_flow_up,
  nexla_flow_last_success_timestamp_seconds, nexla_flow_error_rate, nexla_flow_state
  (labels flow_id, name[, state]), nexla_health_check_duration_seconds,
  nexla_health_check_last_run_timestamp_seconds, nexla_health_check_status.

credentials (--credentials): each credential the chosen flows use, judged once, from the
  credential listing (GET /data_credentials, 100 a page: no call per credential), or from one
  probe each with --probe-credentials (its verdict then lands on the credential, not on each
  flow). verified_status VERIFIED is OK; FAILED (or ERROR, INVALID, REJECTED) or a rejected
  probe is CRITICAL, named with the flows it breaks; none yet is OK with a note ("never
  verified"); a value this check does not know, or a probe the key lacks the role for, is
  UNKNOWN. A credential only paused flows use is reported but does not count toward the exit.
  Expiry: Nexla publishes no credential expiry field. --expiry-field KEY (repeatable) reads a
  date your team records in credentials_non_secure_data (ISO date = 00:00 UTC that day, ISO
  date-time, or epoch seconds; digits alone are epoch seconds): past it CRITICAL, within
  --expiry-warn (default 7d) WARNING; a value that is no date is UNKNOWN naming the key. JSON
  adds "credentials"; prometheus adds nexla_credential_state (labels credential_id, name,
  state, counted) and nexla_credential_expiry_timestamp_seconds.

deployments (--deployments DIR, alone or with the flow selection): each *.json, *.yaml and
  *.yml file directly in DIR (hidden files skipped) is planned read-only, as `deploy_flow --plan`
  plans it. In sync is OK; drifted is WARNING, one line naming each field (live -> file); a file
  that cannot be checked (invalid, not a regular file, not adopted yet, a read failed) is
  UNKNOWN. JSON adds "deployments"; prometheus adds nexla_deployment_in_sync,
  nexla_deployment_drift_changes and nexla_deployment_state (labels deployment, file). Drift
  is reported, not alerted: --alert-webhook covers flows.

config file (JSON or YAML; the per-resource keys override the flags):
  {"resources": [{"type": "data_sources", "id": 123},
                 {"type": "flows", "id": 1002, "max_age": "6h", "warn_error_rate": 0.2},
                 {"type": "data_sources", "id": 126, "expect": "paused"}]}
  types: data_sources, data_sets, data_sinks (mapped to the flow holding them) or flows.
  keys: max_age, warn_error_rate (or threshold), crit_error_rate, window, stall_runs,
  stuck_after, expect (paused|active), name; a top-level "defaults" object takes the same keys.

examples:
  python scripts/health_check.py --all
  python scripts/health_check.py --config monitors.json --format nagios
  python scripts/health_check.py --project 61 --max-age 6h --format json
  python scripts/health_check.py --all --deployments deployments/ --format json
  python scripts/health_check.py --all --credentials --expiry-field expires_on --expiry-warn 14d
  python scripts/health_check.py --all --format prometheus --output /var/lib/node_exporter/nexla.prom
  python scripts/health_check.py --tag prod --alert-webhook https://hooks.example/T000 \\
      --state-file /var/lib/nexla/health-state.json --realert-after 2h
  */5 * * * * cd /opt/nexla-ops && python scripts/health_check.py --all --timeout 50 --lock-wait 0

Cron: watch deployments for drift (the files deploy_flow applies; --lock-wait lets a flow check
  holding the lock finish first):
  */30 * * * * cd /opt/nexla-ops && python scripts/health_check.py --deployments /srv/flows/deployments --format nagios --lock-wait 30
"""
