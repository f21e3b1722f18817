"""Lookups (data maps) and their entries."""
