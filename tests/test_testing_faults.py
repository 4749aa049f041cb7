"""Scripted turns that break the delivery, observed from a raw aiohttp client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pytest

from asynctool.testing import (
    ModelServer,
    RecordedRequest,
    ScriptedModel,
    Turn,
    bad_data,
    drop_after,
    error_chunk,
    error_event,
    garbage,
    html_error,
    html_page,
    no_done,
    redirect,
    stall,
    status,
    text,
    trickle,
    truncated,
)

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
STREAM = {**BODY, "stream": True}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def full_body(turn: Turn, stream: bool) -> bytes:
    """The body a correct server sends for the reply inside a fault."""
    async with ModelServer(ScriptedModel([turn])) as server, aiohttp.ClientSession() as s:
        async with s.post(
            f"{server.base_url}/chat/completions", json=STREAM if stream else BODY
        ) as r:
            return await r.read()


async def read_until_error(resp: aiohttp.ClientResponse) -> tuple[bytes, Exception | None]:
    got = b""
    try:
        async for data in resp.content.iter_any():
            got += data
    except aiohttp.ClientPayloadError as exc:
        return got, exc
    return got, None


def events(body: bytes) -> list[str]:
    return body.decode(errors="replace").split("\n\n")


@pytest.mark.parametrize("stream", [False, True])
async def test_drop_after_closes_after_n_body_bytes(
    session: aiohttp.ClientSession, stream: bool
) -> None:
    reply = text("word " * 200)
    expected = (await full_body(reply, stream))[:120]
    async with ModelServer(ScriptedModel([drop_after(120, reply)])) as server:
        async with session.post(
            f"{server.base_url}/chat/completions", json=STREAM if stream else BODY
        ) as resp:
            assert resp.status == 200
            got, error = await read_until_error(resp)
    assert got == expected
    assert isinstance(error, aiohttp.ClientPayloadError)


@pytest.mark.parametrize("stream", [False, True])
async def test_truncated_body_ends_cleanly(session: aiohttp.ClientSession, stream: bool) -> None:
    full = await full_body(text("Hello world"), stream)
    async with ModelServer(ScriptedModel([truncated(-20, text("Hello world"))])) as server:
        async with session.post(
            f"{server.base_url}/chat/completions", json=STREAM if stream else BODY
        ) as resp:
            got, error = await read_until_error(resp)
    assert error is None
    assert got == full[:-20]
    if not stream:
        with pytest.raises(json.JSONDecodeError):
            json.loads(got)


async def test_stall_forever_after_two_events(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([stall(after=2)])) as server:
        async with session.post(f"{server.base_url}/chat/completions", json=STREAM) as resp:
            assert resp.status == 200
            got = await resp.content.readuntil(b"\n\n") + await resp.content.readuntil(b"\n\n")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(resp.content.read(1), 0.3)
    assert got.count(b"data: ") == 2


async def test_stall_for_seconds_then_finish(session: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    async with ModelServer(ScriptedModel([stall(after=1, seconds=0.25)])) as server:
        started = loop.time()
        async with session.post(f"{server.base_url}/chat/completions", json=STREAM) as resp:
            body = await resp.read()
    assert loop.time() - started >= 0.25
    assert body.endswith(b"data: [DONE]\n\n")


async def test_closing_the_server_ends_a_stall(session: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    server = ModelServer(ScriptedModel([stall(after=1)]))
    await server.start()
    async with session.post(f"{server.base_url}/chat/completions", json=STREAM) as resp:
        await resp.content.readuntil(b"\n\n")
        started = loop.time()
        await server.close()
        got, error = await read_until_error(resp)
    assert loop.time() - started < 5
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert got == b""


async def test_trickle_writes_one_byte_at_a_time(session: aiohttp.ClientSession) -> None:
    reply = text("Hi")
    full = await full_body(reply, stream=False)
    async with ModelServer(ScriptedModel([trickle(0.002, reply)])) as server:
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            pieces = [piece async for piece in resp.content.iter_any()]
    assert b"".join(pieces) == full
    assert len(pieces) > len(full) // 2  # nearly every byte arrived on its own


async def test_closing_the_server_ends_a_trickle(session: aiohttp.ClientSession) -> None:
    server = ModelServer(ScriptedModel([trickle(0.05)]))
    await server.start()
    async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
        await resp.content.read(1)
        await server.close()
        _, error = await read_until_error(resp)
    assert isinstance(error, aiohttp.ClientPayloadError)


async def test_garbage_bad_data_and_error_objects_mid_stream(
    session: aiohttp.ClientSession,
) -> None:
    script = [
        garbage(after=1, data=b"\xff\xfe\x00junk"),
        bad_data(after=2),
        error_chunk(after=1, message="overloaded", code="busy"),
        error_event(after=1, message="boom"),
        garbage(after=1, data=b": comment\n\n", resume=True),
    ]
    bodies = []
    async with ModelServer(ScriptedModel(script)) as server:
        for _ in script:
            async with session.post(f"{server.base_url}/chat/completions", json=STREAM) as resp:
                assert resp.status == 200
                bodies.append(await resp.read())
    garbage_body, bad, chunk, event, resumed = bodies
    assert garbage_body.endswith(b"\n\n\xff\xfe\x00junk")
    assert garbage_body.count(b"data: ") == 1
    assert events(bad)[2] == "data: this is not JSON"
    assert b"[DONE]" not in bad
    error = json.loads(events(chunk)[1].removeprefix("data: "))
    assert error == {"error": {"message": "overloaded", "type": "server_error", "param": None,
                               "code": "busy"}}  # fmt: skip
    assert events(event)[1].startswith('event: error\ndata: {"error":{"message":"boom"')
    assert events(resumed)[1] == ": comment"
    assert resumed.endswith(b"data: [DONE]\n\n")


async def test_injection_replaces_a_non_stream_body(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([garbage(data=b"\x00oops")])) as server:
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            assert (resp.status, await resp.read()) == (200, b"\x00oops")


async def test_stream_without_done(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([no_done(text("bye"))])) as server:
        async with session.post(f"{server.base_url}/chat/completions", json=STREAM) as resp:
            got, error = await read_until_error(resp)
    assert error is None
    assert b"[DONE]" not in got
    assert events(got)[-2].endswith('"finish_reason":"stop"}]}')


async def test_status_with_retry_after_seconds_and_date(session: aiohttp.ClientSession) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    script = [
        status(429, retry_after=1),
        status(503, retry_after=when, headers={"x-request-id": "req_custom"}),
        status(400, "bad temperature", error_code="bad_temp", retry_after=0.5),
        status(418, body={"detail": "teapot"}),
        status(599),
    ]
    async with ModelServer(ScriptedModel(script)) as server:
        got = []
        for _ in script:
            async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
                got.append((resp.status, resp.headers.copy(), await resp.json()))
    (s1, h1, b1), (_, h2, b2), (s3, h3, b3), (s4, _, b4), (s5, _, b5) = got
    assert (s1, h1["Retry-After"], b1["error"]["code"]) == (429, "1", "rate_limit_exceeded")
    assert set(b1["error"]) == {"message", "type", "param", "code"}
    assert parsedate_to_datetime(h2["Retry-After"]) == when
    assert h2["x-request-id"] == "req_custom"
    assert b2["error"]["type"] == "server_error"
    assert (s3, h3["Retry-After"], b3["error"]["message"], b3["error"]["code"]) == (
        400, "0.5", "bad temperature", "bad_temp"
    )  # fmt: skip
    assert (s4, b4) == (418, {"detail": "teapot"})
    assert (s5, b5["error"]["type"]) == (599, "server_error")


async def test_naive_datetime_retry_after_is_taken_as_utc() -> None:
    naive = datetime(2030, 1, 2, 3, 4, 5)
    turn = status(429, retry_after=naive)
    assert parsedate_to_datetime(turn.headers["Retry-After"]) == naive.replace(tzinfo=UTC)


async def test_html_pages(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([html_error(), html_page()])) as server:
        got = []
        for _ in range(2):
            async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
                got.append((resp.status, resp.content_type, await resp.text()))
    assert got[0][:2] == (502, "text/html")
    assert "502 Bad Gateway" in got[0][2]
    assert got[1][:2] == (200, "text/html")
    assert got[1][2].startswith("<!DOCTYPE html>")


async def test_redirect_to_another_server(session: aiohttp.ClientSession) -> None:
    target = ModelServer(ScriptedModel([text("from the other side")]))
    async with target:
        script = [redirect(f"{target.base_url}/chat/completions")] * 2
        async with ModelServer(ScriptedModel(script)) as server:
            url = f"{server.base_url}/chat/completions"
            async with session.post(url, json=BODY, allow_redirects=False) as resp:
                assert (resp.status, resp.headers["Location"]) == (
                    307, f"{target.base_url}/chat/completions"
                )  # fmt: skip
            async with session.post(url, json=BODY) as resp:
                answer = await resp.json()
    assert answer["choices"][0]["message"]["content"] == "from the other side"
    [forwarded] = target.requests
    assert (forwarded.method, forwarded.body) == ("POST", BODY)


async def test_running_out_of_turns_is_a_clear_500(session: aiohttp.ClientSession) -> None:
    model = ScriptedModel([text("only one")])
    async with ModelServer(model) as server:
        for expected in (200, 500, 500):
            async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
                assert resp.status == expected
                body = await resp.json()
    assert body["error"]["code"] == "script_exhausted"
    assert "ran out of turns" in body["error"]["message"]
    assert "request #3" in body["error"]["message"]
    assert model.used == 3 and model.remaining == 0
    assert "0 of 1 turns left" in repr(model)


async def test_callable_steps_cycle_and_add(session: aiohttp.ClientSession) -> None:
    seen: list[RecordedRequest] = []

    def echo(request: RecordedRequest) -> Turn:
        seen.append(request)
        return text(f"{len(request.messages)} message(s)")

    async def later(request: RecordedRequest) -> Turn:
        await asyncio.sleep(0)
        return text(f"async {request.model}")

    model = ScriptedModel([echo], cycle=True)
    model.add(later)
    contents = []
    async with ModelServer(model) as server:
        for _ in range(3):
            async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
                contents.append((await resp.json())["choices"][0]["message"]["content"])
    assert contents == ["1 message(s)", "async gpt-4o", "1 message(s)"]
    assert seen[0].body == BODY


async def test_concurrent_requests_take_turns_in_arrival_order(
    session: aiohttp.ClientSession,
) -> None:
    model = ScriptedModel([text(str(i), delay=0.05) for i in range(5)])

    async def ask(server: ModelServer) -> Any:
        async with session.post(f"{server.base_url}/chat/completions", json=BODY) as resp:
            return (await resp.json())["choices"][0]["message"]["content"]

    async with ModelServer(model) as server:
        answers = await asyncio.gather(*(ask(server) for _ in range(5)))
    assert sorted(answers) == ["0", "1", "2", "3", "4"]
