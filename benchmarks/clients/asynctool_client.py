"""asynctool with default settings, used as API.md shows; `mode` picks what a stream does.

`iterate` counts the chunks of `create(stream=True)`; `final` does the same, then awaits
`get_final_completion()`; `agent` runs the agent scenario through `asynctool.Agent` rather than
the hand-written loop.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal, Self

import asynctool
from benchmarks.clients import API_KEY, INCLUDE_USAGE, Reply, manual_agent, tally_completion
from benchmarks.scenarios import AGENT_TOOL_NAME, Tally

Mode = Literal["iterate", "final", "agent"]


def missing(mode: Mode) -> str | None:
    """Name the public API this mode needs that the installed asynctool lacks."""
    needed = ["AsyncClient"] + (["Agent", "tool"] if mode == "agent" else [])
    absent = [name for name in needed if not hasattr(asynctool, name)]
    return f"asynctool.{', asynctool.'.join(absent)} not available yet" if absent else None


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
