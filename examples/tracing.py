"""Tracing: an agent run's OpenTelemetry spans, printed as a tree through the console exporter.

asynctool reports through the global tracer provider (`pip install 'asynctool[otel]'` and an
SDK, `pip install opentelemetry-sdk`). Here the SDK's `ConsoleSpanExporter` prints a line per
span as it ends, then the run's tree: `invoke_agent`, its `chat` requests, and its two
`execute_tool` calls, run at once. `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`
adds the messages to the spans.
"""

import asyncio
import os

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from asynctool import Agent, AsyncClient, tool
from asynctool.demo import run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
SHOWN = ("gen_ai.tool.call.id", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")
ended: list[ReadableSpan] = []


def one_line(span: ReadableSpan) -> str:
    """What the console exporter prints of a span (by default, a page of JSON)."""
    ended.append(span)
    return f"ended: {span.name} ({span.kind.name})\n"


@tool
async def get_weather(location: str) -> str:
    """Get the current weather in a given location.

    Args:
        location: The city, e.g. Paris.
    """
    await asyncio.sleep(0.05)
    return f"{location}: 18 °C, clear (sample data)"


def tree(spans: list[ReadableSpan], parent: int | None = None, depth: int = 0) -> list[str]:
    """The spans under `parent`, indented, each level in the order they started."""
    lines = []
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        if (span.parent.span_id if span.parent else None) != parent or span.context is None:
            continue
        shown = {k: v for k, v in (span.attributes or {}).items() if k in SHOWN}
        lines.append(f"{'  ' * depth}{span.name} {shown or ''}".rstrip())
        lines += tree(spans, span.context.span_id, depth + 1)
    return lines


async def main(base_url: str | None = None) -> list[str]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
    trace.set_tracer_provider(provider)
    async with AsyncClient(base_url) as client:
        agent = Agent(client, model=MODEL, tools=[get_weather], name="weather")
        result = await agent.run("What's the weather in Paris and in Tokyo?")
    lines = tree(ended)
    print("\nThe run's span tree:", *lines, "", result.output, sep="\n")
    return lines


if __name__ == "__main__":
    run_example(main)
