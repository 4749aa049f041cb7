"""The official OpenAI SDK (`AsyncOpenAI`) with default settings, used as its docs show."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import openai

from benchmarks.clients import API_KEY, INCLUDE_USAGE, Reply, manual_agent, tally_completion
from benchmarks.scenarios import Tally


def missing(helper: bool) -> str | None:
    """Both ways of streaming exist in every SDK version this project supports."""
    del helper
    return None


class Client:
    """`AsyncOpenAI`; `helper` streams through `chat.completions.stream()` and accumulates."""

    def __init__(self, base_url: str, *, helper: bool) -> None:
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY)
        # The SDK types every parameter as its own TypedDict, which a scenario's plain dict
        # cannot satisfy statically; what the server receives is checked by its answers.
        self._completions: Any = self._client.chat.completions
        self._helper = helper

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()

    async def stream(self, params: dict[str, Any]) -> Tally:
        """Iterate `create(stream=True)`, or the helper's events then its final completion."""
        if self._helper:
            return await self._stream_helper(params)
        chunks = 0
        stream = await self._completions.create(**params, stream=True, stream_options=INCLUDE_USAGE)
        async with stream:
            async for _chunk in stream:
                chunks += 1
        return Tally(chunks=chunks)

    async def _stream_helper(self, params: dict[str, Any]) -> Tally:
        chunks = 0
        manager = self._completions.stream(**params, stream_options=INCLUDE_USAGE)
        async with manager as stream:
            async for event in stream:
                if event.type == "chunk":
                    chunks += 1
            completion = await stream.get_final_completion()
        tally = tally_completion(completion)
        tally.chunks = chunks
        return tally

    async def request(self, params: dict[str, Any]) -> Tally:
        """One non-stream `create`."""
        completion = await self._completions.create(**params)
        return Tally(requests=1, content_chars=len(completion.choices[0].message.content or ""))

    async def agent(self, params: dict[str, Any], max_turns: int) -> Tally:
        """The hand-written loop on `create`; the SDK has no agent of its own."""

        async def complete(messages: list[dict[str, Any]]) -> Reply:
            completion = await self._completions.create(**{**params, "messages": messages})
            message = completion.choices[0].message
            calls = [
                (call.id, call.function.name, call.function.arguments)
                for call in message.tool_calls or ()
                if call.type == "function"
            ]
            return Reply(message.content, calls)

        return await manual_agent(complete, params, max_turns)
