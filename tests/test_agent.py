"""The agent loop end to end, against the embedded server playing a scripted model.

Assertions are on what the server received as much as on the result: the transcript a
provider would see is the product.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

import anyio
import msgspec
import pytest

from asynctool import (
    Agent,
    AssistantMessage,
    AsyncClient,
    Deny,
    FinishReasonError,
    MaxTurnsExceeded,
    Message,
    RateLimitError,
    Rewrite,
    RunCompleted,
    TextDelta,
    ToolCall,
    ToolCallReady,
    ToolCallStarted,
    ToolCallsTruncatedError,
    ToolContext,
    ToolErrorLimitExceeded,
    ToolMessage,
    ToolRegistry,
    ToolResult,
    TurnCompleted,
    UserMessage,
    tool,
)
from asynctool._exceptions import InvalidRequestError
from asynctool.testing import Usage, call, stall, status, text, tool_calls
from tests.conftest import Serve, connections_in_use


@tool
async def get_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city, e.g. Boston.
        unit: Temperature unit.
    """
    return f"Sunny, 22 degrees {unit} in {location}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def fail(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"database is down ({reason})")


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["role"] for m in messages]


async def test_single_tool_call_round_trip(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("get_weather", {"location": "Boston"}, id="call_w")),
        text("It is sunny in Boston."),
    )
    agent = Agent(client, model="gpt-4o", tools=[get_weather], instructions="Be brief.")
    result = await agent.run("What is the weather in Boston?")

    assert result.output == "It is sunny in Boston."
    assert result.turns == 2
    first, second = server.requests
    assert roles(first.messages) == ["system", "user"]
    assert first.json["tools"] == [get_weather.definition]
    assert roles(second.messages) == ["system", "user", "assistant", "tool"]
    assistant, tool_message = second.messages[2], second.messages[3]
    assert assistant["tool_calls"][0]["id"] == "call_w"
    assert assistant["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"location":"Boston"}',
    }
    assert tool_message == {
        "role": "tool",
        "tool_call_id": "call_w",
        "content": "Sunny, 22 degrees celsius in Boston",
    }
    assert [type(m).__name__ for m in result.messages] == [
        "SystemMessage",
        "UserMessage",
        "AssistantMessage",
        "ToolMessage",
        "AssistantMessage",
    ]


async def test_usage_is_summed_over_every_request(serve: Serve) -> None:
    _, client = await serve(
        tool_calls(
            call("add", {"a": 1, "b": 2}),
            usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        ),
        text("3", usage=Usage(prompt_tokens=20, completion_tokens=1, total_tokens=21)),
    )
    result = await Agent(client, model="m", tools=[add]).run("1+2?")
    assert (
        result.usage.prompt_tokens,
        result.usage.completion_tokens,
        result.usage.total_tokens,
    ) == (30, 6, 36)
    assert result.completion.usage is not None and result.completion.usage.total_tokens == 21


async def test_calls_of_one_turn_run_concurrently_and_answer_in_call_order(serve: Serve) -> None:
    started: list[str] = []
    everyone_started = anyio.Event()

    @tool
    async def slow(name: str, delay: float) -> str:
        """Sleep, then echo."""
        started.append(name)
        if len(started) == 4:
            everyone_started.set()
        with anyio.fail_after(2):  # only succeeds if all four run at once
            await everyone_started.wait()
        await asyncio.sleep(delay)
        return name

    delays = {"a": 0.2, "b": 0.05, "c": 0.15, "d": 0.0}
    server, client = await serve(
        tool_calls(
            *(call("slow", {"name": n, "delay": d}, id=f"call_{n}") for n, d in delays.items())
        ),
        text("done"),
    )
    begun = time.perf_counter()
    result = await Agent(client, model="m", tools=[slow]).run("go")
    elapsed = time.perf_counter() - begun

    assert sorted(started) == ["a", "b", "c", "d"]
    tool_messages = [m for m in server.requests[1].messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_a", "call_b", "call_c", "call_d"]
    assert [m["content"] for m in tool_messages] == ["a", "b", "c", "d"]
    assert elapsed < sum(delays.values()) + 0.3  # together, not one after another
    assert result.output == "done"


async def test_max_concurrency_bounds_running_tools(serve: Serve) -> None:
    running = 0
    peak = 0

    @tool
    async def busy(n: int) -> int:
        """Be busy."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return n

    _, client = await serve(tool_calls(*(call("busy", {"n": i}) for i in range(6))), text("ok"))
    await Agent(client, model="m", tools=[busy], max_concurrency=2).run("go")
    assert peak == 2


async def test_a_sequential_tool_runs_alone(serve: Serve) -> None:
    log: list[str] = []

    @tool(sequential=True)
    async def write(path: str) -> str:
        """Write a file."""
        log.append(f"start {path}")
        await asyncio.sleep(0.02)
        log.append(f"end {path}")
        return "written"

    @tool
    async def read(path: str) -> str:
        """Read a file."""
        log.append(f"read {path}")
        return "contents"

    server, client = await serve(
        tool_calls(
            call("write", {"path": "a"}), call("read", {"path": "x"}), call("write", {"path": "b"})
        ),
        text("ok"),
    )
    await Agent(client, model="m", tools=[write, read]).run("go")
    assert log == ["read x", "start a", "end a", "start b", "end b"]
    contents = [m["content"] for m in server.requests[1].messages if m["role"] == "tool"]
    assert contents == ["written", "contents", "written"]  # still in call order


async def test_chain_of_dependent_turns(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("add", {"a": 2, "b": 3})),
        tool_calls(call("add", {"a": 5, "b": 10})),
        text("The answer is 15."),
    )
    result = await Agent(client, model="m", tools=[add]).run("(2+3)+10?")
    assert result.turns == 3
    assert [m["content"] for m in server.requests[2].messages if m["role"] == "tool"] == ["5", "15"]


async def test_invalid_arguments_are_fed_back_then_corrected(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("add", {"a": "two", "b": 3}, id="bad")),
        tool_calls(call("add", {"a": 2, "b": 3}, id="good")),
        text("5"),
    )
    result = await Agent(client, model="m", tools=[add]).run("2+3")
    feedback = server.requests[1].messages[-1]
    assert feedback["role"] == "tool" and feedback["tool_call_id"] == "bad"
    assert 'argument `a`: expected `int`, got "two"' in feedback["content"]
    assert "int" in feedback["content"] and "again" in feedback["content"]
    assert server.requests[2].messages[-1]["content"] == "5"
    assert result.output == "5"


async def test_unknown_tool_raising_tool_and_timeout_become_tool_messages(serve: Serve) -> None:
    @tool(timeout=0.05)
    async def sleepy() -> str:
        """Sleep too long."""
        await asyncio.sleep(5)
        return "never"

    server, client = await serve(
        tool_calls(
            call("nope", {}, id="c1"),
            call("fail", {"reason": "r"}, id="c2"),
            call("sleepy", {}, id="c3"),
        ),
        text("sorry"),
    )
    agent = Agent(client, model="m", tools=[fail, sleepy, add], max_tool_errors=5)
    async with agent.run_stream("go") as events:
        results = [e async for e in events if isinstance(e, ToolResult)]
    contents = {
        m["tool_call_id"]: m["content"] for m in server.requests[1].messages if m["role"] == "tool"
    }
    assert "no tool named 'nope'" in contents["c1"] and "add" in contents["c1"]
    assert "RuntimeError: database is down (r)" in contents["c2"]
    assert "did not finish within 0.05s" in contents["c3"]
    assert [r.is_error for r in results] == [True, True, True]


async def test_tool_timeout_applies_to_every_tool(serve: Serve) -> None:
    @tool
    async def sleepy() -> str:
        """Sleep too long."""
        await asyncio.sleep(5)
        return "never"

    server, client = await serve(tool_calls(call("sleepy", {})), text("ok"))
    await Agent(client, model="m", tools=[sleepy], tool_timeout=0.05).run("go")
    assert "within 0.05s" in server.requests[1].messages[-1]["content"]


async def test_consecutive_tool_errors_end_the_run_with_an_intact_transcript(serve: Serve) -> None:
    failing = tool_calls(call("fail", {"reason": "x"}))
    _, client = await serve(failing, failing, failing, text("never"))
    with pytest.raises(ToolErrorLimitExceeded, match="3 tool calls in a row") as info:
        await Agent(client, model="m", tools=[fail]).run("go")
    messages = info.value.messages
    assert isinstance(messages[-1], ToolMessage)
    assert len([m for m in messages if isinstance(m, ToolMessage)]) == 3
    assert info.value.usage is not None and info.value.usage.total_tokens > 0


async def test_error_handler_may_reword_or_end_the_run(serve: Serve) -> None:
    server, client = await serve(tool_calls(call("fail", {"reason": "x"})), text("ok"))

    def reword(call: ToolCall, error: Exception) -> str:
        return f"{call.function.name} is unavailable"

    await Agent(client, model="m", tools=[fail], tool_error_handler=reword).run("go")
    assert server.requests[1].messages[-1]["content"] == "fail is unavailable"

    _, client2 = await serve(tool_calls(call("fail", {"reason": "x"}, id="c")), text("ok"))

    def reraise(call: ToolCall, error: Exception) -> str:
        raise error

    agent = Agent(client2, model="m", tools=[fail], tool_error_handler=reraise)
    stream = agent.run_stream("go")
    with pytest.raises(RuntimeError, match="database is down"):
        async with stream:
            async for _ in stream:
                pass
    assert isinstance(stream.messages[-1], ToolMessage)  # answered even so
    assert stream.messages[-1].tool_call_id == "c"


async def test_max_turns_raises_with_the_transcript(serve: Serve) -> None:
    looping = tool_calls(call("add", {"a": 1, "b": 1}))
    server, client = await serve(looping, looping, looping)
    with pytest.raises(MaxTurnsExceeded, match="max_turns=2") as info:
        await Agent(client, model="m", tools=[add], max_turns=2).run("go")
    assert len(server.requests) == 2
    sent_back = msgspec.json.decode(msgspec.json.encode(info.value.messages), type=list[Message])
    assert isinstance(sent_back[-1], ToolMessage)


async def test_forced_tool_choice_applies_to_the_first_request_only(serve: Serve) -> None:
    forced = {"type": "function", "function": {"name": "add"}}
    server, client = await serve(tool_calls(call("add", {"a": 1, "b": 2})), text("3"))
    await Agent(client, model="m", tools=[add], tool_choice=forced).run("go")
    assert [r.json["tool_choice"] for r in server.requests] == [forced, "auto"]

    server, client = await serve(tool_calls(call("add", {"a": 1, "b": 2})), text("3"))
    await Agent(
        client, model="m", tools=[add], tool_choice="required", reset_tool_choice=False
    ).run("go")
    assert [r.json["tool_choice"] for r in server.requests] == ["required", "required"]


async def test_tool_calls_decide_not_finish_reason(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(
            call("add", {"a": 1, "b": 2}), finish_reason="stop"
        ),  # calls with "stop": run them
        text("3", finish_reason="tool_calls"),  # "tool_calls" with none: the answer
    )
    result = await Agent(client, model="m", tools=[add]).run("1+2")
    assert result.output == "3"
    assert server.requests[1].messages[-1]["content"] == "3"


async def test_length_on_the_final_answer(serve: Serve) -> None:
    _, client = await serve(text("The answer is cut", finish_reason="length"))
    with pytest.raises(FinishReasonError, match="length") as info:
        await Agent(client, model="m").run("go")
    assert info.value.finish_reason == "length"
    assert info.value.completion is not None
    assert info.value.completion.choices[0].message.content == "The answer is cut"

    _, client = await serve(text("The answer is cut", finish_reason="length"))
    result = await Agent(client, model="m", accept_finish_reasons={"length"}).run("go")
    assert result.output == "The answer is cut"


async def test_content_filter_is_an_error_too(serve: Serve) -> None:
    _, client = await serve(text("", finish_reason="content_filter"))
    with pytest.raises(FinishReasonError, match="content_filter"):
        await Agent(client, model="m").run("go")


async def test_length_with_unfinished_arguments_never_calls_the_tool(serve: Serve) -> None:
    calls: list[int] = []

    @tool
    async def record(n: int) -> int:
        """Record."""
        calls.append(n)
        return n

    _, client = await serve(tool_calls(call("record", '{"n": 1'), finish_reason="length"))
    with pytest.raises(ToolCallsTruncatedError, match="max_tokens") as info:
        await Agent(client, model="m", tools=[record]).run("go")
    assert calls == []
    assert [type(m) for m in info.value.messages] == [UserMessage]


async def test_streaming_gives_the_same_transcript_and_typed_events(serve: Serve) -> None:
    steps = (
        tool_calls(
            call("get_weather", {"location": "Paris"}, id="w"),
            call("add", {"a": 1, "b": 2}, id="a"),
        ),
        text("Sunny in Paris, and 3."),
    )
    server, client = await serve(*steps, *steps)
    agent = Agent(client, model="m", tools=[get_weather, add])
    plain = await agent.run("Weather in Paris, and 1+2?")
    async with agent.run_stream("Weather in Paris, and 1+2?") as events:
        seen = [event async for event in events]
    assert events.result is not None
    assert events.result.messages == plain.messages
    assert events.result.output == plain.output

    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("ToolCallStarted") < kinds.index("ToolCallReady") < kinds.index("ToolResult")
    assert kinds[-1] == "RunCompleted"
    started = [e for e in seen if isinstance(e, ToolCallStarted)]
    assert [(e.id, e.name) for e in started] == [("w", "get_weather"), ("a", "add")]
    ready = [e.call.id for e in seen if isinstance(e, ToolCallReady)]
    assert ready == ["w", "a"]
    results = [e for e in seen if isinstance(e, ToolResult)]
    assert [r.content for r in results] == ["Sunny, 22 degrees celsius in Paris", "3"]
    assert all(r.duration >= 0 and not r.is_error for r in results)
    assert results[1].value == 3
    text_out = "".join(e.text for e in seen if isinstance(e, TextDelta))
    assert text_out == "Sunny in Paris, and 3."
    turns = [e for e in seen if isinstance(e, TurnCompleted)]
    assert [t.turn for t in turns] == [1, 2]
    assert all(t.usage.total_tokens > 0 for t in turns)
    assert [r.json.get("stream") for r in server.requests] == [None, None, True, True]
    assert server.requests[2].json["stream_options"] == {"include_usage": True}
    assert isinstance(seen[-1], RunCompleted)


async def test_leaving_run_stream_early_cancels_tools_and_answers_every_call(serve: Serve) -> None:
    cancelled = anyio.Event()

    @tool
    async def forever() -> str:
        """Never ends."""
        try:
            await asyncio.sleep(60)
        finally:
            cancelled.set()
        return "never"

    _, client = await serve(
        tool_calls(call("forever", {}, id="f1"), call("add", {"a": 1, "b": 1}, id="f2"))
    )
    agent = Agent(client, model="m", tools=[forever, add])
    stream = agent.run_stream("go")

    async def consume() -> None:
        async with stream:
            async for _ in stream:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
    messages = stream.messages
    assert isinstance(messages[-2], ToolMessage) and isinstance(messages[-1], ToolMessage)
    assert [m.tool_call_id for m in messages[-2:]] == ["f1", "f2"]  # type: ignore[union-attr]
    assert "cancelled" in messages[-2].content  # type: ignore[union-attr,operator]
    assert connections_in_use(client) == 0
    ours = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert [t for t in ours if "RequestHandler" not in repr(t)] == []  # only the server's remain


async def test_breaking_out_of_a_stream_closes_the_response(serve: Serve) -> None:
    # The server stops writing after two events and waits for the client to leave: the
    # response is still open when the loop breaks, so only closing it frees the connection.
    _, client = await serve(stall(after=2, reply=text("word " * 200, chunk_size=5)))
    agent = Agent(client, model="m")
    async with agent.run_stream("go") as events:
        async for event in events:
            if isinstance(event, TextDelta):
                assert connections_in_use(client) == 1  # the response is open here
                break
    assert connections_in_use(client) == 0


async def test_transport_errors_raise_with_the_transcript(serve: Serve) -> None:
    _, client = await serve(tool_calls(call("add", {"a": 1, "b": 2})), status(429), status(429))
    with pytest.raises(RateLimitError) as info:
        await Agent(client, model="m", tools=[add]).run("go")
    assert [type(m).__name__ for m in info.value.messages] == [
        "UserMessage",
        "AssistantMessage",
        "ToolMessage",
    ]


async def test_before_tool_call_may_deny_or_rewrite(serve: Serve) -> None:
    seen: list[tuple[str, int]] = []

    async def approve(call: ToolCall, context: ToolContext[Any]) -> Deny | Rewrite | None:
        seen.append((call.function.name, context.turn))
        if call.id == "deny":
            return Deny("The user said no.")
        if call.id == "rewrite":
            return Rewrite({"a": 100, "b": 1})
        return None

    server, client = await serve(
        tool_calls(
            call("add", {"a": 1, "b": 1}, id="deny"),
            call("add", {"a": 1, "b": 1}, id="rewrite"),
            call("add", {"a": 1, "b": 1}, id="ok"),
        ),
        text("done"),
    )
    await Agent(client, model="m", tools=[add], before_tool_call=approve).run("go")
    contents = [m["content"] for m in server.requests[1].messages if m["role"] == "tool"]
    assert contents == ["The user said no.", "101", "2"]
    assert seen == [("add", 1)] * 3
    # the model's own call is kept verbatim in the transcript
    assert (
        server.requests[1].messages[1]["tool_calls"][1]["function"]["arguments"] == '{"a":1,"b":1}'
    )


async def test_after_response_sees_every_completion(serve: Serve) -> None:
    _, client = await serve(tool_calls(call("add", {"a": 1, "b": 1})), text("2"))
    seen: list[str | None] = []

    async def after(completion: Any) -> None:
        seen.append(completion.choices[0].finish_reason)

    await Agent(client, model="m", tools=[add], after_response=after).run("go")
    assert seen == ["tool_calls", "stop"]


async def test_context_reaches_tools_with_deps(serve: Serve) -> None:
    @tool
    def whoami(context: ToolContext[dict[str, str]], greeting: str) -> str:
        """Say who the user is."""
        return (
            f"{greeting}, {context.deps['user']} (call {context.tool_call_id}, turn {context.turn})"
        )

    assert "context" not in whoami.definition["function"]["parameters"]["properties"]
    server, client = await serve(
        tool_calls(call("whoami", {"greeting": "Hi"}, id="c9")), text("ok")
    )
    await Agent(client, model="m", tools=[whoami]).run("who am I?", deps={"user": "ada"})
    assert server.requests[1].messages[-1]["content"] == "Hi, ada (call c9, turn 1)"


async def test_tool_results_are_serialised_and_capped(serve: Serve) -> None:
    @tool
    async def data() -> dict[str, Any]:
        """Structured data."""
        return {"items": [1, 2], "ok": True, "none": None}

    @tool
    async def big() -> str:
        """A lot of text."""
        return "x" * 500

    @tool
    async def odd() -> object:
        """Something JSON cannot say."""
        return complex(1, 2)

    server, client = await serve(
        tool_calls(call("data", {}), call("big", {}), call("odd", {})), text("ok")
    )
    await Agent(client, model="m", tools=[data, big, odd], max_result_chars=100).run("go")
    contents = [m["content"] for m in server.requests[1].messages if m["role"] == "tool"]
    assert msgspec.json.decode(contents[0]) == {"items": [1, 2], "ok": True, "none": None}
    assert contents[1].startswith("x" * 100) and "400 more characters" in contents[1]
    assert contents[2] == "(1+2j)"


async def test_continue_a_saved_conversation(serve: Serve) -> None:
    server, client = await serve(text("Hello Ada."), text("You are Ada."))
    agent = Agent(client, model="m", instructions="Be brief.")
    first = await agent.run("I am Ada.")
    saved = msgspec.json.encode(first.messages)
    restored = msgspec.json.decode(saved, type=list[Message])
    second = await agent.run([*restored, {"role": "user", "content": "Who am I?"}])
    assert second.output == "You are Ada."
    assert roles(server.requests[1].messages) == [
        "system",
        "user",
        "assistant",
        "user",
    ]  # no second system


async def test_missing_tool_call_ids_are_made_up_consistently(serve: Serve) -> None:
    server, client = await serve(tool_calls(call("add", {"a": 1, "b": 1}, id="")), text("2"))
    await Agent(client, model="m", tools=[add]).run("go")
    assistant, tool_message = server.requests[1].messages[-2:]
    assert assistant["tool_calls"][0]["id"] == tool_message["tool_call_id"] != ""


async def test_registry_and_plain_functions_are_accepted(serve: Serve) -> None:
    registry = ToolRegistry([add])

    def shout(words: str) -> str:
        """Shout."""
        return words.upper()

    registry.add(shout)
    server, client = await serve(tool_calls(call("shout", {"words": "hi"})), text("HI"))
    await Agent(client, model="m", tools=registry).run("go")
    assert {t["function"]["name"] for t in server.requests[0].json["tools"]} == {"add", "shout"}
    assert server.requests[1].messages[-1]["content"] == "HI"


async def test_no_tools_means_no_tools_field(serve: Serve) -> None:
    server, client = await serve(text("hi"))
    await Agent(client, model="m", tool_choice="auto", temperature=0.1).run(
        [UserMessage(content="hi")]
    )
    assert "tools" not in server.requests[0].json and "tool_choice" not in server.requests[0].json
    assert server.requests[0].json["temperature"] == 0.1


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_turns": 0}, "max_turns"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"n": 2}, "n"),
        ({"stream": True}, "stream"),
        ({"temperature": 5}, "temperature"),
        ({"tool_choice": {"type": "function", "function": {"name": "missing"}}}, "tool_choice"),
    ],
)
def test_bad_agent_options_fail_at_construction(options: dict[str, Any], field: str) -> None:
    client = AsyncClient(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(InvalidRequestError) as info:
        Agent(client, model="m", tools=[add], **options)
    assert info.value.field == field


async def test_logs_name_tools_but_never_contents(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asynctool")
    _, client = await serve(
        tool_calls(call("get_weather", {"location": "Secret City"})), text("classified answer")
    )
    await Agent(client, model="m", tools=[get_weather]).run("top secret question")
    assert "get_weather" in caplog.text and "turn 1" in caplog.text
    for secret in ("Secret City", "classified answer", "top secret question", "sk-test"):
        assert secret not in caplog.text


async def test_assistant_message_with_calls_is_appended_verbatim(serve: Serve) -> None:
    raw_args = '{"location":   "Oslo" }'
    _, client = await serve(
        tool_calls(call("get_weather", raw_args, id="v1"), content="Let me check."), text("ok")
    )
    result = await Agent(client, model="m", tools=[get_weather]).run("Oslo?")
    assistant = result.messages[1]
    assert isinstance(assistant, AssistantMessage)
    assert assistant.content == "Let me check."
    assert assistant.tool_calls is not None
    assert assistant.tool_calls[0].function.arguments == raw_args
