"""The HTTP seam: the one module that talks to aiohttp.

It owns the `aiohttp.ClientSession`, the base URL, the auth header, deadlines and retries, and
maps every lower-level failure to an `AsyncToolError` subclass in one place. Above it, nothing
knows aiohttp exists: the client gets a `Response` that reads bytes under the deadlines.

Retries follow what is safe for a POST that the server may not have seen: connection errors,
timeouts before the response started, and 408, 409, 429 and 5xx, with exponential backoff and
jitter, honouring `retry-after-ms`, `Retry-After` (seconds or an HTTP date) and `x-should-retry`.
Every attempt carries the same `Idempotency-Key`. Once a response has started nothing is
retried: the bytes of a stream may already be in the caller's hands.

One failure is not an attempt at all: a pooled keep-alive connection that the server had
already closed. Some servers say `Connection: keep-alive` and close anyway (llama.cpp's
cpp-httplib after every streamed response; aio-libs/aiohttp#7297, #3609), so the next request
written to that connection fails before a byte of an answer comes back. It is sent again at
once on a new connection, without a backoff and without using up a retry, as Go's net/http
does for a request with an `Idempotency-Key` (`shouldRetryRequest`, `errServerClosedIdle`).

Redirects are followed by hand, so that what goes where is decided here: another origin gets
only the headers asynctool sets itself, and a redirect to http from https, to a URL with
credentials, or to a `Location` that is not a URL is refused, at once and without a retry.
Nothing an error carries, down to aiohttp's exception chained as its cause, holds a credential
(see `_redact`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl as _ssl
import uuid
import weakref
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NoReturn, TypeVar

import aiohttp
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    InvalidRequestError,
    error_message,
    status_error_class,
)
from ._redact import credentials_in, is_credential_header, quoted, redact, redact_text
from ._redirect import MAX_REDIRECTS, REDIRECT_STATUSES, RedirectRefused, redirect_target
from ._retry import retry_delay, should_retry
from ._tracing import CURRENT_CHAT, note_retry
from ._version import __version__

if TYPE_CHECKING:
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

__all__ = ["AuthStyle", "Response", "Timeout", "Transport"]

E = TypeVar("E", bound=APIError)

logger = logging.getLogger("asynctool")

AuthStyle = Literal["bearer", "x-api-key", "x-goog-api-key"]

_AUTH_HEADERS: dict[str, str] = {
    "bearer": "Authorization",
    "x-api-key": "x-api-key",
    "x-goog-api-key": "x-goog-api-key",
}
# Error bodies are read for their message only; an error page is never worth more than this.
_MAX_ERROR_BODY = 1 << 20
# Pooled connections a resend closes at most on its way to a new one, when the pool has no limit.
_MAX_SKIPPED = 100
# The request headers an error may still show: aiohttp keeps the request's headers on the
# errors it raises (`ClientResponseError.request_info`), and only these carry no credential.
_SHOWN_REQUEST_HEADERS = frozenset({"host", "content-type", "content-length", "accept"})
_SHOWN_REQUEST_HEADERS |= {"accept-encoding", "user-agent", "idempotency-key"}
# Hosts whose API cannot be used without a key: a client for them without one is refused when
# it is made, not at the first request (`us.api.openai.com` and `eu.` are OpenAI's data
# residency endpoints).
_KEYED_HOST = "api.openai.com"


@dataclass(frozen=True, slots=True)
class Timeout:
    """How long a request may take, in seconds; `None` means no bound.

    Attributes:
        total: the whole call, every retry and the whole stream included.
        connect: opening the TCP (and TLS) connection.
        first_byte: from sending the request to the start of the response (its headers).
            For a non-stream request that is the time the model takes to write the whole
            answer, so it is unbounded by default.
        idle: the longest gap between two pieces of the body; a stalled stream ends here.
    """

    total: float | None = 600.0
    connect: float | None = 5.0
    first_byte: float | None = None
    idle: float | None = 120.0

    @classmethod
    def of(cls, value: float | Timeout | None) -> Timeout:
        """A `Timeout` from what users pass: a number is the total deadline, `None` no bound."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None, first_byte=None, idle=None)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidRequestError("timeout", f"expected a positive number, got {value!r}")
        return cls(total=float(value))


class _Clock:
    """The deadlines of one call: the total one, and the bound of the phase being waited on."""

    __slots__ = ("deadline", "timeout")

    def __init__(self, timeout: Timeout) -> None:
        self.timeout = timeout
        now = asyncio.get_running_loop().time()
        self.deadline = None if timeout.total is None else now + timeout.total

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - asyncio.get_running_loop().time()

    def phase_deadline(self, bound: float | None) -> float | None:
        """When the phase with this bound must end: its own bound or the total, the sooner."""
        if bound is None:
            return self.deadline
        end = asyncio.get_running_loop().time() + bound
        return end if self.deadline is None else min(end, self.deadline)

    def total_passed(self) -> bool:
        """Whether the total deadline has passed (rather than the bound of a phase)."""
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def timeout_error(self, phase: str, bound: float | None) -> APITimeoutError:
        """The error for a deadline that passed, saying which one it was."""
        if self.total_passed():
            return APITimeoutError(f"Request timed out: total deadline of {self.timeout.total}s")
        return APITimeoutError(f"Request timed out: no {phase} within {bound}s")


# Set by the connector for the request being sent in this task: whether its connection had
# served a request before. aiohttp calls `connect()` within `session.post`, in the caller's
# task, and says nothing about the connection when the post fails.
_REUSED: ContextVar[bool] = ContextVar("asynctool_reused", default=False)
# Set for a resend: the connector must hand out a new connection, not a pooled one.
_NEW_CONNECTION: ContextVar[bool] = ContextVar("asynctool_new_connection", default=False)


class _Connector(aiohttp.TCPConnector):
    """A `TCPConnector` that says, through `_REUSED`, whether a connection came from the pool.

    aiohttp's tracing says so too (`on_connection_reuseconn`), but with a trace config every
    request sends a dozen signals: measured here, 12 µs more CPU on aiohttp's 96 µs for a
    small POST. Remembering which protocol objects have served a request costs a set lookup.
    """

    def __init__(self, *, limit: int, ssl: bool | _ssl.SSLContext) -> None:
        super().__init__(limit=limit, ssl=ssl)
        self._served: weakref.WeakSet[object] = weakref.WeakSet()

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        conn = await super().connect(req, traces, timeout)
        if _NEW_CONNECTION.get():
            # Every pooled connection may be as dead as the one that just failed: close them
            # until the pool is empty and a new connection is made.
            for _ in range(self.limit or _MAX_SKIPPED):
                if conn.protocol not in self._served:
                    break
                conn.close()
                conn = await super().connect(req, traces, timeout)
        reused = conn.protocol in self._served
        if not reused and conn.protocol is not None:
            self._served.add(conn.protocol)
        _REUSED.set(reused)
        return conn


class Response:
    """An HTTP response whose body is read under the call's deadlines.

    Reading maps every failure to `APIConnectionError` / `APITimeoutError`; `close()` releases
    the connection (back to the pool when the body was read to its end, else closed).
    """

    __slots__ = ("_clock", "_raw", "_secrets", "_sent", "headers", "request_id", "status", "trace")

    def __init__(
        self,
        raw: aiohttp.ClientResponse,
        clock: _Clock,
        sent: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._raw = raw
        self._clock = clock
        # The headers the request went with, and the client's own secrets: what a server may
        # echo, and what `redact` takes out. Kept as they are; read only for an error.
        self._sent = sent or {}
        self._secrets = secrets
        self.status = raw.status
        self.headers: Mapping[str, str] = raw.headers
        self.request_id: str | None = raw.headers.get("x-request-id")
        self.trace = CURRENT_CHAT.get()  # the request's trace, when one is being recorded

    @property
    def reason(self) -> str:
        """The status line's reason phrase, e.g. `Bad Gateway`."""
        return self._raw.reason or ""

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters."""
        return self._raw.content_type.lower()

    async def read_chunk(self) -> bytes:
        """The next piece of the body as it arrived, or `b""` at its end."""
        clock = self._clock
        idle = clock.timeout.idle
        content = self._raw.content
        try:
            # What is buffered already needs no timer: arming one per read is most of the cost
            # of a read when many streams share the loop. Only the total deadline applies.
            buffered = content.read_nowait()
            if buffered:
                remaining = clock.remaining()
                if remaining is not None and remaining <= 0:
                    raise clock.timeout_error("data", idle)
                return buffered
            async with asyncio.timeout_at(clock.phase_deadline(idle)):
                return await content.readany()
        except TimeoutError as exc:
            if self.trace is not None and not clock.total_passed():
                self.trace.stalled(idle)
            raise clock.timeout_error("data", idle) from exc
        except aiohttp.ClientError as exc:
            message = f"Connection error while reading the response: {exc}"
            raise self.redact(APIConnectionError(message)) from _scrubbed(exc, self.secrets())

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, or its first `limit` bytes (each piece under the idle bound, all
        under the total deadline); what is past `limit` is never read."""
        parts: list[bytes] = []
        size = 0
        while chunk := await self.read_chunk():
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        return b"".join(parts)[:limit]

    async def read_within(self, max_size: int) -> bytes | None:
        """The whole body, or `None` when it is larger than `max_size` bytes: then what was
        read is dropped without being joined, and nothing more is read."""
        parts: list[bytes] = []
        size = 0
        while chunk := await self.read_chunk():
            parts.append(chunk)
            size += len(chunk)
            if size > max_size:
                return None
        return b"".join(parts)

    def secrets(self) -> list[str]:
        """What a server must not see echoed back: the key, and every credential sent."""
        return [*self._secrets, *credentials_in(self._sent)]

    def redact(self, error: E) -> E:
        """`error` with the API key and the other credentials of the request taken out of
        everything the server echoed into it."""
        return redact(error, self.secrets())

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Response cannot be pickled: it holds a live connection")

    def close(self) -> None:
        """Let go of the connection; safe to call more than once."""
        if self._raw.content.at_eof():
            self._raw.release()
        else:
            self._raw.close()


class Transport:
    """One aiohttp session against one base URL, with auth, deadlines and retries."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        auth: AuthStyle,
        default_headers: Mapping[str, str] | None,
        timeout: Timeout,
        max_retries: int,
        ssl: bool | _ssl.SSLContext,
        max_connections: int,
    ) -> None:
        url = _parse_base_url(base_url)
        if auth not in _AUTH_HEADERS:
            raise InvalidRequestError(
                "auth", f"expected one of {sorted(_AUTH_HEADERS)}, got {auth!r}"
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidRequestError("max_retries", f"expected an int >= 0, got {max_retries!r}")
        # Only what asynctool sets itself, and knows to carry nothing secret: all a request
        # takes along to another origin.
        self._own_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"asynctool/{__version__}",
        }
        self._headers = {**self._own_headers, **(default_headers or {})}
        self._auth_header = _AUTH_HEADERS[auth]
        if api_key:
            self._headers[self._auth_header] = _auth_value(auth, api_key)
        self.base_url, password = self._take_userinfo(url)
        self._secrets = tuple(s for s in (api_key, password) if s)
        self.timeout = timeout
        self.max_retries = max_retries
        self._ssl = ssl
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _take_userinfo(self, url: URL) -> tuple[URL, str | None]:
        """The base URL without `user:password@`, which becomes an `Authorization: Basic`
        header, as curl, requests and httpx send it; and the password, a secret to redact.

        aiohttp would refuse the pair with a bare ValueError on every request when another
        `Authorization` is set, and keeps it in the URL that its errors show.
        """
        if url.user is None and url.password is None:
            return url, None
        user, password = url.user or "", url.password or ""
        shown = _shown_url(url)
        if ":" in user:
            raise InvalidRequestError(
                "base_url", f"the user name in {shown!r} has a ':', which Basic auth cannot send"
            )
        if any(name.lower() == "authorization" for name in self._headers):
            raise InvalidRequestError(
                "base_url",
                f"{shown!r} has credentials (user:password@), sent as Authorization: Basic, "
                "and an Authorization header is set too (the api_key with auth='bearer', or "
                "default_headers); give one of them, or send the key with auth='x-api-key'",
            )
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._headers["Authorization"] = f"Basic {token}"
        return url.with_user(None), password or None

    @property
    def needs_key(self) -> bool:
        """Whether the base URL is an API that refuses every request without a key, and this
        transport sends none."""
        host = self.base_url.host or ""
        keyed = host == _KEYED_HOST or host.endswith("." + _KEYED_HOST)
        return keyed and not any(is_credential_header(name) for name in self._headers)

    @property
    def closed(self) -> bool:
        """Whether `close()` was called (a new session is made on the next request)."""
        return self._session is None or self._session.closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = _Connector(limit=self._max_connections, ssl=self._ssl)
            # Our own deadlines bound every phase; aiohttp's only job is the socket connect.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout.connect)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    async def close(self) -> None:
        """Close the session and every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self,
        path: str,
        body: bytes,
        *,
        extra_headers: Mapping[str, str] | None = None,
        query: Mapping[str, str | int | float] | None = None,
        timeout: Timeout | None = None,
    ) -> Response:
        """POST `body` to `path` (`query` added to the URL's query string), retrying what is
        safe, and return the started response.

        Raises:
            APIStatusError: a status >= 400 (its subclass by status), after retries.
            APIConnectionError: no connection could be made, after retries.
            APITimeoutError: a deadline passed before the response started.
        """
        clock = _Clock(timeout or self.timeout)
        key = f"asynctool-{uuid.uuid4().hex}"
        headers = {**self._headers, "Idempotency-Key": key}
        if extra_headers:
            headers.update(extra_headers)
        url = self.base_url.join(URL(path.lstrip("/")))
        if query:
            url = url.extend_query(query)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await self._send(url, body, headers, clock, key)
            except APIConnectionError as exc:
                await self._wait_before_retry(exc, None, attempt, last, clock)
                continue
            except RedirectRefused as refused:
                # A redirect we will not follow is the server's answer; asking again gets the
                # same one. Raised bare: the refusal's own text is the message.
                raise redact(APIConnectionError(str(refused)), self._secrets) from None
            if response.status < 400:
                return response
            error = await self._status_error(response)
            if not should_retry(response.status, response.headers):
                raise error
            await self._wait_before_retry(error, response.headers, attempt, last, clock)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def _wait_before_retry(
        self,
        error: Exception,
        headers: Mapping[str, str] | None,
        attempt: int,
        last: bool,
        clock: _Clock,
    ) -> None:
        """Sleep before the next attempt, or raise `error` when there is none to make."""
        if last:
            raise error
        delay = retry_delay(headers, attempt)
        remaining = clock.remaining()
        if remaining is not None and delay >= remaining:
            raise error
        logger.info(
            "Retrying in %.2fs (attempt %d of %d) after %s",
            delay,
            attempt + 2,
            self.max_retries + 1,
            _log_summary(error),
        )
        note_retry(attempt, error, delay)
        await asyncio.sleep(delay)

    async def _send(
        self, url: URL, body: bytes, headers: dict[str, str], clock: _Clock, key: str
    ) -> Response:
        """One attempt: send, follow redirects by hand, and wait for the response to start.

        Raises:
            RedirectRefused: a redirect that is not followed.
        """
        session = self._get_session()
        first_byte = clock.timeout.first_byte
        for _ in range(MAX_REDIRECTS + 1):
            _REUSED.set(False)
            try:
                async with asyncio.timeout_at(clock.phase_deadline(first_byte)):
                    try:
                        raw = await session.post(
                            url, data=body, headers=headers, allow_redirects=False
                        )
                    except aiohttp.ClientConnectionError as exc:
                        if not (_REUSED.get() and _unanswered(exc)):
                            raise
                        raw = await _resend(session, url, body, headers, exc)
            except TimeoutError as exc:
                # aiohttp's own connect timeout is also a TimeoutError; name the phase right.
                if isinstance(exc, aiohttp.ConnectionTimeoutError):
                    raise clock.timeout_error("connection", clock.timeout.connect) from exc
                raise clock.timeout_error("response", first_byte) from exc
            except aiohttp.ClientError as exc:
                secrets = [*self._secrets, *credentials_in(headers)]
                error = APIConnectionError(f"Connection error: {_describe(exc)}")
                raise redact(error, secrets) from _scrubbed(exc, secrets)
            location = raw.headers.get("Location")
            if raw.status not in REDIRECT_STATUSES or not location:
                return Response(raw, clock, headers, self._secrets)
            raw.release()
            target = redirect_target(url, location)
            if target.origin() != self.base_url.origin():
                # Another origin gets none of the headers the caller set (default_headers,
                # extra_headers: any may be a credential, `Cookie`, `Proxy-Authorization`,
                # `Helicone-Auth`...) and no credential of ours, only the headers asynctool
                # itself sets. Once dropped they stay dropped, even if a later redirect comes
                # back (Go's CVE-2024-45336). WHATWG Fetch drops `Authorization` at the first
                # cross-origin redirect (HTTP-redirect fetch, step 13); urllib3 drops
                # `Cookie`, `Authorization` and `Proxy-Authorization`
                # (Retry.DEFAULT_REMOVE_HEADERS_ON_REDIRECT); RFC 9110 section 15.4 asks to
                # consider removing any header with security implications.
                headers = {**self._own_headers, "Idempotency-Key": key}
            url = target
        raise RedirectRefused(f"Too many redirects (more than {MAX_REDIRECTS})")

    async def _status_error(self, response: Response) -> APIStatusError:
        """Read an error response's body and build the error for its status."""
        try:
            text = (await response.read(_MAX_ERROR_BODY)).decode("utf-8", "replace")
        except APIConnectionError:
            text = ""
        finally:
            response.close()
        body = _parse_body(text)
        message = error_message(body, _generic_reason(response))
        cls = status_error_class(response.status)
        error = cls(
            message,
            status_code=response.status,
            body=body,
            request_id=response.request_id,
            headers=_safe_headers(response.headers),
        )
        # Some gateways echo the key they rejected; it must not reach a log or a trace.
        return response.redact(error)

    def __repr__(self) -> str:
        return f"Transport(base_url={str(self.base_url)!r}, auth={self._auth_header!r})"


async def _resend(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    headers: dict[str, str],
    failure: aiohttp.ClientConnectionError,
) -> aiohttp.ClientResponse:
    """Send again, on a new connection, a request the server never saw: it went out on a
    pooled connection the server had closed. Part of the same attempt: no backoff, no retry
    used up, and only once."""
    logger.debug(
        "The server had closed a pooled connection (%s); resending at once", _log_summary(failure)
    )
    token = _NEW_CONNECTION.set(True)
    try:
        return await session.post(url, data=body, headers=headers, allow_redirects=False)
    finally:
        _NEW_CONNECTION.reset(token)


def _unanswered(exc: aiohttp.ClientConnectionError) -> bool:
    """Whether a connection failed before any byte of an answer arrived.

    On a connection the server closed while idle, the request either cannot be written (`Can
    not write request body`, a reset) or is met by the end of the connection. aiohttp passes
    the response head it had parsed to `ServerDisconnectedError`: a string means none came.
    """
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return isinstance(exc.message, str)
    return isinstance(exc, aiohttp.ClientOSError | ConnectionResetError)


def _describe(exc: aiohttp.ClientError) -> str:
    # aiohttp puts the response head it had parsed in the message when the server disconnects.
    if isinstance(exc, aiohttp.ServerDisconnectedError) and not isinstance(exc.message, str):
        return "Server disconnected in the middle of the response head"
    return str(exc)


def _log_summary(error: BaseException) -> str:
    """What a log line says of an error: its type and the start of its text, escaped and cut
    short, so that a server's message cannot write lines into the log (CWE-117) or fill it."""
    return f"{type(error).__name__}: {quoted(str(error))}"


def _scrubbed(exc: BaseException, secrets: list[str]) -> BaseException:
    """`exc`, and every exception chained to it, without the request's credentials.

    aiohttp's `ClientResponseError` (a server that does not speak HTTP, a header past its
    limits) keeps the request's headers in `request_info`, `Authorization` included, and the
    earlier responses in `history`; both are in its repr. They are replaced in place by the
    headers asynctool sets itself, so that what is chained to an asynctool error holds no key.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientResponseError):
            info = _shown_request_info(current.request_info)
            current.request_info = info
            current.history = ()
            current.message = redact_text(current.message, secrets)
            current.args = (info, ())
        else:
            current.args = tuple(
                redact_text(arg, secrets) if isinstance(arg, str) else arg for arg in current.args
            )
        pending += [current.__cause__, current.__context__]
    return exc


def _shown_request_info(info: aiohttp.RequestInfo) -> aiohttp.RequestInfo:
    shown = [(k, v) for k, v in info.headers.items() if k.lower() in _SHOWN_REQUEST_HEADERS]
    headers = CIMultiDict(shown)
    return aiohttp.RequestInfo(info.url, info.method, CIMultiDictProxy(headers), info.real_url)


def _parse_base_url(base_url: str) -> URL:
    try:
        url = URL(base_url)
    except (TypeError, ValueError) as exc:
        # yarl's words name the part (`Port out of range 0-65535`); the text may hold a
        # password, so it is not quoted.
        raise InvalidRequestError("base_url", f"not a valid URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequestError(
            "base_url",
            f"expected an http:// or https:// URL with a host, got {_shown_url(url)!r}",
        )
    # A trailing slash makes `join` append paths instead of replacing the last segment.
    return url if url.path.endswith("/") else url.with_path(url.path + "/")


def _shown_url(url: URL) -> str:
    """The URL as an error may show it: without `user:password@`."""
    if url.user is None and url.password is None:
        return str(url)
    return str(url.with_user(None))


def _auth_value(auth: str, api_key: str) -> str:
    return f"Bearer {api_key}" if auth == "bearer" else api_key


def _parse_body(text: str) -> object:
    try:
        return msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):  # msgspec bounds nesting with RecursionError
        return text


def _generic_reason(response: Response) -> str:
    return f"HTTP {response.status} {response.reason or 'error'}"


# Response headers worth keeping on an error; nothing that could carry a credential.
_KEPT_HEADERS = ("content-type", "retry-after", "retry-after-ms", "x-request-id", "x-should-retry")


def _safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in _KEPT_HEADERS if name in headers}
