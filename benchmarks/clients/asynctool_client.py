"""asynctool with default settings, used as API.md shows; `mode` picks what a stream does.

`iterate` counts the chunks of `create(stream=True)`; `final` does the same, then awaits
`get_final_completion()`; `agent` runs the agent scenario through `asynctool.Agent` rather than
the hand-written loop, and the latency scenario through `Agent.run_stream`; `eager` runs the
latency scenario with `Agent(..., eager_tools=True)`.

`otel` says how the process has OpenTelemetry while the client is open: `absent` (as if it were
not installed, whatever is), `api` (importable, no SDK configured: the global providers are
the API's proxies) or `sdk` (an SDK recording every span and metric into memory). The state is
put back when the client closes, since the smoke test runs every client in one process.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal, Self

import asynctool
import asynctool._otel
from benchmarks.clients import (
    API_KEY,
    INCLUDE_USAGE,
    LatencyTools,
    Reply,
    manual_agent,
    tally_completion,
)
from benchmarks.scenarios import AGENT_TOOL_NAME, LatencyRun, Tally

Mode = Literal["iterate", "final", "agent", "eager"]
Otel = Literal["absent", "api", "sdk"]


def missing(mode: Mode, otel: Otel = "absent") -> str | None:
    """Name the public API this mode needs that the installed asynctool lacks."""
    needed = ["AsyncClient"] + (["Agent", "tool"] if mode in ("agent", "eager") else [])
    absent = [name for name in needed if not hasattr(asynctool, name)]
    if absent:
        return f"asynctool.{', asynctool.'.join(absent)} not available yet"
    if mode == "eager" and (refused := _refuses_eager_tools()) is not None:
        return refused
    package = {"absent": None, "api": "opentelemetry.trace", "sdk": "opentelemetry.sdk"}[otel]
    if package is None:
        return None
    if not _importable(package):
        return f"{package} is not installed (pip install 'asynctool[otel]' opentelemetry-sdk)"
    # Imported here, in the zygote, as the library itself is: a service has imported it long
    # before its steady state (asynctool does at its first request; an SDK at start-up).
    # Imported in each measured child instead, at its warm-up, the import's few MB of fresh
    # heap shift glibc's trimming so that some children fault ~2,000 more pages per
    # 20,000-chunk stream (measured: a bimodal 1.2 / 1.4 µs per chunk, the same code path).
    importlib.import_module("asynctool._otel").api()
    if otel == "sdk":
        importlib.import_module("opentelemetry.sdk.trace")
        importlib.import_module("opentelemetry.sdk.metrics")
    return None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _refuses_eager_tools() -> str | None:
    """Why `Agent` will not take `eager_tools=True`, or None when it does. Building an agent
    makes no request (the client opens its session on first use), so nothing needs closing."""
    client = asynctool.AsyncClient(base_url="http://127.0.0.1:9/v1", api_key=API_KEY)
    try:
        asynctool.Agent(client, model="m", eager_tools=True)
    except Exception as exc:  # whatever it refuses with, the reason goes in the table
        return f"Agent refuses eager_tools=True: {type(exc).__name__}: {exc}"
    return None


class Client:
    """`asynctool.AsyncClient`, driven in one of three modes."""

    def __init__(self, base_url: str, *, mode: Mode, otel: Otel = "absent") -> None:
        self._client = asynctool.AsyncClient(base_url=base_url, api_key=API_KEY)
        self._mode = mode
        self._agent_tools = [_make_tool()] if mode == "agent" else []
        self._otel = otel
        self._otel_state = contextlib.ExitStack()

    async def __aenter__(self) -> Self:
        self._otel_state.enter_context(_opentelemetry(self._otel))
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()
        self._otel_state.close()

    async def stream(self, params: dict[str, Any]) -> Tally:
        """Count the chunks; in `final` mode also assemble the completion."""
        chunks = 0
        stream = await self._client.chat.completions.create(
            **params, stream=True, stream_options=INCLUDE_USAGE
        )
        async with stream:
            async for _chunk in stream:
                chunks += 1
            if self._mode != "final":
                return Tally(chunks=chunks)
            completion = await stream.get_final_completion()
        tally = tally_completion(completion)
        tally.chunks = chunks
        return tally

    async def request(self, params: dict[str, Any]) -> Tally:
        """One non-stream `create`."""
        completion = await self._client.chat.completions.create(**params)
        return Tally(requests=1, content_chars=len(completion.choices[0].message.content or ""))

    async def agent(self, params: dict[str, Any], max_turns: int) -> Tally:
        """`asynctool.Agent` in `agent` mode, else the same hand-written loop as the others."""
        if self._mode != "agent":
            return await self._manual_agent(params, max_turns)
        agent: asynctool.Agent[Any] = asynctool.Agent(
            self._client, model=params["model"], tools=self._agent_tools, max_turns=max_turns
        )
        result = await agent.run(params["messages"])
        return Tally(requests=sum(map(_is_assistant, result.messages)))

    async def latency(self, params: dict[str, Any], tools: LatencyTools) -> LatencyRun:
        """`Agent.run_stream`, eagerly in `eager` mode: each `ToolResult` and the answer are
        noted as the events arrive."""
        options = {"eager_tools": True} if self._mode == "eager" else {}
        agent = asynctool.Agent(
            self._client, model=params["model"], tools=tools.functions(), **options
        )
        tools.start()
        async with agent.run_stream(params["messages"]) as events:
            async for event in events:
                if isinstance(event, asynctool.ToolResult):
                    tools.result_seen()
                elif isinstance(event, asynctool.RunCompleted):
                    tools.answered(event.result.output)
        return tools.run

    async def _manual_agent(self, params: dict[str, Any], max_turns: int) -> Tally:
        async def complete(messages: list[dict[str, Any]]) -> Reply:
            completion = await self._client.chat.completions.create(
                **{**params, "messages": messages}
            )
            message = completion.choices[0].message
            calls = [
                (c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()
            ]
            return Reply(message.content, calls)

        return await manual_agent(complete, params, max_turns)


@contextlib.contextmanager
def _opentelemetry(otel: Otel) -> Iterator[None]:
    """The process's OpenTelemetry as `otel` says, for the block."""
    tracing = asynctool._otel
    if otel == "absent":  # what asynctool decides when `import opentelemetry` fails
        saved = tracing._OTEL, tracing._ABSENT
        tracing._OTEL, tracing._ABSENT = None, True
        try:
            yield
        finally:
            tracing._OTEL, tracing._ABSENT = saved
        return
    if otel == "api":
        from opentelemetry import trace

        assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        yield
        return
    with _recording_sdk():
        yield


@contextlib.contextmanager
def _recording_sdk() -> Iterator[None]:
    """An SDK as the global providers: spans exported at their end into memory (no thread),
    metrics kept by an in-memory reader."""
    from opentelemetry import trace
    from opentelemetry.metrics import _internal as metrics_internal
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = TracerProvider(shutdown_on_exit=False)
    spans.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    saved = trace._TRACER_PROVIDER, metrics_internal._METER_PROVIDER
    trace._TRACER_PROVIDER, metrics_internal._METER_PROVIDER = spans, meters
    try:
        yield
    finally:
        trace._TRACER_PROVIDER, metrics_internal._METER_PROVIDER = saved
        spans.shutdown()
        meters.shutdown()


def _is_assistant(message: Any) -> bool:
    """Messages are structs tagged on `role` (which is then no attribute), or plain dicts."""
    if isinstance(message, dict):
        return message.get("role") == "assistant"
    return isinstance(message, asynctool.AssistantMessage)


def _make_tool() -> Any:
    """The agent scenario's tool, built only when `asynctool.tool` exists."""

    async def add_numbers(a: int, b: int) -> str:
        """Add two integers.

        Args:
            a: The first addend.
            b: The second addend.
        """
        return str(a + b)

    return asynctool.tool(name=AGENT_TOOL_NAME)(add_numbers)
