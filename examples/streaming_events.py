"""Streaming events: `agent.run_stream()` tells what happens while it happens.

Per turn: `ToolCallStarted` as soon as the model starts writing a call, `ToolCallReady` once its
arguments are whole, `ToolResult` as each call finishes (with its duration), `TurnCompleted`
with the turn's usage, `TextDelta`s as the answer is written, and `RunCompleted` at the end.
Leaving the `async with` block early cancels running tools and closes the response.
"""

import os

from asynctool import (
    AsyncClient,
    RunCompleted,
    TextDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
)
from asynctool.demo import build_agent, run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")


async def main(base_url: str | None = None) -> list[str]:
    seen: list[str] = []
    async with AsyncClient(base_url) as client:
        agent = build_agent(client, MODEL)
        async with agent.run_stream("When will order_12345 arrive?") as events:
            async for event in events:
                seen.append(type(event).__name__)
                match event:
                    case ToolCallStarted(name=name, turn=turn):
                        print(f"[turn {turn}] the model starts a call to {name}")
                    case TurnCompleted(turn=turn, usage=usage):
                        gap = "\n" if seen[-2:-1] == ["TextDelta"] else ""  # end the answer's line
                        print(f"{gap}[turn {turn}] reply complete, {usage.total_tokens} tokens")
                    case ToolCallReady(call=call):
                        print(f"  running {call.function.name}({call.function.arguments})")
                    case ToolResult(content=content, duration=duration):
                        print(f"  returned after {duration:.2f} s: {content}")
                    case TextDelta(text=text):
                        print(text, end="", flush=True)
                    case RunCompleted(result=result):
                        print(f"[run complete: {result.turns} turns]")
    return seen


if __name__ == "__main__":
    run_example(main)
