"""`ModelServer`: an OpenAI-compatible chat completions server on 127.0.0.1, in-process.

It serves `POST /v1/chat/completions` and `GET /v1/models` with the real API's wire format and
error bodies; a pluggable model decides each answer. Every request is recorded before it is
checked, every response carries an `x-request-id`, and closing the server ends stalled
responses, so a test never waits on a fault it scripted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import itertools
import signal
import socket
import ssl as ssl_module
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self

import msgspec
from aiohttp import web

from ._deliver import deliver, deliver_raw, pause, run_handler
from ._faults import error_body
from ._request import InvalidRequestBody, RecordedRequest, validate_chat_body
from ._turns import Choices, Fault, Handler, Model, RawResponse, Reply, Turn
from ._wire import WireContext, prompt_tokens, render

__all__ = ["ModelServer"]

_RECORD = web.RequestKey("asynctool_record", RecordedRequest)
_SEQ = web.RequestKey("asynctool_seq", int)
_MAX_BODY_BYTES = 64 * 1024 * 1024
_TURN_TYPES = (Reply, Choices, RawResponse, Fault, Handler)
# Load tests open hundreds of connections at once; with aiohttp's default of 128 the accept
# queue overflows and the kernel's SYN retries (1 s, 3 s...) show up as connect timeouts.
_BACKLOG = 1024
_NO_KEY = (
    "You didn't provide an API key. Provide it in an Authorization header using Bearer auth "
    "(Authorization: Bearer YOUR_KEY), or in an x-api-key or x-goog-api-key header."
)


def _json_error(
    status: int, message: str, *, type: str, param: str | None = None, code: str | None = None
) -> web.Response:
    body = error_body(message, type=type, param=param, code=code)
    return web.Response(status=status, body=body, content_type="application/json")


class ModelServer:
    """An embedded OpenAI-compatible model server for tests, demos and benchmarks.

    Example:
        ```python
        model = ScriptedModel([text("Hello"), status(429, retry_after=1)])
        async with ModelServer(model, api_key="sk-test") as server:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test")
            ...
            assert server.requests[0].json["model"] == "gpt-4o"
        ```

    Args:
        model: decides the answers; a `DemoModel` when omitted.
        api_key: when set, requests must carry it (`Authorization: Bearer`, `x-api-key` or
            `x-goog-api-key`), else they get a 401.
        host: the address to bind; loopback by default.
        port: the port; 0 picks a free one.
        model_ids: the models `GET /v1/models` lists.
        record: keep every request in `requests`; turn it off for long benchmark runs.
        base_path: where the API is served, `/v1` by default; a gateway's path
            (`/gateway/openai/v1`) tests a client that keeps a prefix.
        ssl: a server-side TLS context (`ssl.Purpose.CLIENT_AUTH` with a certificate loaded):
            the server speaks HTTPS and `url` starts with `https://`.

    Attributes:
        requests: every request received, in order, as `RecordedRequest`s.
        errors: exceptions a model raised (each answered with a 500).
    """

    def __init__(
        self,
        model: Model | None = None,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model_ids: Sequence[str] = ("asynctool-demo",),
        record: bool = True,
        base_path: str = "/v1",
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        if model is None:
            from ._demo_model import DemoModel

            model = DemoModel()
        self.model = model
        self.api_key = api_key
        self.host = host
        self.model_ids = tuple(model_ids)
        self.record = record
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.ssl = ssl
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []
        self._port = port
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._stop: Callable[[], None] | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._runner else "not started"
        return f"<ModelServer {type(self.model).__name__} {state}>"

    @property
    def port(self) -> int:
        """The bound port (the requested one before `start()`)."""
        return self._port

    @property
    def url(self) -> str:
        """The server's root URL, e.g. `http://127.0.0.1:54321`."""
        scheme = "https" if self.ssl is not None else "http"
        return f"{scheme}://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The base URL a client takes, e.g. `http://127.0.0.1:54321/v1`."""
        return f"{self.url}{self.base_path}"

    async def start(self) -> None:
        """Bind the socket and start serving; `async with` calls it for you."""
        if self._runner is not None:
            raise RuntimeError("ModelServer is already started")
        self._closing = asyncio.Event()
        runner = web.AppRunner(
            self._app(), handle_signals=False, handler_cancellation=True, access_log=None
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port))
            await web.SockSite(runner, sock, backlog=_BACKLOG, ssl_context=self.ssl).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._port = sock.getsockname()[1]
        self._runner = runner

    async def close(self) -> None:
        """Stop serving; stalled and trickling responses are cut off. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._closing is not None:
            self._closing.set()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def run(self, *, on_ready: Callable[[ModelServer], None] | None = None) -> None:
        """Serve in this thread, blocking, until SIGINT or SIGTERM or `stop()`.

        This is the way to run a server in another process (or thread), e.g. for benchmarks;
        `python -m asynctool.testing --port 8000` does it for a `DemoModel`.

        Args:
            on_ready: called once the socket listens, with this server (to read its port).
        """
        asyncio.run(self._serve_until_stopped(on_ready))

    def stop(self) -> None:
        """Make a `run()` going on in another thread return. Thread-safe; no-op otherwise."""
        if self._stop is not None:
            self._stop()

    async def _serve_until_stopped(self, on_ready: Callable[[ModelServer], None] | None) -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Signal handlers can only be set from the main thread.
            with contextlib.suppress(ValueError, RuntimeError):
                loop.add_signal_handler(sig, stopped.set)

        def stop() -> None:
            loop.call_soon_threadsafe(stopped.set)

        self._stop = stop
        try:
            async with self:
                if on_ready is not None:
                    on_ready(self)
                await stopped.wait()
        finally:
            self._stop = None

    # ----------------------------------------------------------------------- the application

    def _app(self) -> web.Application:
        # Agent transcripts grow large; aiohttp's default 1 MiB body limit would cut them off.
        app = web.Application(
            middlewares=[self._record_and_authorize], client_max_size=_MAX_BODY_BYTES
        )
        app.on_response_prepare.append(_add_request_id)
        base = self.base_path
        app.router.add_post(f"{base}/chat/completions", self._chat_completions)
        app.router.add_get(f"{base}/models", self._list_models)
        app.router.add_get(f"{base}/models/{{model}}", self._get_model)
        app.router.add_route("*", "/{tail:.*}", _not_found)
        return app

    @web.middleware
    async def _record_and_authorize(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seq = next(self._seq)
        request[_SEQ] = seq
        raw = await request.read()
        try:
            body: Any = msgspec.json.decode(raw) if raw else None
        except msgspec.DecodeError:
            body = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,  # immutable already
            body=body,
            raw_body=raw,
            request_id=_request_id(seq),
        )
        if self.record:
            self.requests.append(record)
        request[_RECORD] = record
        denied = self._check_key(request)
        return denied if denied is not None else await handler(request)

    def _check_key(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        headers = request.headers
        bearer = headers.get("Authorization", "")
        offered = [
            bearer[7:].strip() if bearer[:7].lower() == "bearer " else "",
            headers.get("x-api-key", ""),
            headers.get("x-goog-api-key", ""),
        ]
        if any(hmac.compare_digest(key.encode(), self.api_key.encode()) for key in offered):
            return None
        if not any(offered):
            return _json_error(401, _NO_KEY, type="invalid_request_error")
        return _json_error(
            401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key"
        )

    async def _list_models(self, request: web.Request) -> web.Response:
        data = [_model_object(name) for name in self.model_ids]
        return web.json_response({"object": "list", "data": data}, dumps=_dumps)

    async def _get_model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name not in self.model_ids:
            return _json_error(
                404,
                f"The model '{name}' does not exist or you do not have access to it.",
                type="invalid_request_error",
                param="model",
                code="model_not_found",
            )
        return web.json_response(_model_object(name), dumps=_dumps)

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        record = request[_RECORD]
        if record.body is None and record.raw_body:
            return _json_error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
                type="invalid_request_error",
            )
        try:
            validate_chat_body(record.body)
        except InvalidRequestBody as exc:
            return _json_error(400, exc.message, type="invalid_request_error", param=exc.param)
        try:
            turn = await self._ask_model(record)
        except Exception as exc:
            self.errors.append(exc)
            message = f"The model raised {type(exc).__name__}: {exc}"
            return _json_error(500, message, type="server_error", code="model_error")
        return await self._answer(request, record, turn)

    async def _ask_model(self, record: RecordedRequest) -> Turn:
        turn = self.model.respond(record)
        if inspect.isawaitable(turn):
            turn = await turn
        if not isinstance(turn, _TURN_TYPES):
            raise TypeError(
                f"a model must return a Reply, Choices, RawResponse, Fault or Handler: {turn!r}"
            )
        return turn

    async def _answer(
        self, request: web.Request, record: RecordedRequest, turn: Turn
    ) -> web.StreamResponse:
        closing = self._closing
        assert closing is not None  # set by start(), before any request
        if isinstance(turn, Handler):
            return await run_handler(request, turn, closing)
        if isinstance(turn, RawResponse):
            await pause(closing, turn.delay)
            return await deliver_raw(request, turn, closing)
        fault = turn if isinstance(turn, Fault) else None
        replies = _replies(turn.reply if isinstance(turn, Fault) else turn, record.n)
        await pause(closing, max(r.delay for r in replies))
        events = render(replies, self._context(request, record))
        return await deliver(request, events, stream=record.stream, fault=fault, closing=closing)

    def _context(self, request: web.Request, record: RecordedRequest) -> WireContext:
        body = record.json
        options = body.get("stream_options")
        top = body.get("top_logprobs")
        seq = request[_SEQ]
        return WireContext(
            completion_id=f"chatcmpl-{seq:012x}",
            created=int(time.time()),
            model=record.model,
            stream=record.stream,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
            logprobs=body.get("logprobs") is True,
            top_logprobs=top if isinstance(top, int) and top > 0 else 1,
            prompt_tokens=prompt_tokens(record),
            call_prefix=f"call_{seq}",
        )


def _replies(turn: Reply | Choices, n: int) -> list[Reply]:
    """One reply per choice: the same reply `n` times, or the distinct replies of `Choices`."""
    if isinstance(turn, Choices):
        return list(turn.replies)
    return [turn] * n


def _request_id(seq: int) -> str:
    return f"req_{seq:012x}"


def _dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "asynctool"}


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    seq = request.get(_SEQ)
    if seq is not None:
        response.headers.setdefault("x-request-id", _request_id(seq))


async def _not_found(request: web.Request) -> web.Response:
    return _json_error(
        404, f"Invalid URL ({request.method} {request.path})", type="invalid_request_error"
    )
