"""Delivery faults, end to end: every broken response ends well, in time, and keeps what it can.

Each fault of `asynctool.testing` is played by a real `ModelServer` on 127.0.0.1, for a plain and
for a streamed request where it applies. The contract checked for every one of them:

- the call ends in success (after a retry, only where a retry is safe) or in the documented
  error class, never in a bare aiohttp, msgspec or asyncio exception;
- it ends within its deadlines (every call here also runs under a hard `fail_after`, so a
  hang fails the test instead of blocking CI);
- an error raised while a stream was read carries `partial_completion`, which holds every
  chunk that arrived (checked against an oracle that parses the bytes the server sent);
- an agent run that fails leaves a transcript in which every assistant message with tool calls
  is followed by one tool message per call id, also when the caller leaves a stream early.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest
from aiohttp import web

from asynctool import (
    Agent,
    AgentEvent,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    AssistantMessage,
    AsyncClient,
    AsyncToolError,
    ChatCompletion,
    IncompleteStreamError,
    InternalServerError,
    Message,
    RateLimitError,
    StreamDecodeError,
    TextDelta,
    Timeout,
    ToolCallReady,
    ToolCallStarted,
    ToolContext,
    ToolMessage,
    ToolResult,
    TurnCompleted,
    tool,
)
from asynctool.testing import (
    Handler,
    ModelServer,
    RawResponse,
    RecordedRequest,
    ScriptedModel,
    Turn,
    bad_data,
    call,
    drop_after,
    error_chunk,
    error_event,
    garbage,
    hang_up,
    html_error,
    html_page,
    no_done,
    raw_bytes,
    redirect,
    stall,
    status,
    text,
    tool_calls,
    trickle,
    truncated,
)
from tests import conftest
from tests.conftest import complete, completion_body, connections_in_use, reply

MESSAGES = [{"role": "user", "content": "Hi"}]
CONTENT = "The quick brown fox jumps over the lazy dog, and then it runs back to do it again."
REPLY = text(CONTENT)
IDLE = 0.3  # the idle bound the stall tests wait out
SLACK = 1.5  # how late past its deadline a call may end on a loaded 2-core CI machine
HARD_LIMIT = 8.0  # no call in this file may take longer, whatever happens
TIMEOUT = Timeout(total=HARD_LIMIT - 1, connect=2, first_byte=4, idle=IDLE)


serving = functools.partial(conftest.serving, timeout=TIMEOUT)


@dataclasses.dataclass
class Outcome:
    completion: ChatCompletion | None
    error: AsyncToolError | None
    elapsed: float


async def attempt(client: AsyncClient, stream: bool, **kwargs: Any) -> Outcome:
    """Run one request under the hard limit; any exception but ours fails the test."""
    started = time.perf_counter()
    with anyio.fail_after(HARD_LIMIT):
        try:
            completion = await complete(client, stream, **kwargs)
        except AsyncToolError as error:
            return Outcome(None, error, time.perf_counter() - started)
    return Outcome(completion, None, time.perf_counter() - started)


def failed(outcome: Outcome, cls: type[AsyncToolError], *, exact: bool = False) -> Any:
    """The outcome's error, checked to be a `cls` (exactly one, with `exact`)."""
    error = outcome.error
    assert error is not None, f"expected {cls.__name__}, the call succeeded"
    assert isinstance(error, cls), f"expected {cls.__name__}, got {type(error).__name__}: {error}"
    if exact:
        assert type(error) is cls
    return error


def content_of(completion: ChatCompletion | None) -> str:
    if completion is None or not completion.choices:
        return ""
    return completion.choices[0].message.content or ""


async def body_of(turn: Turn, stream: bool) -> bytes:
    """The exact bytes a correct server sends for `turn` (what a fault then breaks)."""
    payload = {"model": "m", "messages": MESSAGES, "stream": stream}
    async with ModelServer(ScriptedModel([turn])) as server, aiohttp.ClientSession() as session:
        async with session.post(f"{server.base_url}/chat/completions", json=payload) as resp:
            return await resp.read()


def content_in(prefix: bytes) -> str:
    """Oracle: the content of every complete SSE event in `prefix`, parsed with `json`."""
    parts = []
    for block in prefix.split(b"\n\n")[:-1]:
        data = block.removeprefix(b"data: ")
        if data == b"[DONE]":
            break
        for choice in json.loads(data)["choices"]:
            parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


# --------------------------------------------------------------------------- dropped connection


@pytest.mark.parametrize("where", ["after headers", "mid event", "after 3 events", "last byte"])
async def test_dropped_stream_keeps_every_chunk_that_arrived(where: str) -> None:
    body = await body_of(REPLY, stream=True)
    events = body.split(b"\n\n")
    at = {
        "after headers": 0,
        "mid event": len(events[0]) + 10,
        "after 3 events": sum(len(e) + 2 for e in events[:3]),
        "last byte": len(body) - 1,
    }[where]
    async with serving(drop_after(at, REPLY)) as (server, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, IncompleteStreamError)
    assert "dropped" in str(error)
    assert isinstance(error.__cause__, APIConnectionError)
    assert error.partial_completion is not None
    assert content_of(error.partial_completion) == content_in(body[:at])
    if where == "last byte":
        assert content_of(error.partial_completion) == CONTENT
    assert len(server.requests) == 1  # the response had started: never sent again


@pytest.mark.parametrize("at", [0, 50, -1])
async def test_dropped_plain_body_is_a_connection_error_and_not_retried(at: int) -> None:
    async with serving(drop_after(at, REPLY), REPLY) as (server, client):
        outcome = await attempt(client, stream=False)
    error = failed(outcome, APIConnectionError, exact=True)
    assert "Connection error while reading" in str(error)
    assert len(server.requests) == 1


EVENT_STREAM = RawResponse(
    200,
    body=b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}'
    b"\n\ndata: [DONE]\n\n",
    content_type="text/event-stream",
)


@pytest.mark.parametrize("stream", [False, True])
async def test_drop_before_the_response_is_retried_with_the_same_idempotency_key(
    stream: bool,
) -> None:
    ok = EVENT_STREAM if stream else reply(completion_body("ok"))
    async with serving(hang_up(), ok) as (server, _):
        async with AsyncClient(base_url=server.base_url, max_retries=1, timeout=TIMEOUT) as client:
            outcome = await attempt(client, stream)
    assert content_of(outcome.completion) == "ok"
    keys = {request.headers["Idempotency-Key"] for request in server.requests}
    assert len(server.requests) == 2 and len(keys) == 1


async def test_drop_before_the_response_on_every_attempt_is_a_connection_error() -> None:
    async with serving(*[hang_up()] * 3) as (server, _):
        async with AsyncClient(base_url=server.base_url, max_retries=2, timeout=TIMEOUT) as client:
            outcome = await attempt(client, stream=True)
    failed(outcome, APIConnectionError, exact=True)
    assert len(server.requests) == 3


# --------------------------------------------------------------------------- stalls


@pytest.mark.parametrize("after", [0, 1, 3])
async def test_stalled_stream_times_out_at_the_idle_bound_with_what_arrived(after: int) -> None:
    body = await body_of(REPLY, stream=True)
    async with serving(stall(after=after, reply=REPLY), REPLY) as (server, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, APITimeoutError, exact=True)
    assert f"no data within {IDLE}s" in str(error)
    assert IDLE * 0.9 <= outcome.elapsed < IDLE + SLACK
    arrived = sum(len(e) + 2 for e in body.split(b"\n\n")[:after])
    assert error.partial_completion is not None
    assert content_of(error.partial_completion) == content_in(body[:arrived])
    assert len(server.requests) == 1  # a stream that started is never sent again


async def test_stalled_plain_body_times_out_at_the_idle_bound() -> None:
    async with serving(stall(after=0, reply=REPLY), REPLY) as (server, client):
        outcome = await attempt(client, stream=False)
    failed(outcome, APITimeoutError, exact=True)
    assert IDLE * 0.9 <= outcome.elapsed < IDLE + SLACK
    assert len(server.requests) == 1


async def test_the_stream_helper_releases_the_connection_after_a_stall() -> None:
    async with serving(stall(after=2, reply=REPLY)) as (_, client):
        with anyio.fail_after(HARD_LIMIT), pytest.raises(APITimeoutError) as info:
            async with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
                async for _ in stream:
                    pass
        assert connections_in_use(client) == 0
    assert info.value.partial_completion is not None


@pytest.mark.parametrize("stream", [False, True])
async def test_a_number_as_timeout_bounds_a_stall_through_the_total_deadline(stream: bool) -> None:
    # No idle bound at all: only the total deadline can end it, and it must.
    async with serving(stall(after=0, reply=REPLY)) as (_, client):
        outcome = await attempt(client, stream, timeout=0.4)
    error = failed(outcome, APITimeoutError, exact=True)
    assert "total deadline of 0.4s" in str(error)
    assert 0.35 <= outcome.elapsed < 0.4 + SLACK


def test_the_default_deadlines_bound_a_stalled_stream() -> None:
    default = AsyncClient(base_url="http://127.0.0.1:9/v1").timeout
    assert default.idle is not None and default.total is not None
    assert (default.total, default.connect, default.first_byte, default.idle) == (
        600.0,
        5.0,
        None,
        120.0,
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_stall_before_the_response_hits_first_byte_and_is_retried(stream: bool) -> None:
    slow = text(CONTENT, delay=5)
    timeout = Timeout(total=HARD_LIMIT - 1, first_byte=0.2, idle=IDLE)
    async with serving(slow, slow, timeout=timeout) as (server, client):
        outcome = await attempt(client, stream)
    error = failed(outcome, APITimeoutError, exact=True)
    assert "no response within 0.2s" in str(error)
    assert len(server.requests) == 2  # nothing had started: a retry is safe
    assert outcome.elapsed < 0.4 + SLACK


@pytest.mark.parametrize("stream", [False, True])
async def test_short_stall_within_the_idle_bound_succeeds(stream: bool) -> None:
    after = 2 if stream else 0
    async with serving(stall(after=after, seconds=IDLE / 3, reply=REPLY)) as (_, client):
        outcome = await attempt(client, stream)
    assert outcome.error is None
    assert content_of(outcome.completion) == CONTENT


# --------------------------------------------------------------------------- trickle

SHORT = text("Hi there")  # one byte a write is slow: keep the body small


@pytest.mark.parametrize("stream", [False, True])
async def test_trickled_body_assembles_the_same_completion(stream: bool) -> None:
    # The whole body takes longer than `idle`, but no gap between two bytes does: `idle`
    # bounds each gap, not the whole body, so this must succeed. At 0.2 ms a byte the
    # non-stream body once took 0.245 s, under `idle`, and the premise failed; at 0.3 ms it
    # takes half as long again at the least (0.7 s on a busy machine).
    timeout = Timeout(total=HARD_LIMIT - 1, idle=0.25)
    async with serving(SHORT, trickle(0.0003, SHORT), timeout=timeout) as (_, client):
        whole = await attempt(client, stream)
        trickled = await attempt(client, stream)
    assert whole.completion is not None and trickled.completion is not None
    assert trickled.completion.choices == whole.completion.choices
    assert content_of(trickled.completion) == "Hi there"
    assert trickled.elapsed > 0.25


async def test_total_deadline_cuts_a_trickle_and_keeps_what_arrived() -> None:
    long = text("word " * 200)
    async with serving(trickle(0.001, long), timeout=Timeout(total=0.5, idle=0.4)) as (_, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, APITimeoutError, exact=True)
    assert "total deadline" in str(error)
    assert outcome.elapsed < 0.5 + SLACK
    assert error.partial_completion is not None
    assert ("word " * 200).startswith(content_of(error.partial_completion))


# --------------------------------------------------------------------------- undecodable bytes


async def test_garbage_mid_stream_is_an_incomplete_stream_with_what_arrived() -> None:
    body = await body_of(REPLY, stream=True)
    async with serving(garbage(after=3, reply=REPLY)) as (server, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, IncompleteStreamError)
    assert error.partial_completion is not None
    assert content_of(error.partial_completion) == content_in(
        b"\n\n".join(body.split(b"\n\n")[:3]) + b"\n\n"
    )
    assert len(server.requests) == 1


async def test_garbage_then_more_events_still_ends() -> None:
    # The standard's parser skips a line it cannot use; the stream then ends normally.
    async with serving(garbage(after=2, reply=REPLY, resume=True)) as (_, client):
        outcome = await attempt(client, stream=True)
    assert outcome.error is None and outcome.completion is not None
    assert outcome.completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    "fault",
    [garbage(), bad_data(), truncated(), html_page()],
    ids=["garbage", "data", "cut", "html"],
)
async def test_plain_body_that_is_not_a_completion_is_a_response_validation_error(
    fault: Turn,
) -> None:
    async with serving(fault, REPLY) as (server, client):
        outcome = await attempt(client, stream=False)
    error = failed(outcome, APIResponseValidationError, exact=True)
    assert "HTTP 200" in str(error) and "is not JSON" in str(error)
    assert error.status_code == 200
    assert isinstance(error.body, str) and 0 < len(error.body) <= 200
    assert error.request_id == server.requests[0].request_id
    assert len(server.requests) == 1  # a 200 is never sent again


@pytest.mark.parametrize("resume", [False, True])
async def test_non_json_data_line_is_a_stream_decode_error(resume: bool) -> None:
    async with serving(bad_data(after=2, line="this is not JSON", resume=resume)) as (_, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, StreamDecodeError, exact=True)
    assert error.data == "this is not JSON"
    assert error.partial_completion is not None
    assert error.partial_completion.choices[0].message.role == "assistant"
    assert error.request_id is not None


async def test_truncated_stream_without_its_last_chunk_is_incomplete() -> None:
    async with serving(truncated(-20, REPLY)) as (_, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, IncompleteStreamError, exact=True)
    assert "no finish reason" in str(error)
    assert content_of(error.partial_completion) == CONTENT


@pytest.mark.parametrize("fault", [truncated(-5, REPLY), no_done(REPLY)], ids=["cut", "no-done"])
async def test_stream_missing_only_done_is_complete(fault: Turn) -> None:
    async with serving(fault) as (_, client):
        outcome = await attempt(client, stream=True)
    assert content_of(outcome.completion) == CONTENT


@pytest.mark.parametrize("fault", [error_chunk, error_event])
async def test_error_sent_mid_stream_is_an_api_error_with_what_arrived(
    fault: Callable[..., Turn],
) -> None:
    async with serving(fault(after=3, message="overloaded", code="busy")) as (server, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, APIError, exact=True)
    assert (error.message, error.code) == ("overloaded", "busy")
    assert error.partial_completion is not None and error.partial_completion.choices
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- HTML pages


@pytest.mark.parametrize("stream", [False, True])
async def test_html_502_is_retried_then_succeeds(stream: bool) -> None:
    async with serving(html_error(502), REPLY) as (server, client):
        outcome = await attempt(client, stream)
    assert content_of(outcome.completion) == CONTENT
    assert len(server.requests) == 2
    assert server.requests[0].raw_body == server.requests[1].raw_body


@pytest.mark.parametrize("stream", [False, True])
async def test_html_502_on_every_attempt_is_a_server_error_with_a_short_message(
    stream: bool,
) -> None:
    async with serving(*[html_error(502)] * 3, max_retries=2) as (server, client):
        outcome = await attempt(client, stream)
    error = failed(outcome, InternalServerError, exact=True)
    assert error.status_code == 502
    assert error.message == "HTTP 502 Bad Gateway"
    assert isinstance(error.body, str) and "<html>" in error.body
    assert error.request_id == server.requests[-1].request_id
    assert len(server.requests) == 3


@pytest.mark.parametrize("stream", [False, True])
async def test_200_html_page_is_a_response_validation_error_and_not_retried(
    stream: bool,
) -> None:
    async with serving(html_page(), REPLY) as (server, client):
        outcome = await attempt(client, stream)
    error = failed(outcome, APIResponseValidationError, exact=True)
    assert "HTML" in str(error) or "text/html" in str(error)
    assert error.status_code == 200 and error.body.lstrip().lower().startswith("<!doctype html")
    assert error.request_id == server.requests[0].request_id
    assert len(server.requests) == 1


async def test_an_error_body_is_read_only_up_to_its_cap() -> None:
    # 2 MiB, then nothing more
    endless_page = RawResponse(
        503, body=b"<html>" + b"x" * (2 << 20), content_type="text/html", ending="hang"
    )
    timeout = Timeout(total=HARD_LIMIT - 1, idle=1.0)
    async with serving(endless_page) as (server, _):
        async with AsyncClient(base_url=server.base_url, max_retries=0, timeout=timeout) as client:
            outcome = await attempt(client, stream=False)
    error = failed(outcome, InternalServerError)
    assert isinstance(error.body, str) and error.body.startswith("<html>xxx")
    assert outcome.elapsed < 1.0  # cut at the cap, not waited out to the idle bound


async def test_a_server_that_does_not_speak_http_is_a_connection_error() -> None:
    not_http = raw_bytes(b"\x00\xff\xfe\x80 this is not HTTP\r\n\r\n")
    async with serving(*[not_http] * 4) as (server, _):
        async with AsyncClient(base_url=server.base_url, max_retries=1, timeout=TIMEOUT) as client:
            for stream in (False, True):
                outcome = await attempt(client, stream)
                failed(outcome, APIConnectionError, exact=True)
    assert len(server.requests) == 4  # each call: one attempt and one retry


# --------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize("stream", [False, True])
async def test_retry_after_in_seconds_is_honoured(stream: bool) -> None:
    async with serving(status(429, retry_after=0.4), REPLY) as (server, client):
        outcome = await attempt(client, stream)
    assert content_of(outcome.completion) == CONTENT
    assert len(server.requests) == 2
    assert 0.35 <= outcome.elapsed < 0.4 + SLACK  # the backoff alone would be ~10 ms


@pytest.mark.parametrize("stream", [False, True])
async def test_retry_after_as_an_http_date_is_honoured(stream: bool) -> None:
    async with serving() as (server, client):
        # HTTP dates have whole seconds: the first whole second 0.6 s away or more.
        when = datetime.fromtimestamp(math.ceil(time.time() + 0.6), UTC)
        assert isinstance(server.model, ScriptedModel)
        server.model.add(status(503, retry_after=when), REPLY)
        outcome = await attempt(client, stream)
    assert content_of(outcome.completion) == CONTENT
    assert len(server.requests) == 2
    assert 0.5 <= outcome.elapsed < 1.6 + SLACK  # the backoff alone would be ~10 ms


async def test_retry_after_beyond_the_deadline_fails_at_once() -> None:
    timeout = Timeout(total=2, idle=IDLE)
    async with serving(status(429, retry_after=30), REPLY, timeout=timeout) as (server, client):
        outcome = await attempt(client, stream=True)
    error = failed(outcome, RateLimitError, exact=True)
    assert error.headers.get("retry-after") == "30"
    assert outcome.elapsed < SLACK
    assert len(server.requests) == 1


async def test_unreasonable_retry_after_falls_back_to_backoff() -> None:
    async with serving(status(429, retry_after=3600), REPLY, timeout=None) as (server, client):
        outcome = await attempt(client, stream=False)
    assert content_of(outcome.completion) == CONTENT
    assert outcome.elapsed < SLACK and len(server.requests) == 2


async def test_retries_end_with_the_last_error() -> None:
    turns = [status(429, retry_after=0)] * 3
    async with serving(*turns, max_retries=2) as (server, client):
        outcome = await attempt(client, stream=True)
    failed(outcome, RateLimitError, exact=True)
    assert len(server.requests) == 3


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code", [301, 302, 307, 308])
async def test_redirect_is_followed_with_the_same_body(stream: bool, code: int) -> None:
    async with serving(redirect("/v1/chat/completions", status=code), REPLY) as (server, client):
        outcome = await attempt(client, stream)
    assert content_of(outcome.completion) == CONTENT
    first, second = server.requests
    assert second.method == "POST" and second.raw_body == first.raw_body


async def test_absolute_redirect_to_another_path_of_the_same_server() -> None:
    async with serving() as (server, client):
        assert isinstance(server.model, ScriptedModel)
        server.model.add(redirect(f"{server.url}/v1/chat/completions?moved=1"), REPLY)
        outcome = await attempt(client, stream=True)
    assert content_of(outcome.completion) == CONTENT
    assert [r.path for r in server.requests] == ["/v1/chat/completions"] * 2


@pytest.mark.parametrize("stream", [False, True])
async def test_redirect_loop_is_a_connection_error(stream: bool) -> None:
    loop = [redirect("/v1/chat/completions")] * 6
    async with serving(*loop, max_retries=0) as (server, client):
        outcome = await attempt(client, stream)
    error = failed(outcome, APIConnectionError, exact=True)
    assert "Too many redirects" in str(error)
    assert len(server.requests) == 6


@pytest.mark.parametrize(
    "location",
    [
        "ftp://127.0.0.1/v1",
        "file:///etc/passwd",
        "data:text/plain,hi",
    ],
)
async def test_redirect_to_a_non_http_url_is_not_followed(location: str) -> None:
    async with serving(redirect(location), REPLY, max_retries=0) as (server, client):
        outcome = await attempt(client, stream=False)
    failed(outcome, APIConnectionError, exact=True)
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- a bare iteration


class EndlessStream:
    """A ModelServer on 127.0.0.1 that streams a chunk every 20 ms until the client hangs up,
    and notes when it saw the connection end (its `Handler` is cancelled when the client goes,
    or its next write fails)."""

    def __init__(self) -> None:
        self.hung_up = asyncio.Event()
        self.server = ModelServer(ScriptedModel([Handler(self._answer)]))
        self.base_url = ""

    async def __aenter__(self) -> EndlessStream:
        await self.server.start()
        self.base_url = self.server.base_url
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.close()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        event = b"data: " + msgspec.json.encode(chunk_with("word ")) + b"\n\n"
        try:
            while True:
                await response.write(event)
                await asyncio.sleep(0.02)
        except (asyncio.CancelledError, ConnectionError):
            self.hung_up.set()
            raise


def chunk_with(content: str) -> dict[str, Any]:
    delta = {"content": content}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


@pytest.mark.parametrize("how", ["cancel", "timeout"])
async def test_a_bare_iteration_that_is_cancelled_closes_the_response_at_once(how: str) -> None:
    """`async for` over `await create(..., stream=True)`, without `async with`: whatever ends
    the iteration, a cancellation included, closes the connection, and the server sees it
    close at once rather than when the stream is garbage-collected (it is kept alive here)."""
    kept: list[Any] = []
    chunks: list[Any] = []
    three = asyncio.Event()

    async def consume(client: AsyncClient) -> None:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        kept.append(stream)
        async for piece in stream:
            chunks.append(piece)
            if len(chunks) == 3:
                three.set()

    async with EndlessStream() as server, AsyncClient(base_url=server.base_url) as client:
        try:
            if how == "cancel":
                task = asyncio.create_task(consume(client))
                await three.wait()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            else:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await consume(client)
            with anyio.fail_after(1.0):
                await server.hung_up.wait()
            assert connections_in_use(client) == 0
        finally:
            for stream in kept:
                await stream.close()
    assert len(chunks) >= 3


# --------------------------------------------------------------------------- agent loop


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


TWO_CALLS = tool_calls(
    call("add", {"a": 1, "b": 2}, id="call_a"), call("add", {"a": 3, "b": 4}, id="call_b")
)


def assert_transcript_valid(messages: list[Message]) -> None:
    """Every assistant message with tool calls is followed by one tool message per call id,
    in call order; no tool message answers nothing; the transcript survives JSON."""
    i = 0
    while i < len(messages):
        message = messages[i]
        assert not isinstance(message, ToolMessage), f"tool message {i} answers no call"
        i += 1
        if isinstance(message, AssistantMessage) and message.tool_calls:
            ids = [c.id for c in message.tool_calls]
            answers = messages[i : i + len(ids)]
            got = [m.tool_call_id if isinstance(m, ToolMessage) else None for m in answers]
            assert got == ids, f"calls {ids} answered by {got}"
            i += len(ids)
    encoded = msgspec.json.encode(messages)
    assert msgspec.json.decode(encoded, type=list[Message]) == messages


def roles(messages: list[Message]) -> list[str]:
    return [type(m).__name__ for m in messages]


AFTER_TOOLS = ["UserMessage", "AssistantMessage", "ToolMessage", "ToolMessage"]

# fault(s) for the second turn, the error of run(), the error of run_stream(), and whether the
# stream's error comes from reading the body (so it carries a partial completion).
AGENT_FAULTS: dict[str, tuple[list[Turn], type[AsyncToolError], type[AsyncToolError], bool]] = {
    "drop": ([drop_after(300)], APIConnectionError, IncompleteStreamError, True),
    "stall": ([stall(after=0)], APITimeoutError, APITimeoutError, True),
    "stall-mid": ([stall(after=2)], AsyncToolError, APITimeoutError, True),
    "garbage": ([garbage()], APIResponseValidationError, IncompleteStreamError, True),
    "bad-data": ([bad_data()], APIResponseValidationError, StreamDecodeError, True),
    "html-502": ([html_error(502)] * 2, InternalServerError, InternalServerError, False),
    "html-200": ([html_page()], APIResponseValidationError, APIResponseValidationError, False),
    "truncated": ([truncated(200)], APIResponseValidationError, IncompleteStreamError, True),
    "error-event": ([error_event()], APIError, APIError, True),
    "429": ([status(429, retry_after=0)] * 2, RateLimitError, RateLimitError, False),
}


@pytest.mark.parametrize("name", list(AGENT_FAULTS))
async def test_run_failing_mid_run_keeps_an_answered_transcript(name: str) -> None:
    faults, expected, _, _ = AGENT_FAULTS[name]
    async with serving(TWO_CALLS, *faults, text("done")) as (_, client):
        agent = Agent(client, model="m", tools=[add])
        with anyio.fail_after(HARD_LIMIT):
            try:
                result = await agent.run("add things")
            except AsyncToolError as error:
                assert isinstance(error, expected), f"{type(error).__name__}: {error}"
                messages = error.messages
            else:
                assert name == "stall-mid"  # a plain body is one event: nothing to stall after
                assert isinstance(result.messages[-1], AssistantMessage)
                messages = result.messages[:-1]
    assert roles(messages) == AFTER_TOOLS
    assert [m.content for m in messages if isinstance(m, ToolMessage)] == ["3", "7"]
    assert_transcript_valid(messages)


@pytest.mark.parametrize("name", list(AGENT_FAULTS))
async def test_run_stream_failing_mid_run_keeps_an_answered_transcript(name: str) -> None:
    faults, _, expected, partial = AGENT_FAULTS[name]
    async with serving(TWO_CALLS, *faults, text("done")) as (_, client):
        agent = Agent(client, model="m", tools=[add])
        seen: list[AgentEvent] = []
        with anyio.fail_after(HARD_LIMIT), pytest.raises(expected) as info:
            async with agent.run_stream("add things") as events:
                async for event in events:
                    seen.append(event)
    assert [type(e).__name__ for e in seen].count("ToolResult") == 2
    assert info.value.messages is events.messages
    assert roles(events.messages) == AFTER_TOOLS
    assert_transcript_valid(events.messages)
    assert isinstance(info.value, APIError)
    assert (info.value.partial_completion is not None) == partial


@pytest.mark.parametrize("stream", [False, True])
async def test_fault_in_the_turn_that_calls_tools_leaves_no_unanswered_call(stream: bool) -> None:
    async with serving(drop_after(-30, TWO_CALLS), text("unused")) as (_, client):
        agent = Agent(client, model="m", tools=[add])
        with anyio.fail_after(HARD_LIMIT), pytest.raises(APIConnectionError) as info:
            if stream:
                async with agent.run_stream("add things") as events:
                    async for _ in events:
                        pass
            else:
                await agent.run("add things")
    assert roles(info.value.messages) == ["UserMessage"]
    assert_transcript_valid(info.value.messages)


@pytest.mark.parametrize("stream", [False, True])
async def test_agent_recovers_from_a_fault_with_a_safe_retry(stream: bool) -> None:
    async with serving(TWO_CALLS, html_error(502), text("done")) as (server, client):
        agent = Agent(client, model="m", tools=[add])
        with anyio.fail_after(HARD_LIMIT):
            if stream:
                async with agent.run_stream("add things") as events:
                    async for _ in events:
                        pass
                assert events.result is not None
                result = events.result
            else:
                result = await agent.run("add things")
    assert result.output == "done"
    assert_transcript_valid(result.messages)
    assert server.requests[1].raw_body == server.requests[2].raw_body


@pytest.mark.parametrize(
    "leave_at",
    [
        ToolCallStarted,
        TurnCompleted,
        ToolCallReady,
        ToolResult,
        TextDelta,
    ],
)
async def test_leaving_run_stream_early_keeps_an_answered_transcript(leave_at: type) -> None:
    async with serving(TWO_CALLS, text("all done")) as (_, client):
        agent = Agent(client, model="m", tools=[add])
        with anyio.fail_after(HARD_LIMIT):
            async with agent.run_stream("add things") as events:
                async for event in events:
                    if isinstance(event, leave_at):
                        break
                else:
                    pytest.fail(f"no {leave_at.__name__} event")
    assert_transcript_valid(events.messages)


async def test_cancelling_run_while_tools_run_answers_every_call() -> None:
    transcripts: list[list[Message]] = []
    started = anyio.Event()

    @tool
    async def wait_forever(context: ToolContext[None]) -> str:
        """Never finish."""
        transcripts.append(context.messages)  # the run's own list, as it grows
        started.set()
        await anyio.sleep_forever()
        return "never"

    turns = tool_calls(call("add", {"a": 1, "b": 1}, id="c1"), call("wait_forever", id="c2"))
    async with serving(turns) as (_, client):
        agent = Agent(client, model="m", tools=[add, wait_forever])
        with anyio.move_on_after(HARD_LIMIT) as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(agent.run, "go")
                await started.wait()
                await asyncio.sleep(0.05)
                group.cancel_scope.cancel()
        assert not scope.cancelled_caught
    (messages,) = transcripts
    assert roles(messages) == AFTER_TOOLS
    assert_transcript_valid(messages)
    assert messages[2].content == "2" and "cancelled" in str(messages[3].content)


async def test_cancelling_run_stream_while_tools_run_answers_every_call() -> None:
    @tool
    async def wait_forever() -> str:
        """Never finish."""
        await anyio.sleep_forever()
        return "never"

    turns = tool_calls(call("wait_forever", id="c1"), call("add", {"a": 2, "b": 2}, id="c2"))
    async with serving(turns) as (_, client):
        agent = Agent(client, model="m", tools=[add, wait_forever])
        with anyio.move_on_after(0.3):
            async with agent.run_stream("go") as events:
                async for _ in events:
                    pass
    assert roles(events.messages) == AFTER_TOOLS
    assert_transcript_valid(events.messages)


async def test_leaving_run_stream_mid_stream_releases_the_connection_at_once() -> None:
    async with serving(stall(after=3, reply=REPLY)) as (_, client):
        agent = Agent(client, model="m")
        async with agent.run_stream("talk") as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break
        leftover = [
            t
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task()
            and not getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler.")
        ]
        assert (connections_in_use(client), leftover) == (0, [])


async def test_recorded_request_bodies_of_an_agent_retry_are_identical() -> None:
    captured: list[RecordedRequest] = []

    def record(request: RecordedRequest) -> Turn:
        captured.append(request)
        return status(500) if len(captured) == 1 else text("fine")

    async with serving(record, record) as (_, client):
        result = await Agent(client, model="m").run("hi")
    assert result.output == "fine"
    assert captured[0].raw_body == captured[1].raw_body
    assert captured[0].headers["Idempotency-Key"] == captured[1].headers["Idempotency-Key"]
