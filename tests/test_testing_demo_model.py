"""DemoModel: planning tool calls from text, answering from tool results, honouring options."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from asynctool.testing import NOTICE, DemoModel, ModelServer, RecordedRequest, Reply
from asynctool.testing._arguments import Filled, fill_arguments
from asynctool.testing._extract import find_candidates, stems

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
DELIVERY = {
    "type": "function",
    "function": {
        "name": "get_delivery_date",
        "description": "Get the delivery date for a customer's order. Call this whenever you "
        "need to know the delivery date, for example when a customer asks 'Where is my package'",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "The customer's order ID."}
            },
            "required": ["order_id"],
            "additionalProperties": False,
        },
    },
}
TICKETS = {
    "type": "function",
    "function": {
        "name": "book_tickets",
        "description": "Book train tickets to a destination",
        "parameters": {
            "type": "object",
            "properties": {
                "destination": {"type": "string"},
                "count": {"type": "integer", "description": "How many tickets"},
                "fare": {"type": ["string", "null"], "enum": ["first", "second"]},
                "seat": {"type": "string", "default": "window"},
                "price_limit": {"anyOf": [{"type": "null"}, {"type": "number"}]},
            },
            "required": ["destination", "count", "seat"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "searchDocs",
        "description": "Search the documentation",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["api", "guide"]}},
            },
            "required": ["query"],
        },
    },
}
TOOLS = [WEATHER, DELIVERY, TICKETS, SEARCH]


def request(text: str | None, tools: list[Any] = TOOLS, **body: Any) -> RecordedRequest:
    messages = [{"role": "user", "content": text}] if text is not None else []
    payload = {"model": "demo", "messages": body.pop("messages", messages), "tools": tools, **body}
    headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    return RecordedRequest("POST", "/v1/chat/completions", headers, payload, b"", "req_1")


def plan(text: str, tools: list[Any] = TOOLS, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    reply = DemoModel().respond(request(text, tools, **body))
    return [(c.name, json.loads(c.arguments)) for c in reply.tool_calls]


def answer(text: str | None, tools: list[Any] = TOOLS, **body: Any) -> Reply:
    reply = DemoModel().respond(request(text, tools, **body))
    assert reply.tool_calls == ()
    return reply


@pytest.mark.parametrize(
    ("prompt", "calls"),
    [
        ("What's the weather in Boston?", [("get_weather", {"location": "Boston"})]),
        ("Boston weather please", [("get_weather", {"location": "Boston"})]),
        ("Is it raining in Paris, France today?", [("get_weather", {"location": "Paris, France"})]),
        ("When will order_12345 arrive?", [("get_delivery_date", {"order_id": "order_12345"})]),
        ("i think it is order_12345", [("get_delivery_date", {"order_id": "order_12345"})]),
        ("Where is my package #98765?", [("get_delivery_date", {"order_id": "98765"})]),
        (
            "How warm is San Francisco, CA in fahrenheit? And when will order_12345 arrive?",
            [
                ("get_weather", {"location": "San Francisco, CA", "unit": "fahrenheit"}),
                ("get_delivery_date", {"order_id": "order_12345"}),
            ],
        ),
        (
            "When does ORD-77 ship, and what is the weather forecast for Boston?",
            [
                ("get_delivery_date", {"order_id": "ORD-77"}),
                ("get_weather", {"location": "Boston"}),
            ],
        ),
        (
            "Compare the weather in Boston and New York",
            [("get_weather", {"location": "Boston"}), ("get_weather", {"location": "New York"})],
        ),
        (
            "Book 3 first class tickets to Rio de Janeiro under 120.50",
            [("book_tickets", {"destination": "Rio de Janeiro", "count": 3, "fare": "first",
                               "seat": "window", "price_limit": 120.5})],
        ),
        ('Search the docs for "rate limits"', [("searchDocs", {"query": "rate limits"})]),
        (
            "Search the API docs for retries",
            [("searchDocs", {"query": "Search the API docs for retries", "tags": ["api"]})],
        ),
    ],
)  # fmt: skip
def test_plans_calls_from_the_text(prompt: str, calls: list[Any]) -> None:
    assert plan(prompt) == calls


@pytest.mark.parametrize("prompt", ["Tell me a joke", "Hello there!", ""])
def test_no_matching_tool_answers_plainly(prompt: str) -> None:
    reply = answer(prompt)
    assert reply.content is not None
    assert "None of the tools I have (get_weather, get_delivery_date" in reply.content
    assert reply.content.endswith(NOTICE)
    assert "not an LLM" in NOTICE


def test_no_tools_or_tool_choice_none_answer_plainly() -> None:
    assert "No tools were offered" in str(answer("What's the weather in Boston?", []).content)
    off = answer("What's the weather in Boston?", tool_choice="none")
    assert 'tool_choice is "none"' in str(off.content)
    assert "What's the weather in Boston?" in str(off.content)


def test_no_user_message_is_answered() -> None:
    reply = answer(None, messages=[{"role": "system", "content": "Be brief."}])
    assert str(reply.content).endswith(NOTICE)


def test_missing_required_argument_asks_for_it() -> None:
    reply = answer("What's the weather?")
    assert str(reply.content).startswith("To call get_weather I need the location.")


def test_required_tool_choice_calls_the_best_tool_with_placeholders() -> None:
    assert plan("What's the weather?", tool_choice="required") == [
        ("get_weather", {"location": ""})
    ]
    assert plan("Tell me a joke", [TICKETS], tool_choice="required") == [
        ("book_tickets", {"destination": "", "count": 0, "seat": "window"})
    ]


def test_forced_function_wins_over_the_match() -> None:
    forced = {"type": "function", "function": {"name": "get_delivery_date"}}
    assert plan("What's the weather in Boston? Order AB123.", tool_choice=forced) == [
        ("get_delivery_date", {"order_id": "AB123"})
    ]


def test_parallel_tool_calls_false_keeps_the_best_call() -> None:
    prompt = "What's the weather in Boston and Paris, and when will order_12345 arrive?"
    assert len(plan(prompt)) == 3
    assert plan(prompt, parallel_tool_calls=False) == [
        ("get_delivery_date", {"order_id": "order_12345"})
    ]


def test_answers_are_remembered_by_body() -> None:
    model = DemoModel()
    bodies = [json.dumps({"model": "demo", "messages": [{"role": "user", "content": f"hi {i}"}]})
              for i in range(300)]  # fmt: skip
    requests = [RecordedRequest("POST", "/", CIMultiDictProxy(CIMultiDict()), json.loads(b),
                                b.encode(), "r") for b in bodies]  # fmt: skip
    first = model.respond(requests[0])
    assert model.respond(requests[0]) is first
    for r in requests:
        model.respond(r)
    again = model.respond(requests[0])
    assert again == first and again is not first  # evicted, then planned again


def test_max_calls_bounds_a_turn() -> None:
    reply = DemoModel(max_calls=2).respond(request("Weather in Oslo, Rome, Lima and Quito?"))
    assert len(reply.tool_calls) == 2


def test_deterministic_including_call_ids() -> None:
    model = DemoModel()
    first = model.respond(request("What's the weather in Boston and Paris?"))
    again = model.respond(request("What's the weather in Boston and Paris?"))
    assert first == again
    ids = [c.id for c in first.tool_calls]
    assert len(set(ids)) == 2 and all(str(i).startswith("call_") for i in ids)
    assert "DemoModel(threshold=3, max_calls=8)" == repr(model)


def transcript_with_results() -> list[dict[str, Any]]:
    calls = [
        {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"location": "Boston"}'}},
        {"id": "c2", "type": "function",
         "function": {"name": "get_delivery_date", "arguments": '{"order_id": "order_12345"}'}},
        {"id": "c3", "type": "function", "function": {"name": "broken", "arguments": "{oops"}},
    ]  # fmt: skip
    return [
        {"role": "user", "content": "Weather in Boston? And order_12345?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny, 22 °C"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "2024-06-01"}]},
        {"role": "tool", "tool_call_id": "c3", "content": "x" * 400},
        {"role": "tool", "tool_call_id": "unknown", "content": "orphan"},
    ]


def test_final_answer_quotes_tool_results() -> None:
    reply = answer(None, messages=transcript_with_results())
    content = str(reply.content)
    assert 'get_weather(location="Boston") returned "Sunny, 22 °C"' in content
    assert 'get_delivery_date(order_id="order_12345") returned "2024-06-01"' in content
    assert 'broken({oops) returned "' + "x" * 300 + '…"' in content
    assert 'a tool returned "orphan"' in content
    assert content.endswith(NOTICE)
    assert reply.finish_reason is None  # the server says "stop"


def test_forced_choice_calls_again_after_results() -> None:
    reply = DemoModel().respond(request(None, messages=transcript_with_results(),
                                        tool_choice="required"))  # fmt: skip
    assert [c.name for c in reply.tool_calls] == ["get_weather", "get_delivery_date"]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_cuts_the_answer(field: str) -> None:
    reply = answer("Tell me a joke", **{field: 4})
    assert reply.content == "None of the tools"
    assert reply.finish_reason == "length"
    assert answer("Tell me a joke", max_tokens=10_000).finish_reason is None


async def test_through_the_server_stream_and_n() -> None:
    body = {
        "model": "demo",
        "messages": [{"role": "user", "content": "What's the weather in Boston?"}],
        "tools": [WEATHER],
        "stream": True,
        "n": 2,
    }
    async with ModelServer() as server, aiohttp.ClientSession() as session:
        async with session.post(f"{server.base_url}/chat/completions", json=body) as resp:
            raw = await resp.read()
    chunks = [json.loads(e[6:]) for e in raw.decode().split("\n\n")[:-2]]
    for index in (0, 1):
        fragments = [
            tc
            for c in chunks
            if c["choices"][0]["index"] == index
            for tc in c["choices"][0]["delta"].get("tool_calls", ())
        ]
        assert fragments[0]["function"]["name"] == "get_weather"
        arguments = "".join(f["function"]["arguments"] for f in fragments)
        assert json.loads(arguments) == {"location": "Boston"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stems_and_candidates() -> None:
    assert stems("getDeliveryDate for the orders shipping") == (
        "deliver",
        "date",
        "order",
        "deliver",
    )
    # a stem keeps four letters, so these stay apart
    assert stems("local location") == ("local", "location")


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("What's the weather in Paris, London and Tokyo?", ["Paris", "London", "Tokyo"]),
        ("Is it raining in Paris, France today?", ["Paris, France"]),
        ("Weather in Paris, New York and Tokyo", ["Paris", "New York", "Tokyo"]),
        ("Flights to San Francisco, CA", ["San Francisco, CA"]),
    ],
)
def test_a_list_of_places_is_not_one_place(text: str, places: list[str]) -> None:
    assert find_candidates(text, known=frozenset({"weather", "flights"})).places == places
    found = find_candidates(
        "Email ann@example.com about https://x.io/a?b=1 by 2024-06-01 or next Friday; "
        "ticket #4411, 'quoted words' and “curly”, -3 degrees, 2.5 km in New York, NY.",
        known=frozenset({"email"}),
    )
    assert found.emails == ["ann@example.com"]
    assert found.urls == ["https://x.io/a?b=1"]
    assert found.dates == ["2024-06-01", "next Friday"]
    assert found.ids == ["4411"]
    assert found.quoted == ["quoted words", "curly"]
    assert found.numbers == ["-3", "2.5"]
    assert found.places == ["New York, NY"]
    assert find_candidates("Email Boston").places == ["Email Boston"]


def test_fill_arguments_by_schema_shape() -> None:
    parameters = {
        "type": "object",
        "properties": {
            "note": {"type": ["null", "string"], "description": "Where it happens"},
            "cities": {"type": "array", "items": {"type": "string"}, "description": "city list"},
            "labels": {"type": "array", "items": {"type": "integer"}},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "extra": {"type": "object"},
            "tags": {"type": "array"},
            "flag": {"type": "boolean"},
            "odd": "not a schema",
        },
        "required": ["mode", "extra", "tags", "flag", "odd", "absent"],
    }
    found = find_candidates('Trips to Oslo and Lima, "a label"', known=frozenset({"trips"}))
    filled = fill_arguments(parameters, found, placeholders=True)
    assert filled.arguments == {
        "note": "Oslo",
        "cities": ["Oslo", "Lima"],
        "labels": ["a label"],
        "mode": "fast",
        "extra": {},
        "tags": ["a label"],
        "flag": False,
        "odd": "a label",
    }
    assert filled.missing == ["mode", "extra", "flag"]
    assert fill_arguments(None, found, placeholders=True) == Filled()
    assert fill_arguments({"properties": []}, found, placeholders=False) == Filled()


def test_ids_fall_back_to_long_numbers_and_then_quotes() -> None:
    schema = {"properties": {"ticket_id": {"type": "string"}}, "required": ["ticket_id"]}
    by_number = fill_arguments(schema, find_candidates("ticket 12 or 4567"), placeholders=False)
    assert by_number.arguments == {"ticket_id": "4567"}
    quoted = fill_arguments(schema, find_candidates("ticket 'abc'"), placeholders=False)
    assert quoted.arguments == {"ticket_id": "abc"}


def test_demo_model_answers_a_json_schema_from_the_text() -> None:
    schema = {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "city": {"type": "string"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "count": {"type": "integer"},
        },
        "required": ["order_id", "city", "note", "count"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    reply = DemoModel().respond(
        request("Please send order_777 to Boston", [], response_format=response_format)
    )
    assert isinstance(reply, Reply) and reply.content is not None
    answer = json.loads(reply.content)
    assert answer["order_id"] == "order_777" and answer["city"] == "Boston"
    assert answer["note"] is None and isinstance(answer["count"], int)
