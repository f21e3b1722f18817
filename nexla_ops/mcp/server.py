"""MCP over stdio with the official SDK's low-level server: each tool's input schema is its
pydantic model's, each answer the command's JSON document (also as structured content)."""

from __future__ import annotations

import json

from .calls import Calls

INSTRUCTIONS = ("nexla-ops: operate Nexla data flows. Read tools answer as the matching "
                "nexla-ops command's --json. Writes are two steps: a plan_* tool returns a plan "
                "and its plan_hash; show the plan, then apply_plan(plan_hash). Errors carry "
                "error.kind (bad_input, auth, not_found, transient, partial, failed).")


def build(calls: Calls):
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server

    async def list_tools(ctx, params):
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description, input_schema=t.schema())
            for t in calls.tools()])

    async def call_tool(ctx, params):
        answer, error = await anyio.to_thread.run_sync(calls.call, params.name,
                                                       params.arguments)
        text = json.dumps(answer, default=str)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=answer if isinstance(answer, dict) else {"result": answer},
            is_error=error)

    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("nexla-ops")
    except PackageNotFoundError:
        ours = "0"
    return Server("nexla-ops", version=ours, instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def serve(calls: Calls) -> None:
    import anyio
    from mcp.server.stdio import stdio_server

    server = build(calls)

    async def main():
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
