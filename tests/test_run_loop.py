"""The agent loop alone: `Run` driven by fake callables, with no server, no client, no executor.

The loop does no I/O of its own (DESIGN.md): it is given frozen settings, a way to send a
request and a way to execute a turn's calls. Here a script answers the requests and a recorder
plays the tools, as a workflow engine's steps would, and the loop builds the same transcript and
events it builds against a real server.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

import asynctool
from asynctool import (
    AgentEvent,
    AssistantMessage,
    ChatCompletion,
    RunCompleted,
    SystemMessage,
    ToolCall,
    ToolCallReady,
    ToolCallStarted,
    ToolContext,
    ToolMessage,
    ToolResult,
    TurnCompleted,
    UserMessage,
)
from asynctool._request import ChatCompletionRequest, build_body
from asynctool._run import Run
from asynctool._seam import RunSettings, keep_finished

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


def completion(
    *calls: tuple[str, str, dict[str, Any]], content: str | None = None
) -> ChatCompletion:
    """A completion as a server sends it: tool calls `(id, name, arguments)`, or text."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": msgspec.json.encode(args).decode()},
            }
            for id, name, args in calls
        ]
    return msgspec.convert(
        {
            "id": "chatcmpl-1",
            "choices": [{"message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        },
        ChatCompletion,
    )


class Script:
    """A `Send`: answers each request with the next completion, and keeps the requests."""

    def __init__(self, *answers: ChatCompletion) -> None:
        self.answers = list(answers)
        self.requests: list[ChatCompletionRequest] = []

    async def __call__(self, request: ChatCompletionRequest) -> ChatCompletion:
        # The transcript as it was at this turn: the loop goes on appending to its list.
        self.requests.append(msgspec.structs.replace(request, messages=list(request.messages)))
        return self.answers.pop(0)


class Recorder:
    """An `Execute`: answers each call with its name and arguments, and keeps what it was given."""

    def __init__(self) -> None:
        self.turns: list[list[tuple[ToolCall, ToolContext[Any]]]] = []

    async def __call__(
        self, calls: Sequence[ToolCall], context: Callable[[ToolCall], ToolContext[Any]]
    ) -> list[ToolResult]:
        self.turns.append([(call, context(call)) for call in calls])
        return [self.result(call, context(call).turn) for call in calls]

    @staticmethod
    def result(call: ToolCall, turn: int, *, is_error: bool = False) -> ToolResult:
        content = f"{call.function.name}{call.function.arguments}"
        return ToolResult(call=call, content=content, is_error=is_error, duration=0.5, turn=turn)


def settings(**changes: Any) -> RunSettings:
    request = build_body(
        model="m",
        messages=[UserMessage(content="")],
        stream=False,
        params={"tools": [WEATHER], "tool_choice": "required"},
    )
    return RunSettings(request=request, tool_choice="required", **changes)


async def drain(run: Run) -> list[AgentEvent]:
    return [event async for event in run.events()]


async def test_a_run_with_a_scripted_model_and_recorded_tools() -> None:
    send = Script(
        completion(
            ("c1", "get_weather", {"city": "Paris"}), ("c2", "get_weather", {"city": "Rome"})
        ),
        completion(content="Sunny in both."),
    )
    execute = Recorder()
    run = Run(
        settings(instructions="Be brief."),
        "Weather in Paris and Rome?",
        {"user": "ada"},
        send=send,
        execute=execute,
        stream=False,
    )

    events = await drain(run)

    assert [type(e) for e in events] == [
        ToolCallStarted,
        ToolCallStarted,
        TurnCompleted,
        ToolCallReady,
        ToolCallReady,
        ToolResult,
        ToolResult,
        TurnCompleted,
        RunCompleted,
    ]
    assert [(e.id, e.name, e.turn) for e in events[:2]] == [  # type: ignore[union-attr]
        ("c1", "get_weather", 1),
        ("c2", "get_weather", 1),
    ]
    assert [e.content for e in events[5:7]] == [  # type: ignore[union-attr]
        'get_weather{"city":"Paris"}',
        'get_weather{"city":"Rome"}',
    ]
    result = events[-1].result  # type: ignore[union-attr]
    assert result.output == "Sunny in both."
    assert result.turns == 2
    assert result.usage.total_tokens == 30
    assert result.tool_results == events[5:7]

    transcript = result.messages
    assert [type(m) for m in transcript] == [
        SystemMessage,
        UserMessage,
        AssistantMessage,
        ToolMessage,
        ToolMessage,
        AssistantMessage,
    ]
    assert [m.tool_call_id for m in transcript[3:5]] == ["c1", "c2"]  # type: ignore[union-attr]
    assert transcript[-1].content == "Sunny in both."

    # The tools were given the calls of one turn at once, with the run's context.
    [turn] = execute.turns
    assert [(call.id, ctx.tool_call_id, ctx.turn, ctx.deps) for call, ctx in turn] == [
        ("c1", "c1", 1, {"user": "ada"}),
        ("c2", "c2", 1, {"user": "ada"}),
    ]
    # Each request held the transcript so far; the forced choice applied to the first only.
    assert [len(r.messages) for r in send.requests] == [2, 5]
    assert [r.tool_choice for r in send.requests] == ["required", "auto"]
    assert all(r.stream is None for r in send.requests)


async def test_the_settings_are_the_loops_limits() -> None:
    calls = completion(("c1", "get_weather", {}))
    run = Run(
        settings(max_turns=2),
        "go",
        None,
        send=Script(calls, calls, calls),
        execute=Recorder(),
        stream=False,
    )
    with pytest.raises(asynctool.MaxTurnsExceeded) as info:
        await drain(run)
    assert info.value.messages is not None and len(info.value.messages) == 5


async def test_what_execute_raises_ends_the_run_and_every_call_is_answered() -> None:
    class EngineDown(Exception):
        pass

    async def execute(
        calls: Sequence[ToolCall], context: Callable[[ToolCall], ToolContext[Any]]
    ) -> list[ToolResult]:
        error = EngineDown("the workflow engine stopped")
        # The first call ran before the failure: the transcript must not say it was cancelled.
        keep_finished(error, [Recorder.result(calls[0], 1), None])
        raise error

    send = Script(completion(("c1", "get_weather", {}), ("c2", "get_weather", {})))
    run = Run(settings(), "go", None, send=send, execute=execute, stream=False)
    with pytest.raises(EngineDown):
        await drain(run)
    first, second = run.messages[-2:]
    assert isinstance(first, ToolMessage) and first.content == "get_weather{}"
    assert isinstance(second, ToolMessage) and "cancelled" in str(second.content)
    assert [first.tool_call_id, second.tool_call_id] == ["c1", "c2"]


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings().max_turns = 99  # type: ignore[misc]


def test_the_loop_imports_neither_its_agent_nor_the_world() -> None:
    """The loop reaches the client and the tools only through the callables it is given."""
    for name in ("_run.py", "_seam.py", "_live.py", "_relay.py"):
        source = (Path(asynctool.__file__).parent / name).read_text()
        imported = {
            node.module
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.level == 1
        }
        assert not imported & {"_agent", "_execute", "_client", "_transport"}, name
        assert "aiohttp" not in source, name


async def test_a_streamed_run_reports_what_an_execute_did_not() -> None:
    """A workflow engine's step may run a turn's calls and only return: the loop then hands
    on their results itself, in call order, and the transcript is the same."""
    from asynctool import AsyncClient
    from asynctool.testing import ModelServer, ScriptedModel, call, text, tool_calls

    class Silent(Recorder):
        async def __call__(  # type: ignore[override]
            self,
            calls: Sequence[ToolCall],
            context: Callable[[ToolCall], ToolContext[Any]],
            *,
            report: Any = None,
        ) -> list[ToolResult]:
            self.reports = report
            return await super().__call__(calls, context)

    turns = [tool_calls(call("get_weather", {"city": "Oslo"}, id="c1")), text("Cold.")]
    async with (
        ModelServer(ScriptedModel(turns)) as server,
        AsyncClient(base_url=server.base_url, api_key="sk-test") as client,
    ):
        execute = Silent()
        run = Run(
            settings(),
            "Weather in Oslo?",
            None,
            send=client.chat.completions._send,
            execute=execute,
            stream=True,
        )
        events = await drain(run)
    assert execute.reports is not None  # it was offered the live reports, and ignored them
    [result] = [e for e in events if isinstance(e, ToolResult)]
    assert result.content == 'get_weather{"city":"Oslo"}'
    assert server.requests[1].messages[-1]["content"] == result.content
    assert isinstance(events[-1], RunCompleted)
