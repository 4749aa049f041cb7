"""asynctool.dbos: an agent run as a DBOS workflow, against SQLite in tmp_path and a real
model server on 127.0.0.1.

DBOS records each step's output and, after a crash, runs the workflow again from the start,
each finished step answered from its record ("If a workflow is interrupted for any reason,
DBOS automatically recovers its execution from the last completed step",
https://docs.dbos.dev/python/tutorials/workflow-tutorial). The crash test kills a process
with SIGKILL between a turn's tools and the next answer, and recovers the run in another.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

pytest.importorskip("dbos")

from dbos import DBOS

from asynctool import (
    Agent,
    Answer,
    Approve,
    BadRequestError,
    Defer,
    Deny,
    InvalidRequestError,
    Message,
    PausedRun,
    Rewrite,
)
from asynctool._dbos import _Decision
from asynctool.dbos import DBOSAgent, DurableRunError
from asynctool.testing import (
    Handler,
    ModelServer,
    RecordedRequest,
    ScriptedModel,
    call,
    status,
    text,
    tool_calls,
)

from ._dbos_agents import TASK, agent, config, ran
from .conftest import serving

ROOT = Path(__file__).resolve().parent.parent

BOOK_AND_WEATHER = tool_calls(
    call("book", {"flight": "OS123"}, id="b"), call("weather", {"city": "Oslo"}, id="w")
)
ANSWER = text("Booked OS123, seat 12A; it is sunny in Oslo.")


@asynccontextmanager
async def launched(
    tmp_path: Path, plain: Agent[Any], **options: Any
) -> AsyncIterator[DBOSAgent[Any]]:
    """DBOS launched on a SQLite file in `tmp_path`, with `plain` made durable."""
    durable = DBOSAgent(plain, deps=tmp_path, **options)
    DBOS(config=config(tmp_path / "dbos.sqlite"))
    DBOS.launch()
    try:
        yield durable
    finally:
        DBOS.destroy(destroy_registry=True)


def encoded(messages: list[Message]) -> list[Any]:
    return msgspec.to_builtins(messages)  # type: ignore[no-any-return]


async def test_parallel_tools_give_the_transcript_of_a_plain_run(tmp_path: Path) -> None:
    plain_records = tmp_path / "plain"
    plain_records.mkdir()
    async with serving(BOOK_AND_WEATHER, ANSWER) as (plain_server, client):
        expected = await agent(client).run(TASK, deps=plain_records)
    async with serving(BOOK_AND_WEATHER, ANSWER) as (server, client):
        async with launched(tmp_path, agent(client)) as durable:
            result = await durable.run(TASK, workflow_id="trip-1")
            again = await durable.result("trip-1")  # read back from the database
            steps = await DBOS.list_workflow_steps_async("trip-1")
            (status_row,) = await DBOS.list_workflows_async(workflow_ids=["trip-1"])
    assert encoded(result.messages) == encoded(expected.messages)
    assert result.output == expected.output == "Booked OS123, seat 12A; it is sunny in Oslo."
    assert encoded(again.messages) == encoded(expected.messages)
    assert again.output == result.output and again.usage == result.usage
    assert [r.content for r in again.tool_results] == [r.content for r in expected.tool_results]
    # The server was sent the same requests, and each tool ran once.
    assert [r.json for r in server.requests] == [r.json for r in plain_server.requests]
    assert ran(tmp_path, "book") == ["OS123"] and ran(tmp_path, "weather") == ["Oslo"]
    # Every request and call is a step, in the order of the run; each output is JSON, and
    # nothing DBOS recorded holds the API key.
    names = [step["function_name"] for step in steps]
    assert names == [
        "asynctool.model_request",
        "asynctool.tool_call:book",
        "asynctool.tool_call:weather",
        "asynctool.model_request",
    ]
    outputs = [msgspec.json.decode(step["output"]) for step in steps]
    assert outputs[1]["outcome"]["result"]["content"] == "booked OS123, seat 12A"
    recorded = repr(steps) + repr(status_row.input) + repr(status_row.output)
    assert "sk-test" not in recorded and TASK in recorded


async def test_a_run_replayed_from_its_record_gives_the_same_transcript(tmp_path: Path) -> None:
    async with serving(BOOK_AND_WEATHER, ANSWER, ANSWER) as (server, client):
        async with launched(tmp_path, agent(client)) as durable:
            result = await durable.run(TASK, workflow_id="trip-3")
            # A new workflow from step 4 (the last request): steps 1 to 3 are read back from
            # the record, the request is sent again.
            fork = await DBOS.fork_workflow_async("trip-3", 4)
            replayed = await durable.result(fork.workflow_id)
    assert encoded(replayed.messages) == encoded(result.messages)
    assert replayed.usage == result.usage
    assert ran(tmp_path, "book") == ["OS123"] and ran(tmp_path, "weather") == ["Oslo"]
    assert len(server.requests) == 3
    assert server.requests[2].json == server.requests[1].json
    assert [r.content for r in replayed.tool_results] == [r.content for r in result.tool_results]


async def test_a_workflow_id_runs_once(tmp_path: Path) -> None:
    async with serving(BOOK_AND_WEATHER, ANSWER) as (server, client):
        async with launched(tmp_path, agent(client)) as durable:
            started = await durable.start(TASK, workflow_id="trip-2")
            first = await durable.result(started)
            second = await durable.run(TASK, workflow_id="trip-2")
    assert encoded(second.messages) == encoded(first.messages)
    assert len(server.requests) == 2
    assert ran(tmp_path, "book") == ["OS123"]


async def test_a_500_is_retried_as_a_step_with_the_same_idempotency_key(tmp_path: Path) -> None:
    # The client does not retry (max_retries=0): the second attempt is DBOS's.
    turns = (tool_calls(call("weather", {"city": "Oslo"})), status(500), text("Sunny."))
    async with serving(*turns, max_retries=0) as (server, client):
        async with launched(tmp_path, agent(client), retry_interval=0.01) as durable:
            result = await durable.run("Weather in Oslo?", workflow_id="order 7/a")
    assert result.output == "Sunny."
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    # The workflow id quoted into the header; the key is the request's, not the attempt's.
    first, second = "asynctool-order%207%2Fa-1", "asynctool-order%207%2Fa-2"
    assert keys == [first, second, second]
    assert server.model.requests == 2  # ScriptedModel saw the third as a retry of the second


async def test_a_request_the_client_would_not_retry_ends_the_run(tmp_path: Path) -> None:
    async with serving(status(400, "no such model"), max_retries=0) as (server, client):
        async with launched(tmp_path, agent(client), retry_interval=0.01) as durable:
            with pytest.raises(BadRequestError) as raised:
                await durable.run(TASK, workflow_id="bad-1")
            # Read back from the database: the error's class name, text and transcript.
            with pytest.raises(DurableRunError) as stored:
                await durable.result("bad-1")
            # Replayed, the recorded failure is raised again; nothing is sent.
            fork = await DBOS.fork_workflow_async("bad-1", 2)
            with pytest.raises(DurableRunError) as replayed:
                await durable.result(fork.workflow_id)
    assert replayed.value.error_type == "BadRequestError"
    assert "no such model" in str(replayed.value)
    assert len(server.requests) == 1
    assert raised.value.status_code == 400 and "no such model" in str(raised.value)
    assert stored.value.error_type == "BadRequestError"
    assert "no such model" in str(stored.value)
    assert encoded(stored.value.messages) == encoded(raised.value.messages)


async def test_retries_run_out_with_the_last_error(tmp_path: Path) -> None:
    async with serving(status(503), status(503), max_retries=0) as (server, client):
        async with launched(
            tmp_path, agent(client), model_attempts=2, retry_interval=0.01
        ) as durable:
            with pytest.raises(Exception) as raised:
                await durable.run(TASK)
    assert getattr(raised.value, "status_code", None) == 503
    assert len(server.requests) == 2


async def books_wait(call: Any, context: Any) -> Defer | None:
    return Defer("a person books flights") if call.function.name == "book" else None


async def test_a_paused_run_is_resumed_as_a_workflow(tmp_path: Path) -> None:
    plain_records = tmp_path / "plain"
    plain_records.mkdir()
    async with serving(BOOK_AND_WEATHER, ANSWER) as (_, client):
        plain = agent(client, before_tool_call=books_wait)
        paused = await plain.run(TASK, deps=plain_records)
        assert paused.paused is not None
        expected = await plain.resume(paused.paused, {"b": Approve()}, deps=plain_records)
    async with serving(BOOK_AND_WEATHER, ANSWER) as (server, client):
        async with launched(tmp_path, agent(client, before_tool_call=books_wait)) as durable:
            first = await durable.run(TASK, workflow_id="wait-1")
            assert first.paused is not None and [p.call.id for p in first.pending] == ["b"]
            assert ran(tmp_path, "book") == [] and ran(tmp_path, "weather") == ["Oslo"]
            again = await durable.result("wait-1")  # the paused state, read back
            assert again.paused == first.paused
            with pytest.raises(InvalidRequestError, match="decisions"):
                await durable.resume(first.paused, {})
            saved = PausedRun.from_json(first.paused.to_json())  # another day, maybe
            result = await durable.resume(saved, {"b": Approve()}, workflow_id="wait-2")
            steps = await DBOS.list_workflow_steps_async("wait-2")
    assert result.output == expected.output
    assert encoded(result.messages) == encoded(expected.messages)
    assert ran(tmp_path, "book") == ["OS123"] and ran(tmp_path, "weather") == ["Oslo"]
    names = [step["function_name"] for step in steps]
    assert names == ["asynctool.tool_call:book", "asynctool.model_request"]
    assert server.requests[1].headers["Idempotency-Key"] == "asynctool-wait-2-1"


async def test_decisions_cross_the_workflow_input(tmp_path: Path) -> None:
    decisions: list[Any] = [Deny("no"), Deny(), Rewrite({"flight": "OS99"}), Answer({"seat": 3})]
    decisions += [Approve(), Defer("later")]
    async with serving(BOOK_AND_WEATHER) as (_, client):
        async with launched(tmp_path, agent(client, before_tool_call=books_wait)) as durable:
            first = await durable.run(TASK)
            assert first.paused is not None
            with pytest.raises(InvalidRequestError, match="cannot be stored"):
                await durable.resume(first.paused, {"b": Answer(object())})
    for decision in decisions:
        stored = msgspec.json.decode(
            msgspec.json.encode(_Decision.of("b", decision)), type=_Decision
        )
        assert stored.decision() == decision


async def test_a_hook_that_raises_is_raised_to_the_caller(tmp_path: Path) -> None:
    async def hook(call: Any, context: Any) -> None:
        if call.function.name == "book":
            raise RuntimeError("the hook's own bug")

    async with serving(BOOK_AND_WEATHER, ANSWER) as (server, client):
        async with launched(tmp_path, agent(client, before_tool_call=hook)) as durable:
            with pytest.raises(RuntimeError, match="the hook's own bug"):
                await durable.run(TASK, workflow_id="hook-1")
            with pytest.raises(DurableRunError) as stored:
                await durable.result("hook-1")
            # Replayed from after the tools' steps: the recorded error, the hook not called.
            fork = await DBOS.fork_workflow_async("hook-1", 4)
            with pytest.raises(DurableRunError) as replayed:
                await durable.result(fork.workflow_id)
    assert stored.value.error_type == "RuntimeError"
    assert replayed.value.error_type == "RuntimeError"
    assert "the hook's own bug" in str(replayed.value)
    assert len(server.requests) == 1 and ran(tmp_path, "book") == []


async def test_the_wall_time_budget_counts_from_the_first_start(tmp_path: Path) -> None:
    async with serving(ANSWER) as (_, client):
        async with launched(tmp_path, agent(client, max_run_seconds=60)) as durable:
            result = await durable.run(TASK, workflow_id="timed-1")
            steps = await DBOS.list_workflow_steps_async("timed-1")
    assert result.output == "Booked OS123, seat 12A; it is sunny in Oslo."
    # The start time is a step: a recovered run reads it back instead of starting again.
    assert [step["function_name"] for step in steps] == [
        "asynctool.started",
        "asynctool.model_request",
    ]


async def test_bad_input_and_options_are_refused_before_anything_starts(tmp_path: Path) -> None:
    async with serving() as (server, client):
        with pytest.raises(InvalidRequestError, match="model_attempts"):
            DBOSAgent(agent(client), model_attempts=0)
        with pytest.raises(InvalidRequestError, match="retry_interval"):
            DBOSAgent(agent(client), retry_interval=-1)
        with pytest.raises(InvalidRequestError, match="retry_interval"):
            DBOSAgent(agent(client), retry_interval="1")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError, match="name"):
            DBOSAgent(agent(client), name="")
        with pytest.raises(InvalidRequestError, match="agent"):
            DBOSAgent(client)  # type: ignore[arg-type]
        async with launched(tmp_path, agent(client)) as durable:
            with pytest.raises(InvalidRequestError, match="messages"):
                await durable.run([])
            workflows = await DBOS.list_workflows_async()
    assert workflows == [] and server.requests == []


def process(server: ModelServer, mode: str, tmp_path: Path, workflow_id: str) -> Any:
    """`tests._dbos_agents` in a process of its own, on the database in `tmp_path`."""
    return asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests._dbos_agents",
        mode,
        str(tmp_path / "dbos.sqlite"),
        server.base_url,
        str(tmp_path),
        workflow_id,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def killed(first: asyncio.subprocess.Process) -> None:
    first.send_signal(signal.SIGKILL)
    await first.wait()
    assert first.returncode == -signal.SIGKILL


async def recovered(server: ModelServer, tmp_path: Path, workflow_id: str) -> Any:
    """The result of `workflow_id`, recovered by a new process: launching DBOS is all it does."""
    second = await process(server, "recover", tmp_path, workflow_id)
    out, err = await asyncio.wait_for(second.communicate(), 60)
    assert second.returncode == 0, err.decode()[-3000:]
    return msgspec.json.decode(out)


async def test_a_run_killed_after_its_tools_is_recovered_without_running_them_again(
    tmp_path: Path,
) -> None:
    records = tmp_path
    second_request = asyncio.Event()

    async def unanswered(request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()  # until the process that sent it is killed
        raise AssertionError("unreachable")  # pragma: no cover

    def arrived(request: RecordedRequest) -> Handler:
        second_request.set()
        return Handler(unanswered)

    model = ScriptedModel([BOOK_AND_WEATHER, arrived, ANSWER])
    async with ModelServer(model) as server:
        first = await process(server, "start", tmp_path, "trip-9")
        await asyncio.wait_for(second_request.wait(), 60)
        # Both tools have run and their steps are recorded; the next answer has not come.
        assert ran(records, "book") == ["OS123"] and ran(records, "weather") == ["Oslo"]
        await killed(first)
        result = await recovered(server, tmp_path, "trip-9")
    # The run completed in the second process, and each tool ran exactly once.
    assert result["output"] == "Booked OS123, seat 12A; it is sunny in Oslo."
    assert ran(records, "book") == ["OS123"] and ran(records, "weather") == ["Oslo"]
    assert result["tool_results"] == ["booked OS123, seat 12A", "sunny in Oslo"]
    # The request the killed process had sent was sent again with its key, and what the
    # second process sent held the first one's tool results.
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert keys == ["asynctool-trip-9-1", "asynctool-trip-9-2", "asynctool-trip-9-2"]
    sent = server.requests[2].json["messages"]
    assert [(m["tool_call_id"], m["content"]) for m in sent if m["role"] == "tool"] == [
        ("b", "booked OS123, seat 12A"),
        ("w", "sunny in Oslo"),
    ]
    assert server.requests[2].json == server.requests[1].json
    # The transcript is a plain run's.
    plain_records = tmp_path / "plain"
    plain_records.mkdir()
    async with serving(BOOK_AND_WEATHER, ANSWER) as (_, client):
        expected = await agent(client).run(TASK, deps=plain_records)
    assert result["messages"] == encoded(expected.messages)


async def test_a_call_of_a_tool_that_is_not_idempotent_is_not_run_again(tmp_path: Path) -> None:
    # The process dies while the card is being charged: whether the charge went through is
    # unknown, so the recovered run does not charge again; the model is told.
    turns = [tool_calls(call("charge", {"amount": 40}, id="c")), text("Please check your card.")]
    async with ModelServer(ScriptedModel(turns)) as server:
        first = await process(server, "start:Charge me 40 euros", tmp_path, "pay-1")
        assert first.stdout is not None
        assert await asyncio.wait_for(first.stdout.readline(), 60) == b"charging\n"
        assert ran(tmp_path, "charge") == ["40"]  # under way
        await killed(first)
        result = await recovered(server, tmp_path, "pay-1")
    assert ran(tmp_path, "charge") == ["40"]
    assert result["output"] == "Please check your card."
    (told,) = [m for m in server.requests[1].json["messages"] if m["role"] == "tool"]
    assert told["tool_call_id"] == "c"
    assert "stopped before it finished; it was not run again" in told["content"]
    assert told["content"].startswith("Error")
    assert len(server.requests) == 2
