"""Pause for a person and resume later: `Defer`, the saved run, `Agent.resume`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from asynctool import (
    Answer,
    Approve,
    AsyncClient,
    Defer,
    Deny,
    InvalidRequestError,
    MaxTurnsExceeded,
    PausedRun,
    Rewrite,
    RunCompleted,
    RunResult,
    ToolCall,
    ToolMessage,
    ToolResult,
)
from asynctool._pause import PENDING
from asynctool.testing import ModelServer, ScriptedModel, call, text, tool_calls

from . import _resume_later
from ._resume_later import DECISIONS, agent, refunds_need_a_person

ROOT = Path(__file__).resolve().parent.parent

THREE_CALLS = tool_calls(
    call("refund", {"amount": 500}, id="a"),
    call("lookup", {"order": 7}, id="b"),
    call("refund", {"amount": 20}, id="c"),
)


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    _resume_later.RAN.clear()


async def paused_run(
    client: AsyncClient, *, stream: bool = False, **options: Any
) -> RunResult[Any]:
    refunding = agent(client, before_tool_call=refunds_need_a_person, **options)
    if not stream:
        return await refunding.run("Refund order 7, please")
    async with refunding.run_stream("Refund order 7, please") as events:
        seen = [event async for event in events]
    assert isinstance(seen[-1], RunCompleted)
    return seen[-1].result


def tool_messages(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_run_pauses_on_two_of_three_parallel_calls(stream: bool) -> None:
    async with ModelServer(ScriptedModel([THREE_CALLS, text("never sent")])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            result = await paused_run(client, stream=stream)
    # The turn's other call ran; the two refunds wait, and no request followed the turn.
    assert _resume_later.RAN == ["lookup(7)"]
    assert len(server.requests) == 1
    assert [p.call.id for p in result.pending] == ["a", "c"]
    assert {p.reason for p in result.pending} == {"refunds are approved by a person"}
    assert result.output is None and result.paused is not None
    assert result.paused.pending == result.pending
    # The transcript can be sent as it is: every call answered, the waiting ones by a
    # placeholder that says they have not run.
    answered = [(m.tool_call_id, m.content) for m in result.messages if isinstance(m, ToolMessage)]
    assert answered == [("a", PENDING), ("b", "order 7: shipped"), ("c", PENDING)]
    assert [r.call.id for r in result.tool_results] == ["b"]
    assert result.paused.turns == result.turns == 1
    assert result.paused.requests == 1
    assert result.paused.usage == result.usage and result.usage.total_tokens > 0


async def test_the_stream_shows_the_deferred_calls_as_results_that_wait() -> None:
    async with ModelServer(ScriptedModel([THREE_CALLS])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            refunding = agent(client, before_tool_call=refunds_need_a_person)
            async with refunding.run_stream("Refund order 7, please") as events:
                results = [e async for e in events if isinstance(e, ToolResult)]
    waiting = {r.call.id: r for r in results if r.deferred is not None}
    assert sorted(waiting) == ["a", "c"]
    assert all(r.content == PENDING and not r.is_error for r in waiting.values())
    assert [r.call.id for r in results if r.deferred is None] == ["b"]


@pytest.mark.parametrize("kind", sorted(DECISIONS))
async def test_a_paused_run_saved_to_json_resumes_in_a_fresh_process(
    kind: str, tmp_path: Path
) -> None:
    script = ScriptedModel([THREE_CALLS, text("All done.")])
    async with ModelServer(script) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            paused = await paused_run(client)
        assert paused.paused is not None
        state = tmp_path / "paused.json"
        state.write_bytes(paused.paused.to_json())
        # Another interpreter: nothing of this process (client, agent, tools' state) is there.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests._resume_later",
            server.base_url,
            str(state),
            kind,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["output"] == "All done."
    assert report["turns"] == 2  # the paused turn, then the answer
    # The resumed request: every call of the paused turn answered as it was decided.
    assert len(server.requests) == 2
    resumed = server.requests[1].messages
    assert resumed[0] == server.requests[0].messages[0]
    assert [c["id"] for c in resumed[1]["tool_calls"]] == ["a", "b", "c"]
    answers = tool_messages(resumed)
    assert answers["b"] == "order 7: shipped"  # ran before the pause, not again
    assert answers["c"] == "refunded 20 EUR"
    expected = {
        "approve": ("refunded 500 EUR", ["refund(500)", "refund(20)"]),
        "deny": ("refunds over 100 EUR need a manager", ["refund(20)"]),
        "rewrite": ("refunded 100 EUR", ["refund(100)", "refund(20)"]),
        "answer": ('{"queued":true,"ticket":41}', ["refund(20)"]),
    }[kind]
    assert answers["a"] == expected[0]
    assert sorted(report["ran"]) == sorted(expected[1])
    assert PENDING not in json.dumps(resumed)


@pytest.mark.parametrize("stream", [False, True], ids=["resume", "resume_stream"])
async def test_resume_gives_the_whole_run_in_its_result(stream: bool) -> None:
    async with ModelServer(ScriptedModel([THREE_CALLS, text("All done.")])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            first = await paused_run(client)
            assert first.paused is not None
            loaded = PausedRun.from_json(first.paused.to_json())
            again = agent(client)
            decisions = {"a": Deny("no"), "c": Approve()}
            if stream:
                async with again.resume_stream(loaded, decisions) as events:
                    seen = [event async for event in events]
                assert isinstance(seen[-1], RunCompleted)
                result = seen[-1].result
                resumed_results = [e.call.id for e in seen if isinstance(e, ToolResult)]
                assert resumed_results == ["a", "c"]  # the decided calls, then the answer
            else:
                result = await again.resume(loaded, decisions)
    assert result.output == "All done." and result.paused is None and result.pending == []
    assert [r.call.id for r in result.tool_results] == ["b", "a", "c"]
    assert [r.is_error for r in result.tool_results] == [False, True, False]
    assert result.turns == 2
    assert result.usage.total_tokens > first.usage.total_tokens
    assert [m.content for m in result.messages if isinstance(m, ToolMessage)] == [
        "no",
        "order 7: shipped",
        "refunded 20 EUR",
    ]


async def test_a_call_deferred_again_on_resume_keeps_the_run_paused() -> None:
    async with ModelServer(ScriptedModel([THREE_CALLS, text("All done.")])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            first = await paused_run(client)
            assert first.paused is not None
            second = await agent(client).resume(
                first.paused, {"a": Defer("ask the manager"), "c": Approve()}
            )
            assert [p.call.id for p in second.pending] == ["a"]
            assert second.pending[0].reason == "ask the manager"
            assert len(server.requests) == 1  # nothing sent while a call still waits
            assert second.paused is not None
            third = await agent(client).resume(second.paused, {"a": Approve()})
    assert third.output == "All done."
    assert _resume_later.RAN == ["lookup(7)", "refund(20)", "refund(500)"]


async def test_bad_decisions_are_refused_before_anything_runs_or_is_sent() -> None:
    async with ModelServer(ScriptedModel([THREE_CALLS, text("All done.")])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            first = await paused_run(client)
            assert first.paused is not None
            with pytest.raises(InvalidRequestError, match="no decision for the pending call 'c'"):
                await agent(client).resume(first.paused, {"a": Approve()})
            with pytest.raises(InvalidRequestError) as caught:
                await agent(client).resume(
                    first.paused, {"a": Rewrite({"amount": "x"}), "c": Approve()}
                )
            assert "Rewrite" in str(caught.value) and "'a'" in str(caught.value)
    assert _resume_later.RAN == ["lookup(7)"]
    assert len(server.requests) == 1


async def test_the_resumed_run_keeps_counting_its_turns() -> None:
    turns = [THREE_CALLS, tool_calls(call("lookup", {"order": 8})), text("never")]
    async with ModelServer(ScriptedModel(turns)) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            first = await paused_run(client, max_turns=2)
            assert first.paused is not None
            with pytest.raises(MaxTurnsExceeded) as caught:
                await agent(client, max_turns=2).resume(
                    first.paused, {"a": Approve(), "c": Approve()}
                )
    assert len(server.requests) == 2
    assert caught.value.usage is not None and caught.value.usage.total_tokens > 0


async def test_a_before_tool_call_answer_gives_the_output_without_running_the_tool() -> None:
    async def cached(call: ToolCall, context: Any) -> Answer | None:
        return Answer("cached: shipped") if call.function.name == "lookup" else None

    async with ModelServer(ScriptedModel([THREE_CALLS, text("ok")])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            result = await agent(client, before_tool_call=cached).run("go")
    assert result.output == "ok"
    assert tool_messages(server.requests[1].messages)["b"] == "cached: shipped"
    assert "lookup(7)" not in _resume_later.RAN


@pytest.mark.parametrize("eager", [False, True], ids=["plain", "eager_tools"])
async def test_defer_works_with_eager_tools(eager: bool) -> None:
    async with ModelServer(ScriptedModel([THREE_CALLS, text("All done.")])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            result = await paused_run(client, stream=True, eager_tools=eager)
            assert result.paused is not None
            done = await agent(client, eager_tools=eager).resume(
                result.paused, {"a": Approve(), "c": Deny("no")}
            )
    assert [p.call.id for p in result.pending] == ["a", "c"]
    assert done.output == "All done."
    assert tool_messages(server.requests[1].messages) == {
        "a": "refunded 500 EUR",
        "b": "order 7: shipped",
        "c": "no",
    }


async def test_resume_refuses_what_is_not_a_paused_run_and_a_rewrite_of_the_wrong_type() -> None:
    async with ModelServer(ScriptedModel([THREE_CALLS])) as server:
        async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
            first = await paused_run(client)
            assert first.paused is not None
            with pytest.raises(InvalidRequestError) as caught:
                await agent(client).resume(first, {})  # type: ignore[arg-type]  # the result
            assert caught.value.field == "paused" and "RunResult" in caught.value.reason
            with pytest.raises(InvalidRequestError) as caught:
                await agent(client).resume(
                    first.paused,
                    {"a": Rewrite(["amount", 1]), "c": Approve()},  # type: ignore[arg-type]
                )
            assert caught.value.field == "decisions['a']" and "dict or JSON text" in str(
                caught.value
            )
    assert len(server.requests) == 1


@pytest.mark.parametrize("eager", [False, True], ids=["plain", "eager_tools"])
async def test_run_and_run_stream_pause_and_resume_to_the_same_state(eager: bool) -> None:
    states: list[PausedRun] = []
    finals: list[RunResult[Any]] = []
    for stream in (False, True):
        async with ModelServer(ScriptedModel([THREE_CALLS, text("All done.")])) as server:
            async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
                first = await paused_run(client, stream=stream, eager_tools=eager)
                assert first.paused is not None
                states.append(first.paused)
                decisions = {"a": Approve(), "c": Deny("no")}
                resuming = agent(client, eager_tools=eager)
                if stream:
                    async with resuming.resume_stream(first.paused, decisions) as events:
                        last = [event async for event in events][-1]
                    assert isinstance(last, RunCompleted)
                    finals.append(last.result)
                else:
                    finals.append(await resuming.resume(first.paused, decisions))
    plain, streamed = states
    # The same state but for the time each took, and the completion's own id and timing.
    for field in ("messages", "pending", "turns", "requests", "tool_errors", "tool_choice"):
        assert getattr(plain, field) == getattr(streamed, field), field
    assert [r.content for r in plain.tool_results] == [r.content for r in streamed.tool_results]
    assert finals[0].messages == finals[1].messages
    assert finals[0].output == finals[1].output == "All done."
