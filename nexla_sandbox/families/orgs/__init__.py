"""Organizations: the org object, its members and custodians."""
