"""Destinations (data sinks): create/update, connector types, moving a sink to another nexset."""
