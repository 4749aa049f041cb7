"""OpenTelemetry: the spans and metrics of requests, streams, tool calls and agent runs.

Every test runs against a real server on 127.0.0.1 (`serving()`, with `reply()` where
exact bytes matter) and reads what OpenTelemetry's own SDK recorded: its InMemorySpanExporter
and InMemoryMetricReader. Names and attributes are those of the semantic conventions for
generative AI, v1.41.0:
https://github.com/open-telemetry/semantic-conventions/blob/v1.41.0/docs/gen-ai/gen-ai-spans.md
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode
from yarl import URL

from asynctool import (
    Agent,
    APITimeoutError,
    Approve,
    AsyncClient,
    AuthenticationError,
    Defer,
    IncompleteStreamError,
    InvalidRequestError,
    Timeout,
    ToolCall,
    ToolContext,
    tool,
)
from asynctool._semconv import CAPTURE_ENV, endpoint_of
from asynctool.testing import (
    Usage,
    call,
    drop_after,
    stall,
    status,
    text,
    tool_calls,
)

from .conftest import reply, serving

KEY = "sk-tracing-test-0123456789abcdef"


@dataclass
class Recorded:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for found in scope.metrics
            if found.name == metric
            for point in found.data.data_points
        ]


@pytest.fixture
def otel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    """An SDK with in-memory exporters, as the global providers for this test only (set the
    way `set_tracer_provider` sets them, and put back afterwards)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER", meters)
    monkeypatch.delenv(CAPTURE_ENV, raising=False)
    yield Recorded(exporter, reader, provider)
    provider.shutdown()
    meters.shutdown()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def everything_recorded(recorded: Recorded) -> str:
    """Every name, attribute, event, link and status text of every span, and every metric
    attribute, as one text to search."""
    parts: list[str] = []
    for span in recorded.spans():
        parts += [span.name, repr(dict(span.attributes or {})), str(span.status.description)]
        for event in span.events:
            parts += [event.name, repr(dict(event.attributes or {}))]
        parts.append(repr(dict(span.resource.attributes)))
    data = recorded.reader.get_metrics_data()
    assert data is not None
    parts.append(data.to_json())
    return "\n".join(parts)


# ------------------------------------------------------------------------------ requests


async def test_a_plain_request_is_one_client_span_with_the_conventions_attributes(
    otel: Recorded,
) -> None:
    usage = Usage(prompt_tokens=11, completion_tokens=3, total_tokens=14)
    async with serving(text("Hello there.", usage=usage)) as (server, client):
        completion = await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "Hi"}],
            temperature=0.2,
            top_p=0.9,
            max_tokens=50,
            stop="END",
            seed=7,
        )
    assert server.requests[0].json["temperature"] == 0.2  # what was traced is what was sent
    span = otel.span("chat gpt-test")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    got = attrs(span)
    port = URL(server.base_url).port
    assert got == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",  # 127.0.0.1 speaks OpenAI's API
        "gen_ai.request.model": "gpt-test",
        "server.address": "127.0.0.1",
        "server.port": port,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.seed": 7,
        "gen_ai.response.id": completion.id,
        "gen_ai.response.model": completion.model,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 3,
        "openai.api.type": "chat_completions",
        "openai.response.system_fingerprint": completion.system_fingerprint,
        "openai.response.service_tier": completion.service_tier,
    }
    assert "gen_ai.input.messages" not in got  # content only when asked for


async def test_a_request_records_both_histograms(otel: Recorded) -> None:
    usage = Usage(prompt_tokens=11, completion_tokens=3, total_tokens=14)
    async with serving(text("Hello.", usage=usage)) as (_, client):
        completion = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}]
        )
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.sum > 0
    assert duration.attributes["gen_ai.operation.name"] == "chat"
    assert duration.attributes["gen_ai.response.model"] == completion.model
    assert "error.type" not in duration.attributes
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum for p in otel.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": 11, "output": 3}
    # The conventions' advised boundaries (gen-ai-metrics.md).
    assert list(duration.explicit_bounds)[:3] == [0.01, 0.02, 0.04]


async def test_a_streamed_request_s_span_ends_when_its_stream_ends(otel: Recorded) -> None:
    # A pause after the first events, so the stream is not read whole by the first read.
    async with serving(stall(after=2, seconds=0.05, reply=text("one two three"))) as (_, client):
        stream = await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            first = await stream.__anext__()
            assert first is not None
            assert otel.spans() == []  # still open while the stream is read
            async for _ in stream:
                pass
            assert len(otel.spans()) == 1  # ended by the stream's end, before leaving
            completion = await stream.get_final_completion()
    span = otel.span("chat gpt-test")
    got = attrs(span)
    assert got["gen_ai.request.stream"] is True
    assert got["gen_ai.response.finish_reasons"] == ("stop",)
    assert got["gen_ai.response.id"] == completion.id
    assert completion.usage is not None
    assert got["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert 0 < got["gen_ai.response.time_to_first_chunk"]
    assert span.end_time is not None and span.start_time is not None
    assert got["gen_ai.response.time_to_first_chunk"] <= (span.end_time - span.start_time) / 1e9


async def test_stream_helper_and_parse_are_traced_too(otel: Recorded) -> None:
    async with serving(text("hi"), text('{"n": 1}')) as (_, client):
        async with client.chat.completions.stream(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            await stream.get_final_completion()

        @dataclass
        class N:
            n: int

        parsed = await client.chat.completions.parse(
            model="gpt-json", messages=[{"role": "user", "content": "n?"}], response_format=N
        )
    assert parsed.choices[0].message.parsed == N(n=1)
    assert attrs(otel.span("chat gpt-test"))["gen_ai.request.stream"] is True
    assert attrs(otel.span("chat gpt-json"))["gen_ai.output.type"] == "json"


async def test_a_stream_closed_early_ends_its_span_and_says_so(otel: Recorded) -> None:
    async with serving(stall(after=3)) as (_, client):
        stream = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        async with stream:
            await stream.__anext__()
            await stream.__anext__()
    span = otel.span("chat gpt-test")
    assert span.status.status_code is StatusCode.UNSET
    [event] = [e for e in span.events if e.name == "asynctool.stream.closed"]
    assert event.attributes is not None and event.attributes["asynctool.partial.choices"] == 1


async def test_a_stream_dropped_unread_ends_its_span_when_collected(otel: Recorded) -> None:
    async with serving(stall(after=3), stall(after=3)) as (_, client):
        stream = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        await stream.__anext__()
        await stream.close()  # the connection goes back; the span is already ended by close
        assert len(otel.spans()) == 1
        stream = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        response = stream._response
        del stream
        gc.collect()
        response.close()
    names = [e.name for s in otel.spans() for e in s.events]
    assert names == ["asynctool.stream.closed", "asynctool.stream.abandoned"]


async def test_a_retry_is_an_event_of_the_one_span(otel: Recorded) -> None:
    async with serving(status(503), text("ok"), max_retries=1) as (server, client):
        await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}]
        )
    assert len(server.requests) == 2
    span = otel.span("chat gpt-test")
    [event] = span.events
    assert event.name == "asynctool.retry"
    assert event.attributes is not None
    assert event.attributes["asynctool.retry.attempt"] == 1
    assert event.attributes["http.response.status_code"] == 503
    assert event.attributes["error.type"] == "InternalServerError"
    assert event.attributes["asynctool.retry.delay"] > 0
    assert span.status.status_code is StatusCode.UNSET  # the second attempt answered


async def test_a_401_is_an_error_span_and_an_error_duration(otel: Recorded) -> None:
    async with serving(status(401), api_key=KEY) as (server, client):
        with pytest.raises(AuthenticationError):
            await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "Hi"}]
            )
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    span = otel.span("chat gpt-test")
    assert span.status.status_code is StatusCode.ERROR
    assert "Incorrect API key" in str(span.status.description)
    assert attrs(span)["error.type"] == "AuthenticationError"
    assert attrs(span)["http.response.status_code"] == 401
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "AuthenticationError"
    assert otel.points("gen_ai.client.token.usage") == []  # no usage came
    assert KEY not in everything_recorded(otel)


async def test_the_key_is_in_no_span_even_when_the_server_echoes_it(
    otel: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A gateway that repeats the rejected key in its error (the transport redacts it).
    monkeypatch.setenv(CAPTURE_ENV, "true")
    body = {"error": {"message": f"Key {KEY} is not valid", "type": "invalid_request_error"}}
    async with serving(reply(body, status=401), api_key=KEY, max_retries=0) as (server, client):
        with pytest.raises(AuthenticationError):
            await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "Hi"}]
            )
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    recorded = everything_recorded(otel)
    assert "chat gpt-test" in recorded and "is not valid" in recorded
    assert KEY not in recorded


async def test_a_dropped_stream_is_an_error_with_its_partial_completion(otel: Recorded) -> None:
    async with serving(drop_after(-20)) as (_, client):
        stream = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        with pytest.raises(IncompleteStreamError) as raised:
            async with stream:
                async for _ in stream:
                    pass
    partial = raised.value.partial_completion
    assert partial is not None
    span = otel.span("chat gpt-test")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "IncompleteStreamError"
    [event] = [e for e in span.events if e.name == "asynctool.partial_completion"]
    assert event.attributes is not None
    chars = len(partial.choices[0].message.content or "")
    assert event.attributes["asynctool.partial.content_chars"] == chars > 0
    assert attrs(span)["gen_ai.response.id"] == partial.id


async def test_a_stall_is_an_event_before_the_timeout(otel: Recorded) -> None:
    async with serving(stall(after=2), timeout=Timeout(idle=0.1)) as (_, client):
        stream = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        with pytest.raises(APITimeoutError):
            async with stream:
                async for _ in stream:
                    pass
    span = otel.span("chat gpt-test")
    names = [e.name for e in span.events]
    assert names == ["asynctool.stall", "asynctool.partial_completion"]
    assert span.events[0].attributes == {"asynctool.timeout.idle": 0.1}
    assert attrs(span)["error.type"] == "APITimeoutError"


async def test_provider_extension_usage_becomes_attributes(otel: Recorded) -> None:
    # OpenRouter's usage: `cost` in credits and `prompt_tokens_details.cache_write_tokens`
    # (https://openrouter.ai/docs/use-cases/usage-accounting); OpenAI's cached tokens and
    # reasoning tokens (https://platform.openai.com/docs/api-reference/chat/object).
    body = {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": "anthropic/claude",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30},
            "completion_tokens_details": {"reasoning_tokens": 12},
            "cost": 0.00042,
        },
    }
    async with serving(reply(body), api_key=KEY) as (_, client):
        await client.chat.completions.create(
            model="anthropic/claude", messages=[{"role": "user", "content": "Hi"}]
        )
    got = attrs(otel.span("chat anthropic/claude"))
    assert got["gen_ai.usage.input_tokens"] == 100
    assert got["gen_ai.usage.cache_read.input_tokens"] == 60
    assert got["gen_ai.usage.cache_creation.input_tokens"] == 30
    assert got["gen_ai.usage.reasoning.output_tokens"] == 12
    assert got["asynctool.usage.cost"] == 0.00042


def test_deepseek_cache_hits_are_cache_reads() -> None:
    # DeepSeek reports its prompt cache in usage.prompt_cache_hit_tokens / _miss_tokens
    # (https://api-docs.deepseek.com/guides/kv_cache), not OpenAI's cached_tokens.
    from asynctool._semconv import usage_attributes

    usage = msgspec.convert(
        {
            "prompt_tokens": 90,
            "completion_tokens": 5,
            "total_tokens": 95,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 26,
        },
        Usage,
    )
    assert usage_attributes(usage) == {
        "gen_ai.usage.input_tokens": 90,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": 64,
    }


def test_the_provider_comes_from_the_base_url_host() -> None:
    def provider(url: str) -> str:
        return endpoint_of(URL(url)).provider

    assert provider("https://api.openai.com/v1") == "openai"
    assert provider("https://my-res.openai.azure.com/openai/v1") == "azure.ai.openai"
    assert provider("https://generativelanguage.googleapis.com/v1beta/openai/") == "gcp.gemini"
    assert provider("https://us-central1-aiplatform.googleapis.com/v1/x") == "gcp.vertex_ai"
    assert provider("https://api.groq.com/openai/v1") == "groq"
    assert provider("https://api.deepseek.com") == "deepseek"
    assert provider("https://api.mistral.ai/v1") == "mistral_ai"
    assert provider("https://api.x.ai/v1") == "x_ai"
    assert provider("https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1") == "aws.bedrock"
    assert provider("https://runtime.sagemaker.us-west-2.amazonaws.com/v1") == "openai"
    assert provider("http://localhost:8080/v1") == "openai"
    assert provider("https://notapi.groq.com.example/v1") == "openai"  # suffixes, not substrings
    assert endpoint_of(URL("https://api.openai.com/v1")).port == 443


# ------------------------------------------------------------------------------ agents


def _barrier(count: int) -> tuple[Any, list[str]]:
    """Tools that each wait until all `count` have started: they can only finish if they
    ran at the same time."""
    started: list[str] = []
    everyone = asyncio.Event()

    async def arrive(name: str) -> None:
        started.append(name)
        if len(started) == count:
            everyone.set()
        await everyone.wait()

    return arrive, started


async def test_an_agent_run_is_the_parent_of_its_requests_and_parallel_tools(
    otel: Recorded,
) -> None:
    arrive, started = _barrier(2)

    @tool
    async def get_weather(location: str) -> str:
        """Weather.

        Args:
            location: The city.
        """
        await arrive(location)
        return f"{location}: sunny"

    turns = (
        tool_calls(
            call("get_weather", {"location": "Paris"}), call("get_weather", {"location": "Oslo"})
        ),
        text("Both sunny."),
    )
    tracer = otel.provider.get_tracer("caller")
    async with serving(*turns) as (server, client):
        agent = Agent(client, model="gpt-test", tools=[get_weather], name="weather", temperature=0)
        with tracer.start_as_current_span("caller") as caller:
            result = await agent.run("Weather in Paris and Oslo?")
    assert result.output == "Both sunny." and sorted(started) == ["Oslo", "Paris"]
    assert server.requests[0].json["temperature"] == 0
    run = otel.span("invoke_agent weather")
    assert run.kind is SpanKind.INTERNAL
    assert parent_of(run) == caller.get_span_context().span_id
    chats = [s for s in otel.spans() if s.name == "chat gpt-test"]
    tools = [s for s in otel.spans() if s.name == "execute_tool get_weather"]
    assert len(chats) == 2 and len(tools) == 2
    assert {parent_of(s) for s in chats + tools} == {span_id(run)}
    assert {attrs(s)["gen_ai.tool.call.id"] for s in tools} == {
        c.id
        for c in result.messages[1].tool_calls  # type: ignore[union-attr]
    }
    assert all(attrs(s)["gen_ai.tool.description"] == "Weather." for s in tools)
    got = attrs(run)
    assert got["gen_ai.operation.name"] == "invoke_agent"
    assert got["gen_ai.agent.name"] == "weather"
    assert got["gen_ai.provider.name"] == "openai"
    assert got["gen_ai.request.model"] == "gpt-test"
    assert got["gen_ai.request.temperature"] == 0
    assert got["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens > 0
    assert got["gen_ai.response.finish_reasons"] == ("stop",)
    assert got["asynctool.agent.turns"] == 2


async def test_a_streamed_run_parents_its_spans_and_not_the_caller_s(otel: Recorded) -> None:
    tracer = otel.provider.get_tracer("caller")

    @tool
    async def add(a: int, b: int) -> int:
        """Add.

        Args:
            a: One.
            b: Two.
        """
        with tracer.start_as_current_span("inside the tool"):
            return a + b

    turns = (tool_calls(call("add", {"a": 1, "b": 2})), text("3"))
    async with serving(*turns) as (_, client):
        agent = Agent(client, model="gpt-test", tools=[add])
        with tracer.start_as_current_span("outer") as outer:
            async with agent.run_stream("1+2?") as events:
                async for _event in events:
                    # The caller's own work between two events is the caller's, not the run's.
                    with tracer.start_as_current_span("between"):
                        await asyncio.sleep(0)
            assert trace.get_current_span() is outer
        assert events.result is not None and events.result.output == "3"
    run = otel.span("invoke_agent asynctool")
    assert parent_of(run) == outer.get_span_context().span_id
    children = [s for s in otel.spans() if s.name in ("chat gpt-test", "execute_tool add")]
    assert len(children) == 3 and {parent_of(s) for s in children} == {span_id(run)}
    # The tool's own span is a child of its execute_tool span.
    assert parent_of(otel.span("inside the tool")) == span_id(otel.span("execute_tool add"))
    between = [s for s in otel.spans() if s.name == "between"]
    assert between and {parent_of(s) for s in between} == {outer.get_span_context().span_id}
    assert attrs(run)["asynctool.agent.turns"] == 2


async def test_an_eager_streamed_run_parents_the_tools_started_mid_stream(
    otel: Recorded,
) -> None:
    # With eager_tools a call starts while the stream is still read, in the turn's worker
    # task: its span must still be a child of the run's, and begin before the request's ends.
    arrive, started = _barrier(2)

    @tool
    async def get_weather(location: str) -> str:
        """Weather.

        Args:
            location: The city.
        """
        await arrive(location)
        return f"{location}: sunny"

    turns = (
        tool_calls(
            call("get_weather", {"location": "Paris"}), call("get_weather", {"location": "Oslo"})
        ),
        text("Both sunny."),
    )
    async with serving(*turns) as (_, client):
        agent = Agent(client, model="gpt-test", tools=[get_weather], eager_tools=True)
        async with agent.run_stream("Weather?") as events:
            async for _event in events:
                pass
    assert events.result is not None and sorted(started) == ["Oslo", "Paris"]
    run = otel.span("invoke_agent asynctool")
    chats = [s for s in otel.spans() if s.name == "chat gpt-test"]
    tools = [s for s in otel.spans() if s.name == "execute_tool get_weather"]
    assert len(chats) == 2 and len(tools) == 2
    assert {parent_of(s) for s in chats + tools} == {span_id(run)}


async def test_a_paused_run_and_its_resumption_are_two_runs(otel: Recorded) -> None:
    @tool
    def refund(order: str) -> str:
        """Refund an order.

        Args:
            order: The order id.
        """
        return f"refunded {order}"

    async def ask_a_person(call: ToolCall, context: ToolContext[Any]) -> Defer | None:
        return Defer("a manager approves refunds")

    turns = (tool_calls(call("refund", {"order": "7"}, id="c1")), text("Done."))
    async with serving(*turns) as (_, client):
        agent = Agent(client, model="gpt-test", tools=[refund], before_tool_call=ask_a_person)
        paused = (await agent.run("Refund 7")).paused
        assert paused is not None
        result = await agent.resume(paused, {"c1": Approve()})
    assert result.output == "Done."
    runs = [s for s in otel.spans() if s.name == "invoke_agent asynctool"]
    assert len(runs) == 2 and all(parent_of(s) is None for s in runs)
    (tool_span,) = [s for s in otel.spans() if s.name == "execute_tool refund"]
    assert parent_of(tool_span) == span_id(runs[1])  # the tool ran in the resumed run


async def test_a_streamed_run_left_early_ends_its_span(otel: Recorded) -> None:
    async with serving(text("one two three")) as (_, client):
        agent = Agent(client, model="gpt-test")
        async with agent.run_stream("Hi") as events:
            await events.__anext__()
    run = otel.span("invoke_agent asynctool")
    assert [e.name for e in run.events] == ["asynctool.run.closed"]
    assert run.status.status_code is StatusCode.UNSET


async def test_a_raising_tool_is_an_error_span_and_the_run_goes_on(otel: Recorded) -> None:
    @tool
    async def explode() -> str:
        """Fail."""
        raise ValueError("the tool broke")

    async with serving(tool_calls(call("explode", {})), text("sorry")) as (server, client):
        result = await Agent(client, model="gpt-test", tools=[explode]).run("go")
    assert result.output == "sorry"
    assert "the tool broke" in server.requests[1].messages[-1]["content"]
    span = otel.span("execute_tool explode")
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "ValueError"
    assert "the tool broke" in str(span.status.description)
    assert otel.span("invoke_agent asynctool").status.status_code is StatusCode.UNSET


async def test_a_failed_run_is_an_error_span(otel: Recorded) -> None:
    async with serving(status(401)) as (_, client):
        with pytest.raises(AuthenticationError):
            await Agent(client, model="gpt-test").run("Hi")
    run = otel.span("invoke_agent asynctool")
    assert run.status.status_code is StatusCode.ERROR
    assert attrs(run)["error.type"] == "AuthenticationError"
    assert parent_of(otel.span("chat gpt-test")) == span_id(run)


def test_an_agent_name_must_be_a_non_empty_string() -> None:
    client = AsyncClient(base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidRequestError, match="name"):
        Agent(client, model="m", name="")


# ------------------------------------------------------------------------------ content


async def _run_with_a_tool(key: str = KEY) -> None:
    @tool
    async def lookup(city: str) -> dict[str, int]:
        """Look up.

        Args:
            city: The city.
        """
        return {"population": 2_100_000}

    turns = (tool_calls(call("lookup", {"city": "Paris"})), text("About two million."))
    async with serving(*turns, api_key=key) as (_, client):
        agent = Agent(client, model="gpt-test", tools=[lookup], instructions="Be brief.")
        await agent.run("How many people live in Paris?")


async def test_content_is_recorded_when_asked_for(
    otel: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_ENV, "SPAN_ONLY")
    await _run_with_a_tool()
    first, second = [s for s in otel.spans() if s.name == "chat gpt-test"]
    inputs = json.loads(attrs(first)["gen_ai.input.messages"])
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "How many people live in Paris?"}]},
    ]
    [output] = json.loads(attrs(first)["gen_ai.output.messages"])
    assert output["finish_reason"] == "tool_calls"
    [part] = output["parts"]
    assert part["type"] == "tool_call" and part["arguments"] == {"city": "Paris"}
    answer = json.loads(attrs(second)["gen_ai.input.messages"])[-1]
    assert answer == {
        "role": "tool",
        "parts": [
            {"type": "tool_call_response", "id": part["id"], "response": '{"population":2100000}'}
        ],
    }
    looked_up = attrs(otel.span("execute_tool lookup"))
    assert json.loads(looked_up["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert json.loads(looked_up["gen_ai.tool.call.result"]) == {"population": 2100000}
    run = attrs(otel.span("invoke_agent asynctool"))
    assert json.loads(run["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "About two million."}
    ]
    assert KEY not in everything_recorded(otel)


@pytest.mark.parametrize("setting", [None, "false", "NO_CONTENT", "EVENT_ONLY"])
async def test_content_is_not_recorded_otherwise(
    otel: Recorded, monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    if setting is not None:
        monkeypatch.setenv(CAPTURE_ENV, setting)
    await _run_with_a_tool()
    recorded = everything_recorded(otel)
    assert len(otel.spans()) == 4
    for word in ("Paris", "Be brief", "two million", "2100000", "gen_ai.input.messages"):
        assert word not in recorded
    assert KEY not in recorded


# ------------------------------------------------------------------------------ cost


async def test_without_an_sdk_nothing_is_made_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # The API installed, no provider set: the decision is made once per request, and a
    # stream carries no trace, so its chunks cost nothing more.
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER", None)
    async with serving(text("one two")) as (_, client):
        stream = await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        async with stream:
            assert stream._trace is None and stream._response.trace is None
            assert (await stream.get_final_completion()).choices[0].message.content == "one two"


async def test_a_streamed_run_that_fails_is_an_error_span(otel: Recorded) -> None:
    async with serving(status(401)) as (_, client):
        with pytest.raises(AuthenticationError):
            async with Agent(client, model="gpt-test").run_stream("Hi") as events:
                async for _ in events:
                    pass
    run = otel.span("invoke_agent asynctool")
    assert attrs(run)["error.type"] == "AuthenticationError"
    assert run.status.status_code is StatusCode.ERROR


async def test_request_fields_without_an_attribute_of_their_own_are_mapped(
    otel: Recorded,
) -> None:
    async with serving(text("a"), text("b")) as (_, client):
        await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "Hi"}],
            n=2,
            service_tier="flex",
            max_completion_tokens=9,
            frequency_penalty=0.5,
            presence_penalty=0.25,
            response_format={"type": "text"},
        )
    got = attrs(otel.span("chat gpt-test"))
    assert got["gen_ai.request.choice.count"] == 2
    assert got["openai.request.service_tier"] == "flex"
    assert got["gen_ai.request.max_tokens"] == 9
    assert got["gen_ai.request.frequency_penalty"] == 0.5
    assert got["gen_ai.request.presence_penalty"] == 0.25
    assert "gen_ai.output.type" not in got  # plain text is no output type


async def test_metrics_alone_are_recorded_without_a_tracer_provider(
    otel: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    async with serving(text("Hello.")) as (_, client):
        await client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "Hi"}]
        )
    assert otel.spans() == []
    [duration] = otel.points("gen_ai.client.operation.duration")
    assert duration.attributes["gen_ai.request.model"] == "gpt-test"


def test_messages_in_the_conventions_schema() -> None:
    # The input and output message schemas of the conventions (v1.41.0,
    # docs/gen-ai/gen-ai-input-messages.json): a role and typed parts per message.
    from asynctool import ChatCompletion
    from asynctool._semconv import content_json, input_messages, output_messages

    messages = [
        {
            "role": "user",
            "name": "ada",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Look first.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    assert input_messages(messages) == [
        {
            "role": "user",
            "name": "ada",
            "parts": [
                {"type": "text", "content": "What is this?"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
                {"type": "input_audio"},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Look first."},
                {"type": "tool_call", "id": "c1", "name": "f", "arguments": "{oops"},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "done"}]},
    ]
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "refusal": "No."}}]}
    refused = msgspec.convert(body, ChatCompletion)
    assert output_messages(refused) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "No."}], "finish_reason": ""}
    ]
    assert content_json(object) == json.dumps(str(object))  # not JSON: its text


async def test_a_call_of_an_unknown_tool_is_an_error_span(otel: Recorded) -> None:
    async with serving(tool_calls(call("nowhere", {})), text("ok")) as (_, client):
        await Agent(client, model="gpt-test").run("go")
    span = otel.span("execute_tool nowhere")
    assert attrs(span)["error.type"] == "UnknownToolError"
    assert "gen_ai.tool.description" not in attrs(span)
