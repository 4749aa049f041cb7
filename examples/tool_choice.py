"""Forcing a tool with `tool_choice`: the reply must be a call to the function named.

`tool_choice="auto"` (the default) lets the model decide; `{"type": "function", "function":
{"name": ...}}` makes the next reply a call to that function (`"required"`: to some function,
`"none"`: to none). An `Agent` applies a forcing `tool_choice` to its first request only, then
goes back to `"auto"`, so the run still ends with an answer.
"""

import os

from asynctool import AsyncClient, ToolCall
from asynctool.demo import build_agent, get_local_time, get_weather, run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
QUESTION = {"role": "user", "content": "Should I pack an umbrella for Boston?"}
FORCE_WEATHER = {"type": "function", "function": {"name": "get_weather"}}


async def main(base_url: str | None = None) -> ToolCall:
    async with AsyncClient(base_url) as client:
        tools = [get_weather, get_local_time]
        free = await client.chat.completions.create(model=MODEL, messages=[QUESTION], tools=tools)
        print("auto:", free.choices[0].message.tool_calls or free.choices[0].message.content)

        forced = await client.chat.completions.create(
            model=MODEL, messages=[QUESTION], tools=tools, tool_choice=FORCE_WEATHER
        )
        call = (forced.choices[0].message.tool_calls or [])[0]
        print(f"forced: {call.function.name}({call.function.arguments})")

        result = await build_agent(client, MODEL, tool_choice=FORCE_WEATHER).run([QUESTION])
        print("agent:", result.output)
    return call


if __name__ == "__main__":
    run_example(main)
