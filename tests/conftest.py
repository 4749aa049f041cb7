"""Shared fixtures: a clean environment, and a real HTTP server on 127.0.0.1 to talk to.

A test that scripts model turns (text, tool calls, faults) uses `serving()` (or the `serve`
fixture, which enters it): asynctool's own ModelServer, as users test with it. A test that must
write exact bytes or headers uses the `server` fixture, a `LocalServer` answering from aiohttp
responders (`reply`, `stream`). `connections_in_use()` is how a test says no connection is left
checked out.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from aiohttp import ClientResponse, web

import asynctool._retry as retry_module
from asynctool import AsyncClient, ChatCompletion
from asynctool.testing import (
    Handler,
    ModelServer,
    RawResponse,
    ScriptedModel,
    ScriptStep,
    raw_stream,
)
from asynctool.testing._deliver import deliver_raw

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


class LocalServer:
    """An aiohttp.web server on 127.0.0.1 answering `POST /v1/chat/completions` from a script.

    Each request takes the next responder; the last one answers every request after it.
    Every request's headers and JSON body are recorded.
    """

    def __init__(self) -> None:
        self.responders: list[Any] = [reply(completion_body())]
        self.requests: list[tuple[dict[str, str], Any]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def bodies(self) -> list[Any]:
        return [body for _, body in self.requests]

    def script(self, *responders: Any) -> None:
        self.responders = list(responders)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = msgspec.json.decode(raw) if raw else None
        self.requests.append((dict(request.headers), body))
        index = min(len(self.requests), len(self.responders)) - 1
        responder = self.responders[index]
        if isinstance(responder, RawResponse):
            return await deliver_raw(request, responder, asyncio.Event())
        if isinstance(responder, Handler):
            return await responder.respond(request)
        return await responder(request)

    async def start(self, extra_routes: Iterable[web.RouteDef] = ()) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.add_routes(list(extra_routes))
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    """A running `LocalServer`."""
    local = LocalServer()
    await local.start()
    yield local
    await local.stop()


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
