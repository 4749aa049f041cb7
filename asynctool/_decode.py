"""What a server's bytes mean: a completion, a provider's quirk, an error, or not an answer.

Sans-I/O, like `_sse` and `_accumulate`: these take bytes (and the status and media type they
came with) and return structs or errors; the stream and the client read the bytes and raise.

- Decoding: typed first, on msgspec's fast path (`_types`' decoders, strict twins in
  `_lossless`); what does not fit is decoded again as plain JSON, provider quirks rewritten
  (`normalize_chunk_quirks`), every field the structs do not name kept.
- Errors inside a success: an error object as a whole body or as an event's data
  (`{"error": ...}`, `"object": "error"`: gateways, llama.cpp, vLLM), an SSE `event: error`,
  a choice that ends with `finish_reason: "error"` (OpenRouter), data that is not a chunk.
- Bodies that are not an answer: HTML from a proxy, JSON of another shape, a non-stream body
  where a stream was asked for. Their errors quote the first bytes, so that a wrong base URL
  shows what answered.

An error made here has the server's words and nothing of the request: `attributed` gives it the
response's request id and takes out the request's credentials, which a server may echo; every
error raised for a response goes through it.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import msgspec

from ._exceptions import (
    PREVIEW_CHARS,
    APIError,
    APIResponseValidationError,
    StreamDecodeError,
    error_message,
)
from ._lossless import convert
from ._types import ChatCompletion, completion_decoder

__all__ = [
    "NOT_STREAM_TYPES",
    "api_error_in",
    "attributed",
    "completion_in",
    "decode_with_quirks",
    "error_from",
    "finished_with_error",
    "normalize_chunk_quirks",
    "not_a_stream",
    "undecodable",
]

T = TypeVar("T")
E = TypeVar("E", bound=APIError)

# Media types that are not an event stream but say something: an error object, or a page that
# shows the base URL points at a website or a proxy. Any other type is read as a stream.
NOT_STREAM_TYPES = ("text/html", "application/json")


class Answered(Protocol):
    """What `attributed` needs of a response: its request id and the request's secrets."""

    @property
    def request_id(self) -> str | None: ...

    def redact(self, error: E) -> E: ...


def attributed(error: E, response: Answered) -> E:
    """`error`, raised for `response`: with its request id (for support requests) unless it
    has one, and without the request's credentials in anything the server echoed into it."""
    if error.request_id is None:
        error.request_id = response.request_id
    return response.redact(error)


# Completions


def completion_in(data: bytes, status: int, content_type: str) -> ChatCompletion:
    """The completion a success body holds.

    Raises:
        APIError: the body is a provider's error object (some gateways answer 200 with one).
        APIResponseValidationError: the body is not a completion.
    """
    try:
        completion = _decode_completion(data)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        why = _why_not_a_completion(data, exc)
    else:
        if not completion.choices:
            # An error object decodes as an empty completion.
            error = api_error_in(data)
            if error is not None:
                raise error
        return completion
    # Raised outside the `except`, so that msgspec's error is neither its cause nor its
    # context: its message can quote a field name, and a server that echoes the key may have
    # made the key one. Its words are in the message, redacted by `attributed`.
    raise _not_an_answer(
        status, data, f"The response body (HTTP {status}, {content_type or 'no type'}) {why}"
    )


def _decode_completion(data: bytes) -> ChatCompletion:
    """Typed decoding; a provider quirk (tool arguments sent as an object) is rewritten first.

    Raises:
        msgspec.DecodeError: not JSON (`msgspec.ValidationError`: not a completion).
        RecursionError: JSON nested too deep for msgspec.
    """
    completion: ChatCompletion
    try:
        completion = completion_decoder.decode(data)
    except msgspec.ValidationError:
        completion = decode_with_quirks(data, ChatCompletion)
    return completion


def _why_not_a_completion(data: bytes, exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "is JSON nested too deep to decode"
    if isinstance(exc, msgspec.ValidationError):
        return f"is not a chat completion ({exc})"
    return "is not JSON" if data.strip() else "is empty"


def not_a_stream(content_type: str, status: int, data: bytes) -> APIError:
    """The error for a body of one of `NOT_STREAM_TYPES` where an event stream was asked for:
    the server's own error when the body is one, else what came instead."""
    error = api_error_in(data) if content_type == "application/json" else None
    if error is not None:
        return error
    what = "an HTML page" if content_type == "text/html" else "JSON that is not an error"
    return _not_an_answer(
        status,
        data,
        f"Expected an event stream, but the server answered with {what} "
        f"(HTTP {status}); is the base URL right, and does it stream?",
    )


def _not_an_answer(status: int, data: bytes, message: str) -> APIResponseValidationError:
    """The error for a success response that is not what the API returns."""
    text = data[:PREVIEW_CHARS].decode("utf-8", "replace")
    return APIResponseValidationError(f"{message}: {text!r}", status_code=status, body=text)


# Errors in a stream, or in a body


class _ErrorProbe(msgspec.Struct):
    """Just enough of a data payload to tell an error object from an empty chunk."""

    error: Any = None
    object: str | None = None


_probe_decoder = msgspec.json.Decoder(_ErrorProbe)


def api_error_in(data: bytes) -> APIError | None:
    """The `APIError` for data that is an error object (`{"error": ...}`, `"object": "error"`)."""
    try:
        probe = _probe_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    if probe.error is None and probe.object != "error":
        return None
    return error_from(data)


def error_from(data: bytes) -> APIError:
    """The `APIError` for data known to be an error (an error object, an `event: error`)."""
    try:
        body: object = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        body = data.decode("utf-8", "replace")
    return APIError(error_message(body, "The server sent an error event"), body=body)


def finished_with_error(body: object) -> APIError:
    """The error for a choice that ended with `finish_reason: "error"`."""
    # OpenRouter ends a choice that failed mid-generation with `finish_reason: "error"`.
    return APIError("The provider ended the answer with finish_reason 'error'", body=body)


def undecodable(data: bytes) -> StreamDecodeError:
    """The error for an event's data that is not a chunk, quoting its start."""
    text = data.decode("utf-8", "replace")
    shown = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "..."
    return StreamDecodeError(f"The stream sent data that is not a chunk: {shown!r}", data=shown)


# Provider quirks


def decode_with_quirks(data: bytes, type: type[T]) -> T:
    """Decode a chunk or completion that failed strict decoding: rewrite quirks, and keep
    every field the structs do not name (see `_lossless`).

    Raises:
        msgspec.DecodeError (or RecursionError for JSON nested too deep): it still does not fit.
    """
    value = normalize_chunk_quirks(msgspec.json.decode(data))
    converted: T = convert(value, type)
    return converted


def normalize_chunk_quirks(obj: Any) -> Any:
    """Rewrite a decoded chunk (plain JSON values) so that it fits `ChatCompletionChunk`.

    Only called when typed decoding failed, so the common path pays nothing. Today's quirk:
    tool-call `arguments` sent as a JSON object instead of JSON text.
    """
    if isinstance(obj, dict):
        for choice in _dicts(obj.get("choices")):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                _normalize_calls(delta.get("tool_calls"))
            message = choice.get("message")
            if isinstance(message, dict):
                _normalize_calls(message.get("tool_calls"))
    return obj


def _normalize_calls(calls: Any) -> None:
    for call in _dicts(calls):
        function = call.get("function")
        if isinstance(function, dict) and isinstance(function.get("arguments"), dict | list):
            function["arguments"] = msgspec.json.encode(function["arguments"]).decode()


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
