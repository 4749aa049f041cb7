"""Helpers that build error responses and broken deliveries for `ScriptedModel` scripts.

Each returns a `RawResponse`, a `Fault` or a `Handler` (see `_turns`). Faults wrap a reply, by
default a sentence long enough to be cut in the middle; events are counted from the first SSE event
(the one with `role`), so `stall(after=2)` stalls after the role chunk and one content delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal

import msgspec
from aiohttp import web

from ._deliver import close_connection
from ._turns import Choices, Fault, Handler, RawResponse, Reply, text

__all__ = [
    "bad_data",
    "drop_after",
    "error_body",
    "error_chunk",
    "error_event",
    "garbage",
    "hang_up",
    "html_error",
    "html_page",
    "no_done",
    "raw_bytes",
    "raw_stream",
    "redirect",
    "stall",
    "status",
    "trickle",
    "truncated",
]

DEFAULT_REPLY = text(
    "This reply is long enough for a fault to cut it somewhere in the middle, "
    "whether it is streamed as many small chunks or sent as one JSON body."
)

# (message, type, code) of an OpenAI-style error body, by status.
_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model.", "permission_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    409: ("Conflicting request, please retry.", "invalid_request_error", None),
    422: ("The request could not be processed.", "invalid_request_error", None),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}

_BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_LOGIN_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    '<body><form action="/login"><input name="user"></form></body></html>\n'
)


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> bytes:
    """An OpenAI-style error body: `{"error": {"message", "type", "param", "code"}}`."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return msgspec.json.encode({"error": error})


def _retry_after_value(value: float | datetime) -> str:
    """`Retry-After` as delay-seconds, or as an HTTP date for a datetime."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(aware.astimezone(UTC), usegmt=True)
    return str(int(value)) if float(value).is_integer() else str(value)


def status(
    status: int,
    message: str | None = None,
    *,
    error_type: str | None = None,
    error_code: str | None = None,
    retry_after: float | datetime | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    delay: float = 0.0,
) -> RawResponse:
    """An HTTP error with an OpenAI-style JSON body.

    Args:
        status: the HTTP status, e.g. 429.
        message: `error.message`; a usual one for the status by default.
        error_type: `error.type`; a usual one for the status by default.
        error_code: `error.code`; a usual one for the status by default.
        retry_after: a `Retry-After` header, in seconds or as a date (sent as an HTTP date).
        headers: further headers.
        body: a JSON-encodable body to send instead of the error object.
        delay: seconds to wait before answering.
    """
    default = _STATUS_ERRORS.get(status, ("HTTP error.", "server_error", None))
    if body is None:
        payload = error_body(
            message or default[0],
            type=error_type or default[1],
            code=error_code if error_code is not None else default[2],
        )
    else:
        payload = msgspec.json.encode(body)
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = _retry_after_value(retry_after)
    return RawResponse(status=status, body=payload, headers=all_headers, delay=delay)


def redirect(url: str, status: int = 307) -> RawResponse:
    """A redirect to `url` (307 and 308 keep the method and body)."""
    return RawResponse(status=status, content_type="text/plain", headers={"Location": url})


def html_error(status: int = 502) -> RawResponse:
    """An HTML error page, as a proxy in front of a model server sends one."""
    page = _BAD_GATEWAY_HTML.format(status=status).encode()
    return RawResponse(status=status, body=page, content_type="text/html")


def html_page() -> RawResponse:
    """A 200 response with `Content-Type: text/html` (a captive portal, a login page)."""
    return RawResponse(status=200, body=_LOGIN_HTML.encode(), content_type="text/html")


def raw_stream(
    *pieces: bytes,
    pace: float = 0.0,
    ending: Literal["finish", "close", "hang"] = "finish",
    status: int = 200,
    content_type: str = "text/event-stream",
    headers: Mapping[str, str] | None = None,
) -> RawResponse:
    """A response streaming exactly these bytes, one write per piece, `pace` seconds apart.

    For what a reply cannot say: a provider's own chunk shapes, an event split across reads,
    comments, bytes that are no SSE at all. `ending="close"` closes the connection after the
    last piece instead of ending the body; `ending="hang"` then writes nothing more until the
    client leaves or the server closes.

    Example:
        `raw_stream(b'data: {"choices": []}\\n\\n', b"data: [DONE]\\n\\n", pace=0.05)`
    """
    return RawResponse(
        status=status,
        content_type=content_type,
        headers=dict(headers or {}),
        pieces=pieces,
        pace=pace,
        ending=ending,
    )


async def _hang_up(request: web.Request) -> web.StreamResponse:
    close_connection(request)
    return web.Response()


def raw_bytes(data: bytes) -> Handler:
    """Write `data` straight onto the socket instead of a response, then close the connection.

    What a server that does not speak HTTP sends (another service on the port, TLS spoken to
    a plain client), or a response head no client will parse: `b"HTTP/1.1 200 OK\\r\\nX: "`.
    """

    async def write(request: web.Request) -> web.StreamResponse:
        close_connection(request, last=data)
        return web.Response()

    return Handler(write)


def hang_up() -> Handler:
    """Close the connection without answering: no status line, no byte of a response.

    What a crashed worker or a proxy's reset looks like to a client: it cannot know whether the
    request was seen, which is where idempotency keys matter.
    """
    return Handler(_hang_up)


def drop_after(nbytes: int, reply: Reply | Choices = DEFAULT_REPLY) -> Fault:
    """Send `nbytes` bytes of the body (negative: all but the last), then close the
    connection: the client sees fewer bytes than announced, or an unterminated chunked body."""
    return Fault(reply=reply, drop_after=nbytes)


def truncated(at: int = -20, reply: Reply | Choices = DEFAULT_REPLY) -> Fault:
    """End the body cleanly (well framed, nothing missing on the wire) after `at` bytes.

    `at` is a slice bound: negative counts from the end, so the default keeps all but the
    last 20 bytes: truncated JSON for a non-stream request, a cut last event for a stream.
    """
    return Fault(reply=reply, truncate_at=at)


def stall(
    after: int = 1, seconds: float | None = None, reply: Reply | Choices = DEFAULT_REPLY
) -> Fault:
    """Stop writing after `after` events, for `seconds` (then go on) or until the client leaves.

    A non-stream body is a single event: use `after=0` to stall before its first byte.
    """
    return Fault(reply=reply, stall_after=after, stall_for=seconds)


def trickle(delay: float = 0.01, reply: Reply | Choices = DEFAULT_REPLY) -> Fault:
    """Write the body one byte at a time, `delay` seconds apart."""
    return Fault(reply=reply, trickle=delay)


def no_done(reply: Reply | Choices = DEFAULT_REPLY) -> Fault:
    """A stream that ends cleanly without the `data: [DONE]` event."""
    return Fault(reply=reply, done=False)


def _inject(data: bytes, after: int, reply: Reply | Choices, resume: bool) -> Fault:
    return Fault(reply=reply, inject=data, inject_after=after, resume=resume)


def garbage(
    after: int = 1,
    data: bytes = b"\x00\xff\xfe\x80garbage\r\n\x1b[0m",
    reply: Reply | Choices = DEFAULT_REPLY,
    *,
    resume: bool = False,
) -> Fault:
    """Raw bytes that are neither SSE nor UTF-8, after `after` events; the stream then ends
    (or goes on, with `resume=True`)."""
    return _inject(data, after, reply, resume)


def bad_data(
    after: int = 1,
    line: str = "this is not JSON",
    reply: Reply | Choices = DEFAULT_REPLY,
    *,
    resume: bool = False,
) -> Fault:
    """A well-framed `data:` event whose payload is not JSON."""
    return _inject(f"data: {line}\n\n".encode(), after, reply, resume)


def _error_object(message: str, type: str, code: str | None) -> bytes:
    return error_body(message, type=type, code=code)


def error_chunk(
    after: int = 1,
    message: str = "The server had an error while processing your request.",
    *,
    type: str = "server_error",
    code: str | None = None,
    reply: Reply | Choices = DEFAULT_REPLY,
) -> Fault:
    """`data: {"error": {...}}` in the middle of a stream, which then ends."""
    payload = _error_object(message, type, code)
    return _inject(b"data: " + payload + b"\n\n", after, reply, False)


def error_event(
    after: int = 1,
    message: str = "The server had an error while processing your request.",
    *,
    type: str = "server_error",
    code: str | None = None,
    reply: Reply | Choices = DEFAULT_REPLY,
) -> Fault:
    """An `event: error` SSE event carrying an error object, after which the stream ends."""
    payload = _error_object(message, type, code)
    return _inject(b"event: error\ndata: " + payload + b"\n\n", after, reply, False)
