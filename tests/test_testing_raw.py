"""The turns for exact bytes, observed from a raw aiohttp client: a `RawResponse` streamed in
pieces, a `Handler` writing the response itself, `hang_up()`; and where the server listens
(`base_path`, TLS) and what it records of the URL (`query`)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from asynctool.testing import (
    Handler,
    ModelServer,
    RawResponse,
    ScriptedModel,
    hang_up,
    raw_bytes,
    raw_stream,
    text,
)

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def http_chunks(resp: aiohttp.ClientResponse) -> list[bytes]:
    """The body as the HTTP chunks it came in (one per write of the server), without the
    empty chunk that ends a chunked body."""
    pieces, current = [], b""
    async for data, end_of_chunk in resp.content.iter_chunks():
        current += data
        if end_of_chunk and current:
            pieces.append(current)
            current = b""
    return pieces


async def test_raw_stream_writes_each_piece_as_its_own_chunk(
    session: aiohttp.ClientSession,
) -> None:
    pieces = (b"data: {", b'"a": 1}\n\n', b"data: [DONE]\n\n")
    turn = raw_stream(*pieces, pace=0.01, headers={"x-request-id": "mine", "X-Odd": "1"})
    assert turn.streamed and not RawResponse(200).streamed
    async with ModelServer(ScriptedModel([turn])) as server:
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "text/event-stream"
            assert "Content-Length" not in resp.headers
            assert resp.headers["x-request-id"] == "mine"  # the script's header wins
            assert resp.headers["X-Odd"] == "1"
            assert await http_chunks(resp) == list(pieces)
    assert server.requests[0].json == BODY


async def test_a_streamed_raw_response_sends_its_body_first_with_any_status(
    session: aiohttp.ClientSession,
) -> None:
    turn = RawResponse(503, body=b"<html>", content_type="text/html", pieces=(b"</html>",))
    async with ModelServer(ScriptedModel([turn])) as server:
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            assert (resp.status, resp.headers["Content-Type"]) == (503, "text/html")
            assert await http_chunks(resp) == [b"<html>", b"</html>"]


async def test_ending_close_leaves_the_body_unterminated(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([raw_stream(b"data: 1\n\n", ending="close")])) as server:
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            got = b""
            with pytest.raises(aiohttp.ClientPayloadError):
                async for data in resp.content.iter_any():
                    got += data
    assert got == b"data: 1\n\n"


async def test_ending_hang_waits_until_the_server_closes(session: aiohttp.ClientSession) -> None:
    server = ModelServer(ScriptedModel([raw_stream(b"data: 1\n\n", ending="hang")]))
    await server.start()
    resp = await session.post(f"{server.base_url}/chat/completions", json=BODY)
    assert await resp.content.readuntil(b"\n\n") == b"data: 1\n\n"
    reading = asyncio.create_task(resp.content.read())
    await asyncio.sleep(0.05)
    assert not reading.done()  # nothing more comes, and the body does not end
    await server.close()
    with pytest.raises(aiohttp.ClientPayloadError):
        await reading
    resp.release()


async def test_closing_the_server_ends_a_paced_stream(session: aiohttp.ClientSession) -> None:
    server = ModelServer(ScriptedModel([raw_stream(b"a", b"b", pace=30)]))
    await server.start()
    resp = await session.post(f"{server.base_url}/chat/completions", json=BODY)
    assert await resp.content.readexactly(1) == b"a"
    await server.close()
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.content.read()
    resp.release()


async def test_a_handler_writes_the_response_and_sees_the_recorded_request(
    session: aiohttp.ClientSession,
) -> None:
    async def echo(request: web.Request) -> web.StreamResponse:
        body = await request.json()  # the server read it first; it reads again the same
        return web.json_response({"model": body["model"], "q": request.query["v"]}, status=418)

    async with ModelServer(ScriptedModel([Handler(echo), text("after")])) as server:
        url = f"{server.base_url}/chat/completions?v=2024-10-21"
        async with session.post(url, json=BODY) as resp:
            assert (resp.status, await resp.json()) == (418, {"model": "gpt-4o", "q": "2024-10-21"})
            assert resp.headers["x-request-id"] == server.requests[0].request_id
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            assert (await resp.json())["choices"][0]["message"]["content"] == "after"
    first, second = server.requests
    assert first.query["v"] == "2024-10-21" and "v=" not in repr(first)
    assert dict(second.query) == {}


async def test_closing_the_server_cancels_a_handler_that_waits(
    session: aiohttp.ClientSession,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever(request: web.Request) -> web.StreamResponse:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.Response()

    server = ModelServer(ScriptedModel([Handler(forever)]))
    await server.start()
    posting = asyncio.create_task(session.post(f"{server.base_url}/chat/completions", json=BODY))
    await started.wait()
    await server.close()
    assert cancelled.is_set()
    with pytest.raises(aiohttp.ClientError):
        await posting


async def test_a_handler_is_cancelled_when_its_client_leaves(
    session: aiohttp.ClientSession,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def waits(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": ping\n\n")
        started.set()
        try:
            await asyncio.Event().wait()  # writes nothing more: only a cancellation ends it
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return response

    async with ModelServer(ScriptedModel([Handler(waits)])) as server:
        resp = await session.post(f"{server.base_url}/chat/completions", json=BODY)
        await started.wait()
        resp.close()  # the client hangs up while the server goes on serving
        await asyncio.wait_for(cancelled.wait(), 5)


async def test_hang_up_closes_before_any_response(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([hang_up(), text("second")])) as server:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.post(f"{server.base_url}/chat/completions", json=BODY)
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            assert resp.status == 200
    assert len(server.requests) == 2  # the hung-up request was seen, and recorded


@pytest.mark.parametrize("data", [b"\x00\xff not HTTP\r\n\r\n", b"HTTP/1.1 200 OK\r\nX-Cut: "])
async def test_raw_bytes_go_onto_the_socket_as_they_are(data: bytes) -> None:
    async with ModelServer(ScriptedModel([raw_bytes(data)])) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        body = b'{"model": "m", "messages": [{"role": "user", "content": "Hi"}]}'
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        got = await reader.read()  # everything, up to the server's close
        writer.close()
    assert got == data
    assert server.requests[0].json["model"] == "m"


@pytest.mark.parametrize("base_path", ["/gateway/openai/v1", "gateway/openai/v1/"])
async def test_base_path_moves_the_api(session: aiohttp.ClientSession, base_path: str) -> None:
    async with ModelServer(ScriptedModel([text("ok")]), base_path=base_path) as server:
        assert server.base_url == f"{server.url}/gateway/openai/v1"
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            assert resp.status == 200
        async with session.get(f"{server.base_url}/models") as resp:
            assert resp.status == 200
        async with session.post(f"{server.url}/v1/chat/completions", json=BODY) as resp:
            assert resp.status == 404
    assert [r.path for r in server.requests] == [
        "/gateway/openai/v1/chat/completions",
        "/gateway/openai/v1/models",
        "/v1/chat/completions",
    ]


async def test_an_empty_base_path_serves_at_the_root(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([text("ok")]), base_path="") as server:
        assert server.base_url == server.url
        async with session.post(f"{server.url}/chat/completions", json=BODY) as resp:
            assert resp.status == 200


def test_a_tls_context_makes_the_urls_https() -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server = ModelServer(ScriptedModel([]), ssl=context, port=8443)
    assert server.base_url == "https://127.0.0.1:8443/v1"
    # Serving over TLS, and a client verifying it, is tested in tests/test_security.py.
