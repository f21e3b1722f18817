"""Rate limits: GET /limits in the reference's shape."""
