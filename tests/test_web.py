"""asynctool.web: agent events as the AI SDK's UI message stream and as AG-UI's event stream.

The UI message stream's rules are the AI SDK's (https://ai-sdk.dev/docs/ai-sdk-ui/stream-protocol;
vercel/ai packages/ai/src/ui-message-stream/ui-message-chunks.ts and
packages/ai/src/ui/process-ui-message-stream.ts); tests/test_web_ai_sdk.py reads the same streams
with the SDK's own client under node, and tests/test_web_agui_client.py reads the AG-UI
streams with AG-UI's TypeScript client. AG-UI's events are checked here with AG-UI's own Python
types (`ag-ui-protocol`): every event validates as `ag_ui.core.Event`, and AG-UI's
`EventEncoder` writes it back as the same JSON. Its ordering rules are those of the TypeScript
client's `verifyEvents` (ag-ui-protocol/ag-ui sdks/typescript/packages/client/src/verify/verify.ts).
Events that nothing emits yet (`ReasoningDelta`, `ToolCallArgumentsDelta`) come from hand-built
runs; the rest also from real `run_stream` runs against the embedded model server, served by a
real aiohttp server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest
from aiohttp import ClientSession, web

from asynctool import (
    Agent,
    AgentEvent,
    ChatCompletion,
    ChatCompletionMessage,
    Choice,
    FunctionCall,
    InvalidRequestError,
    RateLimitError,
    ReasoningDelta,
    RunCompleted,
    RunResult,
    TextDelta,
    ToolCall,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
    Usage,
    tool,
)
from asynctool.testing import call, status, text, tool_calls
from asynctool.web import (
    AGUI_HEADERS,
    UI_MESSAGE_STREAM_HEADERS,
    agui_messages_to_chat,
    agui_response,
    agui_stream,
    ui_message_response,
    ui_message_stream,
    ui_messages_to_chat,
)
from tests.conftest import Serve

ag_ui_core = pytest.importorskip("ag_ui.core", reason="the test extra installs ag-ui-protocol")
from ag_ui.encoder import EventEncoder  # noqa: E402
from pydantic import TypeAdapter  # noqa: E402

AGUI_EVENT = TypeAdapter(ag_ui_core.Event)


# --------------------------------------------------------------------------- hand-built runs


def tool_call(id: str, name: str, arguments: str) -> ToolCall:
    return ToolCall(id=id, function=FunctionCall(name=name, arguments=arguments))


WEATHER = tool_call("call_w", "get_weather", '{"location": "Boston"}')
BROKEN = tool_call("call_x", "lookup", '{"q": "x"}')
USAGE = Usage(prompt_tokens=30, completion_tokens=12, total_tokens=42)


def completion(content: str | None, finish_reason: str = "stop") -> ChatCompletion:
    message = ChatCompletionMessage(content=content)
    return ChatCompletion(
        model="gpt-test", choices=[Choice(message=message, finish_reason=finish_reason)]
    )


def result(call: ToolCall, content: str, is_error: bool = False) -> ToolResult:
    return ToolResult(call=call, content=content, is_error=is_error, duration=0.01, turn=1)


def reasoning_run() -> list[AgentEvent]:
    """A run as a reasoning model with streamed arguments makes it: turn 1 thinks, says a
    word, streams two calls (one fails, and finishes first); turn 2 thinks and answers."""
    final = RunResult(output="Sunny in Boston.", messages=[], usage=USAGE, turns=2,
                      completion=completion("Sunny in Boston."))  # fmt: skip
    return [
        ReasoningDelta(text="The user wants ", turn=1),
        ReasoningDelta(text="the weather.", turn=1),
        TextDelta(text="Checking.", turn=1),
        ToolCallStarted(id="call_w", name="get_weather", turn=1),
        ToolCallArgumentsDelta(id="call_w", name="get_weather", delta='{"location": ', turn=1),
        ToolCallArgumentsDelta(id="call_w", name="get_weather", delta='"Boston"}', turn=1),
        ToolCallStarted(id="call_x", name="lookup", turn=1),
        ToolCallArgumentsDelta(id="call_x", name="lookup", delta='{"q": "x"}', turn=1),
        TurnCompleted(turn=1, completion=completion(None, "tool_calls"), usage=USAGE),
        ToolCallReady(call=WEATHER, turn=1),
        ToolCallReady(call=BROKEN, turn=1),
        ToolResult(
            call=BROKEN,
            content="Error: the tool 'lookup' raised KeyError: 'x'",
            is_error=True,
            duration=0.01,
            turn=1,
        ),
        result(WEATHER, "Sunny, 22 degrees celsius in Boston"),
        ReasoningDelta(text="Now answer.", turn=2),
        TextDelta(text="", turn=2),  # a keep-alive: opens nothing
        TextDelta(text="Sunny ", turn=2),
        TextDelta(text="in Boston.", turn=2),
        TurnCompleted(turn=2, completion=completion("Sunny in Boston."), usage=USAGE),
        RunCompleted(result=final),
    ]


async def play(
    events: Iterable[AgentEvent], failure: BaseException | None = None
) -> AsyncIterator[AgentEvent]:
    for event in events:
        yield event
    if failure is not None:
        raise failure


async def collect(frames: AsyncIterator[bytes]) -> list[Any]:
    """Every frame's data, JSON decoded ("[DONE]" kept as the string), checking the framing:
    one `data:` line, then a blank line."""
    out = []
    async for frame in frames:
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n") and frame.count(b"\n") == 2
        data = frame[6:-2]
        out.append(data.decode() if data == b"[DONE]" else json.loads(data))
    return out


# --------------------------------------------------------------------------- UI message stream


async def test_ui_stream_of_a_reasoning_run_follows_the_protocol() -> None:
    frames = ui_message_stream(play(reasoning_run()), message_id="m1", finish_reason=True)
    *chunks, done = await collect(frames)
    assert done == "[DONE]"
    by_type = [(c["type"], c.get("id") or c.get("toolCallId")) for c in chunks]
    r1, t1, r2, t2 = "m1-reasoning-1", "m1-text-2", "m1-reasoning-3", "m1-text-4"
    assert by_type == [
        ("start", None),
        ("start-step", None),
        ("reasoning-start", r1), ("reasoning-delta", r1), ("reasoning-delta", r1),
        ("reasoning-end", r1),  # text begins: the reasoning block is over
        ("text-start", t1), ("text-delta", t1),
        ("text-end", t1),  # a tool call begins
        ("tool-input-start", "call_w"), ("tool-input-delta", "call_w"), ("tool-input-delta", "call_w"),
        ("tool-input-start", "call_x"), ("tool-input-delta", "call_x"),
        ("tool-input-available", "call_w"), ("tool-input-available", "call_x"),
        ("tool-output-error", "call_x"), ("tool-output-available", "call_w"),  # finishing order
        ("finish-step", None),  # the turn's results belong to its step
        ("start-step", None),
        ("reasoning-start", r2), ("reasoning-delta", r2), ("reasoning-end", r2),
        ("text-start", t2), ("text-delta", t2), ("text-delta", t2), ("text-end", t2),
        ("finish-step", None),
        ("finish", None),
    ]  # fmt: skip
    assert chunks[0] == {"type": "start", "messageId": "m1"}
    deltas = [c["inputTextDelta"] for c in chunks if c["type"] == "tool-input-delta"]
    assert "".join(deltas[:2]) == WEATHER.function.arguments and deltas[2] == '{"q": "x"}'
    available = [c for c in chunks if c["type"] == "tool-input-available"]
    assert available[0] == {"type": "tool-input-available", "toolCallId": "call_w",
                            "toolName": "get_weather", "input": {"location": "Boston"}}  # fmt: skip
    error = next(c for c in chunks if c["type"] == "tool-output-error")
    assert error == {"type": "tool-output-error", "toolCallId": "call_x",
                     "errorText": "Error: the tool 'lookup' raised KeyError: 'x'"}  # fmt: skip
    output = next(c for c in chunks if c["type"] == "tool-output-available")
    assert output["output"] == "Sunny, 22 degrees celsius in Boston"
    assert chunks[-1] == {"type": "finish", "finishReason": "stop"}
    text = "".join(c["delta"] for c in chunks if c["type"] == "text-delta")
    assert text == "Checking.Sunny in Boston."


@pytest.mark.parametrize(
    ("reason", "sent"),
    [("length", "length"), ("content_filter", "content-filter"), ("odd", "other")],
)
async def test_ui_stream_finish_reason_in_the_sdks_words(reason: str, sent: str) -> None:
    final = RunResult(
        output="x", messages=[], usage=USAGE, turns=1, completion=completion("x", reason)
    )
    chunks = await collect(
        ui_message_stream(play([RunCompleted(result=final)]), finish_reason=True)
    )
    assert chunks[-2] == {"type": "finish", "finishReason": sent}
    # Off by default: AI SDK releases before 5.0.92 refuse a field their schema does not name.
    assert (await collect(ui_message_stream(play([RunCompleted(result=final)]))))[-2] == {
        "type": "finish"
    }


async def test_ui_stream_tool_output_can_be_any_json_value() -> None:
    def as_object(result: ToolResult) -> object:
        return {"text": result.content, "seconds": result.duration}

    chunks = await collect(ui_message_stream(play(reasoning_run()), tool_output=as_object))
    output = next(c for c in chunks if c["type"] == "tool-output-available")
    assert output["output"] == {"text": "Sunny, 22 degrees celsius in Boston", "seconds": 0.01}


async def test_ui_stream_gives_arguments_that_are_not_json_as_text() -> None:
    bad = tool_call("c1", "get_weather", '{"location": Bos')
    events = [ToolCallStarted(id="c1", name="get_weather", turn=1), ToolCallReady(call=bad, turn=1)]
    chunks = await collect(ui_message_stream(play(events)))
    assert chunks[3]["input"] == '{"location": Bos'


async def test_a_failed_run_ends_with_an_error_chunk_that_names_only_the_kind() -> None:
    # The server's message may echo what it was sent; the page is told the kind of failure.
    failure = RateLimitError("Rate limit reached for sk-live-SECRET in org-123", status_code=429)
    chunks = await collect(ui_message_stream(play(reasoning_run()[:3], failure)))
    assert chunks[-2:] == [
        {"type": "error", "errorText": "The agent run failed (RateLimitError)."},
        "[DONE]",
    ]  # no `finish`: createUIMessageStream ends a failed execute this way
    assert "SECRET" not in json.dumps(chunks) and "org-123" not in json.dumps(chunks)


async def test_error_text_decides_what_the_page_reads() -> None:
    failure = RateLimitError("slow down", status_code=429)
    frames = ui_message_stream(play([], failure), error_text=lambda e: f"busy: {type(e).__name__}")
    assert (await collect(frames))[-2] == {"type": "error", "errorText": "busy: RateLimitError"}


async def test_a_bug_is_reported_in_the_stream_and_raised() -> None:
    frames = ui_message_stream(play(reasoning_run()[:1], ValueError("a bug in a hook")))
    seen = []
    with pytest.raises(ValueError, match="a bug in a hook"):
        async for frame in frames:
            seen.append(frame)
    assert seen[-2:] == [b'data: {"type":"error","errorText":"The agent run failed."}\n\n',
                         b"data: [DONE]\n\n"]  # fmt: skip


async def test_events_without_run_completed_still_close_every_part() -> None:
    events = [TextDelta(text="Hi", turn=1)]
    types = [
        c if c == "[DONE]" else c["type"] for c in await collect(ui_message_stream(play(events)))
    ]
    assert types == ["start", "start-step", "text-start", "text-delta", "text-end",
                     "finish-step", "finish", "[DONE]"]  # fmt: skip


async def test_a_result_of_a_call_never_announced_opens_it_first() -> None:
    chunks = await collect(ui_message_stream(play([result(WEATHER, "Sunny")])))
    assert [c["type"] for c in chunks[2:5]] == [
        "tool-input-start", "tool-input-available", "tool-output-available"
    ]  # fmt: skip


async def test_a_call_id_used_again_in_a_later_turn_is_a_new_call() -> None:
    # Some servers number calls afresh each turn (call_0 in every turn).
    again = tool_call("call_0", "get_weather", '{"location": "Oslo"}')
    first = tool_call("call_0", "get_weather", '{"location": "Boston"}')
    events: list[AgentEvent] = []
    for turn, call_ in ((1, first), (2, again)):
        events += [ToolCallStarted(id="call_0", name="get_weather", turn=turn), ToolCallReady(call=call_, turn=turn),
                   ToolResult(call=call_, content=f"ok {turn}", is_error=False, duration=0.0, turn=turn)]  # fmt: skip
    chunks = await collect(ui_message_stream(play(events)))
    types = [c["type"] for c in chunks[1:-2]]
    assert types == ["start-step", "tool-input-start", "tool-input-available", "tool-output-available",
                     "finish-step"] * 2  # fmt: skip
    out = await collect(agui_stream(play(events)))
    agui_checked(out)
    results = [e for e in out if e["type"] == "TOOL_CALL_RESULT"]
    assert [r["content"] for r in results] == ["ok 1", "ok 2"]
    assert results[0]["messageId"] != results[1]["messageId"]


async def test_an_eager_turn_a_result_before_the_next_call_has_streamed() -> None:
    # With eager_tools a call runs while later calls still stream: its ToolCallReady and
    # ToolResult come before the turn's TurnCompleted, between another call's deltas.
    events: list[AgentEvent] = [
        ToolCallStarted(id="call_w", name="get_weather", turn=1),
        ToolCallArgumentsDelta(
            id="call_w", name="get_weather", delta=WEATHER.function.arguments, turn=1
        ),
        ToolCallStarted(id="call_x", name="lookup", turn=1),
        ToolCallReady(call=WEATHER, turn=1),
        ToolCallArgumentsDelta(id="call_x", name="lookup", delta='{"q": ', turn=1),
        result(WEATHER, "Sunny"),
        ToolCallArgumentsDelta(id="call_x", name="lookup", delta='"x"}', turn=1),
        TurnCompleted(turn=1, completion=completion(None, "tool_calls"), usage=USAGE),
        ToolCallReady(call=BROKEN, turn=1),
        result(BROKEN, "found"),
        TextDelta(text="Done.", turn=2),
    ]
    chunks = await collect(ui_message_stream(play(events)))
    assert [(c["type"], c.get("toolCallId")) for c in chunks[2:11]] == [
        ("tool-input-start", "call_w"), ("tool-input-delta", "call_w"),
        ("tool-input-start", "call_x"), ("tool-input-available", "call_w"),
        ("tool-input-delta", "call_x"), ("tool-output-available", "call_w"),
        ("tool-input-delta", "call_x"), ("tool-input-available", "call_x"),
        ("tool-output-available", "call_x"),
    ]  # fmt: skip
    out = await collect(agui_stream(play(events)))
    agui_checked(out)  # the verifyEvents order holds with calls open side by side
    assert [e["type"] for e in out if "toolCallId" in e] == [
        "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_START", "TOOL_CALL_END", "TOOL_CALL_ARGS",
        "TOOL_CALL_RESULT", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT",
    ]  # fmt: skip


class Source:
    """An event source that records being closed, as an AgentStream closes its run."""

    def __init__(self, events: list[AgentEvent]) -> None:
        self.events, self.closed = iter(events), False

    def __aiter__(self) -> Source:
        return self

    async def __anext__(self) -> AgentEvent:
        try:
            return next(self.events)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize("encode", [ui_message_stream, agui_stream])
async def test_leaving_the_stream_early_closes_its_source(encode: Callable[..., Any]) -> None:
    source = Source(reasoning_run())
    frames = encode(source)
    await anext(frames)
    assert not source.closed
    await frames.aclose()
    assert source.closed


# --------------------------------------------------------------------------- AG-UI


def agui_checked(events: list[dict[str, Any]]) -> list[Any]:
    """`events` as AG-UI's Python types, each written back by AG-UI's encoder to the same
    JSON, and the run's order as the TypeScript client's verifyEvents checks it."""
    models = [AGUI_EVENT.validate_python(event) for event in events]
    encoder = EventEncoder()
    for event, model in zip(events, models, strict=True):
        frame = encoder.encode(model)
        assert frame.startswith("data: ") and frame.endswith("\n\n")
        assert json.loads(frame[6:]) == event  # the same fields, the same omissions
    verify_order([e["type"] for e in events], events)
    return models


def verify_order(types: list[str], events: list[dict[str, Any]]) -> None:
    """verify.ts's rules for one run: RUN_STARTED first; content and end only for an open
    message, args and end only for an open call; RUN_FINISHED with nothing open; nothing
    after RUN_FINISHED or RUN_ERROR."""
    assert types[0] == "RUN_STARTED" and types[-1] in ("RUN_FINISHED", "RUN_ERROR")
    assert (
        "RUN_STARTED" not in types[1:]
        and sum(t in ("RUN_FINISHED", "RUN_ERROR") for t in types) == 1
    )
    open_messages: set[str] = set()
    open_calls: set[str] = set()
    steps: set[str] = set()
    reasoning: set[str] = set()
    for event in events:
        kind = event["type"]
        key = event.get("messageId") or event.get("toolCallId") or event.get("stepName")
        if kind in ("TEXT_MESSAGE_START", "REASONING_MESSAGE_START"):
            assert key not in open_messages
            open_messages.add(key)
        elif kind in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"):
            assert key in open_messages
        elif kind in ("TEXT_MESSAGE_END", "REASONING_MESSAGE_END"):
            open_messages.remove(key)
        elif kind == "REASONING_START":
            reasoning.add(key)
        elif kind == "REASONING_END":
            assert key not in open_messages
            reasoning.remove(key)
        elif kind == "TOOL_CALL_START":
            assert key not in open_calls
            open_calls.add(key)
        elif kind == "TOOL_CALL_ARGS":
            assert key in open_calls
        elif kind == "TOOL_CALL_END":
            open_calls.remove(key)
        elif kind == "STEP_STARTED":
            assert key not in steps
            steps.add(key)
        elif kind == "STEP_FINISHED":
            steps.remove(key)
        elif kind == "RUN_FINISHED":
            assert not (open_messages or open_calls or steps or reasoning)


async def test_agui_events_of_a_reasoning_run_validate_and_assemble() -> None:
    events = await collect(agui_stream(play(reasoning_run()), thread_id="t1", run_id="r1"))
    models = agui_checked(events)
    assert events[0] == {
        "type": "RUN_STARTED",
        "threadId": "t1",
        "runId": "r1",
        "protocolVersion": "1.0",
    }
    types = [e["type"] for e in events]
    assert types[1] == "STEP_STARTED" and events[1]["stepName"] == "turn-1"
    assert types[2:5] == ["REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT"]
    assert events[3]["role"] == "reasoning"
    reasoning = "".join(e["delta"] for e in events if e["type"] == "REASONING_MESSAGE_CONTENT")
    assert reasoning == "The user wants the weather.Now answer."
    # One assistant message per turn: its text and its tool calls' parent.
    (start1, start2) = [e for e in events if e["type"] == "TEXT_MESSAGE_START"]
    assert start1["role"] == "assistant" and start1["messageId"] != start2["messageId"]
    starts = [e for e in events if e["type"] == "TOOL_CALL_START"]
    assert [(s["toolCallId"], s["toolCallName"]) for s in starts] == [
        ("call_w", "get_weather"),
        ("call_x", "lookup"),
    ]
    assert {s["parentMessageId"] for s in starts} == {start1["messageId"]}
    args = "".join(
        e["delta"] for e in events if e["type"] == "TOOL_CALL_ARGS" and e["toolCallId"] == "call_w"
    )
    assert args == WEATHER.function.arguments  # the deltas, not the whole text again
    results = [(e["toolCallId"], e["content"]) for e in events if e["type"] == "TOOL_CALL_RESULT"]
    assert results == [("call_x", "Error: the tool 'lookup' raised KeyError: 'x'"),
                       ("call_w", "Sunny, 22 degrees celsius in Boston")]  # fmt: skip
    assert [e["stepName"] for e in events if e["type"] == "STEP_FINISHED"] == ["turn-1", "turn-2"]
    finished = models[-1]
    assert isinstance(finished, ag_ui_core.RunFinishedEvent)
    assert (finished.thread_id, finished.run_id, finished.result) == (
        "t1",
        "r1",
        "Sunny in Boston.",
    )
    (usage,) = finished.usage
    assert (usage.model, usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        "gpt-test",
        30,
        12,
        42,
    )


async def test_agui_sends_the_whole_arguments_when_none_streamed() -> None:
    events = [
        ToolCallStarted(id="call_w", name="get_weather", turn=1),
        ToolCallReady(call=WEATHER, turn=1),
    ]
    out = await collect(agui_stream(play(events)))
    agui_checked(out)
    args = [e for e in out if e["type"] == "TOOL_CALL_ARGS"]
    assert [a["delta"] for a in args] == [WEATHER.function.arguments]


async def test_agui_failed_run_ends_with_run_error_naming_only_the_kind() -> None:
    failure = RateLimitError("Rate limit reached for sk-live-SECRET", status_code=429)
    events = await collect(agui_stream(play(reasoning_run()[:3], failure)))
    models = agui_checked(events)
    assert isinstance(models[-1], ag_ui_core.RunErrorEvent)
    assert events[-1] == {"type": "RUN_ERROR", "message": "The agent run failed (RateLimitError).",
                          "code": "RateLimitError"}  # fmt: skip
    assert "SECRET" not in json.dumps(events)


async def test_agui_bug_is_reported_then_raised() -> None:
    frames = agui_stream(play([], KeyError("bug")))
    seen = []
    with pytest.raises(KeyError):
        async for frame in frames:
            seen.append(json.loads(frame[6:]))
    assert seen[-1] == {"type": "RUN_ERROR", "message": "The agent run failed."}
    agui_checked(seen)


async def test_agui_result_leaves_out_an_answer_it_cannot_encode() -> None:
    class Opaque:
        pass

    final = RunResult(
        output=Opaque(), messages=[], usage=Usage(), turns=1, completion=completion("x")
    )
    events = await collect(agui_stream(play([RunCompleted(result=final)])))
    assert "result" not in events[-1]
    agui_checked(events)


# --------------------------------------------------------------------------- real runs, over HTTP


@tool
async def get_weather(location: str) -> str:
    """Get the weather.

    Args:
        location: The city.
    """
    return f"Sunny in {location}"


@tool
async def broken(q: str) -> str:
    """Always fails."""
    raise RuntimeError("the database is down")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def post(handler: Handler, body: Any = None) -> tuple[dict[str, str], bytes]:
    """Serve `handler` on 127.0.0.1, POST to it, and return the response's headers and body."""
    app = web.Application()
    app.router.add_post("/run", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/run"
        async with ClientSession() as session, session.post(url, json=body or {}) as response:
            return dict(response.headers), await response.read()
    finally:
        await runner.cleanup()


def sse_events(body: bytes) -> list[Any]:
    """The `data` of each event in an SSE body, JSON decoded, as both formats frame them."""
    blocks = body.decode().split("\n\n")
    assert blocks[-1] == ""
    return [
        json.loads(b.removeprefix("data: ")) if b != "data: [DONE]" else "[DONE]"
        for b in blocks[:-1]
    ]


async def test_a_real_run_over_http_as_agui(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("get_weather", {"location": "Boston"}, id="call_1"), call("broken", {"q": "x"}, id="call_2"),
                   usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)),
        text("Sunny in Boston.", usage=Usage(prompt_tokens=20, completion_tokens=4, total_tokens=24)),
    )  # fmt: skip
    agent = Agent(client, model="m", tools=[get_weather, broken])

    async def handler(request: web.Request) -> web.StreamResponse:
        run = await request.json()
        events = agent.run_stream(run["messages"][-1]["content"])
        return await agui_response(request, events, thread_id=run["threadId"], run_id=run["runId"])

    run_input = {"threadId": "th", "runId": "ru", "messages": [{"id": "u", "role": "user", "content": "Weather?"}],
                 "tools": [], "context": [], "state": None, "forwardedProps": {}}  # fmt: skip
    ag_ui_core.RunAgentInput.model_validate(run_input)  # what a client would send
    headers, body = await post(handler, run_input)
    assert (
        headers["Content-Type"] == EventEncoder().get_content_type() == AGUI_HEADERS["Content-Type"]
    )
    events = sse_events(body)
    agui_checked(events)
    assert server.requests[0].messages[-1]["content"] == "Weather?"
    # What the page is told of each call is what the model server was sent back.
    sent = server.requests[1].messages
    calls = {c["id"]: c["function"] for c in sent[1]["tool_calls"]}
    for call_id, function in calls.items():
        starts = [
            e for e in events if e["type"] == "TOOL_CALL_START" and e["toolCallId"] == call_id
        ]
        args = "".join(
            e["delta"]
            for e in events
            if e["type"] == "TOOL_CALL_ARGS" and e["toolCallId"] == call_id
        )
        assert [s["toolCallName"] for s in starts] == [function["name"]] and args == function[
            "arguments"
        ]
    tool_messages = {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"}
    results = {e["toolCallId"]: e["content"] for e in events if e["type"] == "TOOL_CALL_RESULT"}
    assert results == tool_messages and "database is down" in results["call_2"]
    text_ = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text_ == "Sunny in Boston."
    assert events[-1]["type"] == "RUN_FINISHED" and events[-1]["result"] == "Sunny in Boston."
    assert events[-1]["usage"][0]["totalTokens"] == 15 + 24


async def test_a_failed_real_run_over_http_as_agui(serve: Serve) -> None:
    _, client = await serve(status(401, "Incorrect API key provided: sk-test."), api_key="sk-test")
    agent = Agent(client, model="m")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await agui_response(request, agent.run_stream("Hi"))

    _, body = await post(handler)
    events = sse_events(body)
    agui_checked(events)
    assert events[-1] == {"type": "RUN_ERROR", "message": "The agent run failed (AuthenticationError).",
                          "code": "AuthenticationError"}  # fmt: skip
    assert "sk-test" not in body.decode()


async def test_ui_message_response_has_the_headers_use_chat_needs(serve: Serve) -> None:
    _, client = await serve(text("Hello."))
    agent = Agent(client, model="m")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await ui_message_response(request, agent.run_stream("Hi"), headers={"x-extra": "1"})

    headers, body = await post(handler)
    # "When you provide data streams from a custom backend, you need to set the
    # x-vercel-ai-ui-message-stream header to v1" (ai-sdk.dev/docs/ai-sdk-ui/stream-protocol).
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert headers["Content-Type"] == "text/event-stream" and headers["x-extra"] == "1"
    assert set(UI_MESSAGE_STREAM_HEADERS) <= set(headers)
    chunks = sse_events(body)
    assert (
        "".join(c["delta"] for c in chunks if c != "[DONE]" and c["type"] == "text-delta")
        == "Hello."
    )
    assert chunks[-1] == "[DONE]"


async def test_a_bug_reaches_aiohttp_after_a_whole_response(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await ui_message_response(request, play([], ZeroDivisionError("bug")))

    _, body = await post(handler)
    assert sse_events(body)[-2:] == [
        {"type": "error", "errorText": "The agent run failed."},
        "[DONE]",
    ]
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


async def run_until_the_client_leaves(
    serve: Serve, release: asyncio.Event | None, **runner_options: Any
) -> tuple[Any, list[Any], list[web.Request], Callable[[], Awaitable[None]]]:
    """A run whose tool waits on `release`, served to a client that leaves while it runs."""
    cancelled = asyncio.Event()

    @tool
    async def slow() -> str:
        """Waits until the test lets it go."""
        try:
            await (release or asyncio.Event()).wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "done"

    server, client = await serve(tool_calls(call("slow", {})), text("never sent"))
    agent = Agent(client, model="m", tools=[slow])
    streams: list[Any] = []
    requests: list[web.Request] = []
    handler_done = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            requests.append(request)
            streams.append(agent.run_stream("Go"))
            return await ui_message_response(request, streams[0])
        finally:
            handler_done.set()

    app = web.Application()
    app.router.add_post("/run", handler)
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/run"
    async with ClientSession() as session, session.post(url) as response:
        async for line in response.content:
            if b"tool-input-available" in line:
                break  # the tool is running: leave

    async def finish() -> None:
        await asyncio.wait_for(handler_done.wait(), 10)
        await runner.cleanup()

    return server, streams, requests, finish if release else _cancelled(cancelled, finish)


def _cancelled(
    cancelled: asyncio.Event, finish: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def wait() -> None:
        await asyncio.wait_for(cancelled.wait(), 10)
        await finish()

    return wait


async def test_a_client_that_goes_away_stops_the_run_at_the_next_write(serve: Serve) -> None:
    release = asyncio.Event()
    server, streams, requests, finish = await run_until_the_client_leaves(serve, release)
    # The server learns the client left when the connection closes; then the tool returns.
    async with asyncio.timeout(10):
        # aiohttp has no event for a disconnect: poll the transport.
        while requests[0].transport is not None and not requests[0].transport.is_closing():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    release.set()  # writing the tool's result finds the client gone
    await finish()
    assert len(server.requests) == 1  # the run stopped: the second turn was never sent
    assert streams[0].result is None


async def test_with_handler_cancellation_a_client_that_leaves_cancels_the_tool(
    serve: Serve,
) -> None:
    # aiohttp cancels the handler when its client disconnects if asked to
    # (AppRunner(handler_cancellation=True)); closing the frames then cancels the run's tools.
    server, streams, _, finish = await run_until_the_client_leaves(
        serve, None, handler_cancellation=True
    )
    await finish()  # returns once the tool saw its cancellation
    assert len(server.requests) == 1 and streams[0].result is None


def test_the_encoders_import_no_server_and_no_agent_stack() -> None:
    script = (
        "import sys, asynctool.web\n"
        "heavy = ('aiohttp.web', 'asynctool._agent', 'anyio', 'ag_ui', 'pydantic')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "from asynctool.web import agui_response\n"
        "print(agui_response.__module__, 'aiohttp.web' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "asynctool.web._aiohttp True"]
    import asynctool.web

    assert asynctool.web.__all__ == sorted(n for n in dir(asynctool.web) if not n.startswith("_"))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        asynctool.web.nothing  # noqa: B018


# --------------------------------------------------------------------------- what pages post


def test_ui_messages_become_a_transcript_step_by_step() -> None:
    # The parts of a UIMessage (vercel/ai packages/ai/src/ui/ui-messages.ts): a run's steps,
    # each tool part with its state; a call with no outcome yet is left out.
    messages = [
        {"id": "s", "role": "system", "parts": [{"type": "text", "text": "Be brief."}]},
        {"id": "u", "role": "user", "parts": [
            {"type": "text", "text": "What is "}, {"type": "text", "text": "this?"},
            {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,AAAA"},
            {"type": "file", "mediaType": "application/pdf", "url": "https://example.com/a.pdf"},
        ]},
        {"id": "a", "role": "assistant", "parts": [
            {"type": "step-start"},
            {"type": "reasoning", "text": "Look it up."},
            {"type": "text", "text": "Checking."},
            {"type": "tool-lookup", "toolCallId": "c1", "state": "output-available",
             "input": {"q": "x"}, "output": {"found": True}},
            {"type": "dynamic-tool", "toolName": "mcp_search", "toolCallId": "c2",
             "state": "output-error", "input": {}, "errorText": "Error: down."},
            {"type": "tool-lookup", "toolCallId": "c3", "state": "input-available", "input": {}},
            {"type": "step-start"},
            {"type": "text", "text": "A cat."},
        ]},
        {"id": "e", "role": "user", "parts": [{"type": "step-start"}]},  # nothing to say
    ]  # fmt: skip
    assert ui_messages_to_chat(messages) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}},
            {"id": "c2", "type": "function", "function": {"name": "mcp_search", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"found":true}'},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: down."},
        {"role": "assistant", "content": "A cat."},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ({"role": "user"}, "messages"),
        ([{"role": "user"}], "messages[0].parts"),
        ([{"parts": []}], "messages[0].role"),
        (["hi"], "messages[0]"),
        ([{"role": "user", "parts": [{"text": "no type"}]}], "messages[0].parts[0].type"),
        ([{"role": "tool", "parts": []}], "messages[0].role"),
        (
            [{"role": "assistant", "parts": [{"type": "tool-x", "state": "output-available"}]}],
            "messages[0].parts",
        ),
    ],
)
def test_a_ui_message_of_the_wrong_shape_is_refused_naming_where(messages: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        ui_messages_to_chat(messages)
    assert caught.value.field == field


def test_agui_messages_become_a_transcript() -> None:
    # AG-UI's messages (https://docs.ag-ui.com/concepts/messages), validated first with its types.
    messages = [
        {"id": "d", "role": "developer", "content": "Be brief."},
        {"id": "u", "role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "data", "value": "AAAA", "mimeType": "image/png"}},
            {"type": "image", "source": {"type": "url", "value": "https://example.com/cat.png"}},
            {"type": "image", "source": {"type": "file", "value": "file-123"}},
        ]},
        {"id": "r", "role": "reasoning", "content": "Look it up."},
        {"id": "a", "role": "assistant", "toolCalls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
        ]},
        {"id": "t", "role": "tool", "toolCallId": "c1", "content": "found"},
        {"id": "a2", "role": "assistant", "content": "A cat."},
        {"id": "a3", "role": "assistant"},  # says nothing
    ]  # fmt: skip
    for message in messages:
        TypeAdapter(ag_ui_core.Message).validate_python(message)
    assert agui_messages_to_chat(messages) == [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "found"},
        {"role": "assistant", "content": "A cat."},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "tool", "content": "x"}], "messages[0].toolCallId"),
        ([{"role": "robot"}], "messages[0].role"),
        ([{"role": "assistant", "toolCalls": [{"id": "c"}]}], "messages[0].toolCalls[0].function"),
        ([{"role": "user", "content": [{"text": "x"}]}], "messages[0].content[0].type"),
        ([{"role": "user", "content": 3}], "messages[0].content"),
    ],
)
def test_an_agui_message_of_the_wrong_shape_is_refused_naming_where(
    messages: Any, field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        agui_messages_to_chat(messages)
    assert caught.value.field == field
