"""The agents the Temporal tests serve, built alike in the test process and in a worker
process (`python -m asynctool.temporal worker ... tests._temporal_agents:booking`).

Each tool appends a line to a file named by the environment, so a test counts how many times
it really ran, whichever process ran it.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from asynctool import Agent, AsyncClient, Defer, ToolCall, ToolContext, tool


def _count(name: str) -> None:
    folder = os.environ.get("ASYNCTOOL_TEST_COUNTS")
    if folder:
        with open(Path(folder) / name, "a") as file:
            file.write("ran\n")


def ran(folder: Path, name: str) -> int:
    """How many times the tool `name` ran."""
    path = folder / name
    return len(path.read_text().splitlines()) if path.exists() else 0


@tool(idempotent=False)
async def book_flight(city: str) -> str:
    """Book a flight to a city."""
    _count("book_flight")
    return f"booked a flight to {city}"


@tool
async def weather(city: str) -> dict[str, Any]:
    """The weather in a city."""
    await asyncio.sleep(0.05)
    _count("weather")
    return {"city": city, "sky": "sunny"}


@tool
def hotel(city: str, context: ToolContext[Any]) -> str:
    """A hotel in a city."""
    _count("hotel")
    return f"hotel in {city} for {context.deps} (turn {context.turn}, {len(context.messages)} messages)"


@tool(timeout=0.2)
async def stuck(city: str) -> str:
    """A tool that never answers in time."""
    _count("stuck")
    await asyncio.sleep(30)
    return "never"


@tool(idempotent=False)
async def freezes(city: str) -> str:
    """A tool whose worker goes silent (it blocks the event loop past the heartbeat)."""
    _count("freezes")
    time.sleep(1.5)  # noqa: ASYNC251 - the point: the worker's loop goes silent
    return "too late"


@tool(idempotent=True)
async def freezes_again(city: str) -> str:
    """As `freezes`, but idempotent: retried."""
    _count("freezes_again")
    time.sleep(1.5)  # noqa: ASYNC251 - as above
    return "too late"


async def approve_bookings(call: ToolCall, context: ToolContext[Any]) -> Defer | None:
    """Bookings wait for a person."""
    return Defer("a person approves bookings") if call.function.name == "book_flight" else None


def client() -> AsyncClient:
    """The client of a worker process: the scripted server's URL and the key from the env."""
    return AsyncClient(
        base_url=os.environ["ASYNCTOOL_TEST_MODEL_URL"],
        api_key=os.environ.get("ASYNCTOOL_TEST_KEY", "sk-test"),
        max_retries=0,
    )


def travel(client: AsyncClient, **options: Any) -> Agent[Any]:
    return Agent(
        client,
        model="m",
        name=options.pop("name", "travel"),
        tools=[book_flight, weather, hotel, stuck, freezes, freezes_again, slow],
        **options,
    )


def booking() -> Agent[Any]:
    """The worker process's agent. With ASYNCTOOL_TEST_HOLD set, its model requests after the
    first tool ran wait forever (and say so in that file): the test kills the worker there,
    after a tool finished and before the next request reaches the model."""
    agent = travel(client(), name="booking")
    hold = os.environ.get("ASYNCTOOL_TEST_HOLD")
    if hold:
        completions = agent.client.chat.completions
        send = completions._send
        counts = Path(os.environ["ASYNCTOOL_TEST_COUNTS"])

        async def held(request: Any, *args: Any, **kwargs: Any) -> Any:
            if ran(counts, "book_flight"):
                Path(hold).write_text("holding\n")  # noqa: ASYNC240 - once, a few bytes
                await asyncio.Event().wait()
            return await send(request, *args, **kwargs)

        completions._send = held  # type: ignore[method-assign]
    return agent


@tool
async def slow(city: str) -> str:
    """A tool that takes longer than the runs that call it may last (they cancel it)."""
    _count("slow")
    await asyncio.sleep(10)
    return f"slowly, {city}"


async def broken_hook(call: ToolCall, context: ToolContext[Any]) -> None:
    """A hook with a bug in it."""
    raise KeyError("no such user")
