"""Webhooks: records pushed into a nexla_rest source."""
