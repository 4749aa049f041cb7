"""`AgentWorkflow`: the agent loop (`Run`, the same code as `Agent.run`) inside a Temporal
workflow, its `Send` a model request activity, its `Execute` one activity per tool call.

Temporal records every finished activity in the run's history; after a crash another worker
replays the workflow from it, and each step that finished is answered from the history, not
run again. The loop is deterministic as the workflow needs it to be, given:

- the plain (non-stream) path: a turn's events are collected, no task is spawned; the calls
  of a turn are started together with `asyncio.gather`, which Temporal's event loop orders
  the same way on every replay;
- the budget's wall time read from workflow time (`workflow.time()`), not the machine's
  clock; `max_run_seconds` is then a Temporal timer (`asyncio.timeout` calls the loop's
  `call_at`, which Temporal's event loop turns into a durable timer; see `_Published`);
- no randomness: the `Idempotency-Key` of a request is made of the workflow's id, its run id
  and the request's number; a call without an id gets `call_<turn>_<position>`, as always.

The hooks that run in the loop (`history`, `after_response`, `on_overflow`) run in the
workflow: they must be deterministic (no I/O, no clock); `on_overflow`'s `ask` is a model
request activity. `before_tool_call` and `tool_error_handler` run in the tool activity, so
they may do I/O.

The sandbox: `workflow_runner()` passes asynctool's modules through (imported once, outside
the sandbox); they keep no state that changes across runs but the registry of served agents,
which the workflow must read. Temporal's default sandbox refuses them (measured: "Using
subclasses of proxied objects is unsupported", a class of theirs derives from one of the
standard library the sandbox proxies), so a worker built by hand passes `workflow_runner()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Sequence
from datetime import timedelta
from typing import Any

import msgspec
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as ActivityTimeout
from temporalio.workflow import ActivityCancellationType

from .._budget import Clock
from .._durable import (
    ModelCall,
    RunInput,
    ToolCallInput,
    ToolOutcome,
    call_to,
    decision_from,
    decision_to,
    event_to,
    restored,
    result_to,
)
from .._events import AgentEvent, RunCompleted, ToolResult
from .._exceptions import (
    APIError,
    APITimeoutError,
    AsyncToolError,
    ToolTimeoutError,
    status_error_class,
)
from .._live import Emit
from .._pause import Decision, PendingCall
from .._request import ChatCompletionRequest
from .._run import Run
from .._seam import Report, RunSettings, keep_finished
from .._tools import ToolContext
from .._types import ChatCompletion, ToolCall
from ._options import served

__all__ = ["AgentWorkflow"]

MODEL_REQUEST = "asynctool.model_request"
TOOL_CALL = "asynctool.tool_call"


class _WorkflowClock(Clock):
    """The run's wall time in workflow time: the same on every replay."""

    __slots__ = ()

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self._before = 0.0
        self._started = workflow.time()

    def elapsed(self) -> float:
        return self._before + workflow.time() - self._started


class _Published(Run):
    """The loop, each event of a turn handed to the workflow's followers as it is emitted
    (a plain turn's events are otherwise yielded once the turn is over), and its deadline
    kept with asyncio's timeout rather than anyio's."""

    publish: Callable[[AgentEvent], None]

    async def _timed(self, step: Callable[[Emit], Any], emit: Emit) -> None:
        """`Run._timed`, with `asyncio.timeout`: it cancels the turn once, where anyio's
        scope cancels again on every pass of the event loop until the turn ends, which keeps
        Temporal's loop from ever finishing the workflow task (its deadlock detector then
        fails it); the turn cannot end before the task has sent its cancellations."""
        remaining = self.clock.remaining()
        if remaining is None:
            await step(emit)
            return
        deadline = asyncio.timeout(remaining)
        try:
            async with deadline:
                await step(emit)
        except TimeoutError:
            if not deadline.expired():
                raise  # a TimeoutError of the step's own, not the deadline's
            raise self.clock.exceeded() from None

    async def _timed_turn(self, emit: Emit) -> None:
        def both(event: AgentEvent) -> None:
            self.publish(event)
            emit(event)

        await super()._timed_turn(both)


@workflow.defn(name="asynctool.AgentRun")
class AgentWorkflow:
    """One agent run. Input: `RunInput`; result: the `RunResult` as JSON (`result_to`).

    Queries: `events(since)`, the run's events from position `since` (JSON, `event_to`) and
    whether it is over; `pending()`, the calls that wait for a decision. Update:
    `decide(call_id, decision)`, the decision for a deferred call (`decision_to`); refused
    for a call that does not wait.

    A failed run fails the workflow with an `ApplicationError` whose `type` is the asynctool
    error's class name and whose details hold `{"messages": [...]}`, the transcript so far.
    """

    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._told: set[int] = set()  # results published before the loop emitted them
        self._pending: dict[str, PendingCall] = {}
        self._decisions: dict[str, Decision] = {}
        self._done = False
        self._requests = 0

    @workflow.run
    async def run(self, input: RunInput) -> dict[str, Any]:
        self._served = served(input.agent)
        agent = self._served.agent
        settings: RunSettings = agent.settings()
        run = _Published(
            settings,
            input.input,
            input.deps,
            send=self._send,
            execute=self._execute,
            stream=False,
        )
        run.publish = self._publish
        run.clock = _WorkflowClock(settings.budget.max_run_seconds)
        try:
            async for event in run.events():
                if isinstance(event, RunCompleted):
                    self._publish(event)
                    return result_to(event.result)
        except AsyncToolError as error:
            raise ApplicationError(
                str(error),
                {"messages": msgspec.to_builtins(run.messages)},
                type=type(error).__name__,
                non_retryable=True,
            ) from None
        finally:
            self._done = True
        raise AssertionError("a run ends with RunCompleted or an error")  # pragma: no cover

    def _publish(self, event: AgentEvent) -> None:
        if isinstance(event, ToolResult) and id(event) in self._told:
            self._told.discard(id(event))  # published when its activity finished
            return
        self._events.append(event_to(event))

    @workflow.query(name="events")
    def events(self, since: int) -> dict[str, Any]:
        """The events from position `since`, and whether the run is over."""
        return {"events": self._events[since:], "done": self._done}

    @workflow.query(name="pending")
    def pending(self) -> list[dict[str, Any]]:
        """The calls that wait for a decision."""
        return [msgspec.to_builtins(p) for p in self._pending.values()]

    @workflow.update(name="decide")
    async def decide(self, call_id: str, decision: dict[str, Any]) -> None:
        """Decide a deferred call: the workflow runs it (or not) as decided and goes on."""
        self._decisions[call_id] = decision_from(decision)

    @decide.validator
    def _check_decision(self, call_id: str, decision: dict[str, Any]) -> None:
        if call_id not in self._pending or call_id in self._decisions:
            raise ValueError(f"no call {call_id!r} waits for a decision")
        decision_from(decision)  # ValueError: refused, and not written to the history

    # ------------------------------------------------------------------ the loop's two ways

    async def _send(self, request: ChatCompletionRequest) -> ChatCompletion:
        """A model request activity; its failure raised as the error a plain run raises."""
        self._requests += 1
        info = workflow.info()
        step = ModelCall(
            agent=self._served.agent.name,
            request=msgspec.json.encode(request).decode(),
            idempotency_key=f"asynctool-{info.workflow_id}-{info.run_id}-{self._requests}",
        )
        options = self._served.options
        total = self._served.agent.client._transport.timeout.total
        try:
            data = await workflow.execute_activity(
                MODEL_REQUEST,
                step,
                result_type=str,
                start_to_close_timeout=_deadline(total, options.margin, options.no_deadline),
                heartbeat_timeout=options.heartbeat_timeout,
                retry_policy=options.model_retry,
            )
        except ActivityError as failure:
            raise _api_error(failure) from None
        return msgspec.json.decode(data, type=ChatCompletion)

    async def _execute(
        self,
        calls: Sequence[ToolCall] | AsyncIterable[ToolCall],
        context: Callable[[ToolCall], ToolContext[Any]],
        /,
        *,
        report: Report | None = None,
    ) -> list[ToolResult]:
        """One activity per call, the turn's calls at once; a sequential tool's alone after."""
        assert isinstance(calls, Sequence)  # the plain path: the calls of a turn at once
        registry = self._served.agent.registry
        results: list[ToolResult | None] = [None] * len(calls)

        async def one(i: int) -> None:
            results[i] = await self._tool(calls[i], context(calls[i]))

        def alone(call: ToolCall) -> bool:
            tool = registry.get(call.function.name)
            return tool is not None and tool.sequential

        together = [i for i, call in enumerate(calls) if not alone(call)]
        try:
            outcomes = await asyncio.gather(*(one(i) for i in together), return_exceptions=True)
        except asyncio.CancelledError as error:  # the run's deadline: keep what finished
            keep_finished(error, results)
            raise
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        for i, call in enumerate(calls):
            if errors:
                break
            if alone(call):
                try:
                    await one(i)
                except BaseException as error:
                    errors.append(error)
        if errors:
            keep_finished(errors[0], results)
            raise errors[0]
        done = [result for result in results if result is not None]
        assert len(done) == len(calls)
        return done

    async def _tool(self, call: ToolCall, context: ToolContext[Any]) -> ToolResult:
        """A call's activity; a deferred call waits for its decision, then runs as decided."""
        decision: dict[str, Any] | None = None
        while True:
            result = await self._tool_activity(call, context, decision)
            self._events.append(event_to(result))
            if result.deferred is None:
                # The loop emits it once the turn is over; it is alive until then, so its
                # id names it alone.
                self._told.add(id(result))
                return result
            reason = result.deferred.reason
            self._pending[call.id] = PendingCall(call=call, turn=context.turn, reason=reason)
            await workflow.wait_condition(lambda: call.id in self._decisions)
            decision = decision_to(self._decisions.pop(call.id))
            del self._pending[call.id]

    async def _tool_activity(
        self, call: ToolCall, context: ToolContext[Any], decision: dict[str, Any] | None
    ) -> ToolResult:
        agent, options = self._served.agent, self._served.options
        tool = agent.registry.get(call.function.name)
        seconds = tool.timeout if tool is not None else None
        if seconds is None:
            seconds = agent.executor.tool_timeout
        takes_context = tool is not None and bool(tool._schema.context_params)
        step = ToolCallInput(
            agent=self._served.agent.name,
            call=call_to(call),
            turn=context.turn,
            deps=context.deps,
            messages=msgspec.json.encode(context.messages).decode() if takes_context else None,
            decision=decision,
        )
        idempotent = tool is None or tool.idempotent
        deadline = _deadline(seconds, options.margin, options.no_deadline)
        try:
            data = await workflow.execute_activity(
                TOOL_CALL,
                step,
                result_type=str,
                start_to_close_timeout=deadline,
                heartbeat_timeout=options.heartbeat_timeout,
                retry_policy=options.tool_retry if idempotent else RetryPolicy(maximum_attempts=1),
                # A cancelled run (its deadline passed) ends once its tools have stopped, as
                # a plain run's does, not while they still run.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as failure:
            if not isinstance(failure.cause, ActivityTimeout):
                raise
            # The worker was lost, or went silent, and no attempt is left: the call ends as
            # a call past its timeout does in a plain run.
            waited = deadline.total_seconds() if seconds is None else seconds
            if failure.cause.type == TimeoutType.HEARTBEAT:  # silent: it waited that long
                waited = options.heartbeat_timeout.total_seconds()
            text = agent.executor._error_text(call, ToolTimeoutError(call.function.name, waited))
            return ToolResult(
                call=call, content=text, is_error=True, duration=0.0, turn=context.turn
            )
        return restored(msgspec.json.decode(data, type=ToolOutcome))


def _deadline(seconds: float | None, margin: timedelta, otherwise: timedelta) -> timedelta:
    """An activity's start-to-close timeout: its own deadline and a margin, else the default."""
    if seconds is None:
        return otherwise
    return timedelta(seconds=seconds) + margin


def _api_error(failure: ActivityError) -> APIError:
    """The asynctool error a failed model request activity stands for."""
    cause = failure.cause
    if isinstance(cause, ActivityTimeout):
        return APITimeoutError(f"The model request timed out: {cause.message}")
    if not isinstance(cause, ApplicationError):
        return APIError(f"The model request failed: {failure}")
    details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    status = details.get("status")
    if isinstance(status, int):
        return status_error_class(status)(
            cause.message, status_code=status, body=details.get("body")
        )
    if cause.type == "APITimeoutError":
        return APITimeoutError(cause.message)
    return APIError(cause.message, body=details.get("body"))
