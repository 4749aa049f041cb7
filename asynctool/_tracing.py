"""OpenTelemetry spans and metrics, when `opentelemetry-api` is installed; nothing otherwise.

asynctool reports through the global tracer and meter providers, as OpenTelemetry asks of
libraries: a span `chat {model}` (CLIENT) per request, `execute_tool {name}` per tool call,
`invoke_agent {name}` per run, and the histograms `gen_ai.client.operation.duration` and
`gen_ai.client.token.usage`. What each says is `_semconv`'s; this module decides when spans
start and end, and keeps the cost at nothing when nobody listens:

- `opentelemetry` is imported on the first request (`_otel`), never by `import asynctool`;
  when it is absent every hook returns at once.
- Each request asks once whether any SDK is configured (the global providers are still
  OpenTelemetry's proxies when none is). When none is, no span is made and no attribute
  computed, and a stream carries `None`: its chunks cost nothing more.
- A stream's span ends when the stream does: at its end, on its error, when it is closed, or
  when it is garbage-collected unread (a finalizer, made once per stream).

Context: a request's span is current while it is sent (so an HTTP instrumentation's spans and
the retry events land under it), never across a `yield`. The run's span is made current
around each step of the run, and taken off again before the step's event reaches the caller:
an async generator runs in its caller's context, so a span left current across `yield` would
become the parent of whatever the caller does between two events.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from . import _semconv as sc
from ._otel import Otel, api, status_text
from ._types import ChatCompletion

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from yarl import URL

    from ._request import ChatCompletionRequest
    from ._tools import Tool
    from ._types import ToolCall

__all__ = [
    "CURRENT_CHAT",
    "AgentTrace",
    "ChatTrace",
    "note_retry",
    "start_agent",
    "start_chat",
    "traced_tool",
]

T = TypeVar("T")

# The request being sent in this task: the transport reports its retries to it, and a
# response made meanwhile takes it along, so a stall of its stream is reported too.
CURRENT_CHAT: ContextVar[ChatTrace | None] = ContextVar("asynctool_chat_trace", default=None)


def start_chat(url: URL, request: ChatCompletionRequest) -> ChatTrace | None:
    """The trace of one request to `url`, or None when nothing would record it."""
    otel = api()
    if otel is None:
        return None
    tracing, measuring = otel.tracing(), otel.measuring()
    if not (tracing or measuring):
        return None
    return ChatTrace(otel, sc.endpoint_of(url), request, tracing=tracing)


def note_retry(attempt: int, error: Exception, delay: float) -> None:
    """Tell the request being sent that attempt `attempt` (0 for the first) failed with
    `error`, and the next one starts in `delay` seconds."""
    trace = CURRENT_CHAT.get()
    if trace is not None:
        trace.retrying(attempt, error, delay)


class ChatTrace:
    """The span and measurements of one request, from sending it to the end of its answer."""

    __slots__ = ("_capture", "_ended", "_first_data", "_metric", "_otel", "_started", "span")

    def __init__(
        self, otel: Otel, endpoint: sc.Endpoint, request: ChatCompletionRequest, *, tracing: bool
    ) -> None:
        self._otel = otel
        self._metric: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": endpoint.provider,
            "gen_ai.request.model": request.model,
            "server.address": endpoint.address,
        }
        if endpoint.port is not None:
            self._metric["server.port"] = endpoint.port
        self._capture = tracing and sc.capture_content()
        attributes: dict[str, Any] = {}
        if tracing:  # the attributes samplers may read are given at the start, as asked
            attributes = {**self._metric, **sc.request_attributes(request.__getattribute__)}
            if request.stream:
                attributes["gen_ai.request.stream"] = True
            if endpoint.provider == "openai" and request.service_tier not in (None, "auto"):
                attributes["openai.request.service_tier"] = request.service_tier
            if self._capture:
                messages = sc.input_messages(request.messages)
                attributes["gen_ai.input.messages"] = sc.content_json(messages)
        self.span: Span = otel.tracer.start_span(
            f"chat {request.model}", kind=otel.trace.SpanKind.CLIENT, attributes=attributes
        )
        self._started = time.perf_counter()
        self._first_data: float | None = None
        self._ended = False

    async def follow(self, exchange: Awaitable[T]) -> T:
        """Await the request's `exchange` (sending it, and reading a whole answer), with this
        span current; a whole answer ends the span, a stream takes it along."""
        token = CURRENT_CHAT.set(self)
        try:
            with self._otel.current(self.span):
                result = await exchange
        except BaseException as error:
            self.failed(error)
            raise
        finally:
            CURRENT_CHAT.reset(token)
        if isinstance(result, ChatCompletion):
            self.succeeded(result)
        else:  # a stream: ended by the stream, or here if it is dropped unread
            weakref.finalize(result, self.abandoned).atexit = False
        return result

    def retrying(self, attempt: int, error: Exception, delay: float) -> None:
        attributes: dict[str, Any] = {
            "asynctool.retry.attempt": attempt + 1,
            "asynctool.retry.delay": delay,
            **sc.error_attributes(error),
        }
        self.span.add_event("asynctool.retry", attributes)

    def first_data(self) -> None:
        """The first piece of a stream's body arrived."""
        if self._first_data is None:
            self._first_data = time.perf_counter()

    def stalled(self, idle: float | None) -> None:
        """No data came within the idle bound."""
        self.span.add_event("asynctool.stall", {"asynctool.timeout.idle": idle or 0.0})

    def succeeded(self, completion: ChatCompletion) -> None:
        if self._ended:
            return
        self._record_response(completion)
        self._end(completion, None)

    def failed(self, error: BaseException) -> None:
        """End with `error`; a stream's error carries what arrived before it."""
        if self._ended:
            return
        partial = getattr(error, "partial_completion", None)
        if isinstance(partial, ChatCompletion):
            self._record_partial("asynctool.partial_completion", partial)
        self.span.set_attributes(sc.error_attributes(error))
        self.span.set_status(self._otel.trace.StatusCode.ERROR, status_text(error))
        self._end(partial, error)

    def closed(self, snapshot: Callable[[], ChatCompletion]) -> None:
        """The caller closed the stream before it ended: not an error, but said."""
        if not self._ended:
            self._record_partial("asynctool.stream.closed", snapshot())
            self._end(None, None)

    def abandoned(self) -> None:
        if not self._ended:
            self.span.add_event("asynctool.stream.abandoned")
            self._end(None, None)

    def _record_response(self, completion: ChatCompletion) -> None:
        if not self.span.is_recording():
            return
        attributes = sc.response_attributes(completion, self._metric["gen_ai.provider.name"])
        if self._first_data is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = self._first_data - self._started
        if self._capture:
            attributes["gen_ai.output.messages"] = sc.content_json(sc.output_messages(completion))
        self.span.set_attributes(attributes)

    def _record_partial(self, event: str, partial: ChatCompletion) -> None:
        """What arrived of a stream that did not end well: on the span, and as an event."""
        self._record_response(partial)
        choices = partial.choices
        attributes: dict[str, Any] = {
            "asynctool.partial.choices": len(choices),
            "asynctool.partial.content_chars": sum(len(c.message.content or "") for c in choices),
            "asynctool.partial.tool_calls": sum(len(c.message.tool_calls or ()) for c in choices),
        }
        self.span.add_event(event, attributes)

    def _end(self, completion: ChatCompletion | None, error: BaseException | None) -> None:
        self._ended = True
        self.span.end()
        otel = self._otel
        if otel.duration is None or otel.tokens is None:  # pragma: no cover - set by start_chat
            return
        metric = self._metric
        if completion is not None and completion.model:
            metric = {**metric, "gen_ai.response.model": completion.model}
        failed = metric if error is None else {**metric, "error.type": type(error).__qualname__}
        otel.duration.record(time.perf_counter() - self._started, failed)
        usage = completion.usage if completion is not None else None
        if usage is not None:
            otel.tokens.record(usage.prompt_tokens, {**metric, "gen_ai.token.type": "input"})
            otel.tokens.record(usage.completion_tokens, {**metric, "gen_ai.token.type": "output"})


# ------------------------------------------------------------------------------ agent runs


def start_agent(name: str, model: str, url: URL, params: Callable[[str], Any]) -> AgentTrace | None:
    """The trace of one agent run, or None when no tracer provider is configured.

    `params(field)` gives the agent's request fields (temperature, ...) or None.
    """
    otel = api()
    if otel is None or not otel.tracing():
        return None
    endpoint = sc.endpoint_of(url)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": endpoint.provider,
        "gen_ai.agent.name": name,
        "gen_ai.request.model": model,
        **sc.request_attributes(params),
    }
    span = otel.tracer.start_span(
        f"invoke_agent {name}", kind=otel.trace.SpanKind.INTERNAL, attributes=attributes
    )
    return AgentTrace(otel, span)


class AgentTrace:
    """The span of one agent run: current around each step of the run, ended with it."""

    __slots__ = ("_capture", "_ended", "_otel", "span")

    def __init__(self, otel: Otel, span: Span) -> None:
        self._otel = otel
        self.span = span
        self._capture = sc.capture_content()
        self._ended = False

    async def follow(self, run: Awaitable[T]) -> T:
        """Await a whole run (`Agent.run`) under this span."""
        with self._otel.current(self.span):
            try:
                result = await run
            except BaseException as error:
                self.failed(error)
                raise
        self.succeeded(result)
        return result

    async def step(self, step: Awaitable[T]) -> T:
        """Await one step of a streamed run under this span; the caller's code between two
        steps runs in its own context."""
        with self._otel.current(self.span):
            try:
                return await step
            except StopAsyncIteration:
                self.closed()
                raise
            except BaseException as error:
                self.failed(error)
                raise

    def succeeded(self, result: Any) -> None:
        """End with the run's `RunResult`: its summed usage and its final answer."""
        if self._ended:
            return
        attributes = sc.usage_attributes(result.usage)
        attributes["asynctool.agent.turns"] = result.turns
        completion = result.completion
        if completion is not None:
            attributes["gen_ai.response.finish_reasons"] = [
                choice.finish_reason or "" for choice in completion.choices
            ]
            if self._capture:
                messages = sc.output_messages(completion)
                attributes["gen_ai.output.messages"] = sc.content_json(messages)
        if self._capture:
            inputs = sc.input_messages(result.messages)
            attributes["gen_ai.input.messages"] = sc.content_json(inputs)
        self.span.set_attributes(attributes)
        self._end()

    def failed(self, error: BaseException) -> None:
        if self._ended:
            return
        self.span.set_attributes(sc.error_attributes(error))
        self.span.set_status(self._otel.trace.StatusCode.ERROR, status_text(error))
        self._end()

    def closed(self) -> None:
        """The caller left the run before its end (or after it: then nothing is left)."""
        if not self._ended:
            self.span.add_event("asynctool.run.closed")
            self._end()

    def _end(self) -> None:
        self._ended = True
        self.span.end()


# ------------------------------------------------------------------------------ tool calls


async def traced_tool(
    call: ToolCall, tool: Tool[..., Any] | None, arguments: str | bytes, attempt: Awaitable[T]
) -> T:
    """Await a tool call's `attempt` inside an `execute_tool {name}` span, current for the
    call, so the tool's own spans are its children. `arguments` are those that run (a
    `before_tool_call` hook may have rewritten the model's)."""
    otel = api()
    if otel is None or not otel.tracing():
        return await attempt
    name = call.function.name
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
    }
    if call.id:
        attributes["gen_ai.tool.call.id"] = call.id
    if tool is not None and tool.description:
        attributes["gen_ai.tool.description"] = tool.description
    capture = sc.capture_content()
    if capture:
        text = arguments.decode() if isinstance(arguments, bytes) else arguments
        attributes["gen_ai.tool.call.arguments"] = text
    span = otel.tracer.start_span(
        f"execute_tool {name}", kind=otel.trace.SpanKind.INTERNAL, attributes=attributes
    )
    try:
        with otel.current(span):
            value = await attempt
    except BaseException as error:
        span.set_attributes(sc.error_attributes(error))
        span.set_status(otel.trace.StatusCode.ERROR, status_text(error))
        raise
    else:
        if capture:
            span.set_attribute("gen_ai.tool.call.result", sc.content_json(value))
        return value
    finally:
        span.end()
