"""The Vercel AI SDK's UI message stream: what `useChat` (its `DefaultChatTransport`) reads.

The wire: server-sent events, each a `data:` line holding one JSON chunk, then `data: [DONE]`,
on a response with the header `x-vercel-ai-ui-message-stream: v1`
(https://ai-sdk.dev/docs/ai-sdk-ui/stream-protocol, "Data Stream Protocol"). The chunks and
their fields are the union `uiMessageChunkSchema` in the `ai` package
(packages/ai/src/ui-message-stream/ui-message-chunks.ts), which the transport validates every
chunk against; `processUIMessageStream` (packages/ai/src/ui/process-ui-message-stream.ts)
assembles them into one assistant `UIMessage` and refuses a `text-delta`, `reasoning-delta` or
`tool-input-delta` whose part was not started. A whole run is one message: `start`, a step per
turn, `finish`, as `streamText` with tools streams it. Every chunk written here is in the schema
of the SDK's first release of this stream (ai 5.0.0), whose objects were strict (unknown fields
refused): `finishReason` came in 5.0.92, so it is sent only when asked for.

A run that fails ends with an `error` chunk and `[DONE]` and no `finish`, as the SDK's own
`createUIMessageStream` ends a failed `execute` (create-ui-message-stream.ts). Its `errorText` is
`error_text(exception)`: by default a sentence naming only the error's class, never its
message, which may carry a server's reply (the SDK's default is the same caution: "An error
occurred.", so server details do not reach the page).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from typing import Any

import msgspec

from .._events import AgentEvent, RunResult, ToolResult
from .._exceptions import AsyncToolError
from .._types import ToolCall
from ._frames import close_source, error_text_of, sse_data
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

__all__ = ["UI_MESSAGE_STREAM_HEADERS", "ui_message_stream"]

UI_MESSAGE_STREAM_HEADERS = {
    # The SDK's own UI_MESSAGE_STREAM_HEADERS (ui-message-stream-headers.ts); the last one
    # is the one `useChat` needs, the others keep proxies from caching or buffering.
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "x-vercel-ai-ui-message-stream": "v1",
    "x-accel-buffering": "no",
}
"""The response headers a UI message stream is served with."""

_DONE = b"data: [DONE]\n\n"


class _Chunk(msgspec.Struct, tag_field="type", rename="camel", omit_defaults=True):
    """A chunk of the stream: `type` is its tag, fields are camelCase on the wire."""


class _Start(_Chunk, tag="start"):
    message_id: str


class _StartStep(_Chunk, tag="start-step"):
    pass


class _FinishStep(_Chunk, tag="finish-step"):
    pass


class _TextStart(_Chunk, tag="text-start"):
    id: str


class _TextDelta(_Chunk, tag="text-delta"):
    id: str
    delta: str


class _TextEnd(_Chunk, tag="text-end"):
    id: str


class _ReasoningStart(_Chunk, tag="reasoning-start"):
    id: str


class _ReasoningDelta(_Chunk, tag="reasoning-delta"):
    id: str
    delta: str


class _ReasoningEnd(_Chunk, tag="reasoning-end"):
    id: str


class _ToolInputStart(_Chunk, tag="tool-input-start"):
    tool_call_id: str
    tool_name: str


class _ToolInputDelta(_Chunk, tag="tool-input-delta"):
    tool_call_id: str
    input_text_delta: str


class _ToolInputAvailable(_Chunk, tag="tool-input-available"):
    tool_call_id: str
    tool_name: str
    input: Any


class _ToolOutputAvailable(_Chunk, tag="tool-output-available"):
    tool_call_id: str
    output: Any


class _ToolOutputError(_Chunk, tag="tool-output-error"):
    tool_call_id: str
    error_text: str


class _Finish(_Chunk, tag="finish"):
    finish_reason: str | None = None


class _Error(_Chunk, tag="error"):
    error_text: str


# The SDK's FinishReason names for the API's finish_reason values (the `finish` chunk's enum).
_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content-filter",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
}


def tool_result_text(result: ToolResult) -> str:
    """A tool part's output by default: the text the model was told."""
    return result.content


async def ui_message_stream(
    events: AsyncIterable[AgentEvent],
    *,
    message_id: str | None = None,
    tool_output: Callable[[ToolResult], Any] = tool_result_text,
    error_text: Callable[[Exception], str] = error_text_of,
    finish_reason: bool = False,
) -> AsyncGenerator[bytes, None]:
    """A run's events as the AI SDK's UI message stream: the SSE bytes, frame by frame.

    Serve them with `UI_MESSAGE_STREAM_HEADERS` (or use `ui_message_response`). When the
    stream ends, early or not, `events` is closed if it can be (an `AgentStream` then cancels
    its tools).

    Args:
        events: the run's events, e.g. `agent.run_stream(...)`.
        message_id: the assistant message's id (`start.messageId`); a new one by default.
        tool_output: a tool part's `output` (any JSON value) from its `ToolResult`; by
            default the text the model was told. A failed call's part gets that text as its
            `errorText` instead.
        error_text: the `errorText` of the `error` chunk a failed run ends with. The default
            names the error's class only.
        finish_reason: whether `finish` says why the answer ended (`finishReason`: "stop",
            "length"...). AI SDK 5.0.92 and later read it; earlier 5.0 releases refuse any
            field their schema does not name, so it is off by default.

    An exception that is not an `AsyncToolError` (a bug, in a hook say) is raised again after
    the `error` chunk and `[DONE]`, so the server reports it too.
    """
    message_id = message_id or f"msg-{uuid.uuid4().hex}"
    shaper = Shaper(message_id)
    try:
        yield sse_data(_Start(message_id=message_id))
        try:
            async for event in events:
                for mark in shaper.marks(event):
                    for chunk in _chunks(mark, tool_output, finish_reason):
                        yield sse_data(chunk)
            for mark in [] if shaper.finished else shaper.end():
                for chunk in _chunks(mark, tool_output, finish_reason):
                    yield sse_data(chunk)
        except Exception as exc:
            yield sse_data(_Error(error_text=error_text(exc)))
            yield _DONE
            if not isinstance(exc, AsyncToolError):
                raise
            return
        yield _DONE
    finally:
        await close_source(events)


def _chunks(
    mark: Mark, tool_output: Callable[[ToolResult], Any], finish_reason: bool
) -> list[_Chunk]:
    match mark:
        case StepStarted():
            return [_StartStep()]
        case StepFinished():
            return [_FinishStep()]
        case BlockStarted(kind="text", id=id):
            return [_TextStart(id=id)]
        case BlockStarted(id=id):
            return [_ReasoningStart(id=id)]
        case BlockDelta(kind="text", id=id, text=text):
            return [_TextDelta(id=id, delta=text)]
        case BlockDelta(id=id, text=text):
            return [_ReasoningDelta(id=id, delta=text)]
        case BlockEnded(kind="text", id=id):
            return [_TextEnd(id=id)]
        case BlockEnded(id=id):
            return [_ReasoningEnd(id=id)]
        case CallStarted(id=id, name=name):
            return [_ToolInputStart(tool_call_id=id, tool_name=name)]
        case CallDelta(id=id, delta=delta):
            return [_ToolInputDelta(tool_call_id=id, input_text_delta=delta)]
        case CallReady(call=call):
            name = call.function.name
            return [_ToolInputAvailable(tool_call_id=call.id, tool_name=name, input=_input(call))]
        case CallResult(result=result) if result.is_error:
            return [_ToolOutputError(tool_call_id=result.call.id, error_text=result.content)]
        case CallResult(result=result):
            return [_ToolOutputAvailable(tool_call_id=result.call.id, output=tool_output(result))]
        case Finished(result=result):
            return [_Finish(finish_reason=_finish_reason(result) if finish_reason else None)]
    raise AssertionError(f"unknown mark {mark!r}")  # pragma: no cover


def _input(call: ToolCall) -> Any:
    """A call's arguments as JSON; text that is not JSON is passed on as the string it is
    (the tool then fails, and the model is told why)."""
    try:
        return msgspec.json.decode(call.function.arguments or "{}")
    except msgspec.DecodeError:
        return call.function.arguments


def _finish_reason(result: RunResult[object] | None) -> str | None:
    if result is None or not result.completion.choices:
        return None
    reason = result.completion.choices[0].finish_reason
    return _FINISH_REASONS.get(reason, "other") if reason else None
