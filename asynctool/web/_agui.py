"""AG-UI's event stream: what an AG-UI client (CopilotKit, `@ag-ui/client`'s `HttpAgent`) reads.

The events and their fields are AG-UI's (https://docs.ag-ui.com/concepts/events; the schema
behind the `ag-ui-protocol` package's `ag_ui.core` models, 1.0); on the wire each is its JSON
with camelCase names and no null fields, in a `data:` line of a server-sent event, as the
package's `EventEncoder` writes it (`data: {event.model_dump_json(by_alias=True)}\\n\\n`, on
`text/event-stream`).

A run: `RUN_STARTED`, a `STEP_STARTED`/`STEP_FINISHED` pair per turn (named `turn-1`...),
`TEXT_MESSAGE_START`/`_CONTENT`/`_END` for the assistant's text, with the turn's assistant
message id, which its tool calls name as `parentMessageId`; `REASONING_START`,
`REASONING_MESSAGE_START`/`_CONTENT`/`_END`, `REASONING_END` for the model's reasoning, a
message of role `reasoning` (AG-UI 1.0 removed the older `THINKING_*` events);
`TOOL_CALL_START`/`_ARGS`/`_END` and `TOOL_CALL_RESULT` per call; then `RUN_FINISHED` with the
answer as `result` and the run's token `usage`, or `RUN_ERROR`. The client's `verifyEvents`
(sdks/typescript/packages/client/src/verify/verify.ts) refuses a run that does not start with
`RUN_STARTED`, a delta for a message or call that is not open, and a `RUN_FINISHED` while any
step, message or call is open; `RUN_ERROR` may come at any point and ends the run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from typing import Any, Literal

import msgspec

from .._events import AgentEvent, RunResult
from .._exceptions import AsyncToolError
from ._frames import close_source, error_code_of, error_text_of, sse_data
from ._shape import (
    BlockDelta,
    BlockEnded,
    BlockStarted,
    CallDelta,
    CallReady,
    CallResult,
    CallStarted,
    Finished,
    Mark,
    Shaper,
    StepFinished,
    StepStarted,
)

__all__ = ["AGUI_HEADERS", "agui_stream"]

PROTOCOL_VERSION = "1.0"  # the AG-UI protocol these events are of

AGUI_HEADERS = {
    "Content-Type": "text/event-stream",  # EventEncoder.get_content_type()
    "Cache-Control": "no-cache",
    "x-accel-buffering": "no",  # no proxy buffering (nginx), so each event arrives as sent
}
"""The response headers an AG-UI event stream is served with."""


class _Event(msgspec.Struct, tag_field="type", rename="camel", omit_defaults=True):
    """An AG-UI event: `type` is its tag, fields are camelCase, None fields are left out."""


class _RunStarted(_Event, tag="RUN_STARTED"):
    thread_id: str
    run_id: str
    protocol_version: str  # the producer's own (RunStartedEvent.protocol_version)


class _StepStarted(_Event, tag="STEP_STARTED"):
    step_name: str


class _StepFinished(_Event, tag="STEP_FINISHED"):
    step_name: str


class _TextMessageStart(_Event, tag="TEXT_MESSAGE_START"):
    message_id: str
    role: Literal["assistant"]


class _TextMessageContent(_Event, tag="TEXT_MESSAGE_CONTENT"):
    message_id: str
    delta: str


class _TextMessageEnd(_Event, tag="TEXT_MESSAGE_END"):
    message_id: str


class _ReasoningStart(_Event, tag="REASONING_START"):
    message_id: str


class _ReasoningMessageStart(_Event, tag="REASONING_MESSAGE_START"):
    message_id: str
    role: Literal["reasoning"]


class _ReasoningMessageContent(_Event, tag="REASONING_MESSAGE_CONTENT"):
    message_id: str
    delta: str


class _ReasoningMessageEnd(_Event, tag="REASONING_MESSAGE_END"):
    message_id: str


class _ReasoningEnd(_Event, tag="REASONING_END"):
    message_id: str


class _ToolCallStart(_Event, tag="TOOL_CALL_START"):
    tool_call_id: str
    tool_call_name: str
    parent_message_id: str | None = None


class _ToolCallArgs(_Event, tag="TOOL_CALL_ARGS"):
    tool_call_id: str
    delta: str


class _ToolCallEnd(_Event, tag="TOOL_CALL_END"):
    tool_call_id: str


class _ToolCallResult(_Event, tag="TOOL_CALL_RESULT"):
    message_id: str
    tool_call_id: str
    content: str
    role: Literal["tool"]


class _TokenUsage(msgspec.Struct, rename="camel", omit_defaults=True):
    # Counts as AG-UI accounts them: input and output are totals, reasoning and cached
    # input are parts of them (the TokenUsage schema); the API's usage counts the same way.
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None


class _RunFinished(_Event, tag="RUN_FINISHED"):
    thread_id: str
    run_id: str
    result: Any = None
    usage: list[_TokenUsage] | None = None


class _RunError(_Event, tag="RUN_ERROR"):
    message: str
    code: str | None = None


async def agui_stream(
    events: AsyncIterable[AgentEvent],
    *,
    thread_id: str | None = None,
    run_id: str | None = None,
    error_text: Callable[[Exception], str] = error_text_of,
) -> AsyncGenerator[bytes, None]:
    """A run's events as AG-UI's event stream: the SSE bytes, event by event.

    Serve them with `AGUI_HEADERS` (or use `agui_response`). When the stream ends, early or
    not, `events` is closed if it can be (an `AgentStream` then cancels its tools).

    Args:
        events: the run's events, e.g. `agent.run_stream(...)`.
        thread_id, run_id: the `threadId` and `runId` of the client's `RunAgentInput`, which
            `RUN_STARTED` and `RUN_FINISHED` repeat; new ones by default.
        error_text: the `message` of the `RUN_ERROR` a failed run ends with (its `code` is the
            asynctool error's class name). The default names the error's class only.

    An exception that is not an `AsyncToolError` (a bug, in a hook say) is raised again after
    `RUN_ERROR`, so the server reports it too.
    """
    thread_id = thread_id or f"thread-{uuid.uuid4().hex}"
    run_id = run_id or f"run-{uuid.uuid4().hex}"
    shaper = Shaper(f"{run_id}-{uuid.uuid4().hex[:8]}")
    try:
        yield sse_data(_RunStarted(thread_id, run_id, PROTOCOL_VERSION))
        try:
            async for event in events:
                for mark in shaper.marks(event):
                    for out in _events(mark, thread_id, run_id):
                        yield sse_data(out)
            for mark in [] if shaper.finished else shaper.end():
                for out in _events(mark, thread_id, run_id):
                    yield sse_data(out)
        except Exception as exc:
            yield sse_data(_RunError(message=error_text(exc), code=error_code_of(exc)))
            if not isinstance(exc, AsyncToolError):
                raise
    finally:
        await close_source(events)


def _events(mark: Mark, thread_id: str, run_id: str) -> list[_Event]:
    match mark:
        case StepStarted(turn=turn):
            return [_StepStarted(step_name=f"turn-{turn}")]
        case StepFinished(turn=turn):
            return [_StepFinished(step_name=f"turn-{turn}")]
        case BlockStarted(kind="text", message_id=message):
            return [_TextMessageStart(message_id=message, role="assistant")]
        case BlockStarted(id=id):
            return [_ReasoningStart(message_id=id), _ReasoningMessageStart(id, "reasoning")]
        case BlockDelta(kind="text", message_id=message, text=text):
            return [_TextMessageContent(message_id=message, delta=text)]
        case BlockDelta(id=id, text=text):
            return [_ReasoningMessageContent(message_id=id, delta=text)]
        case BlockEnded(kind="text", message_id=message):
            return [_TextMessageEnd(message_id=message)]
        case BlockEnded(id=id):
            return [_ReasoningMessageEnd(message_id=id), _ReasoningEnd(message_id=id)]
        case CallStarted(id=id, name=name, message_id=message):
            return [_ToolCallStart(tool_call_id=id, tool_call_name=name, parent_message_id=message)]
        case CallDelta(id=id, delta=delta):
            return [_ToolCallArgs(tool_call_id=id, delta=delta)]
        case CallReady(call=call, streamed=streamed):
            # Without deltas (a source that streams no arguments) the whole text goes at once,
            # so the client's call still has its arguments.
            args = [] if streamed else [_ToolCallArgs(call.id, call.function.arguments)]
            return [*args, _ToolCallEnd(tool_call_id=call.id)]
        case CallResult(result=result, message_id=message):
            return [_ToolCallResult(message, result.call.id, result.content, role="tool")]
        case Finished(result=result):
            return [_finished(result, thread_id, run_id)]
    raise AssertionError(f"unknown mark {mark!r}")  # pragma: no cover


def _finished(result: RunResult[object] | None, thread_id: str, run_id: str) -> _RunFinished:
    if result is None:
        return _RunFinished(thread_id=thread_id, run_id=run_id)
    usage = result.usage
    prompt, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    tokens = _TokenUsage(
        model=result.completion.model or None,
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        reasoning_tokens=completion.reasoning_tokens if completion else None,
        cached_input_tokens=prompt.cached_tokens if prompt else None,
    )
    return _RunFinished(thread_id, run_id, _json_value(result.output), [tokens])


def _json_value(output: object) -> Any:
    """The answer as a JSON value (a parsed `output_type` as its fields); None if it has none."""
    try:
        return msgspec.to_builtins(output)
    except TypeError:  # a type msgspec cannot encode: leave it out rather than fail the run
        return None
