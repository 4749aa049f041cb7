"""A hostile or broken server: what it can make the client send, hold, raise and log.

Each test plays one probe of issue 16 ("Hardening") against a real server on 127.0.0.1 and
asserts on what the servers received, what the error holds and what was logged:

- a cross-origin redirect gets none of the caller's headers, only asynctool's own;
- a `Location` that is not a URL, a port out of range or credentials in it, end in an
  `APIConnectionError` naming the problem, and are not retried;
- nothing reachable from an error (cause, context, arguments, attributes) holds the key, even
  when aiohttp's own exception kept the request's headers;
- a plain body is read only up to `max_response_size`, counted after decompression, so a gzip
  bomb is refused with bounded memory;
- a retry's log line is one bounded, escaped line, whatever the server's error text.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import tracemalloc
import types
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
import pytest

from asynctool import (
    APIConnectionError,
    APIResponseValidationError,
    AsyncClient,
    AsyncToolError,
    InternalServerError,
    InvalidRequestError,
    Timeout,
)
from asynctool.testing import (
    ModelServer,
    RawResponse,
    ScriptedModel,
    raw_bytes,
    redirect,
    status,
    text,
)
from tests.conftest import Serve, complete, completion_body, reply

KEY = "sk-proj-HOSTILE-do-not-leak-0123456789abcdef"
QUICK = Timeout(total=5, connect=2, first_byte=3, idle=1)

# The headers a caller may set that carry a credential, one of each kind the issue found
# forwarded: a cookie, a proxy's credential, gateways' keys (Helicone, Cloudflare AI Gateway,
# Azure API Management), Azure OpenAI's `api-key`.
CALLERS_HEADERS = {
    "Cookie": "session=cookie-secret-1",
    "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
    "Helicone-Auth": "Bearer helicone-secret-2",
    "cf-aig-authorization": "Bearer cloudflare-secret-3",
    "Ocp-Apim-Subscription-Key": "apim-secret-4",
    "X-Team": "not-a-secret-but-the-callers",
}
# What asynctool sets itself (and aiohttp adds on the wire): all another origin may see.
OWN_HEADERS = {
    "host",
    "content-type",
    "accept",
    "user-agent",
    "idempotency-key",
    "accept-encoding",
    "content-length",
}


def keyed_client(base_url: str, **options: Any) -> AsyncClient:
    options = {"api_key": KEY, "max_retries": 2, "timeout": QUICK, **options}
    return AsyncClient(base_url=base_url, **options)


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("stream", [False, True])
async def test_a_cross_origin_redirect_carries_none_of_the_callers_headers(
    serve: Serve, stream: bool
) -> None:
    """Only what asynctool sets goes to another origin; the request itself does.

    WHATWG Fetch drops `Authorization` at a cross-origin redirect (HTTP-redirect fetch, step
    13), urllib3 drops `Cookie`, `Authorization` and `Proxy-Authorization`
    (`Retry.DEFAULT_REMOVE_HEADERS_ON_REDIRECT`), and RFC 9110 section 15.4 asks a client to
    consider removing every header with security implications. A header in `default_headers`
    or `extra_headers` may be any gateway's credential, so none of them goes.
    """
    answer = reply(completion_body("from elsewhere"))
    if stream:
        sse = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n'
        answer = reply(sse + b"data: [DONE]\n\n", content_type="text/event-stream")
    elsewhere, _ = await serve(answer)  # another origin: another port of 127.0.0.1
    target = f"{elsewhere.base_url}/chat/completions"
    async with ModelServer(ScriptedModel([redirect(target, status=307)])) as server:
        async with keyed_client(server.base_url, default_headers=CALLERS_HEADERS) as client:
            await complete(client, stream, extra_headers={"api-key": KEY, "X-Tag": "t"})
    first = server.requests[0].headers
    assert first["Authorization"] == f"Bearer {KEY}" and first["api-key"] == KEY
    assert all(first[name] == value for name, value in CALLERS_HEADERS.items())
    (received,) = elsewhere.requests
    headers, body = received.headers, received.body
    assert {name.lower() for name in headers} == OWN_HEADERS
    assert headers["Idempotency-Key"] == first["Idempotency-Key"]  # the same logical request
    assert headers["User-Agent"].startswith("asynctool/")
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


async def test_credentials_once_dropped_stay_dropped_when_a_redirect_comes_back(
    serve: Serve,
) -> None:
    """A -> B -> A: B chose the way back, so A gets the request without credentials.

    Go's net/http restored them on a later same-domain hop, and fixed it as CVE-2024-45336.
    """
    async with ModelServer(ScriptedModel([])) as server:
        elsewhere, _ = await serve(redirect(f"{server.base_url}/chat/completions"))
        assert isinstance(server.model, ScriptedModel)
        server.model.add(redirect(f"{elsewhere.base_url}/chat/completions"), text("ok"))
        async with keyed_client(server.base_url, default_headers=CALLERS_HEADERS) as client:
            completion = await complete(client, stream=False)
    assert completion.choices[0].message.content == "ok"
    first, last = server.requests
    assert first.headers["Authorization"] == f"Bearer {KEY}"
    assert {name.lower() for name in last.headers} == OWN_HEADERS


HOSTILE_LOCATIONS = [
    ("http://127.0.0.1:99999/v1/chat/completions", "Port out of range"),
    ("http://[::1/v1/chat/completions", "Invalid IPv6 URL"),
    ("http://127.0.0.1:-1/v1", "Port out of range"),
    ("http://127.0.0.1:8080\\@evil.example/", "backslash"),
]


@pytest.mark.parametrize(("location", "why"), HOSTILE_LOCATIONS)
async def test_a_location_that_is_not_a_url_is_a_connection_error(location: str, why: str) -> None:
    async with ModelServer(ScriptedModel([redirect(location)])) as server:
        async with keyed_client(server.base_url) as client:
            with pytest.raises(AsyncToolError) as info:
                await complete(client, stream=False)
    error = info.value
    assert type(error) is APIConnectionError
    assert "Refusing to follow a redirect" in str(error) and why in str(error)
    assert repr(location) in str(error)  # quoted escaped, so what it was can be seen
    assert len(server.requests) == 1  # the server's answer; asking again gets the same one


async def test_a_location_with_credentials_is_not_followed_even_to_the_same_origin() -> None:
    """aiohttp would fail on `user:password@` beside our `Authorization` with a bare ValueError;
    WHATWG Fetch refuses a redirect to a URL with credentials too."""
    async with ModelServer(ScriptedModel([])) as server:
        assert isinstance(server.model, ScriptedModel)
        port = server.base_url.split(":")[2].split("/")[0]
        same = f"http://mallory:pw@127.0.0.1:{port}/v1/chat/completions"
        server.model.add(redirect(same), text("never"))
        async with keyed_client(server.base_url) as client:
            with pytest.raises(AsyncToolError) as info:
                await complete(client, stream=True)
    assert type(info.value) is APIConnectionError
    assert "credentials" in str(info.value) and "pw" not in str(info.value)
    assert len(server.requests) == 1


async def test_a_long_location_is_quoted_cut_short() -> None:
    location = "gopher://127.0.0.1/" + "x" * 5000
    async with ModelServer(ScriptedModel([redirect(location)])) as server:
        async with keyed_client(server.base_url) as client:
            with pytest.raises(APIConnectionError) as info:
                await complete(client, stream=False)
    message = str(info.value)
    assert "'gopher'" in message and len(message) < 400


@pytest.mark.parametrize("stream", [False, True])
async def test_a_scheme_relative_location_keeps_the_scheme(stream: bool) -> None:
    """`//host/path` is resolved against the current URL (RFC 3986 section 5.2), and followed."""
    async with ModelServer(ScriptedModel([])) as server:
        assert isinstance(server.model, ScriptedModel)
        host = server.base_url.removeprefix("http:")
        server.model.add(redirect(f"{host}/chat/completions"), text("relative ok"))
        async with keyed_client(server.base_url) as client:
            completion = await complete(client, stream)
    assert completion.choices[0].message.content == "relative ok"


# --------------------------------------------------------------------------- the key


def reachable(root: object) -> Iterator[object]:
    """Every object reachable from an error through exceptions' causes, contexts, arguments
    and attributes, and the containers and plain objects they hold.

    Frames are left out (`__traceback__`): a traceback's frames hold the caller's locals, the
    client among them, whatever the library does. So are classes, modules and functions.
    """
    skipped = (
        type,
        types.ModuleType,
        types.FunctionType,
        types.BuiltinFunctionType,
        types.MethodType,
        types.FrameType,
        types.TracebackType,
        asyncio.AbstractEventLoop,
    )
    seen: set[int] = set()
    pending: list[tuple[object, int]] = [(root, 0)]
    while pending:
        obj, depth = pending.pop()
        if id(obj) in seen or depth > 12 or isinstance(obj, skipped):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, str | bytes | int | float | bool) or obj is None:
            continue
        children: list[object] = []
        if isinstance(obj, BaseException):
            children += [obj.__cause__, obj.__context__, *obj.args]
        if isinstance(obj, Mapping):
            children += [*obj.keys(), *obj.values()]
        elif isinstance(obj, list | tuple | set | frozenset):
            children += list(obj)
        children += list(getattr(obj, "__dict__", {}).values())
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                children.append(getattr(obj, slot, None))
        pending += [(child, depth + 1) for child in children]


def assert_nothing_holds_the_key(error: BaseException) -> None:
    for obj in reachable(error):
        shown = obj if isinstance(obj, str) else repr(obj)
        assert KEY not in shown, f"the key is reachable from the error, in {type(obj)}: {shown}"


@pytest.mark.parametrize(
    "payload",
    [b"NOT HTTP\r\n\r\n", b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"],
    ids=["not-http", "1-mib-header"],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_nothing_reachable_from_a_connection_error_holds_the_key(
    serve: Serve, payload: bytes, stream: bool
) -> None:
    """aiohttp raises `ClientResponseError` for a response it cannot parse, and keeps the
    request's headers (`Authorization: Bearer <key>`) on it, in `request_info`."""
    server, _ = await serve(raw_bytes(payload))  # answered with `payload` as it is
    async with keyed_client(server.base_url, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as info:
            await complete(client, stream)
    error = info.value
    cause = error.__cause__
    assert cause is not None and type(cause).__name__ == "ClientResponseError"  # still chained
    assert "Idempotency-Key" in repr(cause)  # what is safe to show is still shown
    assert_nothing_holds_the_key(error)


async def test_no_credential_of_default_headers_is_reachable_either(serve: Serve) -> None:
    server, _ = await serve(raw_bytes(b"NOT HTTP\r\n\r\n"))
    headers = CALLERS_HEADERS
    async with keyed_client(server.base_url, max_retries=0, default_headers=headers) as c:
        with pytest.raises(APIConnectionError) as info:
            await complete(c, stream=False)
    for obj in reachable(info.value):
        shown = obj if isinstance(obj, str) else repr(obj)
        assert not re.search(r"secret-\d|cHJveHk6", shown), shown


# --------------------------------------------------------------------------- response size


def gzipped_completion(padding: int) -> bytes:
    """A valid completion followed by `padding` spaces (JSON allows them), gzipped: a few KB
    on the wire, `padding` bytes once inflated."""
    body = msgspec.json.encode(completion_body("tiny")) + b" " * padding
    return gzip.compress(body, compresslevel=9)


def gzipped_reply(payload: bytes) -> RawResponse:
    return RawResponse(200, body=payload, headers={"Content-Encoding": "gzip"})


async def test_a_gzip_bomb_is_refused_with_bounded_memory(serve: Serve) -> None:
    """32 MiB inflated from ~32 KiB on the wire, against a 1 MiB bound: refused, and the
    client's peak memory stays near the bound instead of twice the inflated size."""
    bomb = gzipped_completion(32 << 20)
    assert len(bomb) < 64 << 10
    server, _ = await serve(gzipped_reply(bomb))
    limit = 1 << 20
    async with AsyncClient(
        base_url=server.base_url, max_retries=0, max_response_size=limit
    ) as client:
        tracemalloc.start()
        try:
            with pytest.raises(APIResponseValidationError) as info:
                await complete(client, stream=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert "larger than max_response_size" in str(info.value) and "1,048,576" in str(info.value)
    assert info.value.status_code == 200
    assert peak < 8 * limit, f"peak {peak:,} bytes"  # twice the 32 MiB without the bound


async def test_a_body_of_exactly_max_response_size_is_accepted(serve: Serve) -> None:
    compact = msgspec.json.encode(completion_body("fits"))
    limit = len(compact) + 1000
    server, _ = await serve(
        gzipped_reply(gzipped_completion(1000)), gzipped_reply(gzipped_completion(1001))
    )
    async with AsyncClient(
        base_url=server.base_url, max_retries=0, max_response_size=limit
    ) as client:
        completion = await complete(client, stream=False)
        with pytest.raises(APIResponseValidationError):
            await complete(client, stream=False)
    assert completion.choices[0].message.content == "tiny"
    assert len(server.requests) == 2  # too large is not a reason to ask again


def test_the_default_bound_is_64_mib_and_bad_bounds_are_refused() -> None:
    assert AsyncClient(base_url="http://127.0.0.1:9/v1").max_response_size == 64 << 20
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(InvalidRequestError) as info:
            AsyncClient(base_url="http://127.0.0.1:9/v1", max_response_size=bad)  # type: ignore[arg-type]
        assert info.value.field == "max_response_size"


# --------------------------------------------------------------------------- logs

FORGED = "boom\nINFO:asynctool:request approved by admin\r\nINFO:asynctool:key rotated\n"


async def test_a_retry_logs_one_bounded_escaped_line(caplog: pytest.LogCaptureFixture) -> None:
    """The server's error text went into every retry's log line whole: line breaks forged
    log records (CWE-117) and a 500 KB message made 500 KB of log per retry."""
    caplog.set_level(logging.INFO, logger="asynctool")
    message = FORGED + "x" * 500_000
    failing = status(503, body={"error": {"message": message}}, retry_after=0)
    async with ModelServer(ScriptedModel([failing] * 3)) as server:
        async with keyed_client(server.base_url) as client:
            with pytest.raises(InternalServerError) as info:
                await complete(client, stream=False)
    assert info.value.message == message  # the error keeps it all; only the log is bounded
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying in")]
    assert len(retries) == 2
    for record in retries:
        line = record.getMessage()
        assert "\n" not in line and "\r" not in line and len(line) < 500, line
        assert "InternalServerError" in line and "boom\\n" in line
    assert len(caplog.text) < 2000
    assert caplog.text.count("\n") == len(caplog.records)  # one line per record, none forged
