"""The two activities of a durable run: one model request, and one tool call.

They run in the worker process, with the agent registered there (`_options`): its client
(base URL, API key from the worker's environment) sends the request, its `ToolExecutor` runs
the call, with `before_tool_call`, the tool's timeout, the error handler and the cap on the
result's length, exactly as in a plain run. Each heartbeats while it works, so a lost worker
is noticed after `heartbeat_timeout` and the step given to another.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from temporalio import activity
from temporalio.exceptions import ApplicationError

from .._agent import _as_decided
from .._durable import ModelCall, ToolCallInput, decision_from, outcome_of
from .._exceptions import APIConnectionError, APIError, APIStatusError
from .._request import ChatCompletionRequest
from .._retry import should_retry
from .._tools import ToolContext
from .._types import ChatCompletion, Message, ToolCall
from ._options import served

__all__ = ["model_request", "tool_call"]


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeat at a third of the activity's heartbeat timeout while the block runs."""
    timeout = activity.info().heartbeat_timeout
    if timeout is None:
        yield
        return
    period = max(timeout.total_seconds() / 3, 0.05)

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(period)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


@activity.defn(name="asynctool.model_request")
async def model_request(step: ModelCall) -> str:
    """Send one request of the run with the agent's client; the completion as JSON.

    A failed request is an `ApplicationError` of the error's type, with its status and body
    as details (the workflow rebuilds the error from them), retryable when the client would
    have retried it: connection failures, timeouts, 408, 409, 429, 5xx.
    """
    agent = served(step.agent).agent
    request = msgspec.json.decode(step.request, type=ChatCompletionRequest)
    try:
        async with _heartbeating():
            completion = await agent.client.chat.completions._send(
                request,
                extra_body=agent.params.get("extra_body"),
                extra_headers={"Idempotency-Key": step.idempotency_key},
            )
    except APIStatusError as error:
        raise ApplicationError(
            error.message,
            {"status": error.status_code, "body": _jsonable(error.body)},
            type=type(error).__name__,
            non_retryable=not should_retry(error.status_code, error.headers),
        ) from None
    except APIConnectionError as error:
        raise ApplicationError(str(error), type=type(error).__name__) from None
    except APIError as error:  # an error in a success, a body that is no answer
        raise ApplicationError(
            str(error), {"body": _jsonable(error.body)}, type=type(error).__name__
        ) from None
    assert isinstance(completion, ChatCompletion)  # the workflow never streams
    return msgspec.json.encode(completion).decode()


@activity.defn(name="asynctool.tool_call")
async def tool_call(step: ToolCallInput) -> str:
    """Run one tool call with the agent's executor; its `ToolResult` as JSON (`outcome_of`).

    A call deferred and then decided runs as decided, not through `before_tool_call` again
    (as `Agent.resume` does). What the executor raises (a bug in a hook or in the error
    handler) fails the activity for good: it is raised to whoever waits for the run.
    """
    agent = served(step.agent).agent
    call = msgspec.json.decode(step.call, type=ToolCall)
    messages: list[Any] = []
    if step.messages is not None:
        messages = msgspec.json.decode(step.messages, type=list[Message])
    context = ToolContext(
        step.deps,
        tool_call_id=call.id,
        tool_name=call.function.name,
        messages=messages,
        turn=step.turn,
    )
    executor = agent.executor
    if step.decision is not None:
        executor = copy.copy(executor)
        decisions = {call.id: decision_from(step.decision)}
        executor.before_tool_call = functools.partial(_as_decided, decisions)
    try:
        async with _heartbeating():
            (result,) = await executor.execute([call], lambda _: context, executor.slots())
    except Exception as error:
        raise ApplicationError(
            f"{type(error).__name__}: {error}", type=type(error).__name__, non_retryable=True
        ) from None
    return outcome_of(result)


def _jsonable(body: object) -> object:
    try:
        return msgspec.to_builtins(body)
    except TypeError:
        return str(body)
