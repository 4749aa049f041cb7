"""`AsyncClient` and `client.chat.completions`: check the parameters, send, decode."""

from __future__ import annotations

import os
import ssl as _ssl
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar, Unpack, overload

from ._closing import AsyncCloseable
from ._decode import NOT_STREAM_TYPES, attributed, completion_in, not_a_stream
from ._exceptions import APIError, APIResponseValidationError, InvalidRequestError
from ._request import (
    ChatCompletionRequest,
    build_body,
    checked_query,
    encode_body,
    is_output_type,
)
from ._stream import ChatStream, ChatStreamManager, ParsedChatStream
from ._tracing import start_chat
from ._transport import AuthStyle, Response, Timeout, Transport
from ._types import ChatCompletion, ParsedChatCompletion

if TYPE_CHECKING:
    from ._output import Structured
    from ._request import CompletionParams, ParseParams

T = TypeVar("T")

__all__ = ["AsyncClient", "Chat", "Completions"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024
# The largest completion a plain request accepts, counted after decompression. A long answer
# with logprobs for every token is a few MB; what is far past that is a gzip bomb or a broken
# server, and would otherwise be held in memory whole, twice.
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024
_MAX_SHOWN_BODY = 1 << 20  # a body that should have been a stream is read this far, no more


class _NotGiven:
    """Marks a keyword the caller did not pass, where `None` has a meaning of its own."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()


class AsyncClient(AsyncCloseable):
    """A client for an OpenAI-compatible chat completions API.

    Args:
        base_url: the API root, e.g. `http://127.0.0.1:8000/v1`; defaults to
            `OPENAI_BASE_URL`, then `https://api.openai.com/v1`.
        api_key: defaults to `OPENAI_API_KEY`; without one no auth header is sent (and a
            client for OpenAI's own API is refused).
        timeout: seconds for the whole call, or a `Timeout`; `None` for no bound.
        max_retries: how many times a failed request is retried when that is safe.
        default_headers: headers sent with every request.
        auth: how the key is sent: `"bearer"` (`Authorization: Bearer <key>`),
            `"x-api-key"` or `"x-goog-api-key"` (the key in that header).
        ssl: TLS verification: True (the default), False, or an `ssl.SSLContext`.
        max_connections: the size of the connection pool.
        max_event_size: the largest server-sent event accepted, in bytes.
        max_response_size: the largest body of a plain (non-stream) response accepted, in
            bytes after decompression; a larger one raises `APIResponseValidationError`.

    The session is made on the first request; close it with `await client.close()` or
    `async with client:`. A client holds its key and a live session, so it cannot be pickled
    or copied: make one per process.

    Raises:
        InvalidRequestError: an option is invalid, or the base URL is OpenAI's and no key is
            given (neither `api_key` nor `OPENAI_API_KEY`).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | Timeout | None = NOT_GIVEN,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        auth: AuthStyle = "bearer",
        ssl: bool | _ssl.SSLContext = True,
        max_connections: int = 1000,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_response_size = _positive("max_response_size", max_response_size)
        self._transport = Transport(
            base_url=base_url,
            api_key=api_key,
            auth=auth,
            default_headers=default_headers,
            timeout=Timeout() if timeout is NOT_GIVEN else Timeout.of(timeout),
            max_retries=max_retries,
            ssl=ssl,
            max_connections=max_connections,
        )
        if self._transport.needs_key:
            # Without this, the first request fails far from the cause: a 401, or on a
            # machine without a route out, `Cannot connect to host api.openai.com:443`.
            raise InvalidRequestError(
                "api_key",
                f"{self.base_url} needs an API key: pass api_key=... or set OPENAI_API_KEY "
                "(for a local server without a key, pass its base_url)",
            )
        self.max_event_size = max_event_size
        self.chat = Chat(self)

    @property
    def base_url(self) -> str:
        """The API root every path is joined to."""
        return str(self._transport.base_url)

    @property
    def timeout(self) -> Timeout:
        """The deadlines of every request that does not pass its own."""
        return self._transport.timeout

    @property
    def max_retries(self) -> int:
        """How many times a failed request is retried when that is safe."""
        return self._transport.max_retries

    async def close(self) -> None:
        """Close the HTTP session and its connections."""
        await self._transport.close()

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r})"

    def __reduce__(self) -> NoReturn:
        # A pickle would carry the key in plain text, and a session cannot cross processes.
        raise TypeError(
            "an AsyncClient cannot be pickled or copied: it holds the API key and a live HTTP "
            "session; make a new client where it is needed"
        )

    async def _post(
        self,
        path: str,
        body: bytes,
        *,
        extra_headers: Mapping[str, str] | None,
        query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None,
    ) -> Response:
        deadline = None if timeout is NOT_GIVEN else Timeout.of(timeout)
        return await self._transport.post(
            path, body, extra_headers=extra_headers, query=query, timeout=deadline
        )


class Chat:
    """`client.chat`: the chat APIs."""

    def __init__(self, client: AsyncClient) -> None:
        self.completions = Completions(client)


class Completions:
    """`client.chat.completions`: create completions, whole or streamed."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[False] = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: Literal[True],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Unpack[CompletionParams],
    ) -> ChatStream: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | ChatStream: ...

    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        stream: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | ChatStream:
        """Create a chat completion.

        Every request field of the API is a keyword (see `CompletionParams`); `extra_body`
        adds fields this client does not name, `extra_headers` headers, `extra_query`
        parameters of the URL's query string, and `timeout` overrides the client's deadlines
        for this call.

        Returns:
            A `ChatCompletion`, or with `stream=True` a `ChatStream` of chunks.

        Raises:
            InvalidRequestError: a parameter is invalid (nothing was sent).
            APIStatusError: the server answered with an error status.
            APIConnectionError: the server could not be reached.
            APITimeoutError: a deadline passed.
        """
        request = build_body(model=model, messages=messages, stream=stream, params=params)
        return await self._send(
            request,
            params.get("extra_body"),
            extra_headers=extra_headers,
            extra_query=checked_query(extra_query),
            timeout=timeout,
        )

    async def _send(
        self,
        request: ChatCompletionRequest,
        extra_body: Mapping[str, Any] | None = None,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
    ) -> ChatCompletion | ChatStream:
        """Send a request that is already checked (the agent builds one per run and reuses it)."""
        body = encode_body(request, extra_body)
        trace = start_chat(self._client._transport.base_url, request)
        exchange = self._exchange(request, body, extra_headers, extra_query, timeout)
        return await (exchange if trace is None else trace.follow(exchange))

    async def _exchange(
        self,
        request: ChatCompletionRequest,
        body: bytes,
        extra_headers: Mapping[str, str] | None,
        extra_query: Mapping[str, str | int | float] | None,
        timeout: float | Timeout | None,
    ) -> ChatCompletion | ChatStream:
        """Send the encoded request, and read its answer or open its stream."""
        response = await self._client._post(
            "chat/completions",
            body,
            extra_headers=extra_headers,
            query=extra_query,
            timeout=timeout,
        )
        if request.stream:
            return await _open_stream(response, self._client.max_event_size)
        return await _read_completion(response, self._client.max_response_size)

    @overload
    def stream(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        response_format: type[T],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Unpack[ParseParams],
    ) -> ChatStreamManager[ParsedChatStream[T]]: ...

    @overload
    def stream(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Unpack[CompletionParams],
    ) -> ChatStreamManager[ChatStream]: ...

    def stream(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Any,
    ) -> ChatStreamManager[Any]:
        """Stream a chat completion: `async with client.chat.completions.stream(...) as s:`.

        Takes the keywords of `create` (`stream=True` is implied). With a type as
        `response_format`, as in `parse`, `get_final_completion()` returns it parsed. The
        parameters are checked here, before the `async with`; the request is sent on entering.
        """
        if "stream" in params:
            raise InvalidRequestError("stream", "stream() always streams; do not pass stream")
        structured = _structured(params) if is_output_type(params.get("response_format")) else None
        request = build_body(model=model, messages=messages, stream=True, params=params)
        body = encode_body(request, params.get("extra_body"))
        query = checked_query(extra_query)
        parse = None if structured is None else structured.parse

        async def exchange() -> ChatStream:
            response = await self._client._post(
                "chat/completions", body, extra_headers=extra_headers, query=query, timeout=timeout
            )
            return await _open_stream(response, self._client.max_event_size, parse)

        async def open_stream() -> ChatStream:
            trace = start_chat(self._client._transport.base_url, request)
            return await (exchange() if trace is None else trace.follow(exchange()))

        return ChatStreamManager(open_stream)

    async def parse(
        self,
        *,
        model: str,
        messages: Iterable[Any],
        response_format: type[T],
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, str | int | float] | None = None,
        timeout: float | Timeout | None = NOT_GIVEN,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[T]:
        """Create a completion whose answer is parsed into `response_format`, a type.

        `response_format` is anything msgspec can describe: a Struct, a dataclass, a TypedDict,
        `list[Item]`... It is sent as a strict `json_schema`; the answer comes back in
        `completion.choices[i].message.parsed`. Tools are sent strict too (a `Tool` must be
        declared `strict=True`), and their calls' arguments parsed into `parsed_arguments`.

        Raises:
            InvalidRequestError: as `create`, and for a `response_format` that is not a type
                or cannot be expressed in strict mode.
            RefusalError, FinishReasonError, OutputValidationError: the answer cannot be
                parsed; each carries the completion.
        """
        fields: dict[str, Any] = {**params, "response_format": response_format}
        structured = _structured(fields)
        completion = await self.create(
            model=model,
            messages=messages,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
            **fields,
        )
        return structured.parse(completion)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidRequestError(name, f"expected an int > 0, got {value!r}")
    return value


def _structured(params: dict[str, Any]) -> Structured:
    """The structured-output spec of `params`; the schema stack is imported on first use."""
    from ._output import Structured

    return Structured.of(params)


async def _open_stream(
    response: Response,
    max_event_size: int,
    parse: Callable[[ChatCompletion], ParsedChatCompletion[Any]] | None = None,
) -> ChatStream:
    """The stream of `response`, its final completion parsed by `parse` when there is one;
    a response that is not an event stream is refused first."""
    await _check_stream_type(response)
    if parse is None:
        return ChatStream(response, max_event_size=max_event_size)
    return ParsedChatStream(response, max_event_size=max_event_size, parse=parse)


async def _check_stream_type(response: Response) -> None:
    """Refuse a response that is not an event stream, with the server's words when it has any."""
    content_type = response.content_type
    if content_type not in NOT_STREAM_TYPES:
        return
    try:
        data = await response.read(_MAX_SHOWN_BODY)
    finally:
        response.close()
    raise attributed(not_a_stream(content_type, response.status, data), response)


async def _read_completion(response: Response, max_size: int) -> ChatCompletion:
    try:
        # aiohttp hands out the body decompressed, a bounded piece at a time (aiohttp 3.13.3,
        # GHSA-6mq8-rvhq-8wgg), and leaves the total to the caller (the draft threat model of
        # aio-libs/aiohttp#13098 calls that cap "the load-bearing defence"): so the bound
        # counts decompressed bytes, and a gzip bomb costs at most `max_size` of memory.
        data = await response.read_within(max_size)
    finally:
        response.close()
    if data is None:
        too_large = APIResponseValidationError(
            f"The response body (HTTP {response.status}) is larger than max_response_size, "
            f"{max_size:,} bytes once decompressed; raise max_response_size if answers this "
            "large are expected",
            status_code=response.status,
        )
        raise attributed(too_large, response)
    try:
        return completion_in(data, response.status, response.content_type)
    except APIError as error:
        attributed(error, response)
        raise
