"""JSON mode: `response_format={"type": "json_object"}` asks for an answer that is one JSON object.

Say "JSON" in the messages and describe the object (providers require the first). JSON mode
promises valid JSON, not the shape asked for, so the answer is decoded into a msgspec Struct,
which checks it; an answer that does not fit is reported, not crashed on. (The offline
DemoModel is not an LLM and ignores JSON mode: it answers in prose, which shows that path.)
"""

import os

import msgspec

from asynctool import AsyncClient
from asynctool.demo import run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
SHAPE = 'Answer with a JSON object: {"city": string, "summary": string, "high_c": number}.'


class Forecast(msgspec.Struct):
    city: str
    summary: str
    high_c: float


async def main(base_url: str | None = None) -> Forecast | None:
    async with AsyncClient(base_url) as client:
        completion = await client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": SHAPE},
                {"role": "user", "content": "Invent a plausible spring forecast for Lisbon."},
            ],
            response_format={"type": "json_object"},
        )
    content = completion.choices[0].message.content or ""
    try:
        forecast = msgspec.json.decode(content, type=Forecast)
    except msgspec.DecodeError as error:  # not JSON, or JSON of another shape
        print(f"The answer is not the JSON asked for ({error}): {content[:100]!r}")
        return None
    print(forecast)
    return forecast


if __name__ == "__main__":
    run_example(main)
