"""Deploying a flow from a declarative config, as Terraform plans and applies:

    spec      the config model (pydantic) and validate_config: every problem as field.path
    observe   Reader and observe(): the deployment's live objects, by name and deployment tag
    plan      build_plan(config, state, tag) -> Plan, a value of Steps (create, update, ...)
    apply     Applier: writes in dependency order, journaled, rolled back on failure
    runner    run(args, ctx): lock, signals, probes, plan or apply, and the result document
"""
