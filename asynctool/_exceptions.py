"""Every error asynctool raises, in one tree.

```
AsyncToolError
├── InvalidRequestError          bad parameters, raised before any network call (also a ValueError)
├── ToolError
│   ├── ToolDefinitionError      a function that cannot become a tool (raised at decoration)
│   ├── ToolArgumentsError       a model's arguments that do not fit the tool's signature
│   ├── UnknownToolError         a model called a tool that is not registered
│   └── ToolTimeoutError         a tool did not finish within its timeout
├── SchemaError                  a type with no JSON Schema, or none in strict mode (a TypeError)
├── MCPServerError               an MCP server could not be started or reached (asynctool.mcp)
├── AgentError                   a run that cannot go on; carries the transcript so far
│   ├── MaxTurnsExceeded
│   ├── ToolCallLimitExceeded    more calls in one answer than max_tool_calls_per_turn
│   ├── ToolCallsTruncatedError  `length` while tool-call arguments were unfinished
│   ├── ToolErrorLimitExceeded   too many tool errors in a row
│   └── BudgetExceeded           a bound of the run crossed (`limit`, `used`):
│       ├── TokenBudgetExceeded      max_total_tokens
│       ├── RequestBudgetExceeded    max_requests
│       └── TimeBudgetExceeded       max_run_seconds (also a TimeoutError)
├── OutputError                  an answer that cannot be the output; carries the completion
│   ├── OutputValidationError    not JSON, or does not fit the requested type (also a ValueError)
│   ├── RefusalError             the model refused (`message.refusal`)
│   └── FinishReasonError        the answer was cut short, by finish reason:
│       ├── LengthFinishReasonError          `length`
│       └── ContentFilterFinishReasonError   `content_filter`
└── APIError                     anything the server or the connection did
    ├── APIConnectionError       could not connect, or the connection dropped
    │   ├── APITimeoutError      a connect, first-byte, idle or total deadline passed
    │   └── IncompleteStreamError    the stream ended before every choice finished
    ├── StreamDecodeError        a stream sent data that is not a chunk
    ├── APIResponseValidationError   a 2xx body that is not a completion (or not a stream)
    └── APIStatusError           an HTTP status >= 400, by status:
        ├── BadRequestError            400
        ├── AuthenticationError        401
        ├── PermissionDeniedError      403
        ├── NotFoundError              404
        ├── ConflictError              409
        ├── UnprocessableEntityError   422
        ├── RateLimitError             429
        └── InternalServerError        >= 500
```

`APIError` itself is raised for an error object a server sends inside a stream or a 200 body:
the provider's own error, where `APIResponseValidationError` means the answer was not an
answer at all (an HTML page from a proxy, JSON cut short or of another shape). Every error
raised while a stream is read carries `partial_completion`, the completion assembled from what
arrived. Names follow the OpenAI SDK so that ported `except` clauses keep matching. Messages are
built from attributes (status, the server's error body), never from request headers, so the API
key cannot leak through them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

if TYPE_CHECKING:
    from ._types import ChatCompletion, Usage

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AgentError",
    "AsyncToolError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "FinishReasonError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "MCPServerError",
    "MaxTurnsExceeded",
    "NotFoundError",
    "OutputError",
    "OutputValidationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RefusalError",
    "RequestBudgetExceeded",
    "SchemaError",
    "StreamDecodeError",
    "TimeBudgetExceeded",
    "TokenBudgetExceeded",
    "ToolArgumentsError",
    "ToolCallLimitExceeded",
    "ToolCallsTruncatedError",
    "ToolDefinitionError",
    "ToolError",
    "ToolErrorLimitExceeded",
    "ToolTimeoutError",
    "UnknownToolError",
    "UnprocessableEntityError",
]


class AsyncToolError(Exception):
    """The root of every error asynctool raises.

    `messages`: for an error that ended an agent run, the transcript up to it (every tool call
    in it answered), so the conversation can be saved or sent again; empty otherwise.
    `ran_tool_calls`: for an error that ended a turn while its tool calls ran (with
    `eager_tools`, also while the answer still streamed), the ids of the calls that ran to
    the end; their results are in `messages`, and the others of the turn are answered there
    as cancelled. Empty otherwise.
    """

    messages: list[Any] = []  # noqa: RUF012 - replaced per instance, never mutated in place
    ran_tool_calls: tuple[str, ...] = ()


class InvalidRequestError(AsyncToolError, ValueError):
    """A request parameter is invalid; raised before anything is sent.

    `field` names the offending parameter (`"temperature"`, `"messages[2].role"`, ...).
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class SchemaError(AsyncToolError, TypeError):
    """A type has no JSON Schema, or none within strict mode's subset.

    Raised by `schema_for_type` and `to_strict_schema`. `path` locates the failing part
    (`point.tags[]`: the items of the `tags` property of `point`), `reason` says why.
    """

    def __init__(self, reason: str, *, path: str = "") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"at `{path}`: {reason}" if path else reason)


class ToolError(AsyncToolError):
    """Base of the errors about tools."""


class ToolDefinitionError(ToolError, TypeError):
    """A function cannot be turned into a tool; raised when it is decorated."""


class ToolArgumentsError(ToolError, ValueError):
    """A model's arguments do not fit a tool: invalid JSON, a missing, unknown or mistyped argument.

    The message is written for the model to read and fix its call: it names the tool, the
    argument path, what was expected and what was received.
    """

    def __init__(self, message: str, *, tool: str = "", path: str = "") -> None:
        self.tool = tool
        self.path = path
        super().__init__(message)


class MCPServerError(AsyncToolError):
    """An MCP server (`asynctool.mcp`) could not be started or reached, or could not list its
    tools. The message names the command or the URL and says what the server said (its stderr,
    its HTTP status); never a header's value.
    """


class AgentError(AsyncToolError):
    """An agent run cannot go on.

    Attributes:
        messages: the transcript so far; every assistant message with tool calls in it is
            followed by one tool message per call, so it can be sent again as is.
        usage: the usage summed over every request of the run.
        completion: the last completion received, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        messages: list[Any] | None = None,
        usage: Usage | None = None,
        completion: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message)
        self.messages: list[Any] = messages if messages is not None else []
        self.usage = usage
        self.completion = completion


class MaxTurnsExceeded(AgentError):
    """The run reached `max_turns` requests while the model was still calling tools."""


class ToolCallLimitExceeded(AgentError):
    """One answer asked for more tool calls than `max_tool_calls_per_turn`; none of them ran.

    With `eager_tools`, the calls that were complete before the one past the limit began may
    have run: `ran_tool_calls` names them, and the transcript keeps their results.
    """


class ToolCallsTruncatedError(AgentError):
    """The model ran out of tokens (`length`) while writing tool-call arguments."""


class ToolErrorLimitExceeded(AgentError):
    """Tool calls failed too many times in a row for the run to recover."""


class BudgetExceeded(AgentError):
    """The run crossed one of its bounds (`max_total_tokens`, `max_requests`,
    `max_run_seconds`); `limit` is the bound and `used` how much of it the run had used."""

    def __init__(self, message: str, *, limit: float, used: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit
        self.used = used


class TokenBudgetExceeded(BudgetExceeded):
    """The tokens the provider reported for the run's requests reached `max_total_tokens`."""


class RequestBudgetExceeded(BudgetExceeded):
    """The run needed a request past `max_requests`."""


class TimeBudgetExceeded(BudgetExceeded, TimeoutError):
    """The run was still going after `max_run_seconds` of wall time."""


class OutputError(AsyncToolError):
    """An answer cannot be the output that was asked for.

    Attributes:
        completion: the completion whose answer failed.
        messages: for an agent run, the transcript so far.
        usage: for an agent run, the usage summed over its requests.
    """

    def __init__(
        self,
        message: str,
        *,
        completion: ChatCompletion | None = None,
        messages: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.completion = completion
        self.messages: list[Any] = messages if messages is not None else []
        self.usage: Usage | None = None


class OutputValidationError(OutputError, ValueError):
    """An answer is not valid JSON or does not fit the requested output type.

    `path` says where in the answer it failed (`$.items[0].price`), when known.
    """

    def __init__(self, message: str, *, path: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class RefusalError(OutputError):
    """The model refused to answer; `refusal` holds what it said."""

    def __init__(self, refusal: str, **kwargs: Any) -> None:
        super().__init__(f"The model refused: {refusal}", **kwargs)
        self.refusal = refusal


class FinishReasonError(OutputError):
    """The answer ended with `length` or `content_filter`, so it is cut short or missing.

    `finish_reason` says which; `completion` holds the partial answer. An agent accepts such
    answers only when told to (`accept_finish_reasons`).
    """

    def __init__(self, message: str, *, finish_reason: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.finish_reason = finish_reason

    @staticmethod
    def of(finish_reason: str, message: str, **kwargs: Any) -> FinishReasonError:
        """The subclass for this finish reason."""
        cls = (
            LengthFinishReasonError if finish_reason == "length" else ContentFilterFinishReasonError
        )
        return cls(message, finish_reason=finish_reason, **kwargs)


class LengthFinishReasonError(FinishReasonError):
    """The answer hit the token limit (`length`); raise `max_tokens` or ask for less."""


class ContentFilterFinishReasonError(FinishReasonError):
    """The provider's content filter stopped the answer (`content_filter`)."""


class UnknownToolError(ToolError, LookupError):
    """A model called a tool that is not registered; the message lists the ones that are."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        listed = ", ".join(available) if available else "none"
        super().__init__(f"there is no tool named {name!r}; the available tools are: {listed}")


class ToolTimeoutError(ToolError, TimeoutError):
    """A tool did not finish within its timeout."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        super().__init__(f"the tool {name!r} did not finish within {timeout:g}s")


class APIError(AsyncToolError):
    """The server or the connection failed; also raised for an error object sent in a stream.

    Attributes:
        message: what went wrong, in the server's words where it gave any.
        body: the server's error body, parsed when it was JSON.
        code, type, param: the fields of the error object, read from whichever shape the
            provider uses (see `error_fields`), when present.
        request_id: the `x-request-id` the server answered with, for support requests.
        partial_completion: for an error raised while a stream was read, the completion
            assembled from every chunk that arrived before it.
    """

    def __init__(
        self,
        message: str,
        *,
        body: object = None,
        request_id: str | None = None,
        partial_completion: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.body = body
        self.request_id = request_id
        self.partial_completion = partial_completion
        fields = error_fields(body)
        self.code: str | None = fields.code
        self.type: str | None = fields.type
        self.param: str | None = fields.param

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id: {self.request_id})"
        return self.message


class APIConnectionError(APIError):
    """The connection could not be made, or broke before the response was complete."""


class APITimeoutError(APIConnectionError):
    """A deadline passed: connect, first byte, idle time between chunks, or the total."""


class IncompleteStreamError(APIConnectionError):
    """The stream ended (or dropped) before `[DONE]` while some choice had no finish reason."""


class StreamDecodeError(APIError):
    """A stream sent data that could not be decoded as a chunk; `data` holds it, truncated."""

    def __init__(self, message: str, *, data: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.data = data


class APIResponseValidationError(APIError):
    """The server answered with a success status, but not with what the API returns.

    Raised for a body that is not a chat completion (an HTML page from a proxy or a captive
    portal, JSON cut short, JSON of another shape), and for a response that is not an event
    stream when one was asked for. The name is the OpenAI SDK's, so ported `except` clauses
    still match. A provider's own error object in a 200 body is an `APIError` instead.

    Attributes:
        status_code: the HTTP status the server answered with.
        body: the first 200 characters of the body, as text, the API key taken out.
        request_id: the `x-request-id` of the response, when it had one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id)
        self.status_code = status_code


class APIStatusError(APIError):
    """The server answered with an HTTP status >= 400.

    `status_code` is the status, `headers` the response headers (auth never echoed back here).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: object = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id)
        self.status_code = status_code
        self.headers = headers or {}

    def __str__(self) -> str:
        return f"Error code: {self.status_code} - {super().__str__()}"


class BadRequestError(APIStatusError):
    """HTTP 400: the server rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not use this model or resource."""


class NotFoundError(APIStatusError):
    """HTTP 404: wrong base URL, path or model name."""


class ConflictError(APIStatusError):
    """HTTP 409: a conflicting request; retried by default."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """HTTP 429: rate or quota limit; retried by default, honouring `Retry-After`."""


class InternalServerError(APIStatusError):
    """HTTP 5xx: the server failed; retried by default."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The most specific `APIStatusError` subclass for an HTTP status."""
    if status >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status, APIStatusError)


# Where a provider puts the words of an error. Each shape below is one a provider answers with;
# the tests in tests/test_error_shapes.py replay each, citing where it was seen.
_TEXT_BOUND = 500  # a plain-text body is a message only up to here: an error page is no message
_DETAIL_ITEMS = 3  # FastAPI lists every failing field; the first few say what to fix
_MAX_DEPTH = 4  # `[{"error": {...}}]` nests three deep; deeper is not an error shape


class ErrorFields(NamedTuple):
    """What an error body says: its message and the OpenAI-style `type`, `code` and `param`."""

    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None


_NO_FIELDS = ErrorFields()


def error_fields(body: object) -> ErrorFields:
    """Read the message, type, code and param of an error body, whatever its shape.

    The one rule for the words of an error, used for HTTP error statuses, error objects in a
    200 body and error events in a stream alike. Shapes, in the order they are tried:

    - `{"error": {"message", "type", "code", "param"}}`: OpenAI, and most gateways; Google's
      `{"error": {"code": 400, "message", "status": "INVALID_ARGUMENT"}}` gives `status` as the
      type;
    - `[{"error": {...}}]`: Gemini's OpenAI-compatible endpoint, a list of those;
    - `{"error": "text"}`: Ollama's native API;
    - `{"detail": "text"}` and `{"detail": [{"loc", "msg", "type"}]}`: FastAPI servers (Mistral's
      401, Open WebUI, request validation in vLLM and other Python servers);
    - `{"message": ..., "type": ..., "code": ...}` at the top level: vLLM, Mistral;
    - plain text (Envoy's `upstream connect error ...`), unless it is an HTML page, which has
      no message worth showing.
    """
    return _read(body, 0)


def error_message(body: object, fallback: str) -> str:
    """The human message of an error body (see `error_fields`), or `fallback` when it has none."""
    return error_fields(body).message or fallback


def _read(body: object, depth: int) -> ErrorFields:
    if depth > _MAX_DEPTH:
        return _NO_FIELDS
    if isinstance(body, dict):
        return _read_object(body, depth)
    if isinstance(body, list):
        # Gemini: `[{"error": {...}}]`. The first entry that says something is the error.
        for item in body[:_DETAIL_ITEMS]:
            if isinstance(item, dict):
                fields = _read_object(item, depth + 1)
                if fields.message is not None:
                    return fields
        return _NO_FIELDS
    if isinstance(body, str):
        text = body.strip()
        if not text or looks_like_html(text):
            return _NO_FIELDS
        return ErrorFields(message=text[:_TEXT_BOUND])
    return _NO_FIELDS


def _read_object(body: dict[str, Any], depth: int) -> ErrorFields:
    inner = body.get("error")
    if isinstance(inner, dict | list):
        fields = _read(inner, depth + 1)
        if fields != _NO_FIELDS:
            return fields
    elif isinstance(inner, str) and inner.strip():
        return ErrorFields(message=inner.strip())
    detail = body.get("detail")
    if isinstance(detail, str) and detail.strip():
        return ErrorFields(message=detail.strip())
    if isinstance(detail, list):
        return _read_detail_list(detail)
    if isinstance(detail, dict):
        return _read(detail, depth + 1)
    message = body.get("message")
    if not isinstance(message, str) or not message:
        message = None
    upstream = _upstream(body.get("metadata"), depth)
    if upstream is not None:
        message = f"{message} ({upstream})" if message else upstream
    return ErrorFields(
        message=message,
        # Google's error model names its category `status` (`INVALID_ARGUMENT`).
        type=_opt_str(body.get("type", body.get("status"))),
        code=_opt_str(body.get("code")),
        param=_opt_str(body.get("param")),
    )


def _upstream(metadata: object, depth: int) -> str | None:
    """The provider's own words behind a gateway's error: OpenRouter says only "Provider
    returned error", and puts the upstream's body, as text, in `metadata.raw` and its name in
    `metadata.provider_name` (https://openrouter.ai/docs/api/reference/errors-and-debugging)."""
    if not isinstance(metadata, dict):
        return None
    raw = metadata.get("raw")
    if isinstance(raw, str):
        try:
            raw = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            pass  # plain text: read as it is
    text = _read(raw, depth + 1).message if raw is not None else None
    if text is None:
        return None
    provider = metadata.get("provider_name")
    return f"{provider}: {text}" if isinstance(provider, str) and provider else text


def _read_detail_list(detail: list[Any]) -> ErrorFields:
    """FastAPI's request validation errors: `[{"loc": ["body", "messages", 1], "msg", "type"}]`."""
    parts: list[str] = []
    first: dict[str, Any] | None = None
    for item in detail[:_DETAIL_ITEMS]:
        if not isinstance(item, dict):
            continue
        # Some servers say `message` where FastAPI says `msg` (gpt4free's 422).
        msg = item.get("msg", item.get("message"))
        if not isinstance(msg, str):
            continue
        first = first or item
        where = _location(item.get("loc"))
        parts.append(f"{where}: {msg}" if where else msg)
    if first is None:
        return _NO_FIELDS
    if len(detail) > len(parts):
        parts.append(f"({len(detail)} errors in all)")
    return ErrorFields(
        message="; ".join(parts),
        type=_opt_str(first.get("type")),
        param=_location(first.get("loc")) or None,
    )


def _location(loc: object) -> str:
    """`["body", "messages", 1, "role"]` as the parameter path `messages.1.role`."""
    if not isinstance(loc, list):
        return ""
    # The first entry says which part of the request it is in: `body`, `query`, `header`...
    path = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    return ".".join(str(part) for part in path)


# How much of a value an error message quotes (a server's body or event, a model's answer or
# arguments): enough to recognise it; a whole page or a model's essay is not repeated back.
PREVIEW_CHARS = 200

# msgspec ends a ValidationError's text with the path it failed at: `Expected `int`, got `str` -
# at `$.a[0].b``. Matched at the end, as a reason may quote a value holding the same words.
_AT = re.compile(r"(?P<reason>.*?)(?: - at `(?P<path>\$[^`]*)`)?", re.DOTALL)


def split_validation_error(exc: Exception) -> tuple[str, str]:
    """msgspec's error text as its reason and its path (`$` for the whole value)."""
    match = _AT.fullmatch(str(exc))
    assert match is not None  # the pattern matches any text
    return match["reason"], match["path"] or "$"


def looks_like_html(text: str) -> bool:
    """Whether a body is an HTML page (a proxy's error page, a login page), not an API answer."""
    head = text.lstrip()[:100].lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body"))


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
