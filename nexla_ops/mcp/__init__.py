"""nexla-ops over MCP: the same operations as the commands, for agents, with scoped writes.

scopes says what each permission level allows, invoke runs a command in-process and hands
back its JSON document, tools lists the tools (their input models, scope and command line),
plans keeps the plans an agent has seen, by hash, so a write is only ever the apply of one of
them, audit logs each call, and server speaks MCP over stdio with the official SDK.
"""
