"""Credentials: create/update (secrets kept back), probes, in-use delete rule."""
