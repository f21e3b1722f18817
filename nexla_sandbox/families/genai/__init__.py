"""GenAI: integration configs, org settings and the active config lookup."""
