"""Streaming events: `agent.run_stream()` tells what happens while it happens.

Per turn: `ToolCallStarted` as soon as the model starts writing a call, then its arguments as
they stream (`ToolCallArgumentsDelta`), `ToolCallReady` once they are whole, `ToolResult` as
each call finishes (with its duration: the local clock answers before the delivery service,
though it was asked second), `TurnCompleted` with the turn's usage, `TextDelta`s as the answer
is written (and `ReasoningDelta`s, from a model that streams its reasoning), and `RunCompleted`
at the end. With `eager_tools=True` a call runs as soon as the model begins the next one, while
the rest of the answer still streams. Leaving the `async with` block early cancels running
tools and closes the response.
"""

import os

from asynctool import (
    AsyncClient,
    ReasoningDelta,
    RunCompleted,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
)
from asynctool.demo import build_agent, run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
QUESTION = "When will order_12345 arrive, and what time is it in Tokyo?"


async def main(base_url: str | None = None) -> list[str]:
    seen: list[str] = []
    line_open = False  # fragments are being written on the current line
    async with AsyncClient(base_url) as client:
        agent = build_agent(client, MODEL, eager_tools=True)
        async with agent.run_stream(QUESTION) as events:
            async for event in events:
                seen.append(type(event).__name__)
                fragment = isinstance(event, ToolCallArgumentsDelta | TextDelta | ReasoningDelta)
                if line_open and not fragment:
                    print()
                line_open = fragment or isinstance(event, ToolCallStarted)
                match event:
                    case ToolCallStarted(name=name, turn=turn):
                        print(f"[turn {turn}] the model writes a call to {name}: ", end="")
                    case ToolCallArgumentsDelta(delta=text) | ReasoningDelta(text=text):
                        print(text, end="", flush=True)
                    case TextDelta(text=text):
                        print(text, end="", flush=True)
                    case ToolCallReady(call=call):
                        print(f"  running {call.function.name}")
                    case ToolResult(call=call, content=content, duration=duration):
                        name = call.function.name
                        print(f"  {name} returned after {duration:.2f} s: {content}")
                    case TurnCompleted(turn=turn, usage=usage):
                        print(f"[turn {turn}] reply complete, {usage.total_tokens} tokens")
                    case RunCompleted(result=result):
                        print(f"[run complete: {result.turns} turns]")
    return seen


if __name__ == "__main__":
    run_example(main)
