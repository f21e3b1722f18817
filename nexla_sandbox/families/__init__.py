"""Resource families, laid out like moto's services: per family, models.py (state and domain
rules, no HTTP), responses.py (HTTP handlers) and urls.py (the family's routes). The single
werkzeug Map is assembled from the families' route lists in nexla_sandbox/urls.py."""
