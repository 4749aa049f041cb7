"""Moonshot's Kimi K2 Thinking: `reasoning_content` stays on assistant tool-call messages.

Kimi thinking models answer with `reasoning_content`, and name tool calls
`functions.<name>:<n>`. With thinking on, an assistant message with `tool_calls` sent back
without its `reasoning_content` is refused with a 400.

Sources:
- the model and its reasoning field:
  https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model
- the 400's text, verbatim: https://github.com/continuedev/continue/issues/11600 (and the fix,
  https://github.com/continuedev/continue/pull/11806)
- tool call ids of Kimi models (`functions.weather:0`), as recorded through Groq:
  https://github.com/charmbracelet/fantasy/tree/main/providertests/testdata/TestOpenAICompatibleCommon/groq-kimi-k2
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
    reject,
    run_agent,
    same_call,
    sent_message_for,
)

MODEL = "kimi-k2-thinking"


def envelope(kind: str) -> JSON:
    return {
        "id": "chatcmpl-6921bd4c1b8d4a1f8e2c",
        "object": kind,
        "created": 1767225600,
        "model": MODEL,
    }


def chunk(delta: JSON, finish: str | None = None, **top: Any) -> JSON:
    return {
        **envelope("chat.completion.chunk"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **top,
    }


def used(prompt: int, output: int) -> JSON:
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def call_step(reasoning: str, index: int, location: str) -> Answer:
    call_id = f"functions.get_weather:{index}"
    arguments = msgspec.json.encode({"location": location}).decode()
    call = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }
    message = {
        "role": "assistant",
        "content": "",
        "reasoning_content": reasoning,
        "tool_calls": [call],
    }
    return Answer(
        completion={
            **envelope("chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": used(180, 60),
        },
        chunks=[
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": reasoning[:10]}),
            chunk({"reasoning_content": reasoning[10:]}),
            chunk({"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:8]}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[8:]}}]}),
            chunk({}, "tool_calls", usage=used(180, 60)),
        ],
    )


def text_step(reasoning: str, text: str) -> Answer:
    message = {"role": "assistant", "content": text, "reasoning_content": reasoning}
    return Answer(
        completion={
            **envelope("chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": used(260, 30),
        },
        chunks=[
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": reasoning}),
            chunk({"content": text}),
            chunk({}, "stop", usage=used(260, 30)),
        ],
    )


def reasoning_kept(model: ProviderModel, request: RecordedRequest) -> Any:
    """Kimi's check, with thinking on: each assistant tool-call message has its reasoning."""
    for call_id in model.issued_calls():
        sent = sent_message_for(request.json, call_id)
        if sent is not None and not sent.get("reasoning_content"):
            index = request.messages.index(sent)
            message = (
                "thinking is enabled but reasoning_content is missing in assistant tool call "
                f"message at index {index}"
            )
            return reject(400, {"error": {"message": message, "type": "invalid_request_error"}})
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_reasoning_stays_on_every_tool_call_message(fake: StartFake, stream: bool) -> None:
    """Two tool steps, then the answer: the last request carries both steps'
    `reasoning_content`, and the `functions.get_weather:N` ids as they came.

    Source: https://github.com/continuedev/continue/issues/11600 (the rule, by its error).
    """
    answers = [
        call_step("The user wants Paris first.", 0, "Paris"),
        call_step("Now Tokyo, as asked.", 1, "Tokyo"),
        text_step("Both known.", "Paris and Tokyo are clear today."),
    ]
    provider = await fake(answers, rules=[reasoning_kept])

    result = await run_agent(
        provider.weather_agent(MODEL, instructions="You are Kimi."),
        "Paris, then Tokyo",
        stream=stream,
    )

    assert result.output == "Paris and Tokyo are clear today."
    assert provider.model.rejections == []
    assert provider.calls == ["Paris", "Tokyo"]
    last = provider.followup(2)
    for answer in answers[:2]:
        call = answer.message["tool_calls"][0]
        sent = sent_message_for(last, call["id"])
        assert sent is not None
        assert sent["reasoning_content"] == answer.message["reasoning_content"]
        assert same_call(sent["tool_calls"][0], call)
    assert [m["tool_call_id"] for m in last["messages"] if m["role"] == "tool"] == [
        "functions.get_weather:0",
        "functions.get_weather:1",
    ]


async def test_a_tool_call_message_without_reasoning_is_refused(fake: StartFake) -> None:
    """The fake's rule, with Moonshot's text: the index is the message's in the request.

    Source: https://github.com/continuedev/continue/issues/11600
    """
    answer = call_step("Paris.", 0, "Paris")
    provider = await fake([answer], rules=[reasoning_kept])
    await provider.client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Paris?"}]
    )
    call = answer.message["tool_calls"][0]
    history = [
        {"role": "system", "content": "You are Kimi."},
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "clear"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=MODEL, messages=history)

    assert caught.value.message.endswith(
        "reasoning_content is missing in assistant tool call message at index 2"
    )


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_continued_conversation_keeps_the_tool_turns_reasoning(
    fake: StartFake, stream: bool
) -> None:
    """After the answer, the next user message goes with the whole transcript; the earlier
    tool-call message still has its `reasoning_content`, so Kimi accepts it.

    Source: https://github.com/continuedev/continue/issues/11600 (the check applies to every
    assistant tool-call message of the request).
    """
    answers = [
        call_step("Paris first.", 0, "Paris"),
        text_step("Known.", "Paris is clear."),
        text_step("Still known.", "Yes, no umbrella needed."),
    ]
    provider = await fake(answers, rules=[reasoning_kept])
    agent = provider.weather_agent(MODEL)
    first = await run_agent(agent, "Paris?", stream=stream)

    second = await run_agent(
        agent, [*first.messages, {"role": "user", "content": "Umbrella?"}], stream=stream
    )

    assert second.output == "Yes, no umbrella needed."
    assert provider.model.rejections == []
    sent = sent_message_for(provider.followup(2), "functions.get_weather:0")
    assert sent is not None
    assert sent["reasoning_content"] == "Paris first."
