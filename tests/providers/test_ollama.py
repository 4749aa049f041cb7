"""Ollama's OpenAI-compatible endpoint: `reasoning` out and back, calls whole, JSON arguments.

Ollama's `/v1/chat/completions` answers a thinking model with `reasoning` on the message (and
on each delta), sends each tool call whole in one delta with an `index`, says `tool_calls` as
the finish reason once a call was sent, and marks every answer `fp_ollama`. It reads
`reasoning` back from assistant messages of the history (as the model's thinking) and
refuses a history whose tool call arguments are not JSON.

Sources:
- https://github.com/ollama/ollama/blob/main/openai/openai.go (`Message.Reasoning`,
  `ToolCall.Index`, `ToChunk`'s finish reason, `FromChatRequest` reading `msg.Reasoning` and
  returning "invalid tool call arguments", `NewError`'s body)
- the compatibility notes: https://github.com/ollama/ollama/blob/main/docs/openai.md
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
    complete,
    reject,
    run_agent,
    same_call,
)

MODEL = "qwen3:8b"


def envelope(kind: str) -> JSON:
    return {
        "id": "chatcmpl-245",
        "object": kind,
        "created": 1767225600,
        "model": MODEL,
        "system_fingerprint": "fp_ollama",
    }


def answer(message: JSON, finish: str, used: JSON) -> Answer:
    def chunk(delta: JSON, finish_reason: str | None = None) -> JSON:
        # Every delta repeats the role and carries `content`, empty or not.
        body = {"role": "assistant", "content": "", **delta}
        return {
            **envelope("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": body, "finish_reason": finish_reason}],
        }

    chunks: list[JSON | str] = []
    reasoning = message.get("reasoning", "")
    if reasoning:
        chunks += [chunk({"reasoning": reasoning[:12]}), chunk({"reasoning": reasoning[12:]})]
    if message.get("content"):
        chunks.append(chunk({"content": message["content"]}))
    if message.get("tool_calls"):
        chunks.append(chunk({"tool_calls": message["tool_calls"]}))
    chunks.append(chunk({}, finish))
    chunks.append({**envelope("chat.completion.chunk"), "choices": [], "usage": used})
    body = {
        **envelope("chat.completion"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": used,
    }
    return Answer(completion=body, chunks=chunks)


def used(prompt: int, output: int) -> JSON:
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def call_answer() -> Answer:
    call = {
        "id": "call_wnqz8ozg",
        "index": 0,
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
    }
    message = {
        "role": "assistant",
        "content": "",
        "reasoning": "The user asks about Toronto; call get_weather.",
        "tool_calls": [call],
    }
    return answer(message, "tool_calls", used(150, 48))


def json_arguments(model: ProviderModel, request: RecordedRequest) -> Any:
    """Ollama's check: the arguments of every tool call in the history decode as JSON."""
    for message in request.messages:
        for call in message.get("tool_calls") or ():
            try:
                msgspec.json.decode(call["function"]["arguments"])
            except (msgspec.DecodeError, KeyError, TypeError):
                error = {
                    "message": "invalid tool call arguments",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
                return reject(400, {"error": error})
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_reasoning_goes_back_with_the_call(fake: StartFake, stream: bool) -> None:
    """The follow-up carries the model's `reasoning` (Ollama feeds it back as thinking) and
    the call with JSON arguments, so Ollama's conversion accepts it.

    Source: https://github.com/ollama/ollama/blob/main/openai/openai.go (`FromChatRequest`).
    """
    step = call_answer()
    final = answer({"role": "assistant", "content": "Toronto: 18 C, clear."}, "stop", used(220, 9))
    provider = await fake([step, final], rules=[json_arguments])

    result = await run_agent(provider.weather_agent(MODEL), "Weather in Toronto?", stream=stream)

    assert result.output == "Toronto: 18 C, clear."
    assert provider.model.rejections == []
    assert provider.calls == ["Toronto"]
    sent = provider.followup()["messages"][1]
    assert sent["reasoning"] == "The user asks about Toronto; call get_weather."
    assert same_call(calls_of(provider.followup())[0], step.message["tool_calls"][0])


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_reasoning_is_typed_on_the_message(fake: StartFake, stream: bool) -> None:
    """`message.reasoning` is the thinking, joined from the deltas when streamed.

    Source: https://github.com/ollama/ollama/blob/main/openai/openai.go (`ToChunk`).
    """
    provider = await fake([call_answer()])

    done = await complete(
        provider.client,
        stream=stream,
        model=MODEL,
        messages=[{"role": "user", "content": "Toronto?"}],
    )

    assert done.choices[0].message.reasoning == "The user asks about Toronto; call get_weather."
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.system_fingerprint == "fp_ollama"


async def test_arguments_that_are_not_json_are_refused(fake: StartFake) -> None:
    """The fake's rule, with Ollama's body.

    Source: https://github.com/ollama/ollama/blob/main/openai/openai.go ("invalid tool call
    arguments").
    """
    provider = await fake([], rules=[json_arguments])
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"locatio'},
    }
    history = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "?"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=MODEL, messages=history)

    assert caught.value.message == "invalid tool call arguments"


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_two_tool_steps_each_send_their_reasoning_back(fake: StartFake, stream: bool) -> None:
    """Two sequential steps: the third request has both assistant messages with their own
    `reasoning` and JSON arguments.

    Source: https://github.com/ollama/ollama/blob/main/openai/openai.go (`FromChatRequest`).
    """

    def step(call_id: str, location: str, reasoning: str) -> Answer:
        call = {
            "id": call_id,
            "index": 0,
            "type": "function",
            "function": {
                "name": "get_weather",
                "arguments": msgspec.json.encode({"location": location}).decode(),
            },
        }
        return answer(
            {"role": "assistant", "content": "", "reasoning": reasoning, "tool_calls": [call]},
            "tool_calls",
            used(150, 40),
        )

    answers = [
        step("call_a8k2m1qz", "Toronto", "Toronto first."),
        step("call_p3x9v7rt", "Ottawa", "Then Ottawa."),
        answer({"role": "assistant", "content": "Both are clear."}, "stop", used(260, 6)),
    ]
    provider = await fake(answers, rules=[json_arguments])

    result = await run_agent(provider.weather_agent(MODEL), "Toronto, then Ottawa", stream=stream)

    assert result.output == "Both are clear."
    assert provider.calls == ["Toronto", "Ottawa"]
    sent = [m for m in provider.followup(2)["messages"] if m["role"] == "assistant"]
    assert [m["reasoning"] for m in sent] == ["Toronto first.", "Then Ottawa."]
