"""Structured outputs: pull a typed record out of free text with `parse`.

`response_format=Contact` sends the Struct as a strict JSON schema; the answer comes back
decoded into a `Contact` in `message.parsed`, or as an `OutputValidationError` naming the
field that did not fit. (Offline, the DemoModel fills the schema from the words of the text:
it is not an LLM, so it finds only what is plainly there, such as the quoted name and the
email address.)
"""

import os

import msgspec

from asynctool import AsyncClient
from asynctool.demo import run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
TEXT = (
    'Hello, this is "Ada Lovelace". Please send the engine plans to ada@example.com '
    "before Friday; my phone is out of order."
)


class Contact(msgspec.Struct):
    name: str
    email: str
    company: str | None = None


async def main(base_url: str | None = None) -> Contact | None:
    async with AsyncClient(base_url) as client:
        completion = await client.chat.completions.parse(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Extract the sender's contact details."},
                {"role": "user", "content": TEXT},
            ],
            response_format=Contact,
        )
    contact = completion.choices[0].message.parsed
    print(contact)
    return contact


if __name__ == "__main__":
    run_example(main)
