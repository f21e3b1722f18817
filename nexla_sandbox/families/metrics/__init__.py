"""Runs, logs and metrics: scheduled runs, run status, flow logs, run summaries, daily metrics."""
