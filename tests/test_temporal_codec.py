"""What crosses a durable run's history (asynctool._durable), without a server: every
decision both ways, a bad one refused, events and results back as they were."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

pytest.importorskip("temporalio", reason="pip install 'asynctool[temporal]'")

from asynctool import (
    Answer,
    Approve,
    Defer,
    Deny,
    InvalidRequestError,
    Rewrite,
    RunResult,
    ToolCall,
    ToolCallReady,
    ToolResult,
    Usage,
    UserMessage,
)
from asynctool._durable import (
    decision_from,
    decision_to,
    event_from,
    event_to,
    result_from,
    result_to,
)
from asynctool._types import ChatCompletion
from asynctool.temporal import DurableOptions, register_agents
from asynctool.temporal._options import served

CALL = msgspec.convert(
    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}, ToolCall
)


@pytest.mark.parametrize(
    "decision",
    [Approve(), Deny("no"), Rewrite({"x": 1}), Rewrite('{"x": 2}'), Answer({"a": [1]}), Defer("later"), Defer()],
)  # fmt: skip
def test_every_decision_crosses_as_json_and_back(decision: Any) -> None:
    data = decision_to(decision)
    assert msgspec.json.decode(msgspec.json.encode(data)) == data
    assert decision_from(data) == decision


@pytest.mark.parametrize(
    "data", [{}, {"approve": True, "deny": "x"}, {"deny": 3}, {"rewrite": 1}, {"maybe": 1}, []]
)
def test_what_is_no_decision_is_refused(data: Any) -> None:
    with pytest.raises(ValueError, match="not a decision"):
        decision_from(data)


def test_a_decision_of_another_type_is_refused_before_it_is_sent() -> None:
    with pytest.raises(TypeError, match="Approve"):
        decision_to("approve")  # type: ignore[arg-type]


class Box(msgspec.Struct):
    size: int


def test_events_come_back_with_their_values_as_json() -> None:
    kept = ToolResult(call=CALL, content="ok", is_error=False, duration=0.5, turn=1, value=Box(3))
    lost = ToolResult(call=CALL, content="ok", is_error=False, duration=0.5, turn=1, value=object())
    deferred = ToolResult(
        call=CALL, content="pending", is_error=False, duration=0, turn=2, deferred=Defer("why")
    )
    assert event_from(event_to(kept)) == msgspec.structs.replace(kept, value={"size": 3})
    assert event_from(event_to(lost)) == msgspec.structs.replace(lost, value=None)
    assert event_from(event_to(deferred)) == deferred
    ready = ToolCallReady(call=CALL, turn=1)
    assert event_from(event_to(ready)) == ready


def test_a_result_comes_back_with_its_output_type() -> None:
    completion = msgspec.convert(
        {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []},
        ChatCompletion,
    )
    result = RunResult(
        output=Box(2),
        messages=[UserMessage(content="hi")],
        usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        turns=1,
        completion=completion,
        tool_results=[ToolResult(call=CALL, content="ok", is_error=False, duration=0, turn=1)],
    )
    data = result_to(result)
    back = result_from(msgspec.json.decode(msgspec.json.encode(data)), Box)
    assert back.output == Box(2)
    assert back.messages == result.messages and back.tool_results == result.tool_results
    assert result_from(data).output == {"size": 2}


def test_registering_checks_the_agents(monkeypatch: pytest.MonkeyPatch) -> None:
    from asynctool import Agent, AsyncClient

    client = AsyncClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidRequestError, match="at least one"):
        register_agents([], DurableOptions())
    with pytest.raises(InvalidRequestError, match="expected an Agent"):
        register_agents(["agent"], DurableOptions())  # type: ignore[list-item]
    twins = [Agent(client, model="m", name="twin"), Agent(client, model="m", name="twin")]
    with pytest.raises(InvalidRequestError, match="share a name"):
        register_agents(twins, DurableOptions())
    register_agents(twins[0], DurableOptions())
    assert served("twin").agent is twins[0]
    with pytest.raises(LookupError, match="no agent named 'nobody'"):
        served("nobody")


def test_the_worker_command_takes_factories_of_an_agent_or_a_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asynctool.temporal.__main__ import _agents, main

    monkeypatch.setenv("ASYNCTOOL_TEST_MODEL_URL", "http://127.0.0.1:9/v1")
    (agent,) = _agents("tests._temporal_agents:booking")
    assert agent.name == "booking"
    monkeypatch.setattr("tests._temporal_agents.pair", lambda: [agent, agent], raising=False)
    assert _agents("tests._temporal_agents:pair") == [agent, agent]
    with pytest.raises(SystemExit, match="module:factory"):
        _agents("tests._temporal_agents")
    with pytest.raises(SystemExit):
        main(["worker", "tests._temporal_agents:booking"])  # no --task-queue
