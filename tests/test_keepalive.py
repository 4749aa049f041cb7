"""A server that says `Connection: keep-alive` and closes the connection anyway.

llama.cpp's server (cpp-httplib) closes the connection after every streamed response while
announcing keep-alive (takeshy/obsidian-local-llm-hub#32; aio-libs/aiohttp#7297 shows the same
with another server). The client pools the connection, and the next request written to it
fails before any byte of an answer arrives. Such a request is sent again at once on a new
connection: no backoff, no retry used up.

The server here is a ModelServer whose one turn, a `Handler`, sees which connection each
request came on, so that what happens on each connection is exact: it answers the first
request of a connection, and closes the socket when a second one arrives on it instead of
answering (with a FIN, or a reset). That is the moment of the real race, made deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import pytest
from aiohttp import web

import asynctool._transport as transport_module
from asynctool import APIConnectionError, AsyncClient
from asynctool.testing import Handler, ModelServer, ScriptedModel
from tests.conftest import chunk, completion_body, sse

MESSAGES = [{"role": "user", "content": "Hi"}]
STREAM = sse(chunk("Hello", role="assistant"), chunk(finish_reason="stop"))
PLAIN = msgspec.json.encode(completion_body("Hello"))

Close = Literal["fin", "reset"]


@dataclass
class Request:
    headers: dict[str, str]
    body: Any
    answered: bool = False


@dataclass
class KeepAliveServer:
    """Answers one request per connection, keeping the connection alive, then closes the
    connection when the next request arrives on it (`answer_first=False`: not even one)."""

    close: Close = "fin"
    answer_first: bool = True
    answers: int | None = None  # stop answering at all after this many
    partial: bytes = b""  # sent before closing, for the second request of a connection
    connections: list[list[Request]] = field(default_factory=list)
    base_url: str = ""
    _seen: dict[asyncio.BaseTransport, list[Request]] = field(default_factory=dict)

    @property
    def requests(self) -> list[Request]:
        return [request for connection in self.connections for request in connection]

    @property
    def answered(self) -> int:
        return sum(request.answered for request in self.requests)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        if transport not in self._seen:
            self.connections.append(self._seen.setdefault(transport, []))
        seen = self._seen[transport]
        received = Request({k.lower(): v for k, v in request.headers.items()}, await request.json())
        seen.append(received)
        may_answer = self.answers is None or self.answered < self.answers
        if len(seen) == 1 and self.answer_first and may_answer:
            received.answered = True
            return await answer(request, received)
        if self.partial:
            transport.write(self.partial)
        if self.close == "reset":
            # SO_LINGER 0: the close is a RST, as when a server closes a socket whose receive
            # buffer holds a request it never read.
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
        return web.Response()


async def answer(request: web.Request, received: Request) -> web.StreamResponse:
    """A streamed answer in chunked encoding, as llama-server sends it, or a plain one."""
    keep_alive = {"Connection": "keep-alive"}  # said outright, as llama-server says it
    if not received.body.get("stream"):
        return web.Response(body=PLAIN, content_type="application/json", headers=keep_alive)
    response = web.StreamResponse(headers={**keep_alive, "Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(STREAM)
    await response.write_eof()
    return response


@contextlib.asynccontextmanager
async def keepalive_server(**options: Any) -> AsyncIterator[KeepAliveServer]:
    """A `KeepAliveServer` on 127.0.0.1: a ModelServer playing it as a `Handler` on every
    request, as aiohttp keeps each HTTP/1.1 connection alive until the handler closes it."""
    server = KeepAliveServer(**options)
    model = ScriptedModel([Handler(server.handle)], cycle=True)
    async with ModelServer(model) as model_server:
        server.base_url = model_server.base_url
        yield server


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The attempts after which the transport asked how long to back off."""
    asked: list[int] = []
    real = transport_module.retry_delay

    def spy(headers: Any, attempt: int) -> float:
        asked.append(attempt)
        return real(headers, attempt)

    monkeypatch.setattr(transport_module, "retry_delay", spy)
    return asked


Ask = Callable[[AsyncClient], Awaitable[str | None]]


async def ask_streamed(client: AsyncClient) -> str | None:
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as chat_stream:
        final = await chat_stream.get_final_completion()
    return final.choices[0].message.content


async def ask_plain(client: AsyncClient) -> str | None:
    done = await client.chat.completions.create(model="m", messages=MESSAGES)
    return done.choices[0].message.content


ASKS = pytest.mark.parametrize("ask", [ask_streamed, ask_plain], ids=["stream", "plain"])


def client_for(server: KeepAliveServer, max_retries: int) -> AsyncClient:
    return AsyncClient(base_url=server.base_url, api_key="sk-test", max_retries=max_retries)


@ASKS
@pytest.mark.parametrize("close", ["fin", "reset"])
async def test_a_request_on_a_closed_pooled_connection_is_sent_again_at_once(
    ask: Ask, close: Close, backoffs: list[int]
) -> None:
    async with keepalive_server(close=close) as server, client_for(server, max_retries=0) as client:
        answers = [await ask(client) for _ in range(3)]
    assert answers == ["Hello"] * 3
    # Each connection answered one request and was closed on the next, which went out again
    # on a new connection: 3 answers, 2 requests lost to closed connections, 3 connections.
    assert [len(c) for c in server.connections] == [2, 2, 1]
    assert [r.answered for r in server.requests] == [True, False, True, False, True]
    assert backoffs == []  # no wait, and with max_retries=0, no retry either
    lost, resent = server.connections[0][1], server.connections[1][0]
    assert lost.body == resent.body
    assert lost.headers["idempotency-key"] == resent.headers["idempotency-key"]


@ASKS
async def test_the_resend_uses_up_no_retry_and_logs_no_retry(
    ask: Ask, backoffs: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asynctool")
    async with keepalive_server() as server, client_for(server, max_retries=2) as client:
        for _ in range(4):
            assert await ask(client) == "Hello"
    assert (len(server.requests), server.answered, backoffs) == (7, 4, [])
    assert "Retrying" not in caplog.text
    assert "resending at once" in caplog.text


async def test_every_closed_pooled_connection_is_passed_over_for_the_resend(
    backoffs: list[int],
) -> None:
    async with keepalive_server() as server, client_for(server, max_retries=0) as client:
        # Two streams at once leave two pooled connections, both of which the server closes
        # when a second request arrives; the resend must not pick the other one.
        assert await asyncio.gather(ask_streamed(client), ask_streamed(client)) == ["Hello"] * 2
        assert await ask_streamed(client) == "Hello"
    assert sorted(len(c) for c in server.connections) == [1, 1, 2]
    assert server.answered == 3 and backoffs == []
    assert len(server.requests) == 4  # the other pooled connection was closed unused


@ASKS
async def test_a_new_connection_that_drops_the_request_keeps_the_backoff_and_the_count(
    ask: Ask, backoffs: list[int]
) -> None:
    async with (
        keepalive_server(answer_first=False) as server,
        client_for(server, max_retries=1) as client,
    ):
        with pytest.raises(APIConnectionError, match="Server disconnected"):
            await ask(client)
    # Never a pooled connection: two attempts, one backoff between them, nothing more.
    assert [len(c) for c in server.connections] == [1, 1]
    assert backoffs == [0]


async def test_a_new_connection_that_drops_fails_at_once_without_retries(
    backoffs: list[int],
) -> None:
    async with (
        keepalive_server(answer_first=False) as server,
        client_for(server, max_retries=0) as client,
    ):
        with pytest.raises(APIConnectionError):
            await ask_plain(client)
    assert len(server.requests) == 1


@ASKS
async def test_the_resend_happens_once_per_attempt(ask: Ask, backoffs: list[int]) -> None:
    # After its first answer the server answers nothing: the request on the pooled connection
    # is sent again once, then fails on a new connection as an ordinary attempt.
    async with keepalive_server(answers=1) as server, client_for(server, max_retries=1) as client:
        assert await ask(client) == "Hello"
        with pytest.raises(APIConnectionError):
            await ask(client)
    assert [len(c) for c in server.connections] == [2, 1, 1]
    assert backoffs == [0]


async def test_a_connection_closed_after_part_of_an_answer_is_an_ordinary_failure(
    backoffs: list[int],
) -> None:
    # A byte of an answer means the server read the request: not a connection closed idle.
    async with (
        keepalive_server(partial=b"HTTP/1.1 200 OK\r\nContent-") as server,
        client_for(server, max_retries=0) as client,
    ):
        assert await ask_plain(client) == "Hello"
        with pytest.raises(APIConnectionError, match="in the middle of the response head"):
            await ask_plain(client)
    assert [len(c) for c in server.connections] == [2]
    assert backoffs == []  # max_retries=0: raised at once, as an ordinary failure
