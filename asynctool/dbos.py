"""Durable agent runs on DBOS: `pip install 'asynctool[dbos]'`; `import asynctool` does not
import it.

DBOS is a library: a workflow is a function whose steps' outputs it checkpoints in a database
(SQLite by default, Postgres in production); a process that starts again (`DBOS.launch()`)
goes on with every workflow it left unfinished, each step that finished answered from the
database instead of run again. Here the workflow (`agent_run`) runs the agent loop (`Run`,
`Agent.run`'s own), its `Send` a step per model request, its `Execute` a step per tool call
(a turn's calls at once), so the transcript is a plain run's and a `Defer` pauses the run
as it does there (`result.paused`, then `Agent.resume`).

A step that was under way when its process died runs again on recovery, unless its tool is
declared `@tool(idempotent=False)`: such a call is answered as lost (an error the model reads)
and not run a second time. A model request sent again keeps its `Idempotency-Key`
(`asynctool-<workflow id>-<request number>`).

```python
from dbos import DBOS
from asynctool.dbos import agent_run, register_agents

register_agents(travel_agent())                  # in every process that runs workflows
DBOS(config={"name": "travel", "system_database_url": "sqlite:///travel.sqlite"})
DBOS.launch()                                    # recovers what an earlier process left
handle = await DBOS.start_workflow_async(agent_run, "travel", "Book me a flight to Oslo")
result = result_from(await handle.get_result())  # a RunResult
```
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, Callable, Sequence
from typing import Any

import msgspec
from dbos import DBOS

from ._agent import Agent
from ._durable import ToolOutcome, outcome_of, restored, result_from, result_to
from ._events import RunCompleted, ToolResult
from ._exceptions import InvalidRequestError, ToolError
from ._request import ChatCompletionRequest
from ._run import Run
from ._seam import Report, keep_finished
from ._tools import ToolContext
from ._types import ChatCompletion, Message, ToolCall

__all__ = ["agent_run", "register_agents", "result_from"]

_AGENTS: dict[str, Agent[Any]] = {}

# Which process ran a step: a call whose start was recorded by another one was cut off.
_PROCESS = uuid.uuid4().hex


def register_agents(*agents: Agent[Any]) -> None:
    """Let this process run `agents`' workflows, each under its `name`."""
    for agent in agents:
        if not isinstance(agent, Agent):
            raise InvalidRequestError("agents", f"expected an Agent, got {type(agent).__name__}")
        if agent.sources:
            raise InvalidRequestError("agents", "durable runs take local tools only")
        _AGENTS[agent.name] = agent


def _agent(name: str) -> Agent[Any]:
    try:
        return _AGENTS[name]
    except KeyError:
        raise LookupError(f"no agent named {name!r} is registered in this process") from None


@DBOS.step(name="asynctool.model_request", retries_allowed=True, max_attempts=3)
async def _model_request(name: str, request: str, key: str) -> str:
    """Send one request with the agent's client (the key of this process's environment)."""
    agent = _agent(name)
    sent = await agent.client.chat.completions._send(
        msgspec.json.decode(request, type=ChatCompletionRequest),
        extra_body=agent.params.get("extra_body"),
        extra_headers={"Idempotency-Key": key},
    )
    assert isinstance(sent, ChatCompletion)  # the workflow never streams
    return msgspec.json.encode(sent).decode()


@DBOS.step(name="asynctool.call_started")
async def _call_started() -> str:
    """The process that starts a call; recorded, so a recovery knows it was another one."""
    return _PROCESS


@DBOS.step(name="asynctool.tool_call")
async def _tool_call(
    name: str, call: str, turn: int, deps: Any, messages: str | None, lost: bool
) -> str:
    """Run one call with the agent's executor; a `lost` one (not idempotent, cut off by a
    crash) is answered as such instead."""
    agent = _agent(name)
    tool_call = msgspec.json.decode(call, type=ToolCall)
    transcript = [] if messages is None else msgspec.json.decode(messages, type=list[Message])
    context = ToolContext(
        deps, tool_call_id=tool_call.id, tool_name=tool_call.function.name,
        messages=transcript, turn=turn,
    )  # fmt: skip
    executor = agent.executor
    if lost:
        text = executor._error_text(
            tool_call,
            ToolError(
                f"the process running the tool {tool_call.function.name!r} stopped before it "
                "finished; it is not idempotent, so it was not run again"
            ),
        )
        result = ToolResult(call=tool_call, content=text, is_error=True, duration=0.0, turn=turn)
    else:
        (result,) = await executor.run([tool_call], lambda _: context, executor.slots())
    return outcome_of(result)


@DBOS.workflow(name="asynctool.agent_run")
async def agent_run(name: str, input: str | list[dict[str, Any]], deps: Any = None) -> Any:
    """One run of the agent registered as `name`: its `RunResult` as JSON (`result_from`
    makes it a `RunResult` again). What ends a plain run with an error ends this one."""
    agent = _agent(name)
    requests = 0

    async def send(request: ChatCompletionRequest) -> ChatCompletion:
        nonlocal requests
        requests += 1
        key = f"asynctool-{DBOS.workflow_id}-{requests}"
        data = await _model_request(name, msgspec.json.encode(request).decode(), key)
        return msgspec.json.decode(data, type=ChatCompletion)

    async def one(call: ToolCall, context: ToolContext[Any]) -> ToolResult:
        tool = agent.registry.get(call.function.name)
        lost = False
        if tool is not None and not tool.idempotent:
            lost = await _call_started() != _PROCESS
        takes_context = tool is not None and bool(tool._schema.context_params)
        messages = msgspec.json.encode(context.messages).decode() if takes_context else None
        call_text = msgspec.json.encode(call).decode()
        data = await _tool_call(name, call_text, context.turn, context.deps, messages, lost)
        return restored(msgspec.json.decode(data, type=ToolOutcome))

    async def execute(
        calls: Sequence[ToolCall] | AsyncIterable[ToolCall],
        context: Callable[[ToolCall], ToolContext[Any]],
        /,
        *,
        report: Report | None = None,
    ) -> list[ToolResult]:
        assert isinstance(calls, Sequence)  # the plain path
        results: list[ToolResult | None] = [None] * len(calls)

        async def at(i: int) -> None:
            results[i] = await one(calls[i], context(calls[i]))

        def alone(call: ToolCall) -> bool:
            tool = agent.registry.get(call.function.name)
            return tool is not None and tool.sequential

        try:
            await asyncio.gather(*(at(i) for i, c in enumerate(calls) if not alone(c)))
            for i, call in enumerate(calls):  # a sequential tool's calls alone, after
                if alone(call):
                    await at(i)
        except BaseException as error:
            keep_finished(error, results)
            raise
        return [result for result in results if result is not None]

    run = Run(agent.settings(), input, deps, send=send, execute=execute, stream=False)
    async for event in run.events():
        if isinstance(event, RunCompleted):
            return result_to(event.result)
    raise AssertionError("a run ends with RunCompleted or an error")  # pragma: no cover
