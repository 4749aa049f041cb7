"""`ChatStream` through a real socket: how streams end, fail, and keep what arrived."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter

import msgspec
import pytest

from asynctool import (
    APIError,
    AsyncClient,
    ChatStream,
    IncompleteStreamError,
    StreamDecodeError,
    Timeout,
)
from asynctool._decode import api_error_in
from asynctool._exceptions import APITimeoutError
from asynctool._stream import _BATCH
from asynctool._types import ChatCompletionChunk, chunk_decoder
from tests.conftest import Serve, chunk, connections_in_use, reply, sse, stream

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def serve(serve: Serve) -> Serve:
    """The streams of this file are read once: a failure is not retried."""
    return functools.partial(serve, max_retries=0)


async def open_stream(client: AsyncClient) -> ChatStream:
    return await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


async def test_chunks_are_typed_and_final_completion_assembled(serve: Serve) -> None:
    server, client = await serve(
        stream(
            sse(
                chunk("Hel", role="assistant"), chunk("lo"), chunk(finish_reason="stop"), done=True
            ),
            headers={"x-request-id": "req_42"},
        )
    )
    s = await open_stream(client)
    assert s.request_id == "req_42"
    async with s:
        texts = [c.choices[0].delta.content async for c in s]
    assert texts == ["Hel", "lo", None]
    done = await s.get_final_completion()
    assert done.choices[0].message.content == "Hello"
    assert done.choices[0].finish_reason == "stop"
    assert server.requests[0].body["stream"] is True


async def test_stream_helper_is_the_same_object_with_stream_implied(serve: Serve) -> None:
    server, client = await serve(stream(sse(chunk("ok", finish_reason="stop"))))
    async with client.chat.completions.stream(model="m", messages=MESSAGES) as s:
        assert isinstance(s, ChatStream)
        done = await s.get_final_completion()
    assert done.choices[0].message.content == "ok"
    assert server.requests[0].body["stream"] is True


async def test_get_final_completion_reads_what_is_left(serve: Serve) -> None:
    _, client = await serve(stream(sse(chunk("a"), chunk("b"), chunk("c", finish_reason="stop"))))
    async with await open_stream(client) as s:
        first = await s.__anext__()
        assert first.choices[0].delta.content == "a"
        done = await s.get_final_completion()
    assert done.choices[0].message.content == "abc"
    assert (await s.get_final_completion()) == done


async def test_every_byte_split_gives_the_same_completion(serve: Serve) -> None:
    body = sse(chunk("Grüße, ", role="assistant"), chunk("世界"), chunk(finish_reason="stop"))
    pieces = [body[i : i + 1] for i in range(len(body))]
    _, client = await serve(stream(*pieces))
    done = await (await open_stream(client)).get_final_completion()
    assert done.choices[0].message.content == "Grüße, 世界"


async def test_comment_and_keepalive_lines_are_ignored(serve: Serve) -> None:
    body = b": keep-alive\n\n" + sse(chunk("x"), b": ping\r\n\r\n", chunk(finish_reason="stop"))
    _, client = await serve(stream(body))
    done = await (await open_stream(client)).get_final_completion()
    assert done.choices[0].message.content == "x"


async def test_end_without_done_is_complete_when_every_choice_finished(serve: Serve) -> None:
    _, client = await serve(stream(sse(chunk("x", finish_reason="stop"), done=False)))
    done = await (await open_stream(client)).get_final_completion()
    assert done.choices[0].message.content == "x"


async def test_end_without_done_and_unfinished_is_an_incomplete_stream(serve: Serve) -> None:
    _, client = await serve(stream(sse(chunk("partial"), done=False)))
    s = await open_stream(client)
    with pytest.raises(IncompleteStreamError, match=r"choices \[0\]") as info:
        await s.get_final_completion()
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "partial"


async def test_body_cut_in_the_middle_of_an_event_says_so(serve: Serve) -> None:
    body = sse(chunk("kept"), done=False) + b'data: {"id": "chatcmpl-1", "choi'
    _, client = await serve(stream(body))
    with pytest.raises(IncompleteStreamError, match="middle of an event") as info:
        await (await open_stream(client)).get_final_completion()
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "kept"


async def test_empty_stream_is_incomplete(serve: Serve) -> None:
    _, client = await serve(stream(b""))
    with pytest.raises(IncompleteStreamError, match="no choice arrived"):
        await (await open_stream(client)).get_final_completion()


async def test_dropped_connection_keeps_what_arrived(serve: Serve) -> None:
    _, client = await serve(stream(sse(chunk("kept "), chunk("too"), done=False), drop=True))
    s = await open_stream(client)
    seen = []
    with pytest.raises(IncompleteStreamError) as info:
        async for c in s:
            seen.append(c.choices[0].delta.content)
    assert seen == ["kept ", "too"]
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "kept too"


async def test_stalled_stream_ends_at_the_idle_timeout(serve: Serve) -> None:
    server, _ = await serve(stream(sse(chunk("slow"), done=False), stall=True))
    async with AsyncClient(base_url=server.base_url, timeout=Timeout(idle=0.2)) as client:
        s = await open_stream(client)
        with pytest.raises(APITimeoutError, match=r"no data within 0\.2s") as info:
            await s.get_final_completion()
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "slow"


async def test_total_deadline_bounds_the_whole_stream(serve: Serve) -> None:
    pieces = [sse(chunk("x"), done=False)] * 50
    server, _ = await serve(stream(*pieces, delay=0.05))
    async with AsyncClient(base_url=server.base_url, timeout=Timeout(total=0.5, idle=5)) as client:
        s = await open_stream(client)
        with pytest.raises(APITimeoutError, match="total deadline") as info:
            await s.get_final_completion()
    partial = info.value.partial_completion
    assert partial is not None and 0 < len(partial.choices[0].message.content or "") < 50


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n', "overloaded"),
        (b'data: {"object": "error", "message": "bad things", "code": 500}\n\n', "bad things"),
        (b'event: error\ndata: {"message": "from event"}\n\n', "from event"),
        (b"event: error\ndata: plain words\n\n", "plain words"),
    ],
)
async def test_error_sent_mid_stream_raises_api_error_after_earlier_chunks(
    serve: Serve, event: bytes, message: str
) -> None:
    _, client = await serve(stream(sse(chunk("before"), done=False) + event + sse(chunk("after"))))
    s = await open_stream(client)
    seen = []
    with pytest.raises(APIError, match=message) as info:
        async for c in s:
            seen.append(c.choices[0].delta.content)
    assert seen == ["before"]
    assert type(info.value) is APIError
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "before"


async def test_error_object_fields_are_kept(serve: Serve) -> None:
    body = b'data: {"error": {"message": "m", "type": "t", "code": "c", "param": "p"}}\n\n'
    _, client = await serve(stream(body))
    with pytest.raises(APIError) as info:
        await (await open_stream(client)).get_final_completion()
    assert (info.value.type, info.value.code, info.value.param) == ("t", "c", "p")


async def test_non_json_data_raises_stream_decode_error_with_truncated_text(serve: Serve) -> None:
    garbage = "not json " * 100
    _, client = await serve(stream(sse(chunk("ok"), f"data: {garbage}\n\n")))
    with pytest.raises(StreamDecodeError) as info:
        await (await open_stream(client)).get_final_completion()
    assert info.value.data.startswith("not json")
    assert len(info.value.data) < 300
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "ok"


async def test_json_that_is_not_a_chunk_raises_stream_decode_error(serve: Serve) -> None:
    _, client = await serve(stream(sse(b'data: {"choices": "nope"}\n\n')))
    with pytest.raises(StreamDecodeError, match="not a chunk"):
        await (await open_stream(client)).get_final_completion()


async def test_oversized_event_raises_stream_decode_error(serve: Serve) -> None:
    server, _ = await serve(stream(sse(chunk("x" * 5000))))
    async with AsyncClient(base_url=server.base_url, max_event_size=1000) as client:
        with pytest.raises(StreamDecodeError, match="max_event_size") as info:
            await (await open_stream(client)).get_final_completion()
    assert info.value.partial_completion is not None


async def test_tool_arguments_sent_as_an_object(serve: Serve) -> None:
    call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": {"a": 1}}}
    _, client = await serve(stream(sse(chunk(tool_calls=[call], finish_reason="tool_calls"))))
    done = await (await open_stream(client)).get_final_completion()
    tool_calls = done.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].function.arguments == '{"a":1}'


async def test_usage_chunk_after_finish(serve: Serve) -> None:
    usage = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    final = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": usage}
    server, client = await serve(stream(sse(chunk("x", finish_reason="stop"), final)))
    s = await client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    done = await s.get_final_completion()
    assert done.usage is not None and done.usage.total_tokens == 5
    assert server.requests[0].body["stream_options"] == {"include_usage": True}


async def test_html_page_instead_of_a_stream_is_a_clear_error(serve: Serve) -> None:
    _, client = await serve(reply("<html><body>Login</body></html>", content_type="text/html"))
    with pytest.raises(APIError, match="HTML page"):
        await open_stream(client)


async def test_json_error_instead_of_a_stream_keeps_the_servers_message(serve: Serve) -> None:
    body = {"error": {"message": "model overloaded", "type": "server_error"}}
    _, client = await serve(reply(body, headers={"x-request-id": "r7"}))
    with pytest.raises(APIError, match="model overloaded") as info:
        await open_stream(client)
    assert info.value.request_id == "r7" and info.value.type == "server_error"


async def test_json_that_is_not_an_error_instead_of_a_stream(serve: Serve) -> None:
    _, client = await serve(reply({"id": "x", "choices": []}))
    with pytest.raises(APIError, match="does it stream"):
        await open_stream(client)


async def test_closing_early_makes_final_completion_incomplete(serve: Serve) -> None:
    _, client = await serve(
        stream(sse(chunk("a"), done=False), sse(chunk("b", finish_reason="stop")), delay=0.3)
    )
    s = await open_stream(client)
    async with s:
        await s.__anext__()
    with pytest.raises(IncompleteStreamError, match="closed before it ended") as info:
        await s.get_final_completion()
    assert info.value.partial_completion is not None


async def test_snapshot_during_iteration(serve: Serve) -> None:
    first, rest = sse(chunk("a"), done=False), sse(chunk("b", finish_reason="stop"))
    _, client = await serve(
        stream(first, rest, delay=0.2)
    )  # the second chunk comes in a later read
    async with await open_stream(client) as s:
        await s.__anext__()
        assert s.snapshot().choices[0].message.content == "a"
        assert s.snapshot().choices[0].finish_reason is None
        await s.get_final_completion()
        assert s.snapshot().choices[0].message.content == "ab"


async def test_cancelling_mid_stream_releases_the_connection(serve: Serve) -> None:
    server, _ = await serve(stream(sse(chunk("x"), done=False), stall=True))
    async with AsyncClient(base_url=server.base_url) as client:
        s = await open_stream(client)

        async def consume() -> None:
            async with s:
                async for _ in s:
                    pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert connections_in_use(client) == 0  # no connection is left checked out


async def test_a_read_of_many_events_is_handed_out_in_order_and_in_batches(serve: Serve) -> None:
    words = [f"w{i} " for i in range(300)]  # one write, so reads hold far more than a batch
    _, client = await serve(stream(sse(*(chunk(w) for w in words), chunk(finish_reason="stop"))))
    async with await open_stream(client) as s:
        first = await s.__anext__()
        # Only the first batch is decoded (and accumulated) so far, not the whole read.
        assert first.choices[0].delta.content == "w0 "
        so_far = s.snapshot().choices[0].message.content or ""
        assert "w0 w1 " in so_far and len(so_far) < len("".join(words))
        rest = [c.choices[0].delta.content async for c in s]
    assert [first.choices[0].delta.content, *rest] == [*words, None]
    assert (await s.get_final_completion()).choices[0].message.content == "".join(words)


async def test_an_error_after_many_events_keeps_every_one_before_it(serve: Serve) -> None:
    words = [f"{i}," for i in range(200)]
    error = b'data: {"error": {"message": "overloaded"}}\n\n'
    _, client = await serve(stream(sse(*(chunk(w) for w in words), done=False) + error))
    seen = []
    with pytest.raises(APIError, match="overloaded") as info:
        async for c in await open_stream(client):
            seen.append(c.choices[0].delta.content)
    assert seen == words
    assert info.value.partial_completion is not None
    assert info.value.partial_completion.choices[0].message.content == "".join(words)


class _CountingDecoder:
    """Stands in for the chunk decoder and keeps every chunk it decoded."""

    def __init__(self) -> None:
        self.decoded: list[ChatCompletionChunk] = []

    def decode(self, data: bytes) -> ChatCompletionChunk:
        result = chunk_decoder.decode(data)  # raises, as the real one, for what is not a chunk
        self.decoded.append(result)
        return result


@pytest.mark.parametrize(
    "interruption",
    [
        b"",  # the last batch holds chunks, then the usage chunk and [DONE]
        b"id: 7\ndata: " + msgspec.json.encode(chunk("with an id")) + b"\n\n",  # an event object
        msgspec.json.encode({"choices": [], "usage": None}).join([b"data: ", b"\n\n"]),
    ],
)
async def test_a_chunk_with_choices_is_decoded_once(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, interruption: bytes
) -> None:
    # A batch with an unusual event in it decodes event by event from there on; the chunks
    # it decoded before that event are kept, not decoded again.
    words = [f"{i}," for i in range(_BATCH + 20)]
    usage = {**chunk(), "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    middle = _BATCH + 6
    events = [*map(chunk, words[:middle]), interruption, *map(chunk, words[middle:])]
    _, client = await serve(stream(sse(*events, chunk(finish_reason="stop"), usage)))
    counting = _CountingDecoder()
    monkeypatch.setattr("asynctool._stream.chunk_decoder", counting)
    final = await (await open_stream(client)).get_final_completion()
    contents = Counter(c.choices[0].delta.content for c in counting.decoded if c.choices)
    assert set(contents.values()) == {1}
    assert set(contents) >= {*words, None}
    assert (final.choices[0].message.content or "").startswith("".join(words[:middle]))
    assert final.usage is not None and final.usage.completion_tokens == 2


def test_error_in_ignores_what_is_not_json() -> None:
    assert api_error_in(b"not json") is None
    assert api_error_in(b'{"error": {"message": "m"}}') is not None
