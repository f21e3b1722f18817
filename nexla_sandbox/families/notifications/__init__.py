"""Notifications, notification types, notification and channel settings."""
