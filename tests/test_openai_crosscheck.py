"""Our assembled completion equals the official OpenAI SDK's, for streams it can assemble.

Both clients read the same bytes from the same local server; the SDK (a client nobody here
wrote) is the reference for what a final completion should be.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from asynctool import AsyncClient
from tests.conftest import Serve, chunk, sse, stream

MESSAGES = [{"role": "user", "content": "hi"}]
USAGE = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-test",
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


def tool(
    index: int, id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id is not None:
        fragment.update(id=id, type="function")
        fragment["function"]["name"] = name
    return fragment


def logprob(token: str) -> dict[str, Any]:
    return {
        "content": [
            {"token": token, "logprob": -0.1, "bytes": list(token.encode()), "top_logprobs": []}
        ]
    }


STREAMS: dict[str, bytes] = {
    "text": sse(chunk("Hello", role="assistant"), chunk(", world"), chunk(finish_reason="stop")),
    "text with usage": sse(chunk("Hi", role="assistant"), chunk(finish_reason="stop"), USAGE),
    "empty content": sse(chunk("", role="assistant"), chunk(finish_reason="stop")),
    "parallel tool calls": sse(
        chunk(role="assistant", tool_calls=[tool(0, "call_a", "get_weather")]),
        chunk(tool_calls=[tool(0, args='{"city": ')]),
        chunk(tool_calls=[tool(1, "call_b", "get_time")]),
        chunk(tool_calls=[tool(0, args='"Paris"}')]),
        chunk(tool_calls=[tool(1, args="{}")]),
        chunk(finish_reason="tool_calls"),
        USAGE,
    ),
    "n=2 interleaved": sse(
        chunk("A", index=0, role="assistant"),
        chunk("B", index=1, role="assistant"),
        chunk("a", index=0),
        chunk("b", index=1, finish_reason="stop"),
        chunk(index=0, finish_reason="stop"),
    ),
    "refusal": sse(
        chunk(role="assistant", refusal="I can't"),
        chunk(refusal=" do that."),
        chunk(finish_reason="stop"),
    ),
    "logprobs": sse(
        chunk("a", role="assistant", logprobs=logprob("a")),
        chunk("b", logprobs=logprob("b"), finish_reason="stop"),
    ),
}


def comparable(done: Any) -> dict[str, Any]:
    """The fields both completions have, as plain values: works on our structs and SDK models."""
    return {
        "id": done.id,
        "model": done.model,
        "created": done.created,
        "usage": None
        if done.usage is None
        else (done.usage.prompt_tokens, done.usage.total_tokens),
        "choices": [
            {
                "index": c.index,
                "finish_reason": c.finish_reason,
                "role": c.message.role,
                "content": c.message.content,
                "refusal": c.message.refusal,
                "tool_calls": [
                    (t.id, t.type, t.function.name, t.function.arguments)
                    for t in c.message.tool_calls or []
                ],
                "logprobs": None
                if c.logprobs is None or c.logprobs.content is None
                else [t.token for t in c.logprobs.content],
            }
            for c in done.choices
        ],
    }


@pytest.mark.parametrize("name", sorted(STREAMS))
async def test_final_completion_matches_the_official_sdk(serve: Serve, name: str) -> None:
    server, _ = await serve(stream(STREAMS[name]), stream(STREAMS[name]))  # the SDK, then us
    sdk = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
    try:
        async with sdk.chat.completions.stream(model="m", messages=MESSAGES) as sdk_stream:  # type: ignore[arg-type]
            theirs = await sdk_stream.get_final_completion()
    finally:
        await sdk.close()
    async with AsyncClient(base_url=server.base_url, api_key="sk-test") as client:
        async with client.chat.completions.stream(model="m", messages=MESSAGES) as ours:
            mine = await ours.get_final_completion()
    assert comparable(mine) == comparable(theirs)
    assert mine.choices  # every stream here has at least one choice to compare
