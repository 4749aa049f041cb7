"""aiohttp handlers' side: a run's stream as a `web.StreamResponse`, in either format."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping
from contextlib import aclosing
from typing import Any

from aiohttp import web

from .._events import AgentEvent, ToolResult
from ._agui import AGUI_HEADERS, agui_stream
from ._frames import error_text_of
from ._ui_message import UI_MESSAGE_STREAM_HEADERS, tool_result_text, ui_message_stream

__all__ = ["agui_response", "ui_message_response"]


async def ui_message_response(
    request: web.Request,
    events: AsyncIterable[AgentEvent],
    *,
    message_id: str | None = None,
    tool_output: Callable[[ToolResult], Any] = tool_result_text,
    error_text: Callable[[Exception], str] = error_text_of,
    finish_reason: bool = False,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Answer `request` with the run as the AI SDK's UI message stream (for `useChat`).

    `return await ui_message_response(request, agent.run_stream(messages))` in a handler;
    the options are `ui_message_stream`'s, and `headers` are added to the response's. A failed
    run ends the stream with an `error` chunk (the response is 200 already); a client that goes
    away stops the run. An exception that is not an `AsyncToolError` is raised after the
    response is complete, so aiohttp logs it as the handler's.
    """
    frames = ui_message_stream(
        events,
        message_id=message_id,
        tool_output=tool_output,
        error_text=error_text,
        finish_reason=finish_reason,
    )
    return await _respond(request, frames, {**UI_MESSAGE_STREAM_HEADERS, **(headers or {})})


async def agui_response(
    request: web.Request,
    events: AsyncIterable[AgentEvent],
    *,
    thread_id: str | None = None,
    run_id: str | None = None,
    error_text: Callable[[Exception], str] = error_text_of,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Answer `request` with the run as AG-UI's event stream.

    `return await agui_response(request, agent.run_stream(messages), thread_id=...,
    run_id=...)` in a handler, with the ids of the client's `RunAgentInput`; the options are
    `agui_stream`'s, and `headers` are added to the response's. A failed run ends the stream
    with `RUN_ERROR` (the response is 200 already); a client that goes away stops the run. An
    exception that is not an `AsyncToolError` is raised after the response is complete.
    """
    frames = agui_stream(events, thread_id=thread_id, run_id=run_id, error_text=error_text)
    return await _respond(request, frames, {**AGUI_HEADERS, **(headers or {})})


async def _respond(
    request: web.Request, frames: AsyncGenerator[bytes, None], headers: Mapping[str, str]
) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    async with aclosing(frames):  # closing the frames closes the run's events
        try:
            async for frame in frames:
                await response.write(frame)
        except ConnectionResetError:  # the client went away: nobody is left to tell
            return response
        except Exception:
            # A bug (not a failed run, which the frames report and end): the page has its
            # error event and a whole response; aiohttp logs the bug with its traceback.
            await response.write_eof()
            raise
    await response.write_eof()
    return response
