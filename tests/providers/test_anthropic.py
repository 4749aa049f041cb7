"""Anthropic's OpenAI SDK compatibility endpoint: parallel calls and their results in order.

Claude through `https://api.anthropic.com/v1/` answers in the chat completions shape, with
`toolu_...` call ids; the request is turned into Anthropic messages (system and developer
messages hoisted out), where every `tool_use` block must be answered by a `tool_result`
block in the very next message, or the API answers 400.

Sources:
- the compatibility layer, its supported fields and the hoisting of system messages:
  https://platform.claude.com/docs/en/api/openai-sdk (also https://docs.anthropic.com/en/api/openai-sdk)
- the 400 for a `tool_use` without its `tool_result`, verbatim:
  https://github.com/anthropics/claude-code/issues/6575,
  https://github.com/OpenHands/OpenHands/issues/7512

The compatibility docs say error formats follow OpenAI's but the messages are Anthropic's;
the fake answers with Anthropic's error object, which carries the same message.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asynctool import BadRequestError
from asynctool.testing import RecordedRequest
from tests.providers._provider import (
    JSON,
    Answer,
    ProviderModel,
    StartFake,
    calls_of,
    reject,
    run_agent,
    same_call,
    tool_messages,
)

MODEL = "claude-sonnet-4-5"


def envelope(kind: str) -> JSON:
    return {
        "id": "msg_01JXkP7wq3Xb2D8vQf5GmZ1n",
        "object": kind,
        "created": 1767225600,
        "model": MODEL,
    }


def used(prompt: int, output: int) -> JSON:
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def answer(message: JSON, finish: str, usage: JSON) -> Answer:
    def chunk(delta: JSON, finish_reason: str | None = None, **top: Any) -> JSON:
        return {
            **envelope("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **top,
        }

    chunks: list[JSON | str] = [chunk({"role": "assistant", "content": ""})]
    if message.get("content"):
        chunks.append(chunk({"content": message["content"]}))
    for i, call in enumerate(message.get("tool_calls") or ()):
        arguments = call["function"]["arguments"]
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        chunks.append(
            chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[:7]}}]})
        )
        chunks.append(
            chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[7:]}}]})
        )
    chunks.append(chunk({}, finish, usage=usage))
    body = {
        **envelope("chat.completion"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }
    return Answer(completion=body, chunks=chunks)


def call(id: str, location: str) -> JSON:
    arguments = msgspec.json.encode({"location": location}).decode()
    return {
        "id": id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


def results_follow_their_calls(model: ProviderModel, request: RecordedRequest) -> Any:
    """Anthropic's check: after an assistant turn with tool calls, the next messages are the
    results of every one of them."""
    messages = [m for m in request.messages if m.get("role") not in ("system", "developer")]
    for i, message in enumerate(messages):
        ids = [c.get("id") for c in message.get("tool_calls") or ()]
        if not ids:
            continue
        answered = set()
        for later in messages[i + 1 :]:
            if later.get("role") != "tool":
                break
            answered.add(later.get("tool_call_id"))
        missing = [id for id in ids if id not in answered]
        if missing:
            text = (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
            )
            body = {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": text},
                "request_id": "req_011CSVr7aBmVBX3fycHTLhQf",
            }
            return reject(400, body)
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_parallel_calls_are_answered_right_after_their_turn(
    fake: StartFake, stream: bool
) -> None:
    """Two calls in one turn: both results follow the assistant message at once, in call
    order, under Claude's `toolu_` ids, with the system prompt in front.

    Source: https://github.com/anthropics/claude-code/issues/6575 (the rule, by its error);
    https://platform.claude.com/docs/en/api/openai-sdk (system messages hoisted).
    """
    calls = [
        call("toolu_01EgkyMSUE7kWq9aPLHycqgz", "Paris"),
        call("toolu_01Me5LTc9g2gH3yKQCtqGd7W", "Rome"),
    ]
    provider = await fake(
        [
            answer(
                {"role": "assistant", "content": "I'll check both cities.", "tool_calls": calls},
                "tool_calls",
                used(420, 90),
            ),
            answer(
                {"role": "assistant", "content": "Paris and Rome are both 18 C."},
                "stop",
                used(560, 14),
            ),
        ],
        rules=[results_follow_their_calls],
    )
    agent = provider.weather_agent(MODEL, instructions="Answer in one sentence.")

    result = await run_agent(agent, "Paris and Rome?", stream=stream)

    assert result.output == "Paris and Rome are both 18 C."
    assert provider.model.rejections == []
    followup = provider.followup()
    assert [m["role"] for m in followup["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
    ]
    assert [m["tool_call_id"] for m in tool_messages(followup)] == [c["id"] for c in calls]
    assert all(same_call(s, c) for s, c in zip(calls_of(followup), calls, strict=True))


async def test_a_missing_result_is_refused_with_anthropics_message(fake: StartFake) -> None:
    """The fake's rule: a call left without its result is a 400 naming the id.

    Source: https://github.com/OpenHands/OpenHands/issues/7512 (the text).
    """
    provider = await fake([], rules=[results_follow_their_calls])
    history = [
        {"role": "user", "content": "Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [call("toolu_01EgkyMSUE7kWq9aPLHycqgz", "Paris")],
        },
        {"role": "user", "content": "Never mind."},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=MODEL, messages=history)

    assert caught.value.message.startswith(
        "messages.1: `tool_use` ids were found without `tool_result`"
    )
    assert "toolu_01EgkyMSUE7kWq9aPLHycqgz" in caught.value.message
