"""Reusable transforms and attribute transforms."""
