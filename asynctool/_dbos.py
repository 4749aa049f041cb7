"""An agent run as a DBOS workflow: `DBOSAgent`.

DBOS (`dbos` on PyPI) is a library: a workflow is a function whose steps' outputs it records
in its system database (SQLite by default, or Postgres); after a crash, `DBOS.launch()` in a
new process runs the workflows left pending again from the start, and each step that had
finished returns its recorded output instead of running. So the loop here is `Run`, the same
code as `Agent.run`, given a `Send` and an `Execute` (`_seam.py`) whose every model request
and every tool call is a step (`DBOS.run_step_async`).

What DBOS records: the workflow's input (the user's text or conversation, or a paused run and
its decisions, as JSON), each step's output (a completion, a tool's result, as msgspec JSON)
and the workflow's result (the `RunResult` as JSON). Never the client, the agent or its API
key: a step is a closure over them, and DBOS keeps no step's arguments.

The recovered run must take the same steps in the same order, as DBOS finds a step's output
by its position in the workflow:

- the plain (non-stream) path: a turn's events are collected, and its calls' steps are
  started in call order, each taking its position before its first await;
- a request's `Idempotency-Key` is made of the workflow id and the request's number, so every
  attempt of a step, in this process or the next, sends the same one;
- the hooks that run in the loop (`history`, `after_response`, `on_overflow`) run again on
  recovery, over the recorded completions: they must not depend on what changed since.
  `before_tool_call` and `tool_error_handler` run inside a tool's step, once.

DBOS runs a step again when its process died before the step's output was recorded: a
tool call under way then runs twice. For a tool marked not idempotent
(`@tool(idempotent=False)`), a step first records that the call starts; a recovery that finds
that record and no result does not run the call again, and the model is told, as for a failed
call, that it may or may not have taken effect.

A model request that fails in a way the client retries (connection, timeout, 408, 409, 429,
5xx), after the client's own retries, is retried by DBOS as a step (`model_attempts`); what
is left failing ends the run as in a plain run. DBOS pickles what a workflow raises, and not
every asynctool error can be unpickled, so a failed workflow raises `DurableRunError` (its
class name, text and transcript); the process that waits on a run it started re-raises the
error itself.
"""

from __future__ import annotations

import copy
import functools
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import anyio
import msgspec
from dbos import DBOS, SetWorkflowID, WorkflowHandleAsync
from dbos import error as dbos_errors

from ._agent import Agent, _as_decided, _positive
from ._budget import Clock
from ._durable import ToolOutcome, restored, tool_outcome
from ._events import RunCompleted, RunResult, ToolResult
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncToolError,
    InvalidRequestError,
    ToolError,
    status_error_class,
)
from ._execute import Deny, Rewrite, Slots, ToolExecutor
from ._pause import (
    Answer,
    Approve,
    Decision,
    Defer,
    PausedRun,
    SavedResult,
)
from ._request import ChatCompletionRequest, checked_messages
from ._retry import should_retry
from ._run import Run
from ._seam import Report, keep_finished
from ._tools import ToolContext
from ._types import ChatCompletion, Message, ToolCall, Usage

__all__ = ["DBOSAgent", "DurableRunError"]

OutputT = TypeVar("OutputT")

MODEL_REQUEST = "asynctool.model_request"
TOOL_CALL = "asynctool.tool_call"  # with ":<tool name>": DBOS checks it on recovery
STARTING = "asynctool.tool_started"  # a call of a tool that is not idempotent starts


class DurableRunError(AsyncToolError):
    """A durable run ended with an error, read back from DBOS's database.

    `error_type` is the class name of the error the run raised (`MaxTurnsExceeded`,
    `InternalServerError`, or a hook's own), `messages` the transcript up to it. The process
    that started the run and waits on it gets the error itself instead.
    """

    def __init__(self, message: str, *, error_type: str, messages: list[Message]) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.messages = messages

    def __reduce__(self) -> tuple[Any, ...]:
        # DBOS pickles it: rebuilt from plain values, the transcript as JSON.
        return (_durable_error, (str(self), self.error_type, msgspec.json.encode(self.messages)))


def _durable_error(message: str, error_type: str, messages: bytes) -> DurableRunError:
    decoded = msgspec.json.decode(messages, type=list[Message])
    return DurableRunError(message, error_type=error_type, messages=decoded)


class _Retry(Exception):
    """A failed request DBOS may try again: the failure as JSON (`_Failure`)."""


class _Failure(msgspec.Struct, kw_only=True):
    """A model request's failure as recorded: enough to raise the error a plain run raises."""

    kind: str
    message: str
    status: int | None = None
    body: Any = None
    request_id: str | None = None

    @classmethod
    def of(cls, error: APIError) -> _Failure:
        try:
            body = msgspec.to_builtins(error.body)
        except TypeError:
            body = str(error.body)
        status = error.status_code if isinstance(error, APIStatusError) else None
        return cls(
            kind=type(error).__name__,
            message=error.message,
            status=status,
            body=body,
            request_id=error.request_id,
        )

    def error(self) -> APIError:
        if self.status is not None:
            return status_error_class(self.status)(
                self.message, status_code=self.status, body=self.body, request_id=self.request_id
            )
        kind = {"APITimeoutError": APITimeoutError, "APIConnectionError": APIConnectionError}
        return kind.get(self.kind, APIError)(self.message, request_id=self.request_id)


class _Answer(msgspec.Struct, kw_only=True):
    """A model request step's output: the completion, or the failure not worth retrying."""

    completion: ChatCompletion | None = None
    failure: _Failure | None = None


class _Outcome(msgspec.Struct, kw_only=True):
    """A tool step's output: the result as a Temporal activity records it too (its value when
    JSON can hold it, the `Defer` reason of a deferred call), or what the hook or handler
    raised, which ends the run."""

    outcome: ToolOutcome | None = None
    raised: str | None = None


class _Decision(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A decision for a paused call, as the workflow's input stores it."""

    kind: str  # the decision's class name
    reason: str | None = None
    arguments: dict[str, Any] | str | None = None
    output: Any = None

    @classmethod
    def of(cls, call_id: str, decision: Decision) -> _Decision:
        if isinstance(decision, Deny | Defer):
            return cls(kind=type(decision).__name__, reason=decision.reason)
        if isinstance(decision, Rewrite):
            return cls(kind="Rewrite", arguments=decision.arguments)
        if isinstance(decision, Answer):
            try:
                return cls(kind="Answer", output=msgspec.to_builtins(decision.output))
            except TypeError as exc:
                field = f"decisions[{call_id!r}]"
                raise InvalidRequestError(
                    field, f"Answer(output) cannot be stored: {exc}"
                ) from None
        return cls(kind="Approve")

    def decision(self) -> Decision:
        if self.kind == "Deny":
            return Deny() if self.reason is None else Deny(self.reason)
        if self.kind == "Defer":
            return Defer(self.reason)
        if self.kind == "Rewrite":
            assert self.arguments is not None
            return Rewrite(self.arguments)
        if self.kind == "Answer":
            return Answer(self.output)
        return Approve()


class _Input(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The workflow's input: the user's text or conversation, or a paused run and the
    decisions for its pending calls."""

    input: Any = None
    paused: PausedRun | None = None
    decisions: dict[str, _Decision] | None = None


class _Saved(msgspec.Struct, kw_only=True):
    """The workflow's result: a `RunResult`, the tools' values left out."""

    output: Any
    messages: list[Message]
    usage: Usage
    turns: int
    completion: ChatCompletion
    tool_results: list[SavedResult]
    paused: PausedRun | None = None


class DBOSAgent(Generic[OutputT]):
    """An `Agent` whose runs are DBOS workflows: each model request and tool call a step.

    Make it before `DBOS.launch()`, in every process that may run or recover the agent's runs
    (it registers the workflow `asynctool.agent:<name>`, which a recovery finds by name).
    Launch DBOS from async code (`DBOS.launch()` inside the running loop), so that the runs it
    recovers run on that loop, with the agent's client.

    Args:
        agent: the agent; its model, tools, hooks and limits are the run's.
        name: the workflow's name, unique among the process's agents; the agent's name by
            default.
        deps: what the tools get as `context.deps`: this process's, not stored (a recovered
            run gets the recovering process's).
        model_attempts: how many times a model request step is tried while it fails in a way
            the client retries (each attempt with the client's own retries), all with the same
            `Idempotency-Key`.
        retry_interval: seconds before the second attempt, doubled for each next one.
    """

    def __init__(
        self,
        agent: Agent[OutputT],
        *,
        name: str | None = None,
        deps: Any = None,
        model_attempts: int = 3,
        retry_interval: float = 1.0,
    ) -> None:
        if not isinstance(agent, Agent):
            raise InvalidRequestError("agent", f"expected an Agent, got {type(agent).__name__}")
        if agent.sources:
            raise InvalidRequestError(
                "agent", "a durable run takes local tools only, not tool sources (MCP servers)"
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidRequestError("name", f"expected a non-empty str, got {name!r}")
        if isinstance(retry_interval, bool) or not isinstance(retry_interval, int | float):
            raise InvalidRequestError(
                "retry_interval", f"expected seconds >= 0, got {retry_interval!r}"
            )
        if retry_interval < 0:
            raise InvalidRequestError(
                "retry_interval", f"expected seconds >= 0, got {retry_interval!r}"
            )
        self.agent = agent
        self.name = name if name is not None else agent.name
        self.deps = deps
        self.model_attempts = _positive("model_attempts", model_attempts)
        self.retry_interval = float(retry_interval)
        # What a run started here ended with, for `run` to hand over as it is (the tools'
        # values kept, the error itself): taken when read, only for runs someone waits on.
        self._ended: dict[str, RunResult[Any] | BaseException | None] = {}

        async def workflow(data: str) -> str:
            return await self._workflow(data)

        self._run_workflow = DBOS.workflow(name=f"asynctool.agent:{self.name}")(workflow)

    async def run(
        self, input: str | Sequence[Any], *, workflow_id: str | None = None
    ) -> RunResult[OutputT]:
        """Run to the final answer as a workflow, and return its result.

        `workflow_id` names the run (a new UUID by default): starting one that exists returns
        its result (DBOS runs each id once), and another process can wait on it (`result`).

        Raises:
            InvalidRequestError: bad input, before anything is stored or sent.
            The errors of `Agent.run`; `DurableRunError` when the run ended in another
                process, or before this one waited on it.
        """
        return await self._started(_input_of(input), workflow_id)

    async def _started(self, data: str, workflow_id: str | None) -> RunResult[OutputT]:
        """Start the workflow with `data`, and wait for its result."""
        workflow_id = workflow_id if workflow_id is not None else str(uuid.uuid4())
        self._ended[workflow_id] = None
        try:
            with SetWorkflowID(workflow_id):
                handle: WorkflowHandleAsync[str] = await DBOS.start_workflow_async(
                    self._run_workflow, data
                )
            return await self._result_of(workflow_id, handle.get_result)
        finally:
            self._ended.pop(workflow_id, None)

    async def start(self, input: str | Sequence[Any], *, workflow_id: str | None = None) -> str:
        """Start a run without waiting for it; its workflow id, for `result`."""
        workflow_id = workflow_id if workflow_id is not None else str(uuid.uuid4())
        data = _input_of(input)
        with SetWorkflowID(workflow_id):
            await DBOS.start_workflow_async(self._run_workflow, data)
        return workflow_id

    async def resume(
        self,
        paused: PausedRun,
        decisions: Mapping[str, Decision],
        *,
        workflow_id: str | None = None,
    ) -> RunResult[OutputT]:
        """Go on with a paused run (`result.paused`), as `Agent.resume` does, as a new
        workflow: its decided calls and everything after them are steps.

        Raises:
            InvalidRequestError: as `Agent.resume`, and for an `Answer(output)` JSON cannot
                hold; before anything is stored or sent.
            The errors of `run`.
        """
        checked = self.agent._checked_resumption(paused, decisions)
        stored = {call_id: _Decision.of(call_id, d) for call_id, d in checked.items()}
        data = msgspec.json.encode(_Input(paused=paused, decisions=stored)).decode()
        return await self._started(data, workflow_id)

    async def result(self, workflow_id: str) -> RunResult[OutputT]:
        """Wait for the run `workflow_id` (started here, elsewhere, or recovered) to end.

        Raises:
            DurableRunError: the run ended with an error.
        """
        handle: WorkflowHandleAsync[str] = await DBOS.retrieve_workflow_async(workflow_id)
        return await self._result_of(workflow_id, handle.get_result)

    async def _result_of(self, workflow_id: str, wait: Callable[[], Any]) -> RunResult[OutputT]:
        try:
            data = await wait()
        except DurableRunError:
            ended = self._ended.get(workflow_id)
            if isinstance(ended, BaseException):
                raise ended from None
            raise
        ended = self._ended.get(workflow_id)
        if isinstance(ended, RunResult):
            return ended
        return self._decoded(data)

    def _decoded(self, data: str) -> RunResult[OutputT]:
        saved = msgspec.json.decode(data, type=_Saved)
        output = saved.output
        spec = self.agent.output
        if spec is not None and saved.paused is None:
            # Parsed again from the answer, as the run parsed it: the same type, not its JSON.
            output = spec.parse(saved.completion.choices[0].message.content)
        return RunResult(
            output=output,
            messages=saved.messages,
            usage=saved.usage,
            turns=saved.turns,
            completion=saved.completion,
            tool_results=[r.restored() for r in saved.tool_results],
            paused=saved.paused,
        )

    async def _workflow(self, data: str) -> str:
        """The workflow: the loop, its sends and executions DBOS steps."""
        workflow_id = DBOS.workflow_id
        assert workflow_id is not None
        settings = self.agent.settings()
        given = msgspec.json.decode(data, type=_Input)
        executor = self.agent.executor
        steps = _Steps(self, workflow_id, executor, executor.slots())
        paused, before = given.paused, 0.0
        if paused is None:
            run = Run(
                settings,
                given.input,
                self.deps,
                send=steps.send,
                execute=steps.execute,
                stream=False,
            )
        else:
            # As `Agent.resume`: the paused calls run as decided, not through the hook again.
            decisions = {k: d.decision() for k, d in (given.decisions or {}).items()}
            applying = copy.copy(executor)
            applying.before_tool_call = functools.partial(_as_decided, decisions)
            decided = _Steps(self, workflow_id, applying, steps.slots)
            run = Run.resumed(
                settings,
                paused,
                self.deps,
                decided=decided.execute,
                send=steps.send,
                execute=steps.execute,
                stream=False,
            )
            before = paused.elapsed
        limit = settings.budget.max_run_seconds
        if limit is not None:
            # The wall time counts from the first start, recorded, not from the recovery.
            started = await DBOS.run_step_async({"name": "asynctool.started"}, time.time)
            run.clock = Clock(limit, before=before + max(0.0, time.time() - started))
        try:
            async for event in run.events():
                if isinstance(event, RunCompleted):
                    return self._ending(workflow_id, event.result)
        except Exception as error:
            if workflow_id in self._ended:
                self._ended[workflow_id] = error
            if isinstance(error, DurableRunError):  # a recorded error, read back
                kind, text = error.error_type, str(error)
            else:
                kind, text = type(error).__name__, f"{type(error).__name__}: {error}"
            raise DurableRunError(text, error_type=kind, messages=list(run.messages)) from None
        raise AssertionError("a run ends with RunCompleted or an error")  # pragma: no cover

    def _ending(self, workflow_id: str, result: RunResult[Any]) -> str:
        if workflow_id in self._ended:
            self._ended[workflow_id] = result
        try:
            output = msgspec.to_builtins(result.output)
        except TypeError:
            output = None  # parsed again from the answer when read back
        saved = _Saved(
            output=output,
            messages=result.messages,
            usage=result.usage,
            turns=result.turns,
            completion=result.completion,
            tool_results=[SavedResult.of(r) for r in result.tool_results],
            paused=result.paused,
        )
        return msgspec.json.encode(saved).decode()


class _Steps:
    """One run's `Send` and `Execute`, each request and each call a DBOS step."""

    def __init__(
        self, durable: DBOSAgent[Any], workflow_id: str, executor: ToolExecutor, slots: Slots
    ) -> None:
        self.agent = durable.agent
        self.durable = durable
        self.workflow_id = workflow_id
        self.executor = executor
        self.slots = slots
        self.requests = 0

    def idempotency_key(self, number: int) -> str:
        """The key of the run's `number`th request: the same in every attempt and process."""
        return f"asynctool-{urllib.parse.quote(self.workflow_id, safe='')}-{number}"

    async def send(self, request: ChatCompletionRequest) -> ChatCompletion:
        self.requests += 1
        key = self.idempotency_key(self.requests)
        raised: list[APIError] = []  # this process's error, raised as it is

        async def model_request() -> bytes:
            try:
                completion = await self.agent.client.chat.completions._send(
                    request,
                    extra_body=self.agent.params.get("extra_body"),
                    extra_headers={"Idempotency-Key": key},
                )
            except APIError as error:
                raised[:] = [error]
                failure = _Failure.of(error)
                if _retryable(error):
                    raise _Retry(msgspec.json.encode(failure).decode()) from None
                return msgspec.json.encode(_Answer(failure=failure))
            assert isinstance(completion, ChatCompletion)  # the workflow never streams
            return msgspec.json.encode(_Answer(completion=completion))

        options: Any = {
            "name": MODEL_REQUEST,
            "retries_allowed": True,
            "max_attempts": self.durable.model_attempts,
            "interval_seconds": self.durable.retry_interval,
            "backoff_rate": 2.0,
        }
        try:
            data = await DBOS.run_step_async(options, model_request)
        except dbos_errors.DBOSMaxStepRetriesExceeded as exhausted:
            if raised:
                raise raised[0] from None
            last = exhausted.errors[-1] if exhausted.errors else None
            text = str(last.args[0]) if last is not None and last.args else ""
            raise msgspec.json.decode(text, type=_Failure).error() from None
        answer = msgspec.json.decode(data, type=_Answer)
        if answer.failure is not None:
            raise raised[0] if raised else answer.failure.error()
        assert answer.completion is not None
        return answer.completion

    async def execute(
        self,
        calls: Sequence[ToolCall] | AsyncIterable[ToolCall],
        context: Callable[[ToolCall], ToolContext[Any]],
        /,
        *,
        report: Report | None = None,
    ) -> list[ToolResult]:
        """A step per call, the turn's calls at once, a sequential tool's alone after them;
        each step takes its place in the workflow in call order."""
        assert isinstance(calls, Sequence)  # the plain path: the calls of a turn at once
        results: list[ToolResult | None] = [None] * len(calls)
        together = [i for i, call in enumerate(calls) if not self.executor._is_sequential(call)]
        alone = [i for i in range(len(calls)) if i not in together]
        # Before any call starts, one after the other: their places in the workflow are fixed.
        started = [await self.started(call) for call in calls]

        async def one(i: int) -> None:
            results[i] = await self.call(calls[i], context(calls[i]), started[i])

        try:
            async with anyio.create_task_group() as group:
                for i in together:
                    group.start_soon(one, i)
            for i in alone:
                await one(i)
        except BaseException as error:
            error = _unwrapped(error)
            keep_finished(error, results)
            raise error from None
        done = [result for result in results if result is not None]
        assert len(done) == len(calls)
        return done

    async def started(self, call: ToolCall) -> bool:
        """For a call of a tool that is not idempotent (`idempotent=False`), a step that says
        it starts: False when it is read back from the record, as the call had started in a
        process that stopped. True for any other call."""
        tool = self.executor.registry.get(call.function.name)
        if tool is None or tool.idempotent:
            return True
        fresh: list[bool] = []

        def starting() -> str:
            fresh.append(True)
            return call.id

        await DBOS.run_step_async({"name": f"{STARTING}:{call.function.name}"}, starting)
        return bool(fresh)

    async def call(self, call: ToolCall, context: ToolContext[Any], started: bool) -> ToolResult:
        """One call's step: the executor runs it as in a plain run (hooks, timeout, error
        text); what its hook or handler raises is recorded too, and ends the run. A call that
        was under way in a process that stopped, of a tool that is not idempotent, is not run
        again: the model is told so, as a failed call."""
        ran: list[ToolResult] = []
        raised: list[Exception] = []

        async def tool_call() -> bytes:
            if not started:
                return _outcome_of(self.lost(call, context.turn))
            try:
                result = await self.executor._execute_one(call, context, self.slots)
            except Exception as error:
                raised.append(error)
                return msgspec.json.encode(_Outcome(raised=f"{type(error).__name__}: {error}"))
            ran.append(result)
            return _outcome_of(result)

        name = f"{TOOL_CALL}:{call.function.name}"
        data = await DBOS.run_step_async({"name": name}, tool_call)
        if raised:
            raise raised[0]
        if ran:
            return ran[0]  # the result itself, its value as the tool returned it
        return _restored(msgspec.json.decode(data, type=_Outcome), call.function.name)

    def lost(self, call: ToolCall, turn: int) -> ToolResult:
        error = ToolError(
            f"The process running this call of {call.function.name!r} stopped before it "
            "finished; it was not run again, as the tool is not idempotent. It may or may not "
            "have taken effect."
        )
        text = self.executor._error_text(call, error)
        return ToolResult(call=call, content=text, is_error=True, duration=0.0, turn=turn)


def _retryable(error: APIError) -> bool:
    """Whether the client would have retried `error`: DBOS may then try the step again."""
    if isinstance(error, APIStatusError):
        return should_retry(error.status_code, error.headers)
    return isinstance(error, APIConnectionError)


def _outcome_of(result: ToolResult) -> bytes:
    return msgspec.json.encode(_Outcome(outcome=tool_outcome(result)))


def _restored(outcome: _Outcome, tool: str) -> ToolResult:
    """A recorded tool step's result; a recorded error of its hook raised again."""
    if outcome.raised is not None or outcome.outcome is None:
        raised = outcome.raised or ""
        raise DurableRunError(raised, error_type=raised.split(":", 1)[0], messages=[])
    return restored(outcome.outcome)


def _unwrapped(error: BaseException) -> BaseException:
    """The error a task group raised for its one failed call, out of its group."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _input_of(input: str | Sequence[Any]) -> str:
    """The run's input as the workflow stores it: JSON, checked before anything starts."""
    if not isinstance(input, str):
        input = checked_messages(input)
    try:
        return msgspec.json.encode(_Input(input=input)).decode()
    except TypeError as exc:
        raise InvalidRequestError("input", f"cannot be stored as JSON: {exc}") from None
