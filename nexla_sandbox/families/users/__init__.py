"""Users: the current user, user settings, limits, resource transfer, quarantine settings."""
