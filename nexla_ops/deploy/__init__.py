"""Deploying a flow from a declarative config, as Terraform plans and applies:

    spec      the config model (pydantic) and validate_config: every problem as field.path
    observe   Reader and observe(): the deployment's live objects, by name and deployment tag
    plan      build_plan(config, state, tag) -> Plan, a value of Steps (create, update, ...)
    apply     Applier: writes in dependency order, journaled, rolled back on failure
    runner    run(args, ctx): lock, signals, probes, plan or apply, and the result document
    drift     drift_of(plan), check_file(ctx, path): what an apply would change, field by field
    saved     SavedPlan: --plan --out now, --apply later, refused if the state moved
    export    export_flow(ctx, flow_id): a live flow as the config that describes it
    destroy   read_destroy / Destroyer: delete what carries the tag, after a backup
    many      --config-dir: every file validated first, then one run each, one table
    promote   --credential-map: credential references rewritten for another environment
    directory which files in a directory are deployments (shared with health_check)
"""
