"""What a model answers: the response descriptions the server turns into bytes.

A model returns one *turn* per request. A turn is a `Reply` (a successful completion, repeated
for each of the `n` choices), `Choices` (one reply per choice), a `RawResponse` (any status,
headers and body: errors, redirects, HTML pages, a stream of exact bytes), a `Fault` (a reply
delivered wrongly) or, when none of these can say it, a `Handler` (an aiohttp handler that
writes the response itself). They are plain frozen dataclasses, so a script is data that can be
printed and compared; the helper functions below build them with short names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import msgspec
from aiohttp import web

from .._types import Usage

if TYPE_CHECKING:
    from ._request import RecordedRequest

__all__ = [
    "Call",
    "Choices",
    "Fault",
    "Handler",
    "Model",
    "RawResponse",
    "Reply",
    "Turn",
    "call",
    "choices",
    "refusal",
    "text",
    "tool_calls",
]


@dataclass(frozen=True, slots=True)
class Call:
    """One tool call of a reply.

    Attributes:
        name: the function's name.
        arguments: the arguments as JSON text, sent exactly as given (it may be invalid on
            purpose, to test how a client copes).
        id: the call id; when `None` the server makes one up, unique per request, choice
            and call (`call_<request>_<choice>_<index>`).
    """

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful completion: the assistant message and how to stream it.

    Attributes:
        content: the answer text, or `None` (for example with tool calls only).
        tool_calls: the calls the model makes, in order.
        refusal: a refusal message, sent instead of content.
        reasoning_content: reasoning text, streamed before the content as some providers do.
        finish_reason: overrides the natural one (`tool_calls` when there are calls, else
            `stop`), e.g. `"length"`, or `"stop"` together with tool calls.
        usage: overrides the server's estimate of the token counts.
        chunk_size: characters per streamed content delta; `None` splits like a tokenizer
            (a word with its leading space per delta).
        logprobs: send made-up log probabilities; `None` follows the request's `logprobs`.
        delay: seconds to wait before the response starts.
    """

    content: str | None = None
    tool_calls: tuple[Call, ...] = ()
    refusal: str | None = None
    reasoning_content: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    chunk_size: int | None = None
    logprobs: bool | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Choices:
    """Distinct replies, one per choice: exactly these are sent, whatever the request's `n`."""

    replies: tuple[Reply, ...]


@dataclass(frozen=True, slots=True)
class RawResponse:
    """An arbitrary HTTP response: an error status, a redirect, an HTML page, exact bytes.

    With `pieces` (or an `ending` other than `"finish"`) the body is streamed: the headers go
    out at once without a `Content-Length`, then `body` and each piece as a write of its own,
    `pace` seconds apart, so a test can choose where the reads of a client fall, make a read
    deadline pass between two of them, or cut the stream off.

    Attributes:
        status: the HTTP status.
        body: the body bytes, sent as they are (first, when `pieces` are streamed).
        content_type: the `Content-Type` header.
        headers: further headers (e.g. `Retry-After`, `Location`).
        delay: seconds to wait before the response starts.
        pieces: bytes written one write each after `body` (an SSE stream split where the test
            wants it).
        pace: seconds to wait after each piece.
        ending: how a streamed body ends: `"finish"` ends it cleanly, `"close"` closes the
            connection instead (the client sees an unterminated body), `"hang"` writes nothing
            more until the client leaves or the server closes.
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    pieces: tuple[bytes, ...] = ()
    pace: float = 0.0
    ending: Literal["finish", "close", "hang"] = "finish"

    @property
    def streamed(self) -> bool:
        """Whether the body goes out in writes of its own rather than as one sized body."""
        return bool(self.pieces) or self.ending != "finish"


@dataclass(frozen=True, slots=True)
class Fault:
    """A reply delivered wrongly; build one with the fault helpers (`drop_after`, `stall`...).

    The body is cut into *events* (one SSE event each; a non-stream body is a single event).
    The knobs combine; unset ones leave the delivery as a correct server would do it.

    Attributes:
        reply: what would have been sent.
        drop_after: close the connection after this many body bytes (a slice bound: negative
            counts from the end).
        truncate_at: end the body cleanly after this many bytes (a slice bound, too): a short
            but well-framed body.
        stall_after: events written before the server stops writing.
        stall_for: how long the stall lasts; `None` means until the client leaves.
        trickle: seconds between single bytes: the body is written one byte at a time.
        inject: bytes written after `inject_after` events (raw, no framing added); for a
            non-stream request they replace the body.
        inject_after: events before the injected bytes.
        resume: go on with the remaining events after the injected bytes instead of ending.
        done: send the final `data: [DONE]` event.
    """

    reply: Reply | Choices
    drop_after: int | None = None
    truncate_at: int | None = None
    stall_after: int | None = None
    stall_for: float | None = None
    trickle: float | None = None
    inject: bytes | None = None
    inject_after: int = 0
    resume: bool = False
    done: bool = True


@dataclass(frozen=True, slots=True)
class Handler:
    """The escape hatch: an aiohttp handler that writes the whole response itself.

    For what no other turn can say: a connection closed before any response, headers that
    depend on the request, a body written by hand. The server has read and recorded the request
    before (`await request.read()` returns the same bytes again), adds its `x-request-id` to
    the response, and still ends the handler when it closes, so a handler that waits forever
    does not keep a test waiting. When the client leaves first, the handler is cancelled.

    Example:
        ```python
        async def hang_up(request: web.Request) -> web.StreamResponse:
            request.transport.close()
            return web.Response()

        ScriptedModel([Handler(hang_up), text("Hello")])
        ```

    Attributes:
        respond: the handler, `async (aiohttp.web.Request) -> aiohttp.web.StreamResponse`.
    """

    respond: Callable[[web.Request], Awaitable[web.StreamResponse]]


Turn: TypeAlias = Reply | Choices | RawResponse | Fault | Handler
"""What a model answers to one request."""


class Model(Protocol):
    """Decides what the server answers; `ScriptedModel` and `DemoModel` are two of them."""

    def respond(self, request: RecordedRequest) -> Turn | Awaitable[Turn]:
        """The turn answering a valid chat completions request (may be a coroutine)."""
        ...


def call(name: str, arguments: Mapping[str, Any] | str = "{}", *, id: str | None = None) -> Call:
    """A tool call; `arguments` is a dict (encoded to JSON) or raw JSON text, sent as is.

    Example:
        `call("get_weather", {"location": "Boston"})`
    """
    text_args = arguments if isinstance(arguments, str) else msgspec.json.encode(arguments).decode()
    return Call(name=name, arguments=text_args, id=id)


def text(
    content: str,
    *,
    chunk_size: int | None = None,
    reasoning: str | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    logprobs: bool | None = None,
    delay: float = 0.0,
) -> Reply:
    """A text answer; `reasoning` adds `reasoning_content` before it. See `Reply` for the rest."""
    return Reply(
        content=content,
        reasoning_content=reasoning,
        chunk_size=chunk_size,
        finish_reason=finish_reason,
        usage=usage,
        logprobs=logprobs,
        delay=delay,
    )


def tool_calls(
    *calls: Call,
    content: str | None = None,
    finish_reason: str | None = None,
    usage: Usage | None = None,
    chunk_size: int | None = None,
    delay: float = 0.0,
) -> Reply:
    """A turn that calls tools, several in one turn when given several `call(...)`s.

    `finish_reason` defaults to `tool_calls`; pass `"stop"` to mimic providers that say so.
    """
    return Reply(
        content=content,
        tool_calls=calls,
        finish_reason=finish_reason,
        usage=usage,
        chunk_size=chunk_size,
        delay=delay,
    )


def refusal(message: str, *, delay: float = 0.0) -> Reply:
    """A refusal: `message.refusal` is set and `content` is `None`."""
    return Reply(refusal=message, delay=delay)


def choices(*replies: Reply) -> Choices:
    """One reply per choice index, for `n > 1` requests whose choices must differ.

    Raises:
        ValueError: no reply was given.
    """
    if not replies:
        raise ValueError("choices() needs at least one reply")
    return Choices(replies=replies)
