"""Nothing a provider sends is lost: unnamed fields are read, encoded, merged and sent back.

The provider-specific scenarios (Gemini's thought signatures, OpenRouter's reasoning details,
...) are in `tests/providers/`; these tests pin the mechanism itself: strict decoding, extended
structs, the two merge rules, learned shapes, and the one conversion into history.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import msgspec
import pytest

from asynctool import (
    Agent,
    APIError,
    AssistantMessage,
    AsyncClient,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChoiceDelta,
    ChunkChoice,
    CustomCall,
    Usage,
    _lossless,
    tool,
)
from asynctool._accumulate import ChatCompletionAccumulator
from asynctool._decode import decode_with_quirks
from asynctool._lossless import Decoder, extended
from asynctool._merge import merge_delta, merge_snapshot
from asynctool._types import PromptTokensDetails, chunk_decoder, completion_decoder
from asynctool.testing import ModelServer

from .conftest import Serve, chunk, completion_body, reply, sse, stream


def decode_chunk(payload: dict[str, Any], decoder: Decoder[Any] | None = None) -> Any:
    data = msgspec.json.encode(payload)
    decoder = decoder or Decoder(ChatCompletionChunk, chunk_decoder)
    try:
        return decoder.decode(data)
    except msgspec.ValidationError:
        return decoder.decode_any(data)


def contains(outer: Any, inner: Any) -> bool:
    """Every key of `inner` is in `outer` with the same value, recursively."""
    if isinstance(inner, dict):
        return isinstance(outer, dict) and all(
            k in outer and contains(outer[k], v) for k, v in inner.items()
        )
    if isinstance(inner, list):
        return (
            isinstance(outer, list)
            and len(outer) == len(inner)
            and all(contains(o, i) for o, i in zip(outer, inner, strict=True))
        )
    return bool(outer == inner)


def accumulate(*payloads: dict[str, Any]) -> ChatCompletion:
    """What a stream of these chunks assembles, each decoded the way a stream decodes it."""
    decoder = Decoder(ChatCompletionChunk, chunk_decoder)
    accumulator = ChatCompletionAccumulator()
    for payload in payloads:
        accumulator.add_lossless([decode_chunk(payload, decoder)])
    return accumulator.completion()


# --------------------------------------------------------------------------- decoding


def test_a_payload_with_nothing_unnamed_decodes_strictly_and_equals_one_built_by_hand() -> None:
    data = msgspec.json.encode(chunk("Hi"))
    decoded = chunk_decoder.decode(data)
    built = ChatCompletionChunk(
        id="chatcmpl-1",
        created=1700000000,
        model="gpt-test",
        choices=[ChunkChoice(delta=ChoiceDelta(content="Hi"))],
    )
    assert decoded == built and built == decoded
    assert not decoded != built
    assert repr(decoded).startswith("ChatCompletionChunk(")
    assert isinstance(decoded, ChatCompletionChunk)


def test_the_strict_decoder_refuses_an_unnamed_field_at_any_depth() -> None:
    body = chunk("Hi")
    body["choices"][0]["delta"]["signature"] = "s"
    with pytest.raises(msgspec.ValidationError, match="signature"):
        chunk_decoder.decode(msgspec.json.encode(body))


def test_unnamed_fields_at_every_level_of_a_completion_are_kept() -> None:
    body = completion_body(
        "Hi",
        tool_calls=[
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": "{}", "strict_hint": True},
                "extra_content": {"google": {"thought_signature": "c2ln"}},
                "cache_key": "k1",
            }
        ],
        reasoning="thinking...",
        reasoning_details=[{"type": "reasoning.text", "text": "t", "index": 0}],
        refusal_reason=None,
    )
    body["provider"] = "Google"
    body["choices"][0]["native_finish_reason"] = "STOP"
    body["choices"][0]["logprobs"] = {
        "content": [{"token": "Hi", "logprob": -0.1, "top_logprobs": [], "rank": 1}]
    }
    body["usage"].update(
        cost=0.0021,
        is_byok=False,
        cost_details={"upstream_inference_cost": 0.002},
        prompt_tokens_details={"cached_tokens": 1, "cache_write_tokens": 3, "video_tokens": 0},
    )
    completion = decode_with_quirks(msgspec.json.encode(body), ChatCompletion)

    assert contains(msgspec.to_builtins(completion), body)
    assert contains(msgspec.json.decode(msgspec.json.encode(completion)), body)
    choice = completion.choices[0]
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert completion.provider == "Google"  # type: ignore[attr-defined]
    assert choice.native_finish_reason == "STOP"  # type: ignore[attr-defined]
    assert call.extra_content == {"google": {"thought_signature": "c2ln"}}
    assert call.cache_key == "k1"  # type: ignore[attr-defined]
    assert call.function.strict_hint is True  # type: ignore[attr-defined]
    assert choice.message.reasoning == "thinking..."
    assert choice.message.refusal_reason is None  # type: ignore[attr-defined]
    assert choice.logprobs.content[0].rank == 1  # type: ignore[union-attr, index, attr-defined]
    assert completion.usage is not None and completion.usage.cost == 0.0021
    assert completion.usage.is_byok is False  # type: ignore[attr-defined]
    details = completion.usage.prompt_tokens_details
    assert details is not None and details.cache_write_tokens == 3
    assert details.video_tokens == 0  # type: ignore[attr-defined]


def test_a_missing_unnamed_field_is_an_attribute_error() -> None:
    completion = completion_decoder.decode(msgspec.json.encode(completion_body()))
    with pytest.raises(AttributeError):
        completion.provider  # type: ignore[attr-defined]  # noqa: B018
    other = decode_with_quirks(
        msgspec.json.encode({**completion_body(), "provider": "x"}), ChatCompletion
    )
    with pytest.raises(AttributeError):
        other.choices[0].provider  # type: ignore[attr-defined]  # noqa: B018


def test_keys_that_are_not_attribute_names_are_kept_under_safe_names() -> None:
    body = {**chunk("Hi"), "x-request-id": "r1", "to_param": 1, "__class__": 2, "_id": 3}
    decoded = decode_chunk(body)
    assert decoded.extra_x_request_id == "r1"
    assert decoded._id == 3
    encoded = msgspec.json.decode(msgspec.json.encode(decoded))
    assert {k: encoded[k] for k in ("x-request-id", "to_param", "__class__", "_id")} == {
        "x-request-id": "r1",
        "to_param": 1,
        "__class__": 2,
        "_id": 3,
    }


def test_twins_and_extended_objects_pickle_copy_and_compare() -> None:
    plain = chunk_decoder.decode(msgspec.json.encode(chunk("Hi")))
    rich = decode_chunk({**chunk("Hi"), "provider": "p"})
    for obj in (plain, rich):
        assert pickle.loads(pickle.dumps(obj)) == obj
        assert copy.deepcopy(obj) == obj
    assert rich != plain and plain != rich
    same_values_other_name = decode_chunk({**chunk("Hi"), "vendor": "p"})
    assert rich != same_values_other_name
    # One class per set of extra keys, named and typed as the public one.
    assert extended(ChatCompletionChunk, ["provider"]) is extended(
        ChatCompletionChunk, ("provider",)
    )
    assert type(rich) is extended(ChatCompletionChunk, ["provider"])
    assert isinstance(rich, ChatCompletionChunk) and type(rich).__name__ == "ChatCompletionChunk"


def test_a_stream_learns_a_shape_and_decodes_the_next_chunks_strictly() -> None:
    decoder: Decoder[ChatCompletionChunk] = Decoder(ChatCompletionChunk, chunk_decoder)
    first = {**chunk("a"), "provider": "OpenAI"}
    first["choices"][0]["native_finish_reason"] = None
    decoder.decode_any(msgspec.json.encode(first))
    assert decoder.learned
    second = {**chunk("b"), "provider": "Azure"}
    second["choices"][0]["native_finish_reason"] = "stop"
    decoded = decoder.decode(msgspec.json.encode(second))  # the fast decoder, no fallback
    assert decoded.provider == "Azure"  # type: ignore[attr-defined]
    assert decoded.choices[0].native_finish_reason == "stop"  # type: ignore[attr-defined]
    # A chunk without the learned fields still decodes, by the plain strict decoder.
    plain = decoder.decode_any(msgspec.json.encode(chunk("c")))
    assert plain.choices[0].delta.content == "c"
    with pytest.raises(AttributeError):
        plain.provider  # type: ignore[attr-defined]  # noqa: B018


def test_a_server_that_makes_up_new_fields_cannot_grow_the_caches() -> None:
    decoder: Decoder[ChatCompletionChunk] = Decoder(ChatCompletionChunk, chunk_decoder)
    kept = []
    for i in range(1500):
        body = {**chunk("x"), f"field_{i}": i}
        body["choices"][0][f"choice_field_{i}"] = i
        kept.append(decoder.decode_any(msgspec.json.encode(body)))
    assert len(_lossless._extended) <= _lossless._MAX_CACHED
    assert len(_lossless._learned) <= _lossless._MAX_CACHED
    assert kept[0].field_0 == 0 and kept[-1].field_1499 == 1499
    assert kept[0].choices[0].choice_field_0 == 0
    assert pickle.loads(pickle.dumps(kept[0])) == kept[0]  # evicted, still whole


# --------------------------------------------------------------------------- merge rules


@pytest.mark.parametrize(
    ("old", "new", "key", "merged"),
    [
        ("Hel", "lo", None, "Hello"),  # strings concatenate
        ("reasoning.text", "reasoning.text", "type", "reasoning.text"),  # naming keys: first
        ("anthropic-claude-v1", "x", "format", "anthropic-claude-v1"),
        ([1], [2, 3], None, [1, 2, 3]),  # lists without index blocks extend
        (
            [{"index": 0, "type": "reasoning.text", "text": "a"}],
            [{"index": 0, "type": "reasoning.text", "text": "b"}, {"index": 1, "text": "c"}],
            None,
            [{"index": 0, "type": "reasoning.text", "text": "ab"}, {"index": 1, "text": "c"}],
        ),
        (  # a block of another type at the same index is another block (Gemini via OpenRouter)
            [{"index": 0, "type": "reasoning.text", "text": "a"}],
            [{"index": 0, "type": "reasoning.encrypted", "data": "e"}],
            None,
            [
                {"index": 0, "type": "reasoning.text", "text": "a"},
                {"index": 0, "type": "reasoning.encrypted", "data": "e"},
            ],
        ),
        ({"a": "x", "n": 1}, {"a": "y", "n": 2, "b": True}, None, {"a": "xy", "n": 2, "b": True}),
        (1, 2, None, 2),  # other scalars: the last one wins
        ("kept", None, None, "kept"),  # null adds nothing
        (None, {"a": 1}, None, {"a": 1}),
    ],
)
def test_the_delta_rule(old: Any, new: Any, key: str | None, merged: Any) -> None:
    before = copy.deepcopy(new)
    assert merge_delta(copy.deepcopy(old), new, key) == merged
    assert new == before  # what a chunk carried is never changed


@pytest.mark.parametrize(
    ("old", "new", "merged"),
    [
        ("OpenAI", "OpenAI", "OpenAI"),  # repeated whole: not concatenated
        ({"id": "req_1"}, {"id": "req_1", "usage": {"queue_time": 0.1}}, None),
        (3, None, 3),
    ],
)
def test_the_snapshot_rule(old: Any, new: Any, merged: Any) -> None:
    expected = merged if merged is not None else {"id": "req_1", "usage": {"queue_time": 0.1}}
    assert merge_snapshot(old, new) == expected


def test_a_stream_merges_unnamed_fields_by_where_they_are() -> None:
    first = {**chunk(role="assistant", content=""), "provider": "Anthropic", "x_groq": {"id": "r"}}
    first["choices"][0]["native_finish_reason"] = None
    first["choices"][0]["delta"].update(
        reasoning="Let me ",
        reasoning_details=[{"type": "reasoning.text", "text": "Let me ", "index": 0}],
        thinking_note="a",
    )
    second = {**chunk("Hel"), "provider": "Anthropic"}
    second["choices"][0]["delta"].update(
        reasoning="think.",
        reasoning_details=[
            {"type": "reasoning.text", "text": "think.", "signature": "sig", "index": 0}
        ],
        thinking_note="b",
    )
    last = {**chunk("lo", finish_reason="stop"), "provider": "Anthropic"}
    last["x_groq"] = {"id": "r", "usage": {"queue_time": 0.01}}
    last["choices"][0]["native_finish_reason"] = "end_turn"

    completion = accumulate(first, second, last)

    message = completion.choices[0].message
    assert message.content == "Hello"
    assert message.reasoning == "Let me think."
    assert message.reasoning_details == [
        {"type": "reasoning.text", "text": "Let me think.", "index": 0, "signature": "sig"}
    ]
    assert message.thinking_note == "ab"  # type: ignore[attr-defined]  # a delta: appends
    assert completion.provider == "Anthropic"  # type: ignore[attr-defined]  # a snapshot
    assert completion.x_groq == {"id": "r", "usage": {"queue_time": 0.01}}  # type: ignore[attr-defined]
    assert completion.choices[0].native_finish_reason == "end_turn"  # type: ignore[attr-defined]


def test_a_field_that_only_came_as_null_is_kept_as_null() -> None:
    only_null = chunk("Hi", finish_reason="stop")
    only_null["choices"][0]["native_finish_reason"] = None
    completion = accumulate(only_null)
    assert completion.choices[0].native_finish_reason is None  # type: ignore[attr-defined]
    assert "native_finish_reason" in msgspec.to_builtins(completion)["choices"][0]


def test_tool_call_fragments_keep_their_extra_content_and_unnamed_fields() -> None:
    head = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
        "extra_content": {"google": {"thought_signature": "AAA"}},
    }
    tail = {"index": 0, "function": {"arguments": '{"city": "Oslo"}'}, "shard": "s1"}
    completion = accumulate(
        chunk(tool_calls=[head]), chunk(tool_calls=[tail]), chunk(finish_reason="tool_calls")
    )
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.arguments == '{"city": "Oslo"}'
    assert call.extra_content == {"google": {"thought_signature": "AAA"}}
    assert call.shard == "s1"  # type: ignore[attr-defined]


def test_whole_calls_in_one_delta_each_keep_their_own_fields() -> None:
    """Gemini streams parallel calls whole, in one delta, without `index`, and signs only the
    first (https://ai.google.dev/gemini-api/docs/thought-signatures)."""
    signed = {
        "id": "function-call-1",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
        "extra_content": {"google": {"thought_signature": "AAA"}},
    }
    plain = {"id": "function-call-2", "type": "function", "function": {"name": "g"}}
    plain["function"]["arguments"] = "{}"
    completion = accumulate(chunk(tool_calls=[signed, plain], finish_reason="tool_calls"))
    first, second = completion.choices[0].message.tool_calls  # type: ignore[misc]
    assert (first.id, second.id) == ("function-call-1", "function-call-2")
    assert first.extra_content == {"google": {"thought_signature": "AAA"}}
    assert "extra_content" not in msgspec.to_builtins(second)


def test_calls_of_custom_tools_decode_plain_and_streamed() -> None:
    """A custom tool's call has `type: "custom"` and its name and free-form input under
    `custom` (https://platform.openai.com/docs/guides/function-calling#custom-tools)."""
    custom = {"id": "call_9", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}}
    body = completion_body(None, tool_calls=[custom])
    plain = decode_with_quirks(msgspec.json.encode(body), ChatCompletion)
    streamed = accumulate(
        chunk(tool_calls=[{**custom, "index": 0, "custom": {"name": "sql", "input": "SELECT"}}]),
        chunk(tool_calls=[{"index": 0, "custom": {"input": " 1"}}], finish_reason="tool_calls"),
    )
    for completion in (plain, streamed):
        call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert (call.id, call.type, call.custom) == (
            "call_9",
            "custom",
            CustomCall(name="sql", input="SELECT 1"),
        )


async def test_a_parsed_completion_keeps_what_the_provider_sent(serve: Serve) -> None:
    class City(msgspec.Struct):
        name: str

    body = completion_body('{"name": "Oslo"}', reasoning="short")
    body["provider"] = "Mistral"
    server, _ = await serve(reply(body))
    async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
        parsed = await client.chat.completions.parse(
            model="m", messages=[{"role": "user", "content": "A city"}], response_format=City
        )
    assert parsed.choices[0].message.parsed == City(name="Oslo")
    assert parsed.provider == "Mistral"  # type: ignore[attr-defined]
    assert parsed.choices[0].message.reasoning == "short"
    sent_back = msgspec.to_builtins(parsed.choices[0].message.to_param())
    assert "parsed" not in sent_back and sent_back["reasoning"] == "short"


def test_obfuscation_stays_on_the_chunks() -> None:
    body = {**chunk("Hi", finish_reason="stop"), "obfuscation": "Zq3x"}
    decoded = chunk_decoder.decode(msgspec.json.encode(body))  # named: the fast path
    assert decoded.obfuscation == "Zq3x"
    accumulator = ChatCompletionAccumulator()
    accumulator.add_all([decoded])
    assert "obfuscation" not in msgspec.to_builtins(accumulator.completion())


# --------------------------------------------------------------------------- usage


def test_usage_sums_every_number_named_or_not() -> None:
    one = decode_with_quirks(
        msgspec.json.encode(
            {
                "prompt_tokens": 10,
                "completion_tokens": 2,
                "total_tokens": 12,
                "cost": 0.5,
                "is_byok": False,
                "cost_details": {"upstream_inference_cost": 0.4},
                "prompt_cache_hit_tokens": 8,
                "prompt_cache_miss_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 1},
            }
        ),
        Usage,
    )
    two = msgspec.structs.replace(one, cost=0.25)
    total = Usage() + one + two
    assert (total.prompt_tokens, total.total_tokens, total.cost) == (20, 24, 0.75)
    assert total.cost_details == {"upstream_inference_cost": 0.8}
    assert (total.prompt_cache_hit_tokens, total.prompt_cache_miss_tokens) == (16, 4)
    assert total.prompt_tokens_details == PromptTokensDetails(
        cached_tokens=16, cache_write_tokens=2
    )
    assert total.is_byok is False  # type: ignore[attr-defined]  # not a number to add


# --------------------------------------------------------------------------- sent back


def test_to_param_keeps_everything_that_belongs_to_the_conversation() -> None:
    body = completion_body(
        None,
        tool_calls=[
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": "{}"},
                "extra_content": {"google": {"thought_signature": "c2ln"}},
            }
        ],
        reasoning_content="r1",
        reasoning="r2",
        reasoning_details=[{"type": "reasoning.encrypted", "data": "xyz", "index": 0}],
        annotations=[],
        partial=True,
    )
    message = decode_with_quirks(msgspec.json.encode(body), ChatCompletion).choices[0].message
    sent = msgspec.to_builtins(message.to_param())
    assert sent == {
        "role": "assistant",
        "tool_calls": body["choices"][0]["message"]["tool_calls"],
        "reasoning_content": "r1",
        "reasoning": "r2",
        "reasoning_details": [{"type": "reasoning.encrypted", "data": "xyz", "index": 0}],
        "partial": True,
    }
    assert isinstance(message.to_param(), AssistantMessage)


@tool
def lookup(city: str) -> str:
    """Look a city up.

    Args:
        city: The city.
    """
    return f"{city}: fine"


def _calling_message() -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"city": "Oslo"}'},
                "extra_content": {"google": {"thought_signature": "c2ln"}},
            }
        ],
        "reasoning_details": [{"type": "reasoning.encrypted", "data": "enc", "index": 0}],
        "vendor_state": {"turn": 1},
    }


@pytest.mark.parametrize("streamed", [False, True])
async def test_the_agent_sends_back_what_the_provider_sent(serve: Serve, streamed: bool) -> None:
    message = _calling_message()
    if streamed:
        fragment = {**message["tool_calls"][0], "index": 0}
        first = chunk(
            role="assistant",
            tool_calls=[fragment],
            reasoning_details=message["reasoning_details"],
            vendor_state=message["vendor_state"],
        )
        server, _ = await serve(
            stream(sse(first, chunk(finish_reason="tool_calls"))),
            stream(sse(chunk("Oslo is fine.", finish_reason="stop"))),
        )
    else:
        server, _ = await serve(
            reply(completion_body(**message)), reply(completion_body("Oslo is fine."))
        )
    async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
        agent = Agent(client, model="m", tools=[lookup])
        if streamed:
            async with agent.run_stream("Weather in Oslo?") as events:
                async for _ in events:
                    pass
                result = events.result
        else:
            result = await agent.run("Weather in Oslo?")
    assert result.output == "Oslo is fine."
    sent = server.requests[1].body["messages"][1]
    assert sent["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    assert sent["reasoning_details"] == message["reasoning_details"]
    assert sent["vendor_state"] == {"turn": 1}
    assert "index" not in sent["tool_calls"][0]


async def test_history_given_as_dicts_or_answers_keeps_every_field(serve: Serve) -> None:
    server, _ = await serve(reply(completion_body("Still fine.")))
    answer = (
        decode_with_quirks(
            msgspec.json.encode(completion_body("Earlier.", reasoning="why")), ChatCompletion
        )
        .choices[0]
        .message
    )
    history: list[Any] = [
        {"role": "user", "content": "Weather in Oslo?", "client_tag": "t1"},
        _calling_message(),
        {"role": "tool", "tool_call_id": "call_1", "content": "Oslo: fine"},
        answer,
        {"role": "user", "content": "And now?"},
    ]
    async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
        await Agent(client, model="m", tools=[lookup]).run(history)
    sent = server.requests[0].body["messages"]
    assert sent[0]["client_tag"] == "t1"
    # `content: null` is the default, left off the wire like every unset field.
    assert sent[1] == {k: v for k, v in _calling_message().items() if k != "content"}
    assert sent[3] == {"role": "assistant", "content": "Earlier.", "reasoning": "why"}
    assert isinstance(answer, ChatCompletionMessage)


async def test_stream_options_a_server_adds_are_sent(serve: Serve) -> None:
    """vLLM reads `stream_options.continuous_usage_stats`
    (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html)."""
    server, _ = await serve(stream(sse(chunk("Hi", finish_reason="stop"))))
    async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
        chat = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True, "continuous_usage_stats": True},
        )
        async with chat:
            await chat.get_final_completion()
    assert server.requests[0].body["stream_options"] == {
        "include_usage": True,
        "continuous_usage_stats": True,
    }


# --------------------------------------------------------------------------- errors mid-stream


async def _final(server: ModelServer) -> ChatCompletion:
    async with AsyncClient(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        chat = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        async with chat:
            return await chat.get_final_completion()


async def test_an_error_beside_choices_ends_the_stream_with_what_arrived(serve: Serve) -> None:
    cut = chunk(" wor", finish_reason="error")
    cut["error"] = {"code": 502, "message": "Upstream provider went away"}
    server, _ = await serve(stream(sse(chunk("Hello"), cut)))
    with pytest.raises(APIError, match="Upstream provider went away") as caught:
        await _final(server)
    partial = caught.value.partial_completion
    assert partial is not None and partial.choices[0].message.content == "Hello wor"
    assert partial.choices[0].finish_reason == "error"


async def test_finish_reason_error_alone_ends_the_stream(serve: Serve) -> None:
    server, _ = await serve(stream(sse(chunk("Hel"), chunk("lo", finish_reason="error"))))
    with pytest.raises(APIError, match="finish_reason 'error'") as caught:
        await _final(server)
    assert caught.value.partial_completion is not None
    assert caught.value.partial_completion.choices[0].message.content == "Hello"


async def test_a_tool_call_cut_by_an_error_is_not_run(serve: Serve) -> None:
    ran: list[str] = []

    @tool
    def spy(location: str) -> str:
        """Record a call.

        Args:
            location: Where.
        """
        ran.append(location)
        return "ok"

    head = {"index": 0, "id": "c1", "type": "function", "function": {"name": "spy"}}
    head["function"]["arguments"] = '{"locatio'
    cut = chunk(finish_reason="error")
    cut["error"] = {"message": "Provider disconnected"}
    server, _ = await serve(stream(sse(chunk(tool_calls=[head]), cut)))
    async with AsyncClient(base_url=server.base_url, api_key="sk-test", max_retries=0) as client:
        with pytest.raises(APIError, match="Provider disconnected"):
            async with Agent(client, model="m", tools=[spy]).run_stream("Go") as events:
                async for _ in events:
                    pass
    assert ran == []


async def test_a_plain_answer_that_ended_in_error_is_not_a_result(serve: Serve) -> None:
    body = completion_body("Half an ans")
    body["choices"][0]["finish_reason"] = "error"
    server, _ = await serve(reply(body))
    async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
        with pytest.raises(APIError, match="finish_reason 'error'") as caught:
            await Agent(client, model="m").run("Hi")
    assert caught.value.partial_completion is not None
