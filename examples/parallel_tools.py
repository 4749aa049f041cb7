"""Parallel tool calls: the model asks for three calls in one turn, and the agent runs them at once.

Each call waits `LATENCY` seconds, like a slow weather API. The agent runs one turn's calls
concurrently (in an anyio task group, `max_concurrency` at a time), so the three calls take
about one `LATENCY` together, not three. `parallel_tool_calls=True` lets the model batch them.
"""

import asyncio
import os
import time

from asynctool import Agent, AsyncClient, RunResult, ToolMessage, tool
from asynctool.demo import run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
LATENCY = 1.0


@tool
async def get_weather(location: str) -> str:
    """Get the current weather in a given location.

    Args:
        location: The city, e.g. Paris.
    """
    await asyncio.sleep(LATENCY)
    return f"{location}: 18 °C, clear (sample data)"


async def main(base_url: str | None = None) -> tuple[RunResult[str | None], float]:
    async with AsyncClient(base_url) as client:
        agent = Agent(client, model=MODEL, tools=[get_weather], parallel_tool_calls=True)
        started = time.perf_counter()
        result = await agent.run("What's the weather in Paris, in London and in Tokyo?")
        elapsed = time.perf_counter() - started
    calls = [m for m in result.messages if isinstance(m, ToolMessage)]
    print(f"{len(calls)} calls of {LATENCY:.1f} s each, whole run {elapsed:.2f} s")
    print(result.output)
    return result, elapsed


if __name__ == "__main__":
    run_example(main)
