"""Flows: the flow tree of sources, nexsets and destinations; activate/pause, copy, delete."""
