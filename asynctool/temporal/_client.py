"""Starting durable runs, and following them, from any process that reaches the Temporal
server: `DurableAgent`, and `DurableRun`, the handle of one run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from temporalio.client import Client, WorkflowHandle

from .._durable import RunInput, decision_to, event_from, result_from
from .._events import AgentEvent, RunCompleted, RunResult
from .._pause import Decision, PendingCall
from ._workflow import AgentWorkflow

__all__ = ["DurableAgent", "DurableRun"]


class DurableAgent:
    """Runs of an agent that workers serve (`agent_worker`), from anywhere.

    Args:
        client: a connected `temporalio.client.Client`.
        name: the agent's `name`, as the workers registered it.
        task_queue: the queue its workers poll.
        output_type: the agent's `output_type`, to convert `result.output` back to (it
            crosses the history as JSON); None leaves the JSON value.
    """

    def __init__(
        self,
        client: Client,
        name: str = "asynctool",
        *,
        task_queue: str,
        output_type: Any = None,
    ) -> None:
        self.client = client
        self.name = name
        self.task_queue = task_queue
        self.output_type = output_type

    async def start(
        self, input: str | Sequence[Any], *, deps: Any = None, id: str | None = None
    ) -> DurableRun:
        """Start a run; its handle. `id` is the workflow id (a fresh one by default): a run
        started twice with one id is refused by Temporal, which makes starting idempotent."""
        messages = input if isinstance(input, str) else msgspec.to_builtins(list(input))
        handle = await self.client.start_workflow(
            AgentWorkflow.run,
            RunInput(agent=self.name, input=messages, deps=deps),
            id=id or f"asynctool-{self.name}-{uuid.uuid4().hex}",
            task_queue=self.task_queue,
        )
        return DurableRun(handle, self.output_type)

    async def run(
        self, input: str | Sequence[Any], *, deps: Any = None, id: str | None = None
    ) -> RunResult[Any]:
        """Start a run and wait for its result."""
        return await (await self.start(input, deps=deps, id=id)).result()

    def get(self, id: str) -> DurableRun:
        """The handle of a run started before, by its workflow id."""
        return DurableRun(self.client.get_workflow_handle(id), self.output_type)


class DurableRun:
    """One durable run: its result, its events, and the decisions it waits for."""

    def __init__(self, handle: WorkflowHandle[Any, Any], output_type: Any = None) -> None:
        self.handle = handle
        self.output_type = output_type

    @property
    def id(self) -> str:
        """The workflow id."""
        return self.handle.id

    async def result(self) -> RunResult[Any]:
        """Wait for the run's result. A failed run raises `WorkflowFailureError`; its
        `cause` is an `ApplicationError` whose `type` names the asynctool error and whose
        `details[0]["messages"]` is the transcript so far."""
        data: dict[str, Any] = await self.handle.result()
        return result_from(data, self.output_type)

    async def events(self, *, poll: float = 0.2) -> AsyncIterator[AgentEvent]:
        """The run's events, from the first, as `run_stream` names them: `ToolCallStarted`,
        `TurnCompleted`, `ToolCallReady`, each `ToolResult` as its activity finishes (a
        deferred call's first, with `deferred` set, then its decided one), and last
        `RunCompleted`. No text deltas: the workflow's requests are not streamed.

        It queries the workflow every `poll` seconds; a query reads the worker's state and
        writes nothing to the history. A failed run raises as `result()` does.
        """
        seen = 0
        while True:
            page = await self.handle.query(AgentWorkflow.events, seen)
            for data in page["events"]:
                event = event_from(data)
                if isinstance(event, RunCompleted) and self.output_type is not None:
                    event = RunCompleted(result=result_from(data["result"], self.output_type))
                yield event
            seen += len(page["events"])
            if page["done"]:
                if not any(data["type"] == "RunCompleted" for data in page["events"]):
                    await self.handle.result()  # raises the run's error
                return
            await asyncio.sleep(poll)

    async def pending(self) -> list[PendingCall]:
        """The calls that wait for a decision."""
        data = await self.handle.query(AgentWorkflow.pending)
        return msgspec.convert(data, list[PendingCall])

    async def decide(self, call_id: str, decision: Decision) -> None:
        """Decide a deferred call: `Approve()`, `Deny(reason)`, `Rewrite(arguments)`,
        `Answer(output)`, or `Defer()` to keep it waiting. Returns once the workflow took
        it; a call that does not wait is refused (`WorkflowUpdateFailedError`)."""
        await self.handle.execute_update("decide", args=[call_id, decision_to(decision)])
