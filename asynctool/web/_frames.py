"""What both web formats do alike: one SSE `data:` frame per event, the source closed at the
end, and the safe sentence a failed run is reported with."""

from __future__ import annotations

import inspect
from typing import Any

import msgspec

from .._exceptions import AsyncToolError

_encoder = msgspec.json.Encoder()


def sse_data(event: msgspec.Struct) -> bytes:
    """`event` as one server-sent event: a `data:` line and the blank line that ends it.

    JSON escapes every line break inside strings, so the text is always one line: the frame
    both formats' encoders write (the AI SDK's `JsonToSseTransformStream`, AG-UI's
    `EventEncoder`)."""
    return b"data: " + _encoder.encode(event) + b"\n\n"


def error_text_of(error: Exception) -> str:
    """What a page is told when a run fails, by default: the kind of error, not its message.

    An error's message and attributes may carry what a server replied, a URL or a prompt;
    the page's user needs to know that the run failed and roughly why, the server's log the
    rest. Pass your own `error_text` to say more."""
    if isinstance(error, AsyncToolError):
        return f"The agent run failed ({type(error).__name__})."
    return "The agent run failed."


def error_code_of(error: Exception) -> str | None:
    """A machine-readable code for a failed run: the asynctool error's class name."""
    return type(error).__name__ if isinstance(error, AsyncToolError) else None


async def close_source(events: Any) -> None:
    """Close the events' source if it can be closed (an `AgentStream`, an async generator):
    a stream that ends early, or whose client went away, stops the run with it."""
    close = getattr(events, "aclose", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result
