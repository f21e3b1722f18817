"""Users: the current user, user settings, resource transfer, quarantine settings."""
