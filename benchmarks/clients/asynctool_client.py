"""asynctool with default settings, used as API.md shows; `mode` picks what a stream does.

`iterate` counts the chunks of `create(stream=True)`; `final` does the same, then awaits
`get_final_completion()`; `agent` runs the agent scenario through `asynctool.Agent` rather than
the hand-written loop, and the latency scenario through `Agent.run_stream`; `eager` runs the
latency scenario with `Agent(..., eager_tools=True)`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Self

import asynctool
from benchmarks.clients import (
    API_KEY,
    INCLUDE_USAGE,
    LatencyTools,
    Reply,
    manual_agent,
    tally_completion,
)
from benchmarks.scenarios import AGENT_TOOL_NAME, LatencyRun, Tally

Mode = Literal["iterate", "final", "agent", "eager"]


def missing(mode: Mode) -> str | None:
    """Name the public API this mode needs that the installed asynctool lacks."""
    needed = ["AsyncClient"] + (["Agent", "tool"] if mode in ("agent", "eager") else [])
    absent = [name for name in needed if not hasattr(asynctool, name)]
    if absent:
        return f"asynctool.{', asynctool.'.join(absent)} not available yet"
    return _refuses_eager_tools() if mode == "eager" else None


def _refuses_eager_tools() -> str | None:
    """Why `Agent` will not take `eager_tools=True`, or None when it does. Building an agent
    makes no request (the client opens its session on first use), so nothing needs closing."""
    client = asynctool.AsyncClient(base_url="http://127.0.0.1:9/v1", api_key=API_KEY)
    try:
        asynctool.Agent(client, model="m", eager_tools=True)
    except Exception as exc:  # whatever it refuses with, the reason goes in the table
        return f"Agent refuses eager_tools=True: {type(exc).__name__}: {exc}"
    return None


class Client:
    """`asynctool.AsyncClient`, driven in one of three modes."""

    def __init__(self, base_url: str, *, mode: Mode) -> None:
        self._client = asynctool.AsyncClient(base_url=base_url, api_key=API_KEY)
        self._mode = mode
        self._agent_tools = [_make_tool()] if mode == "agent" else []

    async def __aenter__(self) -> Self:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()

    async def stream(self, params: dict[str, Any]) -> Tally:
        """Count the chunks; in `final` mode also assemble the completion."""
        chunks = 0
        stream = await self._client.chat.completions.create(
            **params, stream=True, stream_options=INCLUDE_USAGE
        )
        async with stream:
            async for _chunk in stream:
                chunks += 1
            if self._mode != "final":
                return Tally(chunks=chunks)
            completion = await stream.get_final_completion()
        tally = tally_completion(completion)
        tally.chunks = chunks
        return tally

    async def request(self, params: dict[str, Any]) -> Tally:
        """One non-stream `create`."""
        completion = await self._client.chat.completions.create(**params)
        return Tally(requests=1, content_chars=len(completion.choices[0].message.content or ""))

    async def agent(self, params: dict[str, Any], max_turns: int) -> Tally:
        """`asynctool.Agent` in `agent` mode, else the same hand-written loop as the others."""
        if self._mode != "agent":
            return await self._manual_agent(params, max_turns)
        agent: asynctool.Agent[Any] = asynctool.Agent(
            self._client, model=params["model"], tools=self._agent_tools, max_turns=max_turns
        )
        result = await agent.run(params["messages"])
        return Tally(requests=sum(map(_is_assistant, result.messages)))

    async def latency(self, params: dict[str, Any], tools: LatencyTools) -> LatencyRun:
        """`Agent.run_stream`, eagerly in `eager` mode: each `ToolResult` and the answer are
        noted as the events arrive."""
        options = {"eager_tools": True} if self._mode == "eager" else {}
        agent = asynctool.Agent(
            self._client, model=params["model"], tools=tools.functions(), **options
        )
        tools.start()
        async with agent.run_stream(params["messages"]) as events:
            async for event in events:
                if isinstance(event, asynctool.ToolResult):
                    tools.result_seen()
                elif isinstance(event, asynctool.RunCompleted):
                    tools.answered(event.result.output)
        return tools.run

    async def _manual_agent(self, params: dict[str, Any], max_turns: int) -> Tally:
        async def complete(messages: list[dict[str, Any]]) -> Reply:
            completion = await self._client.chat.completions.create(
                **{**params, "messages": messages}
            )
            message = completion.choices[0].message
            calls = [
                (c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()
            ]
            return Reply(message.content, calls)

        return await manual_agent(complete, params, max_turns)


def _is_assistant(message: Any) -> bool:
    """Messages are structs tagged on `role` (which is then no attribute), or plain dicts."""
    if isinstance(message, dict):
        return message.get("role") == "assistant"
    return isinstance(message, asynctool.AssistantMessage)


def _make_tool() -> Any:
    """The agent scenario's tool, built only when `asynctool.tool` exists."""

    async def add_numbers(a: int, b: int) -> str:
        """Add two integers.

        Args:
            a: The first addend.
            b: The second addend.
        """
        return str(a + b)

    return asynctool.tool(name=AGENT_TOOL_NAME)(add_numbers)
