"""Schema migration: move destinations from one nexset to a new derived one, as plan/apply.

    plan        Inputs (what the user asked for, checked before any request) and build_plan():
                the Plan value (old nexset, new nexset to create or adopt, destinations with
                their status before), its planned writes and sha256; save()/load() for
                ``--plan --out FILE`` / ``--apply FILE``.
    validation  verdict(): the new nexset's samples and output_schema against the old one's
                (contracts.changes.classify; breaking changes fail without --allow-breaking).
    apply       Migration: create (or adopt) the nexset, validate it, then per destination
                pause, re-point and re-activate; verify; journaled intent/outcome events
                (nexla_ops.journal) so --resume writes nothing twice; roll back on failure.

run(args, ctx) in apply is what the migrate-nexset command calls.
"""
