"""Code written for the OpenAI SDK, run on asynctool's structs (issue 16, items 19 and 20).

`.role` on every message, and `model_dump()` / `model_dump_json()` with the SDK's semantics.
The SDK itself is the reference: both clients read the same bodies from the same server on
127.0.0.1, and their dumps are compared.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import openai
import pytest

from asynctool import (
    Agent,
    AssistantMessage,
    AsyncClient,
    ChatCompletion,
    DeveloperMessage,
    FunctionCall,
    ImageContentPart,
    ImageURL,
    Message,
    ParsedChatCompletionMessage,
    SystemMessage,
    TextContentPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    tool,
)
from asynctool.testing import ScriptStep, call, text, tool_calls
from tests.conftest import Serve, chunk, reply, sse

USER = [{"role": "user", "content": "Weather in Paris?"}]

# What OpenRouter answers for a tool call to a Gemini model: OpenAI's fields, plus fields the
# API does not name (`provider`, `usage.cost`, Gemini's `extra_content` on the call).
BODY: dict[str, Any] = {
    "id": "gen-17",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "google/gemini-3-pro",
    "provider": "Google",
    "system_fingerprint": None,
    "choices": [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "tool_calls",
            "native_finish_reason": "STOP",
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "reasoning": "Looking up the weather.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        "extra_content": {"google": {"thought_signature": "c2ln"}},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19, "cost": 0.0001},
}


Both = tuple[AsyncClient, openai.AsyncOpenAI]
ServeBoth = Callable[..., Awaitable[Both]]


@pytest.fixture
async def serve_both(serve: Serve) -> AsyncIterator[ServeBoth]:
    """`await serve_both(*turns)`: asynctool's client and the OpenAI SDK's, pointed at the same
    ModelServer playing `turns` (one for each client's request)."""
    async with contextlib.AsyncExitStack() as opened:

        async def start(*turns: ScriptStep) -> Both:
            server, ours = await serve(*turns, max_retries=2)
            sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
            return ours, await opened.enter_async_context(sdk)

        yield start


async def fetch(serve_both: ServeBoth, body: dict[str, Any]) -> tuple[ChatCompletion, Any]:
    ours, sdk = await serve_both(reply(body), reply(body))
    mine = await ours.chat.completions.create(model="m", messages=USER)
    theirs = await sdk.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    return mine, theirs


def same_named(mine: Any, theirs: Any, path: str = "$") -> None:
    """Equal dumps, except for fields only one library names: those must be None (the server
    did not send them)."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in mine.keys() | theirs.keys():
            if key in mine and key in theirs:
                same_named(mine[key], theirs[key], f"{path}.{key}")
            else:
                lone = mine.get(key, theirs.get(key))
                assert lone is None, f"{path}.{key} only on one side, and set: {lone!r}"
    elif isinstance(mine, list) and isinstance(theirs, list):
        assert len(mine) == len(theirs), path
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            same_named(a, b, f"{path}[{i}]")
    else:
        assert mine == theirs, f"{path}: {mine!r} != {theirs!r}"


# --------------------------------------------------------------------- 19: .role


MESSAGES: list[tuple[Message, str]] = [
    (SystemMessage(content="Be brief."), "system"),
    (DeveloperMessage(content="Be brief."), "developer"),
    (UserMessage(content="hi"), "user"),
    (AssistantMessage(content="hello"), "assistant"),
    (ToolMessage(content="18 C", tool_call_id="call_1"), "tool"),
]


@pytest.mark.parametrize(("message", "role"), MESSAGES, ids=[r for _, r in MESSAGES])
def test_every_message_reads_its_role(message: Message, role: str) -> None:
    assert message.role == role
    assert type(message).role == role
    encoded = msgspec.json.encode(message)
    assert msgspec.json.decode(encoded)["role"] == role
    assert msgspec.json.decode(encoded, type=Message).role == role
    with pytest.raises(AttributeError):
        message.role = "user"  # type: ignore[misc]
    # The role stays the union's tag: not a field, so nothing else about the struct changed.
    assert "role" not in msgspec.structs.asdict(message)
    assert "role" not in type(message).__struct_fields__


def test_encoding_is_unchanged() -> None:
    message = UserMessage(
        content=[TextContentPart(text="hi"), ImageContentPart(image_url=ImageURL(url="u"))]
    )
    assert msgspec.json.encode(message) == (
        b'{"role":"user","content":[{"type":"text","text":"hi"},'
        b'{"type":"image_url","image_url":{"url":"u"}}]}'
    )
    assert message.content[0].type == "text"  # type: ignore[union-attr]
    assert message.content[1].type == "image_url"  # type: ignore[union-attr]


async def test_a_transcript_reads_its_roles(serve: Serve) -> None:
    @tool
    async def get_weather(city: str) -> str:
        """The weather."""
        return "18 C"

    _, client = await serve(tool_calls(call("get_weather", {"city": "Paris"})), text("18 C."))
    agent = Agent(client, model="m", tools=[get_weather], instructions="Be brief.")
    result = await agent.run("Weather in Paris?")
    assert [m.role for m in result.messages] == ["system", "user", "assistant", "tool", "assistant"]
    # A message that carries fields asynctool does not name is a subclass; it reads its role.
    answer = result.completion.choices[0].message
    assert answer.role == "assistant" and answer.to_param().role == "assistant"


async def test_an_answer_with_unnamed_fields_keeps_its_role(
    serve_both: ServeBoth,
) -> None:
    mine, _ = await fetch(serve_both, BODY)
    param = mine.choices[0].message.to_param()
    assert param.reasoning == "Looking up the weather."
    assert param.role == "assistant"
    assert msgspec.json.decode(msgspec.json.encode(param))["role"] == "assistant"


# --------------------------------------------------------------------- 20: model_dump


async def test_model_dump_matches_the_sdk(
    serve_both: ServeBoth,
) -> None:
    mine, theirs = await fetch(serve_both, BODY)
    assert mine.model_dump(exclude_none=True) == theirs.model_dump(exclude_none=True)
    same_named(mine.model_dump(), theirs.model_dump())
    same_named(mine.model_dump(mode="json"), theirs.model_dump(mode="json"))
    dumped = mine.model_dump()
    assert dumped["provider"] == "Google" and dumped["usage"]["cost"] == 0.0001
    assert dumped["choices"][0]["message"]["tool_calls"][0]["extra_content"] == {
        "google": {"thought_signature": "c2ln"}
    }
    assert dumped["choices"][0]["message"]["refusal"] is None  # every named field is there
    message = mine.choices[0].message
    assert message.model_dump(exclude_none=True) == theirs.choices[0].message.model_dump(
        exclude_none=True
    )
    assert json.loads(mine.model_dump_json()) == mine.model_dump(mode="json")
    assert json.loads(mine.model_dump_json(exclude_none=True)) == theirs.model_dump(
        mode="json", exclude_none=True
    )


async def test_model_dump_json_is_formatted_as_the_sdks(
    serve_both: ServeBoth,
) -> None:
    message = {"role": "assistant", "content": "Il fait 18 °C."}
    body = {**BODY, "choices": [{**BODY["choices"][0], "message": message}]}
    mine, theirs = await fetch(serve_both, body)
    for indent in (None, 2, 4):
        for ensure_ascii in (False, True):
            options = {"exclude_none": True, "indent": indent, "ensure_ascii": ensure_ascii}
            texts = [mine.model_dump_json(**options), theirs.model_dump_json(**options)]
            assert json.loads(texts[0]) == json.loads(texts[1]), options
            separators = (",", ":") if indent is None else None
            for dumped in texts:  # the same layout: only the order of the keys differs
                again = json.loads(dumped)
                assert dumped == json.dumps(
                    again, indent=indent, ensure_ascii=ensure_ascii, separators=separators
                )
            assert ("\\u00b0" in texts[0]) is ensure_ascii


@pytest.mark.parametrize(
    ("include", "exclude"),
    [
        ({"choices": {0: {"message": {"content", "tool_calls"}}}}, None),
        ({"choices": {-1: {"index"}}, "usage": {"total_tokens"}}, None),
        ({"id", "model"}, None),
        ({"choices": {"__all__": {"message": {"tool_calls": {0: {"id"}}}}}}, None),
        (None, {"usage": True, "choices": {"__all__": {"logprobs", "message"}}}),
        (None, {"choices": {0: {"message": {"tool_calls": {"__all__": {"function"}}}}}}),
        ({"choices", "usage"}, {"usage": {"cost"}}),
    ],
)
async def test_include_and_exclude_follow_the_sdk(
    serve_both: ServeBoth,
    include: Any,
    exclude: Any,
) -> None:
    mine, theirs = await fetch(serve_both, BODY)
    options = {"include": include, "exclude": exclude, "exclude_none": True}
    assert mine.model_dump(**options) == theirs.model_dump(**options)


async def test_chunks_dump_every_field_as_the_sdks_do(
    serve_both: ServeBoth,
) -> None:
    chunks = reply(
        sse(
            chunk(role="assistant", content=""),
            chunk("Bonjour"),
            {**chunk(finish_reason="stop"), "provider": "Mistral"},
        ),
        content_type="text/event-stream",
    )
    ours, sdk = await serve_both(chunks, chunks)
    mine = await ours.chat.completions.create(model="m", messages=USER, stream=True)
    async with mine:
        my_chunks = [c async for c in mine]
    theirs = await sdk.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
    their_chunks = [c async for c in theirs]
    assert len(my_chunks) == len(their_chunks) == 3
    for a, b in zip(my_chunks, their_chunks, strict=True):
        same_named(a.model_dump(), b.model_dump())
        assert a.model_dump(exclude_none=True) == b.model_dump(exclude_none=True)
    assert my_chunks[1].model_dump()["choices"][0]["delta"]["role"] is None


async def test_exclude_defaults_and_unset_drop_what_is_at_its_default(
    serve_both: ServeBoth,
) -> None:
    mine, theirs = await fetch(serve_both, BODY)
    for option in ("exclude_defaults", "exclude_unset"):
        dumped = mine.model_dump(**{option: True})
        message = dumped["choices"][0]["message"]
        assert "refusal" not in message and "content" not in message  # None, their default
        assert "role" not in message  # "assistant", its default here
        assert message["tool_calls"][0]["id"] == "call_1"
        assert dumped["provider"] == "Google"  # an unnamed field has no default: kept
        assert dumped["usage"] == {
            "prompt_tokens": 12,
            "completion_tokens": 7,
            "total_tokens": 19,
            "cost": 0.0001,
        }
        assert "index" not in dumped["choices"][0]  # 0 is its default (the SDK has none)
        # Where the SDK and asynctool have the same defaults, they drop the same fields; the
        # SDK's `exclude_unset` also keeps the nulls the server sent, which a struct forgets.
        theirs_message = theirs.model_dump(**{option: True})["choices"][0]["message"]
        forgotten = {"content", "refusal"} if option == "exclude_unset" else set()
        assert theirs_message.keys() - message.keys() == {"role"} | forgotten


async def test_a_loop_ported_from_the_sdk_sends_its_dumps_back(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("get_weather", {"city": "Paris"}, id="call_p")), text("18 C in Paris.")
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    completion = await client.chat.completions.create(model="m", messages=messages)
    message = completion.choices[0].message
    messages.append(message.model_dump(exclude_none=True))  # as the SDK's cookbook does
    for tool_call in message.tool_calls or []:
        messages.append({"role": "tool", "tool_call_id": tool_call.id, "content": "18 C"})
    json.dumps(completion.model_dump())  # plain values all the way down
    final = await client.chat.completions.create(model="m", messages=messages)
    assert final.choices[0].message.content == "18 C in Paris."
    sent = server.requests[1].messages[1]
    assert sent["role"] == "assistant"
    assert sent["tool_calls"] == [
        {
            "id": "call_p",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert None not in sent.values()


def test_request_structs_dump_as_they_are_sent() -> None:
    assert UserMessage(content="hi").model_dump() == {"role": "user", "content": "hi"}
    assistant = AssistantMessage(
        tool_calls=[ToolCall(id="c", function=FunctionCall(name="f", arguments="{}"))]
    )
    assert assistant.model_dump() == msgspec.to_builtins(assistant)
    assert assistant.model_dump(exclude={"role"}) == {
        "tool_calls": [msgspec.to_builtins(assistant.tool_calls[0])]
    }  # type: ignore[index]
    assert json.loads(UserMessage(content="hi", name="ada").model_dump_json()) == {
        "role": "user",
        "content": "hi",
        "name": "ada",
    }


class Event(msgspec.Struct):
    title: str
    when: datetime.datetime
    place: str | None = None


async def test_parsed_values_dump_in_python_or_json_mode(serve: Serve) -> None:
    content = json.dumps({"title": "Launch", "when": "2026-11-23T10:00:00Z", "place": None})
    server, _ = await serve(
        reply(
            {
                **BODY,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
            }
        )
    )
    async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
        completion = await client.chat.completions.parse(
            model="m", messages=USER, response_format=Event
        )
    parsed = completion.choices[0].message.model_dump()["parsed"]
    assert parsed["when"] == datetime.datetime(2026, 11, 23, 10, tzinfo=datetime.UTC)
    assert parsed["place"] is None
    as_json = completion.model_dump(mode="json", exclude_none=True)
    assert as_json["choices"][0]["message"]["parsed"] == {
        "title": "Launch",
        "when": "2026-11-23T10:00:00Z",
    }


def test_options_that_do_not_apply_are_refused_or_used() -> None:
    message = ParsedChatCompletionMessage[Any](content="x", parsed=complex(1, 2))
    with pytest.raises(TypeError):
        message.model_dump()
    assert message.model_dump(fallback=str)["parsed"] == "(1+2j)"
    with pytest.raises(ValueError, match="mode must be"):
        message.model_dump(mode="yaml")
    assert message.model_dump(by_alias=True, round_trip=True, warnings=False, fallback=str)
