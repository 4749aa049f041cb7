"""What `run_stream` shows while a turn is under way: results as calls finish, arguments and
reasoning as they stream.

Every test goes through a real socket on 127.0.0.1: the embedded `ModelServer` where a scripted
turn will do, its `stream()` turns writing exact chunks where a provider's shape is the point. Order
is asserted with events (a tool waits for what the test saw), never with timings.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

import anyio
import msgspec
import pytest

from asynctool import (
    Agent,
    AgentEvent,
    AssistantMessage,
    ReasoningDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
    tool,
)
from asynctool.testing import call, text, tool_calls
from tests.conftest import Serve, chunk, fragment, sse, stream

LIMIT = 5.0  # a test that waits for an event that never comes fails instead of hanging


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def serve(serve: Serve) -> Serve:
    """The streams of this file are read once: a failure is not retried."""
    return functools.partial(serve, max_retries=0)


async def run_streamed(agent: Agent[Any], prompt: str = "go") -> list[AgentEvent]:
    with anyio.fail_after(LIMIT):
        async with agent.run_stream(prompt) as events:
            return [event async for event in events]


# --------------------------------------------------------------- results in finishing order


async def test_a_fast_result_comes_before_a_slow_call_finishes(serve: Serve) -> None:
    fast_result_seen = anyio.Event()

    @tool
    async def slow() -> str:
        """Waits until the test has seen the other call's result."""
        await fast_result_seen.wait()
        return "slow done"

    @tool
    async def fast() -> str:
        """Answers at once."""
        return "fast done"

    turn = tool_calls(call("slow", id="s"), call("fast", id="f"))
    server, client = await serve(turn, text("both done"), turn, text("both done"))
    agent = Agent(client, model="m", tools=[slow, fast])
    seen: list[AgentEvent] = []
    with anyio.fail_after(LIMIT):  # had the results come together, `slow` would wait forever
        async with agent.run_stream("go") as events:
            async for event in events:
                seen.append(event)
                if isinstance(event, ToolResult) and event.call.id == "f":
                    fast_result_seen.set()
    assert [e.call.id for e in seen if isinstance(e, ToolResult)] == ["f", "s"]
    # The transcript keeps the order of the calls, and `run` builds the same one.
    assert [m["tool_call_id"] for m in server.requests[1].messages[-2:]] == ["s", "f"]
    assert events.result is not None
    assert [r.call.id for r in events.result.tool_results] == ["s", "f"]
    plain = await agent.run("go")  # `slow` goes through at once now
    assert plain.messages == events.result.messages
    assert server.requests[3].messages == server.requests[1].messages


# ------------------------------------------------------------------- argument fragments


def opening(index: int | None, id: str | None, name: str = "add") -> dict[str, Any]:
    fields: dict[str, Any] = {"type": "function", "name": name, "arguments": ""}
    if id is not None:
        fields["id"] = id
    return fragment(index, **fields)


SHAPES: dict[str, list[dict[str, Any]]] = {
    # OpenAI: an opening fragment per call, then argument text only; calls one after another.
    "openai": [
        opening(0, "a"),
        fragment(0, arguments='{"a": 1,'),
        fragment(0, arguments=' "b": 2}'),
        opening(1, "b"),
        fragment(1, arguments='{"a": 3, "b": 4}'),
    ],
    # Several parallel calls whose fragments interleave (index-keyed deltas allow it).
    "interleaved": [
        opening(0, "a"),
        opening(1, "b"),
        fragment(0, arguments='{"a": '),
        fragment(1, arguments='{"a": 10, '),
        opening(2, "c"),
        fragment(0, arguments="1, "),
        fragment(2, arguments='{"a": 5, "b": 6}'),
        fragment(1, arguments='"b": 20}'),
        fragment(0, arguments='"b": 2}'),
    ],
    # A later fragment that repeats `name` without an `id` continues its call (issue 17).
    "name-repeated": [
        fragment(0, id="a", type="function", name="add", arguments='{"a": 1,'),
        fragment(0, name="add", arguments=' "b": 2}'),
        fragment(1, id="b", type="function", name="add", arguments='{"a": 3,'),
        fragment(1, name="add", arguments=' "b": 4}'),
    ],
    # DashScope restates `"id": ""` and the type on every later fragment:
    # https://www.alibabacloud.com/help/en/model-studio/qwen-function-calling
    "empty-id": [
        fragment(0, id="a", type="function", name="add", arguments='{"a": 1,'),
        fragment(0, id="", type="function", arguments=' "b": 2}'),
    ],
    # Every call as index 0, told apart by its id (Ollama's parallel calls).
    "index-zero": [
        fragment(0, id="a", type="function", name="add", arguments='{"a": 1, "b": 2}'),
        fragment(0, id="b", type="function", name="add", arguments='{"a": 3, "b": 4}'),
    ],
    # No index at all: a new id starts a call, no id continues the last one.
    "no-index": [
        fragment(None, id="a", type="function", name="add", arguments='{"a": 1,'),
        fragment(None, arguments=' "b": 2}'),
        fragment(None, id="b", type="function", name="add", arguments='{"a": 3, "b": 4}'),
    ],
    # The id first, the name with the first argument text, arguments before a name.
    "name-late": [
        fragment(0, id="a", type="function"),
        fragment(0, name="add", arguments='{"a": 1, "b": 2}'),
        fragment(1, id="b", type="function", arguments='{"a": '),
        fragment(1, name="add", arguments='3, "b": 4}'),
    ],
    # No id ever: the loop makes one up, the same in every event and in the transcript.
    "no-id": [
        fragment(0, type="function", name="add", arguments='{"a": 1, "b": 2}'),
        fragment(1, type="function", name="add", arguments='{"a": 3,'),
        fragment(1, arguments=' "b": 4}'),
    ],
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_argument_deltas_concatenate_to_each_calls_arguments(
    serve: Serve, shape: str
) -> None:
    fragments = SHAPES[shape]
    server, client = await serve(
        stream(
            sse(
                chunk(role="assistant"),
                *(chunk(tool_calls=[f]) for f in fragments),
                chunk(finish_reason="tool_calls"),
            )
        ),
        stream(sse(chunk("done", role="assistant"), chunk(finish_reason="stop"))),
    )
    seen = await run_streamed(Agent(client, model="m", tools=[add]))

    [turn] = [e for e in seen if isinstance(e, TurnCompleted) and e.turn == 1]
    calls = turn.completion.choices[0].message.tool_calls or []
    sent = server.requests[1].body["messages"][
        -1 - len(calls)
    ]  # the assistant message, as sent back
    assert sent["role"] == "assistant"
    ids = [c["id"] for c in sent["tool_calls"]]
    deltas: dict[str, list[str]] = defaultdict(list)
    for event in seen:
        if isinstance(event, ToolCallArgumentsDelta):
            deltas[event.id].append(event.delta)
            assert event.name == "add" and event.turn == 1
    assert list(deltas) == ids  # each call's first delta comes in call order here
    for c in sent["tool_calls"]:
        assert "".join(deltas[c["id"]]) == c["function"]["arguments"]
    assert [c.function.arguments for c in calls] == [
        c["function"]["arguments"] for c in sent["tool_calls"]
    ]
    started = [e.id for e in seen if isinstance(e, ToolCallStarted)]
    assert started == ids
    # Each delta comes after its call started, and fragments keep the order they came in.
    kinds = [(type(e).__name__, getattr(e, "id", None)) for e in seen]
    for id in ids:
        assert kinds.index(("ToolCallStarted", id)) < kinds.index(("ToolCallArgumentsDelta", id))
    results = {e.call.id: e.content for e in seen if isinstance(e, ToolResult)}
    assert results == {
        c["id"]: str(sum(msgspec.json.decode(c["function"]["arguments"]).values()))
        for c in sent["tool_calls"]
    }


async def test_interleaved_deltas_arrive_in_the_order_they_were_sent(serve: Serve) -> None:
    fragments = SHAPES["interleaved"]
    _, client = await serve(
        stream(
            sse(
                chunk(role="assistant"),
                *(chunk(tool_calls=[f]) for f in fragments),
                chunk(finish_reason="tool_calls"),
            )
        ),
        stream(sse(chunk("done", role="assistant"), chunk(finish_reason="stop"))),
    )
    seen = await run_streamed(Agent(client, model="m", tools=[add]))
    pairs = [(e.id, e.delta) for e in seen if isinstance(e, ToolCallArgumentsDelta)]
    expected = [
        ({0: "a", 1: "b", 2: "c"}[f["index"]], f["function"]["arguments"])
        for f in fragments
        if f["function"].get("arguments")
    ]
    assert pairs == expected


# ----------------------------------------------------------------------------- reasoning


async def test_reasoning_content_streams_as_reasoning_deltas(serve: Serve) -> None:
    # DeepSeek (https://api-docs.deepseek.com/guides/thinking_mode), Moonshot
    # (https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model) and Qwen on
    # DashScope (https://www.alibabacloud.com/help/en/model-studio/deep-thinking) stream the
    # reasoning as `delta.reasoning_content`, before the content; the embedded server does too.
    thought = "The user greets me. I should greet them back."
    _, client = await serve(text("Hello there!", reasoning=thought))
    seen = await run_streamed(Agent(client, model="m"))
    reasoning = [e for e in seen if isinstance(e, ReasoningDelta)]
    assert len(reasoning) > 1 and all(e.turn == 1 for e in reasoning)
    assert "".join(e.text for e in reasoning) == thought
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("ReasoningDelta") < kinds.index("TextDelta")
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "Hello there!"
    assert seen[-1].result.completion.choices[0].message.reasoning_content == thought  # type: ignore[union-attr]


REASONING_SHAPES: dict[str, list[dict[str, Any]]] = {
    # OpenRouter: `reasoning` text (and typed `reasoning_details`), then `"reasoning": null` on
    # the content chunks: https://openrouter.ai/docs/use-cases/reasoning-tokens
    "openrouter": [
        chunk(
            role="assistant",
            reasoning="Weigh ",
            reasoning_details=[{"type": "reasoning.text", "text": "Weigh ", "index": 0}],
        ),
        chunk(
            reasoning="it.",
            reasoning_details=[{"type": "reasoning.text", "text": "it.", "index": 0}],
        ),
        chunk("Done", reasoning=None),
        chunk(" now.", reasoning=None),
    ],
    # Groq with `reasoning_format: "parsed"`: a dedicated `reasoning` field,
    # https://console.groq.com/docs/reasoning; `x_groq` rides on the chunks.
    "groq": [
        chunk(role="assistant", reasoning="Weigh ", x_groq={"id": "req_1"}),
        chunk(reasoning="it.", x_groq={"id": "req_1"}),
        chunk("Done now.", x_groq={"id": "req_1"}),
    ],
    # vLLM renamed `reasoning_content` to `reasoning`
    # (https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/) and has sent both with the
    # same text (https://github.com/vllm-project/vllm/pull/34030): told once, not twice.
    "vllm-both": [
        chunk(role="assistant", reasoning="Weigh ", reasoning_content="Weigh "),
        chunk(reasoning="it.", reasoning_content="it."),
        chunk("Done now."),
    ],
    "vllm": [
        chunk(role="assistant", reasoning="Weigh "),
        chunk(reasoning="it."),
        chunk("Done now."),
    ],
}


@pytest.mark.parametrize("shape", list(REASONING_SHAPES))
async def test_a_reasoning_field_the_delta_does_not_name_streams_too(
    serve: Serve, shape: str
) -> None:
    chunks = [*REASONING_SHAPES[shape], chunk(finish_reason="stop")]
    _, client = await serve(stream(sse(*chunks)))
    seen = await run_streamed(Agent(client, model="m"))
    assert [e.text for e in seen if isinstance(e, ReasoningDelta)] == ["Weigh ", "it."]
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "Done now."
    message = seen[-1].result.completion.choices[0].message  # type: ignore[union-attr]
    assert (message.reasoning_content or message.reasoning) == "Weigh it."


async def test_reasoning_before_a_tool_call_is_kept_in_the_transcript(serve: Serve) -> None:
    # DeepSeek thinks, then calls a tool; the reasoning goes back with the assistant message
    # (https://api-docs.deepseek.com/guides/thinking_mode, tool calls section).
    server, client = await serve(
        stream(
            sse(
                chunk(role="assistant", reasoning_content="Add them."),
                chunk(tool_calls=[opening(0, "a")]),
                chunk(tool_calls=[fragment(0, arguments='{"a": 1, "b": 2}')]),
                chunk(finish_reason="tool_calls"),
            )
        ),
        stream(sse(chunk("3", role="assistant"), chunk(finish_reason="stop"))),
    )
    seen = await run_streamed(Agent(client, model="m", tools=[add]))
    kinds = [type(e).__name__ for e in seen]
    assert kinds[:3] == ["ReasoningDelta", "ToolCallStarted", "ToolCallArgumentsDelta"]
    assistant = server.requests[1].body["messages"][-2]
    assert assistant["reasoning_content"] == "Add them."
    assert isinstance(seen[-1].result.messages[1], AssistantMessage)  # type: ignore[union-attr]
