"""The official OpenAI SDK, a client nobody here wrote, against ModelServer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from asynctool.testing import (
    DemoModel,
    ModelServer,
    ScriptedModel,
    call,
    error_chunk,
    refusal,
    status,
    text,
    tool_calls,
)

USER: list[Any] = [{"role": "user", "content": "What's the weather in Boston?"}]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


@pytest.fixture
async def server() -> AsyncIterator[ModelServer]:
    async with ModelServer(ScriptedModel(), api_key="sk-test") as s:
        yield s


@pytest.fixture
async def client(server: ModelServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def script(server: ModelServer) -> ScriptedModel:
    assert isinstance(server.model, ScriptedModel)
    return server.model


async def test_non_stream_text(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    script(server).add(text("Sunny in Boston."))
    completion = await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert completion.choices[0].message.content == "Sunny in Boston."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    assert server.requests[0].headers["Authorization"] == "Bearer sk-test"


async def test_stream_text_with_usage(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    script(server).add(text("one two three"))
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    pieces, usage = [], None
    async for chunk in stream:
        pieces.extend(c.delta.content or "" for c in chunk.choices)
        usage = chunk.usage or usage
    assert "".join(pieces) == "one two three"
    assert usage is not None and usage.completion_tokens == 3


async def test_non_stream_tool_calls(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    script(server).add(
        tool_calls(call("get_weather", {"location": "Boston"}), call("get_weather", "{}"))
    )
    completion = await client.chat.completions.create(
        model="gpt-4o", messages=USER, tools=[WEATHER]
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"location": "Boston"}  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"


async def test_stream_helper_final_completion(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    script(server).add(
        tool_calls(call("get_weather", {"location": "San Francisco, CA"}), content="Checking.")
    )
    async with client.chat.completions.stream(
        model="gpt-4o", messages=USER, tools=[WEATHER], n=2
    ) as stream:
        kinds = {event.type async for event in stream}
        final = await stream.get_final_completion()
    assert {"content.delta", "tool_calls.function.arguments.done"} <= kinds
    assert len(final.choices) == 2
    for choice in final.choices:
        assert choice.message.content == "Checking."
        [tool_call] = choice.message.tool_calls or []
        assert tool_call.function.name == "get_weather"
        assert json.loads(tool_call.function.arguments) == {"location": "San Francisco, CA"}
    assert final.choices[0].message.tool_calls[0].id != final.choices[1].message.tool_calls[0].id  # type: ignore[index]


async def test_stream_helper_refusal(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    script(server).add(refusal("I can't."))
    async with client.chat.completions.stream(model="gpt-4o", messages=USER) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.refusal == "I can't."
    assert final.choices[0].message.content is None


async def test_status_errors_map_to_sdk_errors(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    script(server).add(status(429, "slow down"))
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value.status_code == 429
    assert caught.value.request_id == server.requests[-1].request_id
    assert caught.value.code == "rate_limit_exceeded"
    assert "slow down" in str(caught.value)


async def test_sdk_retries_after_retry_after(server: ModelServer) -> None:
    script(server).add(status(503, headers={"retry-after-ms": "10"}), text("second try"))
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=1) as c:
        completion = await c.chat.completions.create(model="gpt-4o", messages=USER)
    assert completion.choices[0].message.content == "second try"
    assert len(server.requests) == 2


async def test_error_object_mid_stream_raises(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    script(server).add(error_chunk(after=2, message="overloaded"))
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="overloaded"):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2


async def test_wrong_key_is_an_authentication_error(server: ModelServer) -> None:
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-nope", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError):
            await c.chat.completions.create(model="gpt-4o", messages=USER)
    assert script(server).remaining == 0 and script(server).used == 0


async def test_models_list(client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()
    assert [m.id for m in page.data] == ["asynctool-demo"]
    model = await client.models.retrieve("asynctool-demo")
    assert model.owned_by == "asynctool"


async def test_demo_model_agent_loop_with_the_sdk() -> None:
    async with (
        ModelServer(DemoModel()) as server,
        openai.AsyncOpenAI(base_url=server.base_url, api_key="unused") as client,
    ):
        messages: list[Any] = list(USER)
        first = await client.chat.completions.create(
            model="demo", messages=messages, tools=[WEATHER]
        )
        message = first.choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        for tool_call in message.tool_calls or []:
            messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": "72F, clear"})
        async with client.chat.completions.stream(
            model="demo", messages=messages, tools=[WEATHER]
        ) as stream:
            final = await stream.get_final_completion()
    assert first.choices[0].finish_reason == "tool_calls"
    answer = final.choices[0].message.content or ""
    assert '"72F, clear"' in answer
    assert 'get_weather(location="Boston")' in answer
    assert final.choices[0].finish_reason == "stop"
