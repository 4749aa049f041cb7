"""Structured outputs: types sent as strict `response_format`, answers parsed back, end to end."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, TypedDict

import msgspec
import pydantic
import pytest

from asynctool import (
    Agent,
    AsyncClient,
    ContentFilterFinishReasonError,
    InvalidRequestError,
    LengthFinishReasonError,
    OutputValidationError,
    ParsedChatCompletion,
    RefusalError,
    UserMessage,
    tool,
)
from asynctool.testing import call, refusal, text, tool_calls
from tests.conftest import Serve

MESSAGES = [{"role": "user", "content": "Extract the order."}]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(msgspec.Struct):
    name: str
    price: float
    color: Color | None = None


class Order(msgspec.Struct):
    id: str
    items: list[Item]
    note: str | None = None
    priority: int = 3


@dataclasses.dataclass
class Person:
    name: str
    age: int


class Place(TypedDict):
    city: str
    country: str


ORDER_JSON = '{"id": "o1", "items": [{"name": "pen", "price": 1.5, "color": "blue"}], "note": null, "priority": null}'


async def test_parse_sends_a_strict_schema_and_returns_the_type(serve: Serve) -> None:
    server, client = await serve(text(ORDER_JSON))
    done = await client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Order)
    assert isinstance(done, ParsedChatCompletion)
    order = done.choices[0].message.parsed
    assert order == Order(id="o1", items=[Item("pen", 1.5, Color.BLUE)], note=None, priority=3)
    assert done.choices[0].message.content == ORDER_JSON

    sent = server.requests[0].json["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Order" and sent["json_schema"]["strict"] is True
    schema = sent["json_schema"]["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert sorted(schema["required"]) == ["id", "items", "note", "priority"]
    note = schema["properties"]["note"]
    assert {"type": "null"} in note["anyOf"]  # optional fields are nullable, not left out
    priority = schema["properties"]["priority"]
    assert {"type": "null"} in priority["anyOf"]  # a default makes it nullable too
    item = schema["$defs"]["Item"]
    assert item["additionalProperties"] is False and sorted(item["required"]) == [
        "color",
        "name",
        "price",
    ]


@pytest.mark.parametrize(
    ("output_type", "answer", "expected"),
    [
        (Person, '{"name": "Ada", "age": 36}', Person("Ada", 36)),
        (Place, '{"city": "Oslo", "country": "Norway"}', {"city": "Oslo", "country": "Norway"}),
        (list[Item], '{"value": [{"name": "a", "price": 1, "color": null}]}', [Item("a", 1.0)]),
        (int, '{"value": 42}', 42),
        (Color, '{"value": "red"}', Color.RED),
    ],
)
async def test_parsed_types(serve: Serve, output_type: Any, answer: str, expected: Any) -> None:
    server, client = await serve(text(answer))
    done = await client.chat.completions.parse(
        model="m", messages=MESSAGES, response_format=output_type
    )
    assert done.choices[0].message.parsed == expected
    schema = server.requests[0].json["response_format"]["json_schema"]["schema"]
    assert schema["type"] == "object"  # non-object types travel wrapped in {"value": ...}


@pytest.mark.parametrize(
    ("answer", "path", "reason"),
    [
        (
            '{"id": "o1", "items": [{"name": "pen", "price": "cheap", "color": null}], "note": null, "priority": 1}',
            "$.items[0].price",
            "Expected `float",
        ),
        ('{"id": "o1", "note": null, "priority": 1}', "$", "missing required field `items`"),
        (
            '{"id": "o1", "items": [{"name": "p", "price": 1, "color": "green"}], "note": null, "priority": 1}',
            "$.items[0].color",
            "Invalid enum value 'green'",
        ),
    ],
)
async def test_answers_that_do_not_fit_name_the_path(
    serve: Serve, answer: str, path: str, reason: str
) -> None:
    _, client = await serve(text(answer))
    with pytest.raises(OutputValidationError) as info:
        await client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Order)
    assert info.value.path == path
    assert reason in str(info.value) and path in str(info.value)
    assert info.value.completion is not None
    assert info.value.completion.choices[0].message.content == answer


async def test_wrapped_paths_are_unwrapped(serve: Serve) -> None:
    _, client = await serve(text('{"value": [{"name": "a", "price": "x", "color": null}]}'))
    with pytest.raises(OutputValidationError) as info:
        await client.chat.completions.parse(
            model="m", messages=MESSAGES, response_format=list[Item]
        )
    assert info.value.path == "$[0].price"


async def test_invalid_json_is_an_output_validation_error(serve: Serve) -> None:
    _, client = await serve(text('{"id": "o1", "items": ['))
    with pytest.raises(OutputValidationError, match="not valid JSON"):
        await client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Order)


async def test_length_and_content_filter_and_refusal(serve: Serve) -> None:
    _, client = await serve(
        text('{"id": "o1", "ite', finish_reason="length"),
        text("", finish_reason="content_filter"),
        refusal("I can't help with that."),
    )
    with pytest.raises(LengthFinishReasonError) as cut:
        await client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Order)
    assert cut.value.completion is not None and cut.value.finish_reason == "length"
    with pytest.raises(ContentFilterFinishReasonError):
        await client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Order)
    with pytest.raises(RefusalError) as refused:
        await client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Order)
    assert refused.value.refusal == "I can't help with that."
    assert not isinstance(refused.value, OutputValidationError)


async def test_json_object_and_raw_schemas_pass_through_create(serve: Serve) -> None:
    raw = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    server, client = await serve(text("{}"), text("{}"))
    await client.chat.completions.create(
        model="m", messages=MESSAGES, response_format={"type": "json_object"}
    )
    await client.chat.completions.create(model="m", messages=MESSAGES, response_format=raw)
    assert [r.json["response_format"] for r in server.requests] == [{"type": "json_object"}, raw]
    with pytest.raises(InvalidRequestError, match="json_object"):
        await client.chat.completions.parse(
            model="m", messages=MESSAGES, response_format={"type": "json_object"}
        )  # type: ignore[arg-type]
    assert len(server.requests) == 2


async def test_types_strict_mode_cannot_express_are_refused(serve: Serve) -> None:
    server, client = await serve(text("{}"))
    with pytest.raises(InvalidRequestError) as info:
        await client.chat.completions.parse(
            model="m", messages=MESSAGES, response_format=dict[str, Any]
        )
    assert info.value.field == "response_format"
    assert server.requests == []


async def test_streaming_returns_the_parsed_completion(serve: Serve) -> None:
    server, client = await serve(text('{"name": "Ada", "age": 36}', chunk_size=4))
    async with client.chat.completions.stream(
        model="m", messages=MESSAGES, response_format=Person
    ) as stream:
        chunks = [c async for c in stream]
        done = await stream.get_final_completion()
    assert len(chunks) > 3
    assert done.choices[0].message.parsed == Person("Ada", 36)
    assert server.requests[0].json["response_format"]["json_schema"]["name"] == "Person"
    assert server.requests[0].json["stream"] is True


@tool(strict=True)
async def lookup_order(order_id: str, verbose: bool = False) -> str:
    """Look an order up.

    Args:
        order_id: The order's id.
        verbose: Say more.
    """
    return order_id


@tool
async def loose(x: int) -> int:
    """Not strict."""
    return x


async def test_tools_are_sent_strict_and_their_arguments_parsed(serve: Serve) -> None:
    raw_tool = {
        "type": "function",
        "function": {
            "name": "ping",
            "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }
    server, client = await serve(
        tool_calls(
            call("lookup_order", {"order_id": "o7", "verbose": None}), call("ping", {"n": 2})
        )
    )
    done = await client.chat.completions.parse(
        model="m", messages=MESSAGES, response_format=Order, tools=[lookup_order, raw_tool]
    )
    message = done.choices[0].message
    assert message.parsed is None  # tool calls, no answer yet
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.parsed_arguments == {"order_id": "o7"}
    assert message.tool_calls[1].function.parsed_arguments == {"n": 2}
    sent = server.requests[0].json["tools"]
    assert sent[0] == lookup_order.definition
    assert sent[1]["function"]["strict"] is True
    assert sent[1]["function"]["parameters"]["additionalProperties"] is False
    assert sent[1]["function"]["parameters"]["required"] == ["n"]


async def test_a_non_strict_tool_is_refused_by_parse(serve: Serve) -> None:
    server, client = await serve(text("{}"))
    with pytest.raises(InvalidRequestError, match="strict=True") as info:
        await client.chat.completions.parse(
            model="m", messages=MESSAGES, response_format=Person, tools=[loose]
        )
    assert info.value.field == "tools[0]"
    assert server.requests == []


async def test_agent_output_type(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("lookup_order", {"order_id": "o1", "verbose": None})),
        text(ORDER_JSON),
    )
    agent = Agent(client, model="m", tools=[lookup_order], output_type=Order)
    result = await agent.run("Get order o1")
    order: Order = result.output
    assert order.id == "o1" and order.priority == 3
    assert all(r.json["response_format"]["json_schema"]["name"] == "Order" for r in server.requests)


async def test_agent_sends_an_invalid_answer_back_to_be_fixed(serve: Serve) -> None:
    server, client = await serve(text('{"name": "Ada"}'), text('{"name": "Ada", "age": 36}'))
    result = await Agent(client, model="m", output_type=Person).run("Who?")
    assert result.output == Person("Ada", 36)
    assert result.turns == 2
    fix = server.requests[1].messages[-1]
    assert fix["role"] == "user" and "missing required field `age`" in fix["content"]
    assert server.requests[1].messages[-2] == {"role": "assistant", "content": '{"name": "Ada"}'}


async def test_agent_output_retries_are_bounded(serve: Serve) -> None:
    _, client = await serve(text("nope"), text("still no"), text("never asked"))
    with pytest.raises(OutputValidationError) as info:
        await Agent(client, model="m", output_type=Person, output_retries=1).run("Who?")
    assert [type(m) for m in info.value.messages][-3:] == [
        type(info.value.messages[1]),
        UserMessage,
        type(info.value.messages[1]),
    ]
    assert info.value.usage is not None and info.value.usage.total_tokens > 0

    _, client = await serve(text("nope"))
    with pytest.raises(OutputValidationError):
        await Agent(client, model="m", output_type=Person, output_retries=0).run("Who?")


async def test_agent_refusal_with_output_type(serve: Serve) -> None:
    _, client = await serve(refusal("No."))
    with pytest.raises(RefusalError) as info:
        await Agent(client, model="m", output_type=Person).run("Who?")
    assert info.value.messages and info.value.usage is not None


def test_agent_output_options_are_checked() -> None:
    client = AsyncClient(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(InvalidRequestError, match="output_type"):
        Agent(client, model="m", output_type=dict[str, Any])
    with pytest.raises(InvalidRequestError, match="response_format"):
        Agent(client, model="m", output_type=Person, response_format={"type": "json_object"})
    with pytest.raises(InvalidRequestError, match="output_retries"):
        Agent(client, model="m", output_type=Person, output_retries=-1)


class Contact(pydantic.BaseModel):
    """A person to write to."""

    name: str = pydantic.Field(min_length=1)
    email: str
    tags: list[str] = []


async def test_a_pydantic_model_as_response_format_and_output_type(serve: Serve) -> None:
    server, client = await serve(
        text('{"name": "Ada", "email": "ada@example.com", "tags": null}'),
        text('{"name": "", "email": "x", "tags": []}'),
        text('{"name": "Ada", "email": "ada@example.com", "tags": ["math"]}'),
    )
    done = await client.chat.completions.parse(
        model="m", messages=MESSAGES, response_format=Contact
    )
    assert done.choices[0].message.parsed == Contact(name="Ada", email="ada@example.com")
    schema = server.requests[0].json["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["name"] == {"minLength": 1, "title": "Name", "type": "string"}
    assert schema["required"] == ["name", "email", "tags"]
    # The agent sends pydantic's reason back, and takes the fixed answer.
    result = await Agent(client, model="m", output_type=Contact).run("Who?")
    assert result.output == Contact(name="Ada", email="ada@example.com", tags=["math"])
    assert "at least 1 character" in server.requests[2].messages[-1]["content"]
