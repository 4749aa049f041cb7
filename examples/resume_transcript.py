"""Saving a conversation and resuming it later: `result.messages` round-trips through JSON.

A transcript is a list of msgspec structs: `msgspec.json.encode` saves it, fields a provider
added included (Gemini's thought signatures, OpenRouter's reasoning details). Loaded back as
plain values, `msgspec.json.decode(data)`, it is ready for `agent.run(saved + [next_message])`,
which converts the dicts and keeps every field; `msgspec.json.decode(data,
type=list[asynctool.Message])` gives structs, and keeps every field asynctool names. Every tool
call in a transcript is followed by its result (even after a failure or a cancellation), so a
saved one can always be sent again.
"""

import os
import tempfile
from pathlib import Path

import msgspec

import asynctool
from asynctool.demo import build_agent, run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")


async def main(
    base_url: str | None = None, path: Path | None = None
) -> asynctool.RunResult[str | None]:
    path = path or Path(tempfile.gettempdir()) / "asynctool-transcript.json"
    async with asynctool.AsyncClient(base_url) as client:
        first = await build_agent(client, MODEL).run("When will order_12345 arrive?")
    path.write_bytes(msgspec.json.encode(first.messages))
    print(f"Saved {len(first.messages)} messages to {path}")

    # Later, maybe in another process:
    saved = msgspec.json.decode(path.read_bytes())  # plain values: nothing is dropped
    follow_up = asynctool.UserMessage(content="And what's the weather in Boston?")
    async with asynctool.AsyncClient(base_url) as client:
        result = await build_agent(client, MODEL).run([*saved, follow_up])
    print(f"Resumed with {len(saved)} messages; the answer:\n{result.output}")
    return result


if __name__ == "__main__":
    run_example(main)
