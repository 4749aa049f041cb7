"""The floor: the least work any aiohttp + msgspec client can do.

The body is read as lines; each `data: ` line is decoded by a module-level
`msgspec.json.Decoder` into a struct holding only what a consumer reads (`delta.content`, and
each tool-call fragment's `index` and `arguments`, so tool-call scenarios decode what they
deliver); nothing is accumulated. A real client cannot be cheaper without skipping the JSON, so
this is the unit every other figure is divided by.

The floor splits lines itself from `resp.content.iter_any()` blocks. The obvious
`async for line in resp.content` costs 3-4x more per chunk on aiohttp 3.14, whose `readline`
calls `resume_reading()` (and with it `data_received(b"")`) for every line once fewer than
64 KiB are buffered; that is a tax of aiohttp's line reader, not work a client must do. The
`floor-readline` client keeps that variant so the table shows what it costs.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import aiohttp
import msgspec

from benchmarks.clients import API_KEY, INCLUDE_USAGE, Reply, manual_agent
from benchmarks.scenarios import Tally


class _Function(msgspec.Struct):
    arguments: str | None = None


class _ToolCallDelta(msgspec.Struct):
    index: int
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_ToolCallDelta] | None = None


class _ChunkChoice(msgspec.Struct):
    delta: _Delta


class MinimalChunk(msgspec.Struct):
    """The part of a `chat.completion.chunk` a consumer reads."""

    choices: list[_ChunkChoice]


class _CallFunction(msgspec.Struct):
    name: str
    arguments: str


class _ToolCall(msgspec.Struct):
    id: str
    function: _CallFunction


class _Message(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _Message


class MinimalCompletion(msgspec.Struct):
    """The part of a `chat.completion` a consumer reads."""

    choices: list[_Choice]


_chunk_decoder = msgspec.json.Decoder(MinimalChunk)
_completion_decoder = msgspec.json.Decoder(MinimalCompletion)
_encoder = msgspec.json.Encoder()


def missing(readline: bool) -> str | None:
    """The floor needs only aiohttp and msgspec, which this module imported."""
    del readline
    return None


async def _count_split(content: aiohttp.StreamReader) -> int:
    """Decode the `data: ` lines of a body read in blocks; stop at `[DONE]`."""
    chunks = 0
    partial = b""
    async for block in content.iter_any():
        lines = (partial + block).split(b"\n")
        partial = lines.pop()
        for line in lines:
            if not line.startswith(b"data: "):
                continue
            if line.startswith(b"data: [DONE]"):
                return chunks
            _chunk_decoder.decode(line[6:])
            chunks += 1
    return chunks


async def _count_readline(content: aiohttp.StreamReader) -> int:
    """The same with aiohttp's own line reader."""
    chunks = 0
    async for line in content:
        if not line.startswith(b"data: "):
            continue
        if line.startswith(b"data: [DONE]"):
            break
        _chunk_decoder.decode(line[6:])
        chunks += 1
    return chunks


class Client:
    """A bare `aiohttp.ClientSession` with default settings; `readline` picks the line reader."""

    def __init__(self, base_url: str, *, readline: bool) -> None:
        self._readline = readline
        self._url = f"{base_url}/chat/completions"
        self._headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    def _post(self, body: dict[str, Any]) -> Any:
        """`session.post(...)`, the async context manager of one response."""
        assert self._session is not None, "use the client as an async context manager"
        return self._session.post(self._url, data=_encoder.encode(body), headers=self._headers)

    async def stream(self, params: dict[str, Any]) -> Tally:
        """Count the chunks of one stream; decode each, keep nothing."""
        body = {**params, "stream": True, "stream_options": INCLUDE_USAGE}
        response: aiohttp.ClientResponse
        async with self._post(body) as response:
            response.raise_for_status()
            if self._readline:
                return Tally(chunks=await _count_readline(response.content))
            return Tally(chunks=await _count_split(response.content))

    async def _complete(self, params: dict[str, Any]) -> MinimalCompletion:
        response: aiohttp.ClientResponse
        async with self._post(params) as response:
            response.raise_for_status()
            return _completion_decoder.decode(await response.read())

    async def request(self, params: dict[str, Any]) -> Tally:
        """One non-stream request; counts the answer's characters."""
        completion = await self._complete(params)
        content = completion.choices[0].message.content
        return Tally(requests=1, content_chars=len(content or ""))

    async def agent(self, params: dict[str, Any], max_turns: int) -> Tally:
        """The hand-written loop on the floor's own requests."""

        async def complete(messages: list[dict[str, Any]]) -> Reply:
            message = (await self._complete({**params, "messages": messages})).choices[0].message
            calls = [
                (c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()
            ]
            return Reply(message.content, calls)

        return await manual_agent(complete, params, max_turns)
