"""The agent loop under a hostile model and a careless hook (issue 16, items 11 to 17).

Every test runs the real loop against the embedded server on 127.0.0.1. Where a tool must not
run, a side effect records whether it did; where the model must not be told, the test counts
what the server received.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from typing import Any

import anyio
import pytest

from asynctool import (
    Agent,
    Deny,
    InvalidRequestError,
    Rewrite,
    ToolArgumentsError,
    ToolCall,
    ToolCallLimitExceeded,
    ToolCallsTruncatedError,
    ToolContext,
    ToolMessage,
    ToolResult,
    UserMessage,
    tool,
)
from asynctool.testing import call, text, tool_calls
from tests.conftest import Serve


def tool_messages(request: Any) -> list[dict[str, Any]]:
    return [m for m in request.messages if m["role"] == "tool"]


async def drain(stream: Any) -> list[Any]:
    async with stream:
        return [event async for event in stream]


# --------------------------------------------------------------------- 11: calls per turn


async def test_an_answer_with_thousands_of_calls_runs_none_of_them(serve: Serve) -> None:
    ran: list[int] = []

    @tool
    async def transfer(n: int) -> str:
        """Move money: a side effect."""
        ran.append(n)
        return "moved"

    many = tool_calls(*(call("transfer", {"n": i}) for i in range(5000)))
    server, client = await serve(many, text("never asked"))
    with pytest.raises(
        ToolCallLimitExceeded, match=r"5000 tool calls .* max_tool_calls_per_turn=32"
    ) as info:
        await Agent(client, model="m", tools=[transfer]).run("go")
    assert ran == []
    assert len(server.requests) == 1  # the model is not asked again
    # The transcript ends before the refused answer, so it can be sent again as it is...
    assert [type(m) for m in info.value.messages] == [UserMessage]
    # ...and the answer itself is on the error.
    assert info.value.completion is not None
    assert len(info.value.completion.choices[0].message.tool_calls or []) == 5000


async def test_the_cap_is_inclusive_and_configurable(serve: Serve) -> None:
    ran: list[int] = []

    @tool
    async def note(n: int) -> str:
        """Take a note."""
        ran.append(n)
        return "noted"

    three = tool_calls(*(call("note", {"n": i}) for i in range(3)))
    server, client = await serve(three, text("done"), three)
    agent = Agent(client, model="m", tools=[note], max_tool_calls_per_turn=3)
    assert (await agent.run("go")).output == "done"
    assert sorted(ran) == [0, 1, 2]

    strict = Agent(client, model="m", tools=[note], max_tool_calls_per_turn=2)
    with pytest.raises(ToolCallLimitExceeded, match="3 tool calls in one turn"):
        await drain(strict.run_stream("go"))
    assert sorted(ran) == [0, 1, 2]  # the third turn's calls never ran
    assert len(server.requests) == 3


def test_the_cap_must_be_a_positive_int() -> None:
    from asynctool import AsyncClient

    client = AsyncClient(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(InvalidRequestError) as info:
        Agent(client, model="m", max_tool_calls_per_turn=0)
    assert info.value.field == "max_tool_calls_per_turn"


# --------------------------------------------------------------------- 12: fails closed


@pytest.mark.parametrize(
    "decision",
    [Deny, Rewrite, False, True, "deny", "allow", 0, {"arguments": "{}"}],
    ids=repr,
)
async def test_only_an_explicit_approval_runs_a_call(serve: Serve, decision: object) -> None:
    ran: list[str] = []

    @tool
    async def transfer(to: str) -> str:
        """Move money."""
        ran.append(to)
        return "moved"

    async def approve(call: ToolCall, context: ToolContext[Any]) -> Any:
        return decision

    server, client = await serve(tool_calls(call("transfer", {"to": "mallory"})), text("done"))
    agent = Agent(client, model="m", tools=[transfer], before_tool_call=approve)
    stream = agent.run_stream("go")
    with pytest.raises(TypeError, match="before_tool_call returned") as info:
        await drain(stream)
    assert ran == []
    assert len(server.requests) == 1  # raised to the caller, not fed to the model
    assert "return None to run it" in str(info.value)
    if decision is Deny:
        assert "the class Deny" in str(info.value)
    last = stream.messages[-1]  # the call is still answered: the transcript can be resent
    assert isinstance(last, ToolMessage) and "cancelled" in str(last.content)


async def test_a_bad_decision_among_several_calls_stops_them_all(serve: Serve) -> None:
    ran: list[str] = []

    @tool
    async def transfer(to: str) -> str:
        """Move money."""
        ran.append(to)
        return "moved"

    async def approve(call: ToolCall, context: ToolContext[Any]) -> Any:
        if call.id == "bad":
            return False
        await asyncio.sleep(0.2)  # the others would run after this, had the run gone on
        return None

    server, client = await serve(
        tool_calls(
            call("transfer", {"to": "a"}, id="ok1"),
            call("transfer", {"to": "b"}, id="bad"),
            call("transfer", {"to": "c"}, id="ok2"),
        )
    )
    agent = Agent(client, model="m", tools=[transfer], before_tool_call=approve)
    with pytest.raises(TypeError, match="returned False for the call bad"):
        await agent.run("go")
    assert ran == []
    assert len(server.requests) == 1


async def test_a_call_that_ran_before_the_turn_failed_keeps_its_result(serve: Serve) -> None:
    @tool
    async def transfer(to: str) -> str:
        """Move money."""
        return f"moved to {to}"

    async def approve(call: ToolCall, context: ToolContext[Any]) -> Any:
        if call.id == "bad":
            await asyncio.sleep(0.1)  # the other call has finished by then
            return False
        return None

    _, client = await serve(
        tool_calls(call("transfer", {"to": "a"}, id="ok"), call("transfer", {"to": "b"}, id="bad"))
    )
    agent = Agent(client, model="m", tools=[transfer], before_tool_call=approve)
    stream = agent.run_stream("go")
    with pytest.raises(TypeError, match="returned False for the call bad") as info:
        await drain(stream)
    assert info.value.ran_tool_calls == ("ok",)  # type: ignore[attr-defined]
    ran, stopped = stream.messages[-2:]
    # Sent again, the transcript must not tell the model that a transfer which happened did not.
    assert isinstance(ran, ToolMessage) and ran.content == "moved to a"
    assert isinstance(stopped, ToolMessage) and "cancelled" in str(stopped.content)


async def test_a_rewrite_the_tool_refuses_is_the_hooks_bug(serve: Serve) -> None:
    ran: list[int] = []

    @tool
    async def add(a: int, b: int) -> int:
        """Add."""
        ran.append(a)
        return a + b

    async def rewrite(call: ToolCall, context: ToolContext[Any]) -> Rewrite:
        return Rewrite({"a": "one", "b": 2})

    adding = tool_calls(call("add", {"a": 1, "b": 2}))
    server, client = await serve(adding, adding)
    agent = Agent(client, model="m", tools=[add], before_tool_call=rewrite)
    with pytest.raises(ToolArgumentsError, match="before_tool_call rewrote the arguments"):
        await agent.run("go")
    assert ran == []
    assert len(server.requests) == 1

    async def not_arguments(call: ToolCall, context: ToolContext[Any]) -> Rewrite:
        return Rewrite(42)  # type: ignore[arg-type]

    agent = Agent(client, model="m", tools=[add], before_tool_call=not_arguments)
    with pytest.raises(TypeError, match="dict or JSON text"):
        await agent.run("go")
    assert ran == []
    assert len(server.requests) == 2


# --------------------------------------------------------------------- 13: hooks checked


async def _async_two(call: ToolCall, context: ToolContext[Any]) -> None:
    return None


async def _async_one(call: ToolCall) -> None:
    return None


@pytest.mark.parametrize(
    ("option", "hook", "message"),
    [
        ("before_tool_call", lambda call, context: None, "got a plain function"),
        ("before_tool_call", _async_one, "taking \\(call, context\\)"),
        ("before_tool_call", functools.partial(_async_two, None, None), "too many"),
        ("before_tool_call", "approve", "got str"),
        ("after_response", lambda completion: None, "got a plain function"),
        ("after_response", _async_two, "missing a required argument"),
        ("tool_error_handler", _async_two, "got an async function"),
        ("tool_error_handler", lambda call: "x", "taking \\(call, error\\)"),
    ],
)
def test_hooks_are_checked_when_the_agent_is_made(option: str, hook: Any, message: str) -> None:
    from asynctool import AsyncClient

    client = AsyncClient(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(InvalidRequestError, match=message) as info:
        Agent(client, model="m", **{option: hook})
    assert info.value.field == option


def test_every_documented_form_of_a_hook_is_accepted() -> None:
    from asynctool import AsyncClient

    class Approver:
        async def __call__(self, call: ToolCall, context: ToolContext[Any]) -> None:
            return None

        async def method(self, call: ToolCall, context: ToolContext[Any]) -> None:
            return None

    async def with_default(call: ToolCall, context: ToolContext[Any], log: bool = False) -> None:
        return None

    async def three(prefix: str, call: ToolCall, context: ToolContext[Any]) -> None:
        return None

    async def anything(*args: Any) -> None:
        return None

    client = AsyncClient(base_url="http://127.0.0.1:1/v1")
    hooks = [Approver(), Approver().method, with_default, functools.partial(three, "p"), anything]
    for hook in hooks:
        Agent(client, model="m", before_tool_call=hook)
    Agent(client, model="m", tool_error_handler=lambda call, error: "x", after_response=anything)
    Agent(client, model="m", before_tool_call=None, after_response=None)


async def test_a_hook_that_raises_is_raised_not_told_to_the_model(serve: Serve) -> None:
    ran: list[str] = []

    @tool
    async def transfer(to: str) -> str:
        """Move money."""
        ran.append(to)
        return "moved"

    async def approve(call: ToolCall, context: ToolContext[Any]) -> None:
        raise KeyError("the policy table is empty")

    for count in (1, 3):  # the same whether the call runs alone or beside others
        calls = [call("transfer", {"to": f"x{i}"}) for i in range(count)]
        server, client = await serve(tool_calls(*calls), text("done"))
        agent = Agent(client, model="m", tools=[transfer], before_tool_call=approve)
        with pytest.raises(KeyError, match="the policy table is empty"):
            await agent.run("go")
        assert ran == []
        assert len(server.requests) == 1


async def test_an_error_handler_that_returns_no_text_is_raised(serve: Serve) -> None:
    @tool
    async def fail() -> str:
        """Fail."""
        raise RuntimeError("down")

    def handler(call: ToolCall, error: Exception) -> str:
        return None  # type: ignore[return-value]

    server, client = await serve(tool_calls(call("fail", {})), text("done"))
    with pytest.raises(TypeError, match="tool_error_handler returned NoneType"):
        await Agent(client, model="m", tools=[fail], tool_error_handler=handler).run("go")
    assert len(server.requests) == 1


# --------------------------------------------------------------------- 14: rewrite recorded


async def test_a_rewrite_is_recorded_in_the_results(serve: Serve) -> None:
    @tool
    async def search(query: str, limit: int = 10) -> str:
        """Search."""
        return f"{limit} results for {query}"

    async def clamp(call: ToolCall, context: ToolContext[Any]) -> Rewrite | None:
        if call.id == "big":
            return Rewrite({"query": "cats", "limit": 5})
        return None

    turn = tool_calls(
        call("search", {"query": "cats", "limit": 1000}, id="big"),
        call("search", {"query": "dogs"}, id="small"),
    )
    server, client = await serve(turn, text("ok"), turn, text("ok"))
    agent = Agent(client, model="m", tools=[search], before_tool_call=clamp)

    result = await agent.run("go")
    big, small = result.tool_results
    assert (big.call.id, big.rewritten_arguments) == ("big", '{"query":"cats","limit":5}')
    assert big.content == "5 results for cats"
    assert (small.call.id, small.rewritten_arguments) == ("small", None)
    # The transcript keeps the model's own call; the tool message is the rewritten call's.
    sent = server.requests[1].messages
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"query":"cats","limit":1000}'
    assert [m["content"] for m in tool_messages(server.requests[1])] == [
        "5 results for cats",
        "10 results for dogs",
    ]

    events = await drain(agent.run_stream("go"))
    streamed = [e for e in events if isinstance(e, ToolResult)]
    assert [e.rewritten_arguments for e in streamed] == ['{"query":"cats","limit":5}', None]
    assert events[-1].result.tool_results == streamed


async def test_tool_results_span_every_turn(serve: Serve) -> None:
    @tool
    async def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    _, client = await serve(
        tool_calls(call("add", {"a": 1, "b": 2})),
        tool_calls(call("nope", {}), call("add", {"a": 3, "b": 4})),
        text("done"),
    )
    result = await Agent(client, model="m", tools=[add]).run("go")
    assert [(r.turn, r.content, r.is_error) for r in result.tool_results] == [
        (1, "3", False),
        (2, result.tool_results[1].content, True),
        (2, "7", False),
    ]


# --------------------------------------------------------------------- 15: abandoned threads


class Gauge:
    """Counts the threads inside a sync tool, and the most there were at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.running -= 1

    async def wait_idle(self) -> None:
        with anyio.fail_after(10):
            while self.running:  # noqa: ASYNC110 - threads change it; they cannot set an Event
                await asyncio.sleep(0.01)


async def test_timed_out_sync_calls_keep_their_slot_until_the_thread_ends(serve: Serve) -> None:
    gauge = Gauge()

    @tool(timeout=0.05)
    def slow_lookup(n: int) -> str:
        """A blocking call that takes too long."""
        with gauge:
            time.sleep(0.15)
        return "late"

    server, client = await serve(
        tool_calls(*(call("slow_lookup", {"n": i}) for i in range(40))), text("done")
    )
    agent = Agent(
        client,
        model="m",
        tools=[slow_lookup],
        max_concurrency=8,
        max_tool_errors=100,
        max_tool_calls_per_turn=40,
    )
    try:
        await agent.run("go")
        assert gauge.peak <= 8
        assert gauge.running <= 8  # what is left running when the run returns
    finally:
        await gauge.wait_idle()
    contents = [m["content"] for m in tool_messages(server.requests[1])]
    assert len(contents) == 40 and all("did not finish within 0.05s" in c for c in contents)


async def test_an_abandoned_thread_still_counts_in_the_next_turn(serve: Serve) -> None:
    gauge = Gauge()

    @tool(timeout=0.05)
    def slow_lookup() -> str:
        """A blocking call that takes too long."""
        with gauge:
            time.sleep(0.2)
        return "late"

    again = tool_calls(call("slow_lookup", {}))
    _, client = await serve(again, again, again, text("done"))
    agent = Agent(client, model="m", tools=[slow_lookup], max_concurrency=1, max_tool_errors=9)
    try:
        await agent.run("go")
        assert gauge.peak == 1
    finally:
        await gauge.wait_idle()


async def test_sync_tools_still_run_concurrently_within_the_bound(serve: Serve) -> None:
    gauge = Gauge()
    barrier = threading.Barrier(4, timeout=5)

    @tool
    def meet(n: int) -> int:
        """Wait for the other three."""
        with gauge:
            barrier.wait()  # breaks (and fails the call) unless all four run at once
        return n

    server, client = await serve(
        tool_calls(*(call("meet", {"n": i}) for i in range(4))), text("done")
    )
    await Agent(client, model="m", tools=[meet], max_concurrency=4).run("go")
    assert [m["content"] for m in tool_messages(server.requests[1])] == ["0", "1", "2", "3"]
    assert gauge.peak == 4


def test_a_thread_that_outlives_its_event_loop_ends_quietly() -> None:
    """The thread gives its slot back through the loop; a closed loop must not hang or break
    it (worker threads are not daemons: a hung one would keep the interpreter from exiting)."""
    from asynctool import AsyncClient
    from asynctool.testing import ModelServer, ScriptedModel

    done = threading.Event()
    failures: list[BaseException] = []

    @tool(timeout=0.05)
    def slow() -> str:
        """Outlives the run."""
        time.sleep(0.3)
        done.set()
        return "late"

    async def main() -> None:
        script = ScriptedModel([tool_calls(call("slow", {})), text("gave up")])
        async with (
            ModelServer(script) as server,
            AsyncClient(base_url=server.base_url) as client,
        ):
            await Agent(client, model="m", tools=[slow]).run("go")

    previous = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)  # type: ignore[assignment]
    try:
        asyncio.run(main())
        assert not done.is_set()  # the loop is gone, and the thread still runs
        assert done.wait(5)
        worker = [t for t in threading.enumerate() if t.name == "AnyIO worker thread"]
        for thread in worker:
            thread.join(5)
        assert not any(t.is_alive() for t in worker)
    finally:
        threading.excepthook = previous
    assert failures == []


# --------------------------------------------------------------------- 16: BaseException


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("count", [1, 2, 3])
async def test_interrupts_from_a_tool_are_raised_bare(
    serve: Serve, interrupt: type[BaseException], count: int
) -> None:
    @tool
    async def stop() -> str:
        """Stop everything."""
        raise interrupt()

    @tool
    async def wait() -> str:
        """Wait a little."""
        await asyncio.sleep(5)
        return "waited"

    calls = [call("stop", {})] + [call("wait", {}) for _ in range(count - 1)]
    server, client = await serve(tool_calls(*calls), text("done"))
    stream = Agent(client, model="m", tools=[stop, wait]).run_stream("go")
    with pytest.raises(interrupt) as info:
        await drain(stream)
    assert type(info.value) is interrupt  # not a BaseExceptionGroup
    assert len(server.requests) == 1
    assert [type(m) for m in stream.messages[-count:]] == [ToolMessage] * count


async def test_an_interrupt_from_a_sync_tool_is_raised_bare(serve: Serve) -> None:
    @tool
    def stop() -> str:
        """Stop everything, from a thread."""
        raise KeyboardInterrupt

    _, client = await serve(tool_calls(call("stop", {}), call("stop", {})), text("done"))
    with pytest.raises(KeyboardInterrupt):
        await Agent(client, model="m", tools=[stop]).run("go")


@pytest.mark.parametrize("count", [1, 2])
async def test_a_stray_cancelled_error_is_the_tools_failure(serve: Serve, count: int) -> None:
    @tool
    async def flaky() -> str:
        """Awaits a task it cancelled itself, and lets the CancelledError out."""
        inner = asyncio.create_task(asyncio.sleep(5))
        inner.cancel()
        await inner
        return "never"

    @tool
    def flaky_sync() -> str:
        """Raises CancelledError from a thread."""
        raise asyncio.CancelledError

    @tool
    async def fine() -> str:
        """Works."""
        return "fine"

    calls = [*[call("flaky", {}), call("flaky_sync", {})][:count], call("fine", {})]
    server, client = await serve(tool_calls(*calls), text("recovered"))
    result = await Agent(client, model="m", tools=[flaky, flaky_sync, fine]).run("go")
    assert result.output == "recovered"
    contents = [m["content"] for m in tool_messages(server.requests[1])]
    assert contents[-1] == "fine"
    for content in contents[:-1]:
        assert "raised CancelledError while it was not cancelled" in content


def long_tool(count: int, all_started: anyio.Event, finished: list[str]) -> Any:
    """A tool that runs until cancelled; `all_started` is set once `count` calls run."""
    started: list[str] = []

    @tool
    async def long() -> str:
        """Runs until cancelled."""
        started.append("started")
        if len(started) == count:
            all_started.set()
        try:
            await asyncio.sleep(30)
        finally:
            finished.append("cleaned up")
        return "never"

    return long


async def test_cancelling_the_run_still_cancels_its_tools(serve: Serve) -> None:
    finished: list[str] = []
    for count in (1, 2):
        all_started = anyio.Event()
        long = long_tool(count, all_started, finished)
        _, client = await serve(tool_calls(*[call("long", {}) for _ in range(count)]))
        task = asyncio.create_task(Agent(client, model="m", tools=[long]).run("go"))
        with anyio.fail_after(5):
            await all_started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert finished == ["cleaned up"] * 3


# --------------------------------------------------------------------- 17: deep JSON


@pytest.mark.parametrize(
    "arguments", ["[" * 100_000, "[" * 100_000 + "]" * 100_000], ids=["cut", "whole"]
)
async def test_arguments_nested_too_deep_are_a_documented_error(
    serve: Serve, arguments: str
) -> None:
    ran: list[object] = []

    @tool
    async def record(value: Any) -> str:
        """Record a value."""
        ran.append(value)
        return "ok"

    _, client = await serve(tool_calls(call("record", arguments), finish_reason="length"))
    with pytest.raises(ToolCallsTruncatedError):
        await Agent(client, model="m", tools=[record]).run("go")
    assert ran == []
