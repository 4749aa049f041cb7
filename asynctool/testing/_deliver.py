"""Writing a response to the socket, correctly or with the faults a script asks for.

A correct body goes out in one `write()` (a stream's events are joined first): the server
should never be what a benchmark measures. Faults need finer control: a stall writes the
events before it, waits, then the rest; a trickle writes one byte per write; a drop sends a
prefix of the body and closes the socket, so the client sees fewer bytes than announced (or
an unterminated chunked body). A `RawResponse` is written as it says, a `Handler` runs until it
returns or the server closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from aiohttp import web

from ._turns import Fault, Handler, RawResponse
from ._wire import DONE

__all__ = [
    "SSE_CONTENT_TYPE",
    "close_connection",
    "deliver",
    "deliver_raw",
    "pause",
    "run_handler",
]

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
_JSON_CONTENT_TYPE = "application/json"


async def pause(closing: asyncio.Event, seconds: float | None) -> bool:
    """Wait `seconds` (`None`: forever) or until the server closes; True if it is closing."""
    if seconds is not None and seconds <= 0:
        return closing.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing.wait(), seconds)
    return closing.is_set()


def _apply_injection(events: list[bytes], fault: Fault, stream: bool) -> list[bytes]:
    if fault.inject is None:
        return events
    if not stream:
        return [fault.inject]
    at = fault.inject_after
    rest = events[at:] if fault.resume else []
    return [*events[:at], fault.inject, *rest]


def _faulty_events(events: list[bytes], fault: Fault, stream: bool) -> list[bytes]:
    events = _apply_injection(events, fault, stream)
    if not fault.done and events and events[-1] == DONE:
        events = events[:-1]
    return events


async def deliver(
    request: web.Request,
    events: list[bytes],
    *,
    stream: bool,
    fault: Fault | None,
    closing: asyncio.Event,
) -> web.StreamResponse:
    """Send a 200 response whose body is `events`, broken as `fault` says."""
    content_type = SSE_CONTENT_TYPE if stream else _JSON_CONTENT_TYPE
    all_headers = {"Content-Type": content_type}
    if fault is None and not stream:
        return web.Response(body=events[0], headers=all_headers)
    if fault is not None:
        events = _faulty_events(events, fault, stream)
    body = b"".join(events)
    if fault is not None and fault.truncate_at is not None:
        body = body[: fault.truncate_at]
    response = web.StreamResponse(headers=all_headers)
    if stream:
        response.headers["Cache-Control"] = "no-cache"
    else:
        response.content_length = len(body)
    with _unless_the_client_left(request):
        # Inside: a client that left while the answer was delayed (its own timeout, a
        # cancelled stream) makes writing the headers fail, and that is its choice, no error.
        await response.prepare(request)
        if fault is None:
            await response.write(body)
        elif not await _write_faulty(request, response, events, body, fault, closing):
            return response
        await response.write_eof()
    return response


@contextlib.contextmanager
def _unless_the_client_left(request: web.Request) -> Iterator[None]:
    """Writing stops when the client has left first: there is no one to send the rest to."""
    try:
        yield
    except ConnectionError:
        close_connection(request)


async def _write_faulty(
    request: web.Request,
    response: web.StreamResponse,
    events: list[bytes],
    body: bytes,
    fault: Fault,
    closing: asyncio.Event,
) -> bool:
    """Write `body` as the fault says; False when the connection was closed on purpose."""
    end = len(body) if fault.drop_after is None else len(body[: fault.drop_after])
    stall_at = end
    if fault.stall_after is not None:
        stall_at = min(end, sum(len(e) for e in events[: fault.stall_after]))
    if not await _write(response, body[:stall_at], fault.trickle, closing):
        close_connection(request)
        return False
    if fault.stall_after is not None:
        if await pause(closing, fault.stall_for):
            close_connection(request)
            return False
        await _write(response, body[stall_at:end], fault.trickle, closing)
    if fault.drop_after is not None or closing.is_set():
        close_connection(request)
        return False
    return True


async def _write(
    response: web.StreamResponse, data: bytes, trickle: float | None, closing: asyncio.Event
) -> bool:
    """Write `data`, one byte at a time with `trickle`; False if the server began closing."""
    if trickle is None:
        if data:
            await response.write(data)
        return True
    for i in range(len(data)):
        await response.write(data[i : i + 1])
        if await pause(closing, trickle):
            return False
    return True


def close_connection(request: web.Request, last: bytes = b"") -> None:
    """Close the connection after what was written is flushed: the body stays unfinished.

    `last` is written onto the socket first, as it is, outside any HTTP framing.
    """
    if request.transport is not None:
        if last:
            request.transport.write(last)
        request.transport.close()


async def deliver_raw(
    request: web.Request, raw: RawResponse, closing: asyncio.Event
) -> web.StreamResponse:
    """Send `raw`: one sized body, or, when it is streamed, its pieces written one by one."""
    headers = {**raw.headers, "Content-Type": raw.content_type}
    if not raw.streamed:
        return web.Response(status=raw.status, body=raw.body, headers=headers)
    response = web.StreamResponse(status=raw.status, headers=headers)
    await response.prepare(request)
    with _unless_the_client_left(request):
        if raw.body:
            await response.write(raw.body)
        for piece in raw.pieces:
            await response.write(piece)
            if await pause(closing, raw.pace):
                close_connection(request)
                return response
        if raw.ending == "hang":
            await pause(closing, None)
        if raw.ending != "finish" or closing.is_set():
            close_connection(request)
            return response
        await response.write_eof()
    return response


async def run_handler(
    request: web.Request, handler: Handler, closing: asyncio.Event
) -> web.StreamResponse:
    """Run a `Handler` turn; when the server closes first, cancel it and close the connection.

    When the client leaves, aiohttp cancels this task (`handler_cancellation`): the handler's
    own task is cancelled with it, so that a handler can see its client go.
    """
    answer = asyncio.ensure_future(handler.respond(request))
    closed = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        answer.cancel()
        raise
    finally:
        closed.cancel()
    if answer.done():
        return answer.result()
    answer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await answer
    close_connection(request)
    return web.Response()
