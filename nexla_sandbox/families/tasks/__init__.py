"""Async tasks: the pending -> running -> completed/failed life cycle and results."""
