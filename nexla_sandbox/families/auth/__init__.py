"""Auth: service-key login to a bearer token, logout, token checks."""
