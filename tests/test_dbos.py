"""Durable runs on DBOS (asynctool.dbos), on SQLite files in a temporary folder, against the
scripted model server: the transcript of a plain run, and a process killed (SIGKILL) after a
tool finished and before the next model request, whose run the next process recovers
without running the tool again.

DBOS's behaviours relied on: a step's output is checkpointed, and a workflow recovered on
`DBOS.launch()` resumes from its last completed step
(https://docs.dbos.dev/python/tutorials/step-tutorial); a workflow id starts one workflow
(https://docs.dbos.dev/python/reference/contexts#setworkflowid).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

pytest.importorskip("dbos", reason="pip install 'asynctool[dbos]'")

from dbos import DBOS

from asynctool import Approve
from asynctool.dbos import agent_run, register_agents, result_from
from asynctool.testing import ModelServer, ScriptedModel, call, text, tool_calls

from . import _temporal_agents as agents
from .conftest import serving

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ASYNCTOOL_TEST_COUNTS", str(tmp_path))
    return tmp_path


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[None]:
    DBOS(config={"name": "asynctool-test", "system_database_url": f"sqlite:///{tmp_path}/db"})
    DBOS.launch()
    try:
        yield
    finally:
        DBOS.destroy()


PARALLEL = (
    tool_calls(
        call("weather", {"city": "Paris"}, id="a"),
        call("hotel", {"city": "Paris"}, id="b"),
        call("book_flight", {"city": "Paris"}, id="c"),
        call("weather", {"town": 3}, id="e"),
    ),
    text("Paris is sunny; the hotel is booked."),
)


async def test_a_run_gives_a_plain_runs_transcript(launched: None, counts: Path) -> None:
    async with serving(*PARALLEL) as (plain_server, plain_client):
        plain = await agents.travel(plain_client).run("Plan Paris", deps="ann")
    async with serving(*PARALLEL) as (server, client):
        register_agents(agents.travel(client, name="dbos-parallel"))
        handle = await DBOS.start_workflow_async(agent_run, "dbos-parallel", "Plan Paris", "ann")
        result = result_from(await handle.get_result())
    assert msgspec.to_builtins(result.messages) == msgspec.to_builtins(plain.messages)
    assert result.output == plain.output
    assert [r.body for r in server.requests] == [r.body for r in plain_server.requests]
    keys = [r.headers["Idempotency-Key"] for r in server.requests]
    assert keys == [f"asynctool-{handle.workflow_id}-1", f"asynctool-{handle.workflow_id}-2"]
    assert agents.ran(counts, "book_flight") == 2  # once per run


async def test_a_killed_process_leaves_its_run_to_the_next_and_the_tool_runs_once(
    counts: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "holding"
    database = tmp_path / "runs.sqlite"
    model = ScriptedModel(
        [tool_calls(call("book_flight", {"city": "Oslo"}, id="f")), text("Booked.")]
    )
    async with ModelServer(model) as server:
        env = {**os.environ, "ASYNCTOOL_TEST_MODEL_URL": server.base_url}
        command = [sys.executable, "-m", "tests._dbos_worker", str(database), "run-1"]
        first = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env={**env, "ASYNCTOOL_TEST_HOLD": str(hold)}
        )
        try:
            for _ in range(600):
                if hold.exists() or first.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            assert hold.exists()  # the tool's step is recorded; the next request is held
            assert agents.ran(counts, "book_flight") == 1 and len(server.requests) == 1
            first.send_signal(signal.SIGKILL)
            await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        second = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(second.communicate(), 60)
    result = result_from(json.loads(out.decode().splitlines()[-1]))
    assert result.output == "Booked."
    assert agents.ran(counts, "book_flight") == 1  # recovered from its step, not run again
    assert len(server.requests) == 2
    assert server.requests[1].body["messages"][-1]["content"] == "booked a flight to Oslo"
    assert server.requests[1].headers["Idempotency-Key"] == "asynctool-run-1-2"


async def test_a_call_cut_off_by_a_crash_is_not_run_again_when_not_idempotent(
    counts: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "holding"
    database = tmp_path / "runs.sqlite"
    model = ScriptedModel(
        [tool_calls(call("book_flight", {"city": "Oslo"}, id="f")), text("Not sure.")]
    )
    async with ModelServer(model) as server:
        env = {**os.environ, "ASYNCTOOL_TEST_MODEL_URL": server.base_url}
        command = [sys.executable, "-m", "tests._dbos_worker", str(database), "run-2"]
        first = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env={**env, "ASYNCTOOL_TEST_HOLD_TOOL": str(hold)}
        )
        try:
            for _ in range(600):
                if hold.exists() or first.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            assert hold.exists()  # the booking is under way
            first.send_signal(signal.SIGKILL)
            await first.wait()
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        second = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(second.communicate(), 60)
    result = result_from(json.loads(out.decode().splitlines()[-1]))
    assert agents.ran(counts, "book_flight") == 1  # it may have booked: not booked again
    (answer,) = [m.content for m in result.messages if m.role == "tool"]  # type: ignore[union-attr]
    assert answer.startswith("Error: the process running the tool 'book_flight' stopped")
    assert server.requests[1].body["messages"][-1]["content"] == answer


async def test_a_deferred_call_pauses_the_run_as_in_a_plain_one(
    launched: None, counts: Path
) -> None:
    script = (
        tool_calls(
            call("book_flight", {"city": "Oslo"}, id="f"), call("weather", {"city": "Oslo"}, id="w")
        ),
        text("Booked."),
    )
    async with serving(*script) as (_, plain_client):
        plain = await agents.travel(plain_client, before_tool_call=agents.approve_bookings).run(
            "Go"
        )
    async with serving(*script) as (_, client):
        deferring = agents.travel(
            client, name="dbos-deferring", before_tool_call=agents.approve_bookings
        )
        register_agents(deferring)
        handle = await DBOS.start_workflow_async(agent_run, "dbos-deferring", "Go")
        paused = result_from(await handle.get_result())
        assert paused.paused is not None and plain.paused is not None
        for field in ("messages", "pending", "turns", "requests", "usage", "tool_choice"):
            assert getattr(paused.paused, field) == getattr(plain.paused, field), field
        done = await deferring.resume(paused.paused, {"f": Approve()})
    assert done.output == "Booked." and agents.ran(counts, "book_flight") == 1
