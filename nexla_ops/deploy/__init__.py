"""Deploying flows from a declarative config: see engine (model, observe, plan, apply)."""
