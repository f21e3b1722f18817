"""Async tasks: the published types, pending -> running -> completed/failed, effects, results."""
