#!/usr/bin/env python3
"""Benchmark: a tool call through `nexla-ops mcp` against the same command as a subprocess.

The MCP server runs each command in its own process, so a tool call pays no interpreter
start-up; an agent shelling out to the script pays it every time. For N calls of
list_resources (flows) and health (every flow) it prints the wall seconds of each way and the
ratio subprocess / MCP (target >= 2: the point of serving in-process), plus the server's
start-up (spawn to initialize).

  python bench/mcp_calls.py      # N = 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import sandbox_process, user_env  # noqa: E402

CALLS = {"list_resources": ({"type": "flows"}, ["list_resources", "--type", "flows",
                                                 "--format", "json"]),
         "health": ({}, ["health_check", "--all", "--format", "json"])}


async def through_mcp(env: dict, cwd: str, count: int) -> tuple[float, dict]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "nexla_ops", "mcp"],
                                   env=env, cwd=cwd)
    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as streams, \
                ClientSession(*streams) as session:
            await session.initialize()
            startup = time.perf_counter() - started
            seconds = {}
            for tool, (arguments, _) in CALLS.items():
                begun = time.perf_counter()
                for _ in range(count):
                    result = await session.call_tool(tool, arguments)
                    if result.is_error:
                        raise SystemExit(f"{tool}: {result.content[0].text[:300]}")
                seconds[tool] = time.perf_counter() - begun
    return startup, seconds


def through_subprocess(env: dict, cwd: str, count: int) -> dict:
    seconds = {}
    for tool, (_, argv) in CALLS.items():
        script, *args = argv
        begun = time.perf_counter()
        for _ in range(count):
            subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), *args],
                           cwd=cwd, env=env, capture_output=True, check=False)
        seconds[tool] = time.perf_counter() - begun
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    with sandbox_process() as (url, key, _control), tempfile.TemporaryDirectory() as cwd:
        env = {**user_env(NEXLA_API_URL=url, NEXLA_SERVICE_KEY=key), "PYTHONPATH": str(ROOT),
               "NEXLA_OPS_STATE_DIR": f"{cwd}/state"}
        startup, served = asyncio.run(through_mcp(env, cwd, args.calls))
        shelled = through_subprocess(env, cwd, args.calls)
    print(f"\nnexla-ops mcp, {args.calls} calls each (server start-up {startup:.2f} s)\n")
    head = f"{'tool':<16}  {'MCP s':>7}  {'subprocess s':>12}  {'ratio':>6}  target"
    print(head)
    print("-" * len(head))
    met = True
    for tool in CALLS:
        ratio = shelled[tool] / served[tool]
        met = met and ratio >= 2
        print(f"{tool:<16}  {served[tool]:>7.2f}  {shelled[tool]:>12.2f}  {ratio:>6.1f}  >= 2")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
