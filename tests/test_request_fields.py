"""Every keyword of the official SDK's `chat.completions.create`: accepted, checked, sent.

Code ported from the SDK passes these keywords; each must reach the server as the SDK would
send it, and an invalid value must fail before anything is sent, naming the field.
"""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints

import msgspec
import openai
import pytest
from openai.resources.chat.completions import AsyncCompletions

from asynctool import ChatCompletionTool, FunctionDefinition, InvalidRequestError
from asynctool._client import Completions
from asynctool._request import ChatCompletionRequest, CompletionParams, ParseParams
from asynctool.testing import ModelServer
from tests.conftest import Serve, chunk, completion_body, reply, sse, stream

STREAM = stream(sse(chunk("ok", role="assistant"), chunk(finish_reason="stop")))

MESSAGES = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
# A custom tool as OpenAI's function-calling guide ("Custom tools") defines one: free text, or
# text in a grammar, instead of JSON arguments.
SQL = {
    "type": "custom",
    "custom": {
        "name": "run_sql",
        "description": "Run one read-only SQL query.",
        "format": {
            "type": "grammar",
            "grammar": {"definition": "start: /SELECT .+/", "syntax": "lark"},
        },
    },
}


class Answer(msgspec.Struct):
    text: str


# The keywords that are not request body fields, in the SDK as here.
NOT_BODY = {"extra_headers", "extra_query", "extra_body", "timeout"}


def keywords(function: Any, params: type) -> set[str]:
    """The keywords a method accepts: its named parameters and those of its `**params`."""
    named = {
        name
        for name, p in inspect.signature(function).parameters.items()
        if name != "self" and p.kind is not p.VAR_KEYWORD
    }
    return named | set(get_type_hints(params))


def sdk_keywords(name: str) -> set[str]:
    return set(inspect.signature(getattr(AsyncCompletions, name)).parameters) - {"self"}


@pytest.mark.parametrize(
    ("method", "params"),
    [("create", CompletionParams), ("stream", CompletionParams), ("parse", ParseParams)],
)
def test_our_keywords_are_the_sdks(method: str, params: type) -> None:
    """When the SDK adds a keyword, this fails until the client accepts it too."""
    ours = keywords(getattr(Completions, method), params)
    assert ours == sdk_keywords(method)


def test_every_body_keyword_of_the_sdk_is_a_field_of_the_request() -> None:
    fields = {f.name for f in msgspec.structs.fields(ChatCompletionRequest)}
    assert sdk_keywords("create") - NOT_BODY == fields


# --------------------------------------------------------------------------- what is sent

PORTED: dict[str, Any] = {
    "functions": [
        {
            "name": "get_weather",
            "description": "Get the weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
    "function_call": {"name": "get_weather"},
    "moderation": {
        "model": "omni-moderation-latest",
        "policy": {"input": {"mode": "block"}, "output": {"mode": "score"}},
    },
    "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
    "prompt_cache_retention": "24h",
    "audio": {"format": "wav", "voice": {"id": "voice_1234"}},
    "modalities": ["text", "audio"],
    "prediction": {"type": "content", "content": [{"type": "text", "text": "x = 1"}]},
    "web_search_options": {
        "search_context_size": "low",
        "user_location": {"type": "approximate", "approximate": {"city": "Lyon", "country": "FR"}},
    },
    # Groq's values, beyond the SDK's lists (console.groq.com/docs/service-tiers).
    "reasoning_effort": "default",
    "service_tier": "on_demand",
    "verbosity": "low",
    "metadata": {"team": "a"},
    "store": True,
    "safety_identifier": "user-hash",
    "prompt_cache_key": "k",
}


OK = reply(completion_body())


async def test_the_fields_ported_code_sends_reach_the_wire_as_the_sdk_sends_them(
    serve: Serve,
) -> None:
    server, client = await serve(OK, OK)  # ours, then the SDK's
    await client.chat.completions.create(model="m", messages=MESSAGES, **PORTED)
    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    async with sdk:
        await sdk.chat.completions.create(model="m", messages=MESSAGES, **PORTED)  # type: ignore[call-overload]
    ours, theirs = (request.body for request in server.requests)
    assert ours == {"model": "m", "messages": MESSAGES, **PORTED}
    assert ours == theirs


async def test_a_provider_specific_key_inside_an_object_field_is_sent_as_given(
    serve: Serve,
) -> None:
    server, client = await serve(OK)
    options = {"mode": "implicit", "provider_hint": {"x": 1}}
    await client.chat.completions.create(model="m", messages=MESSAGES, prompt_cache_options=options)
    assert server.requests[0].body["prompt_cache_options"] == options


async def test_functions_given_as_any_iterable_are_sent_as_a_list(serve: Serve) -> None:
    server, client = await serve(OK)
    functions = ({"name": n} for n in ("a", "b"))
    await client.chat.completions.create(
        model="m", messages=MESSAGES, functions=functions, function_call="auto"
    )
    assert server.requests[0].body["functions"] == [{"name": "a"}, {"name": "b"}]
    assert server.requests[0].body["function_call"] == "auto"


async def test_custom_tools_are_accepted_and_can_be_forced(serve: Serve) -> None:
    server, client = await serve(reply(completion_body()), STREAM)
    choice = {"type": "custom", "custom": {"name": "run_sql"}}
    await client.chat.completions.create(
        model="m", messages=MESSAGES, tools=[WEATHER, SQL], tool_choice=choice
    )
    async with client.chat.completions.stream(
        model="m", messages=MESSAGES, tools=[{"type": "custom", "custom": {"name": "free"}}]
    ) as chat_stream:
        await chat_stream.get_final_completion()
    first, second = (request.body for request in server.requests)
    assert (first["tools"], first["tool_choice"]) == ([WEATHER, SQL], choice)
    assert second["tools"] == [{"type": "custom", "custom": {"name": "free"}}]


async def test_a_tool_struct_can_be_forced_by_name(serve: Serve) -> None:
    server, client = await serve(OK)
    weather = ChatCompletionTool(function=FunctionDefinition(name="get_weather"))
    choice = {"type": "function", "function": {"name": "get_weather"}}
    await client.chat.completions.create(
        model="m", messages=MESSAGES, tools=[weather, SQL], tool_choice=choice
    )
    assert server.requests[0].body["tool_choice"] == choice
    with pytest.raises(InvalidRequestError, match="'run_sql', which is not in tools"):
        await client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            tools=[weather],
            tool_choice={"type": "custom", "custom": {"name": "run_sql"}},
        )
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- extra_query


def queries(server: ModelServer) -> list[dict[str, str]]:
    return [dict(request.query) for request in server.requests]


async def test_extra_query_goes_to_the_url_of_every_method(serve: Serve) -> None:
    answer = reply(completion_body('{"text": "hi"}'))
    server, client = await serve(OK, STREAM, answer)
    query = {"api-version": "2024-10-21", "n": 2, "ratio": 0.5}
    await client.chat.completions.create(model="m", messages=MESSAGES, extra_query=query)
    async with client.chat.completions.stream(
        model="m", messages=MESSAGES, extra_query=query
    ) as chat_stream:
        await chat_stream.get_final_completion()
    await client.chat.completions.parse(
        model="m", messages=MESSAGES, response_format=Answer, extra_query=query
    )
    expected = {"api-version": "2024-10-21", "n": "2", "ratio": "0.5"}
    assert queries(server) == [expected] * 3
    assert all("api-version" not in request.body for request in server.requests)


async def test_extra_query_is_kept_on_a_retry(serve: Serve) -> None:
    busy = reply({"error": {"message": "busy"}}, status=503, headers={"Retry-After": "0"})
    server, client = await serve(busy, OK)
    await client.chat.completions.create(model="m", messages=MESSAGES, extra_query={"a": "1"})
    assert queries(server) == [{"a": "1"}, {"a": "1"}]


async def test_no_extra_query_leaves_the_url_alone(serve: Serve) -> None:
    server, client = await serve(OK)
    await client.chat.completions.create(model="m", messages=MESSAGES, extra_query={})
    assert queries(server) == [{}]


# --------------------------------------------------------------------------- refused

INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"functions": [{"description": "no name"}]}, "functions[0]", "missing required field `name`"),
    ({"functions": [{"name": "has space"}]}, "functions[0].name", "1 to 64"),
    ({"functions": {"name": "f"}}, "functions", "Expected `array`"),
    ({"functions": [{"name": "f", "parameters": "{}"}]}, "functions[0].parameters", "object"),
    ({"function_call": "sometimes"}, "function_call", "'sometimes'"),
    (
        {"functions": [{"name": "f"}], "function_call": {"name": "g"}},
        "function_call",
        "'g', which is not in functions",
    ),
    ({"function_call": {"name": 3}}, "function_call.name", "Expected `str`"),
    ({"moderation": {"policy": {}}}, "moderation", "missing required field `model`"),
    (
        {"moderation": {"model": "m", "policy": {"input": {"mode": 1}}}},
        "moderation.policy.input.mode",
        "Expected `str`",
    ),
    ({"moderation": "omni"}, "moderation", "Expected `object`"),
    ({"prompt_cache_options": {"ttl": 30}}, "prompt_cache_options.ttl", "Expected `str | null`"),
    ({"prompt_cache_retention": 24}, "prompt_cache_retention", "Expected `str | null`"),
    ({"audio": {"format": "wav"}}, "audio", "missing required field `voice`"),
    ({"audio": {"format": "wav", "voice": 5}}, "audio.voice", "Expected `str | object`"),
    (
        {"prediction": {"type": "diff", "content": "x"}},
        "prediction.type",
        "Invalid enum value 'diff'",
    ),
    (
        {"prediction": {"type": "content", "content": [{"type": "image"}]}},
        "prediction.content[0].type",
        "Invalid enum value 'image'",
    ),
    (
        {"web_search_options": {"user_location": {"type": "exact", "approximate": {}}}},
        "web_search_options.user_location.type",
        "Invalid enum value 'exact'",
    ),
    ({"modalities": "text"}, "modalities", "Expected `array | null`"),
    ({"reasoning_effort": 3}, "reasoning_effort", "Expected `str | null`"),
    ({"service_tier": ["auto"]}, "service_tier", "Expected `str | null`"),
    ({"verbosity": False}, "verbosity", "Expected `str | null`"),
    ({"store": "yes"}, "store", "Expected `bool | null`"),
    ({"metadata": {"team": 1}}, "metadata[...]", "Expected `str`"),  # msgspec hides keys
    ({"web_search_options": [1]}, "web_search_options", "Expected `object`"),
    ({"tools": [{"type": "custom"}]}, "tools[0]", "missing required field `custom`"),
    ({"tools": [{"type": "custom", "custom": {"name": "a b"}}]}, "tools[0].custom.name", "1 to 64"),
    (
        {"tools": [{"type": "custom", "custom": {"name": "t", "format": {"type": "json"}}}]},
        "tools[0].custom.format.type",
        "Invalid value 'json'",
    ),
    (
        {"tools": [SQL], "tool_choice": {"type": "custom", "custom": {"name": "get_weather"}}},
        "tool_choice",
        "names the custom tool 'get_weather', which is not in tools",
    ),
    (
        {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "run_sql"}}},
        "tool_choice",
        "names the function tool 'run_sql', which is not in tools",
    ),
    (
        {"tool_choice": {"type": "custom", "custom": {"name": 1}}},
        "tool_choice.custom.name",
        "string",
    ),
    ({"extra_query": ["a"]}, "extra_query", "expected a dict"),
    ({"extra_query": {1: "a"}}, "extra_query", "names must be strings"),
    ({"extra_query": {"flag": True}}, "extra_query['flag']", "a string or a number, got True"),
    ({"extra_query": {"v": None}}, "extra_query['v']", "got None"),
]


@pytest.mark.parametrize(("change", "field", "reason"), INVALID, ids=[i[1] for i in INVALID])
async def test_an_invalid_value_fails_before_any_network_call_naming_the_field(
    serve: Serve, change: dict[str, Any], field: str, reason: str
) -> None:
    server, client = await serve(OK)
    kwargs: dict[str, Any] = {"model": "m", "messages": MESSAGES, **change}
    with pytest.raises(InvalidRequestError) as info:
        await client.chat.completions.create(**kwargs)
    assert (info.value.field, reason in info.value.reason) == (field, True), info.value.reason
    with pytest.raises(InvalidRequestError) as streamed:
        client.chat.completions.stream(**kwargs)
    assert streamed.value.field == field
    assert server.requests == []
