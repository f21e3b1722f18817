"""Data contracts: is a nexset still the shape and the quality its consumers expect?

fields reads a nexset's output_schema as typed field paths, changes classifies how one shape
became another (additive or breaking), baseline keeps a saved shape between runs, rules and
quality check a nexset's samples against a rules file, and report renders either check the way
health_check renders flows (text, JSON, Nagios, Prometheus).
"""
