"""`eager_tools`: a streamed turn's calls start as soon as they are complete.

A call is complete when the next call begins (or the stream ends). The streams here are
written on 127.0.0.1 by the embedded `ModelServer`'s `Handler` turns in steps, and a step may wait for an event the test
sets when it has seen something (a tool's result, a hook's call): so "the result came before
the stream went on" is asserted by the stream not going on otherwise, never by timings. The
embedded `ModelServer` plays the turns where only the outcome matters.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
import pytest
from aiohttp import web

from asynctool import (
    Agent,
    AgentEvent,
    APIError,
    AssistantMessage,
    Deny,
    IncompleteStreamError,
    InvalidRequestError,
    ToolCall,
    ToolCallLimitExceeded,
    ToolCallReady,
    ToolCallsTruncatedError,
    ToolContext,
    ToolMessage,
    ToolResult,
    UserMessage,
    tool,
)
from asynctool.testing import Handler, call, text, tool_calls
from tests.conftest import Serve, chunk, connections_in_use, fragment, sse, stream
from tests.test_faults import assert_transcript_valid

LIMIT = 5.0  # a test whose stream waits for an event that never comes fails, and says so

Step = bytes | anyio.Event


def paced(*steps: Step, drop: bool = False) -> Handler:
    """A turn that writes the byte steps and waits at each event step; then ends the body,
    or with `drop` closes the connection."""

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for step in steps:
                if isinstance(step, anyio.Event):
                    await step.wait()
                else:
                    await response.write(step)
            if drop:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write_eof()
        except ConnectionError:  # the client left first, as some tests have it do
            pass
        return response

    return Handler(respond)


def opening(index: int, id: str, name: str) -> bytes:
    """The chunk that begins a call, as OpenAI sends it."""
    call = fragment(index, id=id, type="function", name=name, arguments="")
    return sse(chunk(tool_calls=[call]), done=False)


def arguments(index: int, text: str) -> bytes:
    return sse(chunk(tool_calls=[fragment(index, arguments=text)]), done=False)


ROLE = sse(chunk(role="assistant"), done=False)
FINISH = sse(chunk(finish_reason="tool_calls"))
ANSWER = stream(sse(chunk("done", role="assistant"), chunk(finish_reason="stop")))


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def serve(serve: Serve) -> Serve:
    """The streams of this file are read once: a failure is not retried."""
    return functools.partial(serve, max_retries=0)


@pytest.fixture
async def released() -> AsyncIterator[anyio.Event]:
    """An event a stream may wait for that is set only when the test is over: the stream
    stays open while the test runs."""
    event = anyio.Event()
    yield event
    event.set()


def kinds(events: list[AgentEvent]) -> list[tuple[str, str | None]]:
    """Each event's kind, with the id of the call it is about."""
    out: list[tuple[str, str | None]] = []
    for event in events:
        call = getattr(event, "call", None)
        id = call.id if isinstance(call, ToolCall) else getattr(event, "id", None)
        out.append((type(event).__name__, id))
    return out


# ----------------------------------------------------------------------------- the idea


async def test_a_call_runs_while_the_next_one_still_streams(serve: Serve) -> None:
    first_result_seen = anyio.Event()
    server, client = await serve(
        paced(
            ROLE,
            opening(0, "a", "add"),
            arguments(0, '{"a": 1, "b": 2}'),
            opening(1, "b", "add"),  # `a` is complete: the next call began
            first_result_seen,  # the stream goes on only once `a` has run and been reported
            arguments(1, '{"a": 3, "b": 4}'),
            FINISH,
        ),
        ANSWER,
    )
    agent = Agent(client, model="m", tools=[add], eager_tools=True)
    seen: list[AgentEvent] = []
    with anyio.fail_after(LIMIT):
        async with agent.run_stream("go") as events:
            async for event in events:
                seen.append(event)
                if isinstance(event, ToolResult) and event.call.id == "a":
                    first_result_seen.set()
    order = kinds(seen)
    assert order.index(("ToolCallReady", "a")) < order.index(("ToolCallStarted", "b"))
    assert order.index(("ToolResult", "a")) < order.index(("ToolCallArgumentsDelta", "b"))
    assert order.index(("ToolResult", "a")) < order.index(("TurnCompleted", None))
    assert order.index(("TurnCompleted", None)) < order.index(("ToolCallReady", "b"))
    assert order.count(("ToolCallReady", "a")) == 1 and order.count(("ToolResult", "a")) == 1
    assert [m["content"] for m in server.requests[1].body["messages"][-2:]] == ["3", "7"]
    assert events.result is not None and events.result.output == "done"


async def test_eager_tools_is_off_by_default_and_checked(serve: Serve) -> None:
    _, client = await serve(
        tool_calls(call("add", {"a": 1, "b": 2}), call("add", {"a": 3, "b": 4})), text("done")
    )
    agent = Agent(client, model="m", tools=[add])
    assert agent.settings().eager_tools is False
    with anyio.fail_after(LIMIT):
        async with agent.run_stream("go") as events:
            seen = [type(e).__name__ async for e in events]
    assert seen.index("TurnCompleted") < seen.index("ToolCallReady")  # none ran early
    with pytest.raises(InvalidRequestError) as info:
        Agent(client, model="m", tools=[add], eager_tools="yes")  # type: ignore[arg-type]
    assert info.value.field == "eager_tools"


async def test_run_and_run_stream_build_the_same_transcript_with_or_without_it(
    serve: Serve,
) -> None:
    @tool
    async def slow(n: int) -> int:
        """Takes its time."""
        await anyio.sleep(0.05 * n)
        return n

    @tool
    async def broken() -> str:
        """Always fails."""
        raise RuntimeError("the database is down")

    @tool
    async def stuck() -> str:
        """Never ends in time."""
        await anyio.sleep(5)
        return "never"

    turn = tool_calls(
        call("slow", {"n": 2}, id="s2"),
        call("add", {"a": 1, "b": 2}, id="a"),
        call("broken", id="x"),
        call("stuck", id="t"),
        call("slow", {"n": 1}, id="s1"),
    )
    ways = [(stream, eager) for stream in (False, True) for eager in (False, True)]
    server, client = await serve(*[step for _ in ways for step in (turn, text("done"))])
    transcripts = []
    for streamed, eager in ways:
        agent = Agent(
            client, model="m", tools=[slow, add, broken, stuck], eager_tools=eager, tool_timeout=0.2
        )
        with anyio.fail_after(LIMIT):
            if streamed:
                async with agent.run_stream("go") as events:
                    async for _ in events:
                        pass
                assert events.result is not None
                transcripts.append(events.result.messages)
            else:
                transcripts.append((await agent.run("go")).messages)
    assert all(t == transcripts[0] for t in transcripts)
    answers = [m.content for m in transcripts[0] if isinstance(m, ToolMessage)]
    assert answers[:2] == ["2", "3"] and "database is down" in str(answers[2])
    assert "timed out" in str(answers[3]) or "0.2" in str(answers[3])
    # What the server was sent: the same requests, but for `stream`, in each way.
    bodies = [msgspec.json.encode(r.json["messages"]) for r in server.requests[1::2]]
    assert len(set(bodies)) == 1


# ------------------------------------------------------------- hooks and limits, unchanged


async def test_the_approval_hook_runs_as_each_call_starts(serve: Serve) -> None:
    asked: list[str] = []
    hook_ran = anyio.Event()

    async def approve(call: ToolCall, context: ToolContext[Any]) -> Deny | None:
        asked.append(call.id)
        hook_ran.set()
        return Deny("not this one") if call.id == "a" else None

    _, client = await serve(
        paced(
            ROLE,
            opening(0, "a", "add"),
            arguments(0, '{"a": 1, "b": 2}'),
            opening(1, "b", "add"),
            hook_ran,  # the hook was asked about `a` before the stream went on
            arguments(1, '{"a": 3, "b": 4}'),
            FINISH,
        ),
        ANSWER,
    )
    agent = Agent(client, model="m", tools=[add], eager_tools=True, before_tool_call=approve)
    with anyio.fail_after(LIMIT):
        async with agent.run_stream("go") as events:
            seen = [e async for e in events]
    assert asked == ["a", "b"]
    results = {e.call.id: e for e in seen if isinstance(e, ToolResult)}
    assert results["a"].is_error and results["a"].content == "not this one"
    assert results["b"].content == "7"


async def test_a_sequential_tool_still_waits_for_the_others_and_the_stream(serve: Serve) -> None:
    happened: list[str] = []

    @tool(sequential=True)
    async def alone() -> str:
        """Must run by itself."""
        happened.append("alone ran")
        return "alone"

    @tool
    async def other() -> str:
        """Runs beside the others."""
        happened.append("other ran")
        return "other"

    _, client = await serve(
        paced(
            ROLE,
            opening(0, "a", "alone"),
            arguments(0, "{}"),
            opening(1, "b", "other"),  # `alone` is complete now, but must wait
            arguments(1, "{}"),
            FINISH,
        ),
        ANSWER,
    )
    agent = Agent(client, model="m", tools=[alone, other], eager_tools=True)
    with anyio.fail_after(LIMIT):
        async with agent.run_stream("go") as events:
            seen = [e async for e in events]
    order = kinds(seen)
    assert order.index(("ToolCallReady", "a")) < order.index(("TurnCompleted", None))
    assert happened == ["other ran", "alone ran"]
    assert [e.call.id for e in seen if isinstance(e, ToolResult)] == ["b", "a"]


async def test_max_concurrency_bounds_eager_calls(serve: Serve) -> None:
    running = most = 0

    @tool
    async def work(n: int) -> int:
        """A little work."""
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.02)
        running -= 1
        return n

    turn = tool_calls(*(call("work", {"n": i}) for i in range(4)))
    _, client = await serve(turn, text("done"))
    agent = Agent(client, model="m", tools=[work], eager_tools=True, max_concurrency=1)
    with anyio.fail_after(LIMIT):
        async with agent.run_stream("go") as events:
            seen = [e async for e in events]
    assert most == 1
    assert sorted(e.content for e in seen if isinstance(e, ToolResult)) == ["0", "1", "2", "3"]


async def test_arguments_that_do_not_parse_yet_wait_for_the_end(serve: Serve) -> None:
    # Index-keyed fragments may interleave: when `b` and `c` begin, `a` is not whole yet (as
    # far as the stream has come), so neither it nor the calls after it may run.
    c_began = anyio.Event()
    _, client = await serve(
        paced(
            ROLE,
            opening(0, "a", "add"),
            opening(1, "b", "add"),
            arguments(0, '{"a": 1, '),
            arguments(1, '{"a": 3, "b": 4}'),
            opening(2, "c", "add"),
            c_began,  # read up to here before the rest comes
            arguments(0, '"b": 2}'),
            arguments(2, '{"a": 5, "b": 6}'),
            FINISH,
        ),
        ANSWER,
    )
    agent = Agent(client, model="m", tools=[add], eager_tools=True)
    seen: list[AgentEvent] = []
    with anyio.fail_after(LIMIT):
        async with agent.run_stream("go") as events:
            async for event in events:
                seen.append(event)
                if ("ToolCallStarted", "c") in kinds([event]):
                    c_began.set()
    order = kinds(seen)
    assert order.index(("TurnCompleted", None)) < order.index(("ToolCallReady", "a"))
    results = {e.call.id: e.content for e in seen if isinstance(e, ToolResult)}
    assert results == {"a": "3", "b": "7", "c": "11"}


# --------------------------------------------------------------- when the turn then fails


@tool
async def hang() -> str:
    """Runs until cancelled."""
    await anyio.sleep_forever()
    return "never"


# After `a` (which hangs) and `b` (which answers at once) are complete and `c` began, the
# stream fails: the bytes of each failure, and the error `run_stream` raises.
ERROR_BODY = b'{"error": {"message": "The model crashed.", "type": "server_error", "code": null}}'
FAILURES: dict[str, tuple[bytes, bool, type[Exception]]] = {
    "dropped": (b"", True, IncompleteStreamError),
    "error-event": (b"event: error\ndata: " + ERROR_BODY + b"\n\n", False, APIError),
    "error-chunk": (b"data: " + ERROR_BODY + b"\n\n", False, APIError),
    # OpenRouter ends a generation that failed part way with finish_reason "error":
    # https://openrouter.ai/docs/api/reference/streaming#handling-errors-during-streaming
    "finish-error": (sse(chunk(finish_reason="error")), False, APIError),
    # Out of tokens while `c`'s arguments were unfinished.
    "length": (sse(chunk(finish_reason="length")), False, ToolCallsTruncatedError),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_stream_that_fails_cancels_what_runs_and_says_what_ran(
    serve: Serve, failure: str
) -> None:
    ending, drop, expected = FAILURES[failure]
    b_result_seen = anyio.Event()
    server, client = await serve(
        paced(
            ROLE,
            opening(0, "a", "hang"),
            arguments(0, "{}"),
            opening(1, "b", "add"),
            arguments(1, '{"a": 1, "b": 2}'),
            opening(2, "c", "add"),  # `a` and `b` are complete and running
            arguments(2, '{"a": 5,'),
            b_result_seen,
            ending,
            drop=drop,
        ),
        ANSWER,
    )
    agent = Agent(client, model="m", tools=[hang, add], eager_tools=True)
    stream_ = agent.run_stream("go")
    seen: list[AgentEvent] = []
    with anyio.fail_after(LIMIT), pytest.raises(expected) as info:
        async with stream_ as events:
            async for event in events:
                seen.append(event)
                if isinstance(event, ToolResult) and event.call.id == "b":
                    b_result_seen.set()
    error = info.value
    assert error.ran_tool_calls == ("b",)
    assert "ran b; cancelled a" in str(error)
    # The transcript: the calls that started, each answered; `c` never started.
    messages = stream_.messages
    assert error.messages is messages  # type: ignore[attr-defined]
    assert [type(m) for m in messages] == [UserMessage, AssistantMessage, ToolMessage, ToolMessage]
    assistant = messages[1]
    assert isinstance(assistant, AssistantMessage) and assistant.tool_calls is not None
    assert [c.id for c in assistant.tool_calls] == ["a", "b"]
    assert "cancelled" in str(messages[2].content) and messages[3].content == "3"  # type: ignore[union-attr]
    assert_transcript_valid(messages)
    assert ("ToolCallReady", "c") not in kinds(seen)
    assert len(server.requests) == 1
    assert connections_in_use(client) == 0


async def test_going_past_the_call_limit_stops_the_turn_where_it_is(
    serve: Serve, released: anyio.Event
) -> None:
    a_result_seen = anyio.Event()
    _, client = await serve(
        paced(
            ROLE,
            opening(0, "a", "add"),
            arguments(0, '{"a": 1, "b": 2}'),
            opening(1, "b", "add"),
            a_result_seen,
            arguments(1, '{"a": 3, "b": 4}'),
            opening(2, "c", "add"),  # a third call: past the limit
            released,  # the rest would come only after the test, and is never read
            arguments(2, "{}"),
            FINISH,
        ),
        ANSWER,
    )
    agent = Agent(client, model="m", tools=[add], eager_tools=True, max_tool_calls_per_turn=2)
    stream_ = agent.run_stream("go")
    seen: list[AgentEvent] = []
    with anyio.fail_after(LIMIT), pytest.raises(ToolCallLimitExceeded) as info:
        async with stream_ as events:
            async for event in events:
                seen.append(event)
                if isinstance(event, ToolResult):
                    a_result_seen.set()
    assert "max_tool_calls_per_turn=2" in str(info.value) and "ran a]" in str(info.value)
    assert info.value.ran_tool_calls == ("a",)
    # No call past the limit started, nor the one it completed: at most limit - 1 run early.
    assert [e.call.id for e in seen if isinstance(e, ToolCallReady)] == ["a"]
    assert ("ToolCallStarted", "c") not in kinds(seen)
    assert [type(m) for m in stream_.messages] == [UserMessage, AssistantMessage, ToolMessage]
    assert stream_.messages[-1].content == "3"  # type: ignore[union-attr]
    assert_transcript_valid(stream_.messages)
    assert info.value.completion is not None  # what arrived, up to the third call
    assert connections_in_use(client) == 0


async def test_a_hook_that_raises_mid_stream_stops_the_turn(
    serve: Serve, released: anyio.Event
) -> None:
    async def approve(call: ToolCall, context: ToolContext[Any]) -> None:
        raise RuntimeError("the approval service is down")

    _, client = await serve(
        paced(
            ROLE,
            opening(0, "a", "add"),
            arguments(0, '{"a": 1, "b": 2}'),
            opening(1, "b", "add"),
            released,  # never, while the test runs: the hook's error must stop the reading
            FINISH,
        )
    )
    agent = Agent(client, model="m", tools=[add], eager_tools=True, before_tool_call=approve)
    stream_ = agent.run_stream("go")
    with anyio.fail_after(LIMIT), pytest.raises(RuntimeError, match="approval service"):
        async with stream_ as events:
            async for _ in events:
                pass
    assert [type(m) for m in stream_.messages] == [UserMessage, AssistantMessage, ToolMessage]
    assert "cancelled" in str(stream_.messages[-1].content)  # type: ignore[union-attr]
    assert_transcript_valid(stream_.messages)
    assert connections_in_use(client) == 0


async def test_leaving_early_cancels_a_call_that_started_mid_stream(
    serve: Serve, released: anyio.Event
) -> None:
    running = anyio.Event()
    cancelled = anyio.Event()

    @tool
    async def watched() -> str:
        """Runs until cancelled."""
        running.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return "never"

    _, client = await serve(
        paced(
            ROLE, opening(0, "a", "watched"), arguments(0, "{}"), opening(1, "b", "add"), released
        )
    )
    agent = Agent(client, model="m", tools=[watched, add], eager_tools=True)
    with anyio.fail_after(LIMIT):
        async with agent.run_stream("go") as events:
            async for event in events:
                if isinstance(event, ToolCallReady):
                    await running.wait()
                    break
    assert cancelled.is_set()
    assert [type(m) for m in events.messages] == [UserMessage, AssistantMessage, ToolMessage]
    assert "cancelled" in str(events.messages[-1].content)  # type: ignore[union-attr]
    assert_transcript_valid(events.messages)
    assert connections_in_use(client) == 0
    leftover = [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task()
        and not getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    ]
    assert [t for t in leftover if "respond" not in repr(t)] == []


async def test_an_interrupt_from_an_early_call_is_raised_bare(
    serve: Serve, released: anyio.Event
) -> None:
    @tool
    async def stop() -> str:
        """The user pressed Ctrl-C while it ran."""
        raise KeyboardInterrupt

    _, client = await serve(
        paced(ROLE, opening(0, "a", "stop"), arguments(0, "{}"), opening(1, "b", "add"), released)
    )
    agent = Agent(client, model="m", tools=[stop, add], eager_tools=True)
    stream_ = agent.run_stream("go")
    with anyio.fail_after(LIMIT), pytest.raises(KeyboardInterrupt) as info:
        async with stream_ as events:
            async for _ in events:
                pass
    assert type(info.value) is KeyboardInterrupt  # not inside an exception group
    assert [type(m) for m in stream_.messages] == [UserMessage, AssistantMessage, ToolMessage]
    assert_transcript_valid(stream_.messages)
    assert connections_in_use(client) == 0
