"""Accessors: who holds which role on a resource (GET/PUT/POST/DELETE .../accessors), audit logs."""
