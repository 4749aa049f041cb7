"""MCP tools: an agent using the tools of a Model Context Protocol server beside its own.

`mcp_servers/weather.py` is a small MCP server (written with the MCP SDK); this program starts
it as a subprocess and speaks MCP to it on stdio (`pip install 'asynctool[mcp]'`). The server,
given in `tools=`, offers the model every tool it lists, next to the local `get_local_time`;
both run in the same turn. `MCPServerHTTP(url, headers=...)` reaches a server over HTTP instead.
"""

import os
import sys
from pathlib import Path

from asynctool import Agent, AsyncClient, RunResult
from asynctool.demo import get_local_time, run_example
from asynctool.mcp import MCPServerStdio

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
SERVER = Path(__file__).resolve().parent / "mcp_servers" / "weather.py"


async def main(base_url: str | None = None) -> RunResult[str | None]:
    weather = MCPServerStdio(sys.executable, [str(SERVER)])
    async with AsyncClient(base_url) as client, weather:
        listed = await weather.list_tools()
        print("The MCP server's tools:", ", ".join(tool.name for tool in listed))
        agent = Agent(client, model=MODEL, tools=[get_local_time, weather])
        result = await agent.run("What's the weather in Paris, and what time is it in Tokyo?")
    for tool_result in result.tool_results:
        print(f"{tool_result.call.function.name}: {tool_result.content}")
    print(result.output)
    return result


if __name__ == "__main__":
    run_example(main)
