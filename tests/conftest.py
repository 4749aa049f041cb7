"""Shared fixtures: a clean environment, and a real HTTP server on 127.0.0.1 to talk to.

Every test gets its server one way: `serving()` (or the `serve` fixture, which enters it), a
ModelServer of asynctool.testing playing a script, as users test with it. Turns say model
answers (text, tool calls, faults); a test that must send exact bytes or headers scripts
`reply()` or `stream()`, which build the RawResponses that say them. What the client sent is
in the server's `requests`. `connections_in_use()` is how a test says no connection is left
checked out.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from aiohttp import ClientResponse

import asynctool._retry as retry_module
from asynctool import AsyncClient, ChatCompletion
from asynctool.testing import (
    ModelServer,
    RawResponse,
    ScriptedModel,
    ScriptStep,
    raw_stream,
)


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait 10 ms instead of 0.5 s; tests of the delays themselves set their own."""
    monkeypatch.setattr(retry_module, "_INITIAL_BACKOFF", 0.01)


@pytest.fixture(autouse=True)
def _clear_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a real key or base URL from the machine they run on."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


def chunk(
    content: str | None = None,
    *,
    index: int = 0,
    finish_reason: str | None = None,
    logprobs: dict[str, Any] | None = None,
    **delta: Any,
) -> dict[str, Any]:
    """A `chat.completion.chunk` as OpenAI sends it, with one choice."""
    if content is not None:
        delta["content"] = content
    choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-test",
        "choices": [choice],
    }


def sse(*events: dict[str, Any] | bytes | str, done: bool = True) -> bytes:
    """An event stream: dicts become `data:` JSON events, bytes/str are sent as they are."""
    out = []
    for event in events:
        if isinstance(event, dict):
            out.append(b"data: " + msgspec.json.encode(event) + b"\n\n")
        else:
            out.append(event.encode() if isinstance(event, str) else event)
    if done:
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def fragment(index: int | None = 0, **fields: Any) -> dict[str, Any]:
    """One tool-call fragment of a delta, for `chunk(tool_calls=[...])`: `name` and `arguments`
    go into `function`; `index=None` leaves the index out, as some providers do."""
    function = {k: fields.pop(k) for k in ("name", "arguments") if k in fields}
    out: dict[str, Any] = {**fields, "function": function}
    if index is not None:
        out["index"] = index
    return out


def completion_body(content: str = "Hello!", **message: Any) -> dict[str, Any]:
    """A non-stream `chat.completion` body with one choice."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def reply(
    body: bytes | dict[str, Any] | str = b"",
    *,
    status: int = 200,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """A turn answering with exactly this body (a dict as JSON) in one piece; `text/plain`
    unless it is a dict or `content_type` says otherwise."""
    data = body
    ctype = content_type
    if isinstance(data, dict):
        data, ctype = msgspec.json.encode(data), ctype or "application/json"
    elif isinstance(data, str):
        data = data.encode()
    return RawResponse(
        status=status, body=data, content_type=ctype or "text/plain", headers=headers or {}
    )


def stream(
    *pieces: bytes,
    delay: float = 0.0,
    drop: bool = False,
    stall: bool = False,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """A turn streaming `pieces` as separate writes, `delay` seconds apart, then ending, or
    closing the connection (`drop`), or writing nothing more until the client leaves (`stall`)."""
    ending = "close" if drop else "hang" if stall else "finish"
    return raw_stream(*pieces, pace=delay, ending=ending, headers=headers)


async def complete(client: AsyncClient, stream: bool, **kwargs: Any) -> ChatCompletion:
    """One request, streamed or not, read to its completion."""
    messages = kwargs.pop("messages", [{"role": "user", "content": "Hi"}])
    if not stream:
        return await client.chat.completions.create(model="m", messages=messages, **kwargs)
    chat_stream = await client.chat.completions.create(
        model="m", messages=messages, stream=True, **kwargs
    )
    async with chat_stream:
        return await chat_stream.get_final_completion()


def connections_in_use(client: AsyncClient) -> int:
    """How many connections `client` has checked out and not released (0 when every response
    it opened has gone back to the pool or been closed).

    The one place that reads aiohttp's private `_acquired`: aiohttp has no public count of
    checked-out connections, and the server side cannot tell one left checked out after a
    complete response from one idle in the pool, since both are open sockets between requests.
    """
    connector = client._transport._get_session().connector
    assert connector is not None
    return len(connector._acquired)


class MockedResponse(ClientResponse):
    """A response class aioresponses can build under aiohttp >= 3.14.

    aiohttp 3.14 added a required `stream_writer` argument that aioresponses 0.7.9 does not
    pass (pnuckowski/aioresponses#289); aiohttp only reads its `output_size`. Pass this as
    `response_class=` to `aioresponses` until a fixed release is out.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "stream_writer" in inspect.signature(ClientResponse).parameters:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(*args, **kwargs)


@contextlib.asynccontextmanager
async def serving(
    *turns: ScriptStep, **client_options: Any
) -> AsyncIterator[tuple[ModelServer, AsyncClient]]:
    """The one way to get a scripted server: a ModelServer on 127.0.0.1 playing `turns`, and a
    client pointed at it (`api_key="sk-test"` and one retry unless `client_options` say
    otherwise); both are closed on leaving. A file with its own defaults (a timeout) binds them
    with `functools.partial` rather than writing another copy.
    """
    async with ModelServer(ScriptedModel(turns)) as server:
        options = {"api_key": "sk-test", "max_retries": 1, **client_options}
        async with AsyncClient(base_url=server.base_url, **options) as client:
            yield server, client


Serve = Callable[..., Awaitable[tuple[ModelServer, AsyncClient]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`await serve(*turns, **client_options)`: `serving()` for a test that starts its servers
    as it goes; all are closed after the test."""
    async with contextlib.AsyncExitStack() as opened:

        async def start(*turns: ScriptStep, **options: Any) -> tuple[ModelServer, AsyncClient]:
            return await opened.enter_async_context(serving(*turns, **options))

        yield start
