"""Code containers: reusable code (transforms, AI functions, script connectors)."""
