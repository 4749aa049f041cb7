"""The HTTP seam: retries, deadlines, redirects, error mapping and keeping the key secret."""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import re
import time

import pytest
from aioresponses import aioresponses

import asynctool._retry as retry_module
import asynctool._transport as transport_module
from asynctool import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Timeout,
    UnprocessableEntityError,
)
from asynctool._redirect import MAX_REDIRECTS
from asynctool._retry import retry_after, retry_delay
from asynctool.testing import ModelServer, RawResponse, ScriptedModel, hang_up, redirect
from tests.conftest import MockedResponse, Serve, completion_body, reply

MESSAGES = [{"role": "user", "content": "hi"}]
KEY = "sk-very-secret-key-123"


async def create(client: AsyncClient) -> str | None:
    done = await client.chat.completions.create(model="m", messages=MESSAGES)
    return done.choices[0].message.content


def slow(seconds: float) -> RawResponse:
    return dataclasses.replace(reply(completion_body("late")), delay=seconds)


OK = reply(completion_body("ok"))


@pytest.mark.parametrize(
    ("first", "headers"),
    [
        (429, {"Retry-After": "0"}),
        (429, {"retry-after-ms": "10"}),
        (500, {}),
        (503, {}),
        (408, {}),
        (409, {}),
        (400, {"x-should-retry": "true"}),
    ],
)
async def test_retryable_failures_are_retried_with_one_idempotency_key(
    serve: Serve, first: int, headers: dict[str, str]
) -> None:
    server, _ = await serve(
        reply({"error": {"message": "try again"}}, status=first, headers=headers), OK
    )
    async with AsyncClient(base_url=server.base_url) as client:
        assert await create(client) == "ok"
    keys = {r.headers["Idempotency-Key"] for r in server.requests}
    assert len(server.requests) == 2 and len(keys) == 1


async def test_retries_stop_at_max_retries_and_the_error_carries_everything(serve: Serve) -> None:
    body = {"error": {"message": "boom", "type": "server_error", "code": "oops"}}
    server, _ = await serve(*[reply(body, status=500, headers={"x-request-id": "req_9"})] * 3)
    async with AsyncClient(base_url=server.base_url, max_retries=2) as client:
        with pytest.raises(InternalServerError) as info:
            await create(client)
    error = info.value
    assert len(server.requests) == 3
    assert (error.status_code, error.message, error.request_id) == (500, "boom", "req_9")
    assert error.body == body and (error.type, error.code) == ("server_error", "oops")
    assert "Error code: 500 - boom" in str(error) and "req_9" in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(serve: Serve, status: int) -> None:
    server, _ = await serve(reply({"error": {"message": "no"}}, status=status))
    async with AsyncClient(base_url=server.base_url) as client:
        with pytest.raises(APIStatusError):
            await create(client)
    assert len(server.requests) == 1


async def test_x_should_retry_false_stops_a_retry(serve: Serve) -> None:
    server, _ = await serve(reply("down", status=503, headers={"x-should-retry": "false"}), OK)
    async with AsyncClient(base_url=server.base_url) as client:
        with pytest.raises(InternalServerError, match="down"):
            await create(client)
    assert len(server.requests) == 1


async def test_retry_after_longer_than_the_deadline_fails_at_once(serve: Serve) -> None:
    server, _ = await serve(reply("slow down", status=429, headers={"Retry-After": "30"}), OK)
    async with AsyncClient(base_url=server.base_url, timeout=2) as client:
        with pytest.raises(RateLimitError):
            await create(client)
    assert len(server.requests) == 1


async def test_dropped_connection_before_the_response_is_retried(serve: Serve) -> None:
    server, _ = await serve(hang_up(), OK)
    async with AsyncClient(base_url=server.base_url) as client:
        assert await create(client) == "ok"
    assert len(server.requests) == 2


async def test_unreachable_server_is_a_connection_error() -> None:
    async with AsyncClient(base_url="http://127.0.0.1:9/v1", max_retries=1) as client:
        with pytest.raises(APIConnectionError, match="Connection error"):
            await create(client)


async def test_first_byte_timeout_is_retried_then_raised(serve: Serve) -> None:
    server, _ = await serve(slow(2), slow(2))
    timeout = Timeout(first_byte=0.1)
    async with AsyncClient(base_url=server.base_url, timeout=timeout, max_retries=1) as client:
        with pytest.raises(APITimeoutError, match=r"no response within 0.1s"):
            await create(client)
    assert len(server.requests) == 2


async def test_first_byte_timeout_then_success(serve: Serve) -> None:
    server, _ = await serve(slow(2), OK)
    async with AsyncClient(base_url=server.base_url, timeout=Timeout(first_byte=0.1)) as client:
        assert await create(client) == "ok"


async def test_per_call_timeout_overrides_the_client(serve: Serve) -> None:
    server, _ = await serve(slow(2))
    async with AsyncClient(base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(APITimeoutError, match=r"total deadline of 0\.2s"):
            await client.chat.completions.create(model="m", messages=MESSAGES, timeout=0.2)


async def test_no_timeout_means_no_bound(serve: Serve) -> None:
    server, _ = await serve(slow(0.2))
    async with AsyncClient(base_url=server.base_url, timeout=None) as client:
        assert client.timeout == Timeout(total=None, connect=None, first_byte=None, idle=None)
        assert await create(client) == "late"


@pytest.mark.parametrize("bad", [0, -1, "10", True])
def test_bad_timeouts_are_refused(bad: object) -> None:
    with pytest.raises(InvalidRequestError, match="timeout"):
        AsyncClient(base_url="http://127.0.0.1/v1", timeout=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- redirects


async def test_same_origin_redirect_keeps_credentials(serve: Serve) -> None:
    server, _ = await serve(redirect("/v1/chat/completions"), OK)
    async with AsyncClient(base_url=server.base_url, api_key=KEY) as client:
        assert await create(client) == "ok"
    assert [r.headers.get("Authorization") for r in server.requests] == [f"Bearer {KEY}"] * 2
    assert server.requests[0].body == server.requests[1].body


@pytest.mark.parametrize("auth", ["bearer", "x-api-key", "x-goog-api-key"])
async def test_redirect_to_another_host_drops_credentials(
    serve: Serve, auth: transport_module.AuthStyle
) -> None:
    other_server, _ = await serve(OK)
    server, _ = await serve(redirect(other_server.base_url + "/chat/completions", status=308))
    async with AsyncClient(base_url=server.base_url, api_key=KEY, auth=auth) as client:
        assert await create(client) == "ok"
    (received,) = other_server.requests
    headers, body = received.headers, received.body
    assert KEY not in str(headers)
    assert body["model"] == "m"


async def test_a_key_in_default_headers_does_not_follow_a_redirect_away(
    serve: Serve,
) -> None:
    other_server, _ = await serve(OK)
    server, _ = await serve(redirect(other_server.base_url + "/chat/completions"))
    async with AsyncClient(base_url=server.base_url, default_headers={"api-key": KEY}) as client:
        assert await create(client) == "ok"
    assert server.requests[0].headers["api-key"] == KEY
    assert "api-key" not in other_server.requests[0].headers


async def test_redirect_loop_ends(serve: Serve) -> None:
    # One more than the client follows: it must give up before the script runs out.
    server, _ = await serve(*[redirect("/v1/chat/completions", status=302)] * (MAX_REDIRECTS + 2))
    async with AsyncClient(base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(APIConnectionError, match="Too many redirects"):
            await create(client)


# --------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (418, APIStatusError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
async def test_status_maps_to_its_error_class(status: int, cls: type[APIStatusError]) -> None:
    url = "http://api.test/v1/chat/completions"
    with aioresponses() as mocked:
        mocked.post(
            url,
            status=status,
            payload={"error": {"message": f"s{status}"}},
            response_class=MockedResponse,
        )
        async with AsyncClient(base_url="http://api.test/v1", max_retries=0) as client:
            with pytest.raises(cls) as info:
                await create(client)
    assert type(info.value) is cls
    assert info.value.status_code == status and info.value.message == f"s{status}"


async def test_html_error_page_gives_a_short_message(serve: Serve) -> None:
    page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>" + "x" * 5000 + "</body></html>"
    server, _ = await serve(reply(page, status=502, content_type="text/html"))
    async with AsyncClient(base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(InternalServerError) as info:
            await create(client)
    assert info.value.message == "HTTP 502 Bad Gateway"
    assert info.value.body == page


async def test_api_key_never_appears_in_errors_reprs_or_logs(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}", "key": KEY}}
    server, _ = await serve(reply(echo, status=503), reply(echo, status=401))
    caplog.set_level(logging.DEBUG, logger="asynctool")
    async with AsyncClient(base_url=server.base_url, api_key=KEY) as client:
        with pytest.raises(AuthenticationError) as info:
            await create(client)
        shown = [repr(client), repr(client._transport), str(info.value), repr(info.value)]
        shown += [str(info.value.body), str(info.value.headers), caplog.text]
    assert "[redacted]" in str(info.value)
    for text in shown:
        assert KEY not in text
    assert "Retrying" in caplog.text  # the retry was logged, without the key


# --------------------------------------------------------------------------- headers and URLs


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        ("bearer", "Authorization", f"Bearer {KEY}"),
        ("x-api-key", "x-api-key", KEY),
        ("x-goog-api-key", "x-goog-api-key", KEY),
    ],
)
async def test_auth_styles(
    serve: Serve, auth: transport_module.AuthStyle, header: str, value: str
) -> None:
    server, _ = await serve(reply(completion_body()))
    async with AsyncClient(base_url=server.base_url, api_key=KEY, auth=auth) as client:
        await create(client)
    headers = server.requests[0].headers
    assert headers[header] == value
    assert (header == "Authorization") == ("Authorization" in headers)


async def test_no_key_sends_no_auth_header(serve: Serve) -> None:
    server, _ = await serve(reply(completion_body()))
    async with AsyncClient(base_url=server.base_url) as client:
        await create(client)
    assert "Authorization" not in server.requests[0].headers


async def test_standard_default_and_extra_headers(serve: Serve) -> None:
    server, _ = await serve(reply(completion_body()))
    async with AsyncClient(
        base_url=server.base_url, default_headers={"X-Team": "a", "X-Both": "default"}
    ) as client:
        await client.chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"X-Both": "extra"}
        )
    headers = server.requests[0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("asynctool/")
    assert (headers["X-Team"], headers["X-Both"]) == ("a", "extra")
    assert re.fullmatch(r"asynctool-[0-9a-f]{32}", headers["Idempotency-Key"])


async def test_environment_fallbacks(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = await serve(reply(completion_body()))
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    async with AsyncClient() as client:
        assert client.base_url == server.base_url + "/"
        await create(client)
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"


def test_default_base_url_is_openai() -> None:
    assert AsyncClient(api_key=KEY).base_url == "https://api.openai.com/v1/"


async def test_base_url_path_prefix_is_kept() -> None:
    model = ScriptedModel([reply(completion_body())] * 2)
    async with ModelServer(model, base_path="/gateway/openai/v1") as server:
        base = f"http://127.0.0.1:{server.port}/gateway/openai/v1"
        for url in (base, base + "/"):
            async with AsyncClient(base_url=url) as client:
                await create(client)
    seen = [request.path for request in server.requests]
    assert seen == ["/gateway/openai/v1/chat/completions"] * 2


@pytest.mark.parametrize(
    "url", ["ftp://example.com/v1", "file:///etc/passwd", "127.0.0.1:8000", "http://"]
)
def test_only_http_and_https_base_urls(url: str) -> None:
    with pytest.raises(InvalidRequestError, match="base_url"):
        AsyncClient(base_url=url)


@pytest.mark.parametrize(
    ("option", "value"), [("auth", "basic"), ("max_retries", -1), ("max_retries", 1.5)]
)
def test_bad_client_options(option: str, value: object) -> None:
    with pytest.raises(InvalidRequestError, match=option):
        AsyncClient(base_url="http://127.0.0.1/v1", **{option: value})  # type: ignore[arg-type]


async def test_close_and_reuse(serve: Serve) -> None:
    server, _ = await serve(reply(completion_body()), reply(completion_body()))
    client = AsyncClient(base_url=server.base_url)
    assert client._transport.closed
    await create(client)
    assert not client._transport.closed
    await client.close()
    assert client._transport.closed
    await create(client)  # a closed client opens a new session when used again
    await client.close()


# --------------------------------------------------------------------------- retry delays


def test_retry_delay_prefers_a_sane_retry_after() -> None:
    assert retry_delay({"retry-after-ms": "1500"}, 0) == 1.5
    assert retry_delay({"Retry-After": "2"}, 3) == 2.0
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 < retry_delay({"Retry-After": when}, 0) <= 10


@pytest.mark.parametrize(
    "headers", [{}, {"Retry-After": "3600"}, {"Retry-After": "soon"}, {"retry-after-ms": "x"}]
)
def test_retry_delay_falls_back_to_backoff_with_jitter(
    headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry_module, "_INITIAL_BACKOFF", 0.5)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (10, 8.0)]:
        delay = retry_delay(headers, attempt)
        assert 0.75 * ceiling <= delay <= ceiling


def test_retry_after_parsing() -> None:
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "not a date"}) is None
    assert retry_after({"retry-after-ms": "bad", "Retry-After": "4"}) == 4.0
