"""`client.chat.completions`: what reaches the wire, and what is refused before anything is sent."""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
import pytest

from asynctool import (
    APIError,
    APIResponseValidationError,
    AssistantMessage,
    AsyncClient,
    ChatCompletion,
    ChatCompletionTool,
    FunctionCall,
    FunctionDefinition,
    InvalidRequestError,
    SystemMessage,
    TextContentPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from tests.conftest import Serve, completion_body, reply

MESSAGES = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}


@pytest.fixture
def serve(serve: Serve) -> Serve:
    """The client's own retry default, as a user gets it."""
    return functools.partial(serve, max_retries=2)


async def test_every_request_field_reaches_the_wire(serve: Serve) -> None:
    server, client = await serve(reply(completion_body()))
    params: dict[str, Any] = {
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "temperature": 0.2,
        "top_p": 0.9,
        "n": 2,
        "stop": ["END", "STOP"],
        "max_tokens": 100,
        "max_completion_tokens": 120,
        "presence_penalty": -1.5,
        "frequency_penalty": 1.5,
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 5,
        "user": "user-1",
        "response_format": {"type": "json_object"},
        "seed": 42,
        "reasoning_effort": "low",
        "service_tier": "auto",
        "metadata": {"team": "a"},
        "store": False,
        "modalities": ["text"],
        "prediction": {"type": "content", "content": "x"},
        "prompt_cache_key": "k",
        "safety_identifier": "s",
        "verbosity": "low",
    }
    await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, **params)
    assert server.requests[0].body == {"model": "gpt-4o", "messages": MESSAGES, **params}


async def test_unset_fields_are_not_sent(serve: Serve) -> None:
    server, client = await serve(reply(completion_body()))
    await client.chat.completions.create(model="m", messages=MESSAGES, temperature=None)
    assert server.requests[0].body == {"model": "m", "messages": MESSAGES}


async def test_extra_body_merges_at_the_top_level(serve: Serve) -> None:
    server, client = await serve(reply(completion_body()))
    await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        temperature=1.0,
        extra_body={"top_k": 40, "temperature": 0.5, "provider": {"order": ["a"]}},
    )
    assert server.requests[0].body == {
        "model": "m",
        "messages": MESSAGES,
        "temperature": 0.5,
        "top_k": 40,
        "provider": {"order": ["a"]},
    }


async def test_message_structs_and_dicts_mix(serve: Serve) -> None:
    server, client = await serve(reply(completion_body()))
    call = ToolCall(id="call_1", function=FunctionCall(name="f", arguments="{}"))
    messages: list[Any] = [
        SystemMessage(content="Be brief."),
        UserMessage(content=[TextContentPart(text="look")]),
        AssistantMessage(tool_calls=[call]),
        ToolMessage(content="42", tool_call_id="call_1"),
        {"role": "user", "content": "and?", "cache_control": {"type": "ephemeral"}},
    ]
    await client.chat.completions.create(model="m", messages=messages)
    assert server.requests[0].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "look"}]},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "function": {"name": "f", "arguments": "{}"}, "type": "function"}
            ],
        },
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        # a provider's own key on a dict message is sent as given
        {"role": "user", "content": "and?", "cache_control": {"type": "ephemeral"}},
    ]


class _HasDefinition:
    definition = WEATHER


async def test_tools_as_dicts_structs_and_objects_with_a_definition(serve: Serve) -> None:
    server, client = await serve(reply(completion_body()))
    struct = ChatCompletionTool(function=FunctionDefinition(name="lookup", parameters={}))
    await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        tools=[WEATHER, struct, _HasDefinition()],
        tool_choice="required",
    )
    tools = server.requests[0].body["tools"]
    assert tools[0] == WEATHER and tools[2] == WEATHER
    assert tools[1] == {"function": {"name": "lookup", "parameters": {}}, "type": "function"}


async def test_response_decodes_into_structs_ignoring_unknown_fields(serve: Serve) -> None:
    body = completion_body(
        None,
        tool_calls=[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        provider_extra={"x": 1},
    )
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 3}
    body["system_fingerprint"], body["service_tier"], body["brand_new_field"] = "fp", "default", 1
    _, client = await serve(reply(body))
    done = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(done, ChatCompletion)
    tool_call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (tool_call.id, tool_call.function.name) == ("c1", "f")
    assert done.usage is not None and done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == 3
    assert (done.system_fingerprint, done.service_tier) == ("fp", "default")


async def test_response_with_arguments_as_an_object(serve: Serve) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": [1]}}}
    _, client = await serve(reply(completion_body(None, tool_calls=[call])))
    done = await client.chat.completions.create(model="m", messages=MESSAGES)
    assert done.choices[0].message.tool_calls[0].function.arguments == '{"a":[1]}'  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"id": "x", "choices": [', "is not JSON"),
        (b"<html>oops</html>", "is not JSON"),
        (b"", "is empty"),
        (b'{"choices": 5}', "is not a chat completion (Expected `array"),
        (b"[" * 10_000, "nested too deep"),
    ],
)
async def test_a_success_body_that_is_not_a_completion_is_a_response_validation_error(
    serve: Serve, body: bytes, message: str
) -> None:
    server, client = await serve(
        reply(body, content_type="application/json", headers={"x-request-id": "r1"})
    )
    with pytest.raises(APIResponseValidationError, match=re.escape(message)) as info:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    error = info.value
    assert str(error).startswith("The response body (HTTP 200, application/json) ")
    assert (error.status_code, error.request_id) == (200, "r1")
    assert error.body == body[:200].decode()
    assert len(server.requests) == 1  # a 200 is never sent again


async def test_an_error_object_in_a_success_body_is_the_providers_error(serve: Serve) -> None:
    body = {"error": {"message": "quota exceeded", "type": "insufficient_quota"}}
    _, client = await serve(reply(body, headers={"x-request-id": "r1"}))
    with pytest.raises(APIError, match="quota exceeded") as info:
        await client.chat.completions.create(model="m", messages=MESSAGES)
    assert type(info.value) is APIError
    assert (info.value.type, info.value.request_id) == ("insufficient_quota", "r1")


INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"messages": []}, "messages", "at least one"),
    ({"messages": "hi"}, "messages", "a list of messages"),
    (
        {"messages": [{"role": "robot", "content": "x"}]},
        "messages[0].role",
        "Invalid value 'robot'",
    ),
    ({"messages": [{"content": "x"}]}, "messages[0]", "missing required field `role`"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0]", "tool_call_id"),
    ({"messages": [MESSAGES[0], 42]}, "messages[1]", "got int"),
    ({"model": 5}, "model", "Expected `str`"),
    ({"temperature": 2.5}, "temperature", "<= 2.0, got 2.5"),
    ({"temperature": -0.1}, "temperature", ">= 0"),
    ({"temperature": "hot"}, "temperature", "Expected `float | null`, got `str`"),
    ({"top_p": 1.5}, "top_p", "<= 1"),
    ({"n": 0}, "n", ">= 1"),
    ({"presence_penalty": 3}, "presence_penalty", "<= 2"),
    ({"frequency_penalty": -2.5}, "frequency_penalty", ">= -2"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "length <= 4"),
    ({"logit_bias": {"1": 101}}, "logit_bias['1']", "-100..100, got 101"),
    ({"logit_bias": {1: -101}}, "logit_bias[1]", "-100..100, got -101"),
    ({"logit_bias": {1: "x"}}, "logit_bias[1]", "a number"),
    ({"logit_bias": [1]}, "logit_bias", "a dict"),
    ({"top_logprobs": 3}, "top_logprobs", "requires logprobs=True"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "<= 20"),
    ({"max_tokens": 0}, "max_tokens", ">= 1"),
    (
        {"tools": [{"type": "function", "function": {"name": "has space"}}]},
        "tools[0].function.name",
        "1 to 64",
    ),
    (
        {"tools": [{"type": "function", "function": {"name": "x" * 65}}]},
        "tools[0].function.name",
        "1 to 64",
    ),
    ({"tools": [{"type": "function"}]}, "tools[0]", "function"),
    ({"tools": [7]}, "tools[0]", "got int"),
    (
        {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "tool_choice",
        "'nope'",
    ),
    (
        {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": 3}}},
        "tool_choice.function.name",
        "string",
    ),
    ({"tool_choice": "sometimes"}, "tool_choice", "'sometimes'"),
    ({"tool_choice": "required"}, "tool_choice", "at least one tool"),
    (
        {"stream_options": {"include_usage": "yes"}},
        "stream_options.include_usage",
        "Expected `bool",
    ),
    ({"temprature": 0.5}, "temprature", "extra_body"),
]


@pytest.mark.parametrize(("change", "field", "reason"), INVALID)
async def test_invalid_parameters_fail_before_any_network_call(
    serve: Serve, change: dict[str, Any], field: str, reason: str
) -> None:
    server, client = await serve(reply(completion_body()))
    kwargs: dict[str, Any] = {"model": "m", "messages": MESSAGES, **change}
    with pytest.raises(InvalidRequestError) as info:
        await client.chat.completions.create(**kwargs)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{field}: ")
    with pytest.raises(InvalidRequestError):
        client.chat.completions.stream(**kwargs)
    assert server.requests == []


async def test_invalid_request_error_is_a_value_error(serve: Serve) -> None:
    server, client = await serve()
    with pytest.raises(ValueError, match="temperature"):
        await client.chat.completions.create(model="m", messages=MESSAGES, temperature=9)
    assert server.requests == []


async def test_stream_refuses_a_stream_keyword(serve: Serve) -> None:
    _, client = await serve()
    with pytest.raises(InvalidRequestError, match="stream"):
        client.chat.completions.stream(model="m", messages=MESSAGES, stream=False)  # type: ignore[call-arg]


async def test_tool_choice_modes_that_need_no_tool_names(serve: Serve) -> None:
    server, client = await serve(*[reply(completion_body())] * 3)
    for choice in ("none", "auto"):
        await client.chat.completions.create(model="m", messages=MESSAGES, tool_choice=choice)
    await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        tools=[WEATHER],
        tool_choice={"type": "allowed_tools", "mode": "auto"},
    )
    assert [r.body["tool_choice"] for r in server.requests] == [
        "none",
        "auto",
        {"type": "allowed_tools", "mode": "auto"},
    ]


def test_repr_shows_no_key() -> None:
    client = AsyncClient(base_url="http://127.0.0.1:1/v1", api_key="sk-hidden-999")
    assert "sk-hidden" not in repr(client)
    assert repr(client) == "AsyncClient(base_url='http://127.0.0.1:1/v1/')"
    assert client.max_retries == 2


def test_transcript_structs_round_trip_through_json() -> None:
    call = ToolCall(id="c", function=FunctionCall(name="f", arguments='{"a": 1}'))
    messages = [
        UserMessage(content="hi"),
        AssistantMessage(tool_calls=[call]),
        ToolMessage(content="ok", tool_call_id="c"),
    ]
    from asynctool import Message

    data = msgspec.json.encode(messages)
    assert msgspec.json.decode(data, type=list[Message]) == messages
