"""Users, orgs, the current user, user settings and limits."""
