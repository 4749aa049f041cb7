"""Groq: `x_groq` on chunks and completions, timing in `usage`, and strict message schemas.

Groq adds `x_groq` (a request id and seed on the first chunk, the usage with timings on the
last choice chunk), puts `queue_time`, `prompt_time`, `completion_time` and `total_time` in
`usage`, and `usage_breakdown` and `service_tier` on the completion. It validates request
messages against a closed schema: a property it does not know on a message is a 400.

Sources:
- recorded exchanges with moonshotai/kimi-k2-instruct-0905, plain and streamed:
  https://github.com/charmbracelet/fantasy/tree/main/providertests/testdata/TestOpenAICompatibleCommon/groq-kimi-k2
- the fields, listed from live replies: https://github.com/vllm-project/semantic-router/pull/3813
- the 400 for an unknown message property, verbatim:
  https://github.com/run-llama/llama_index/issues/14701,
  https://github.com/SimonSchubert/Kai/issues/265
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

MODEL = "moonshotai/kimi-k2-instruct-0905"
# The properties a Groq chat message may have, by role. These are the OpenAI ones: Groq's
# errors name `reasoning_content` and made-up fields as unsupported; nothing beyond these is
# sent by the scenarios below.
ALLOWED = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls"},
    "tool": {"role", "content", "tool_call_id", "name"},
}


def usage(prompt: int, output: int) -> JSON:
    return {
        "queue_time": 0.201239972,
        "prompt_tokens": prompt,
        "prompt_time": 0.027081356,
        "completion_tokens": output,
        "completion_time": 0.103231659,
        "total_tokens": prompt + output,
        "total_time": 0.130313015,
    }


def envelope(kind: str, id: str) -> JSON:
    return {
        "id": id,
        "object": kind,
        "created": 1773345613,
        "model": MODEL,
        "system_fingerprint": "fp_05df423bab",
    }


def answer(id: str, request: str, seed: int, message: JSON, finish: str, used: JSON) -> Answer:
    def chunk(delta: JSON, finish_reason: str | None = None, **top: Any) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**envelope("chat.completion.chunk", id), "choices": [choice], **top}

    chunks: list[JSON | str] = [
        chunk({"role": "assistant", "content": ""}, x_groq={"id": request, "seed": seed})
    ]
    text = message.get("content") or ""
    if text:
        chunks += [chunk({"content": word}) for word in _words(text)]
    if message.get("tool_calls"):
        # Groq sends a call whole, in one delta.
        chunks.append(chunk({"tool_calls": message["tool_calls"]}))
    chunks.append(chunk({}, finish, x_groq={"id": request, "usage": used}, usage=used))
    chunks.append(
        {
            **envelope("chat.completion.chunk", id),
            "choices": [],
            "usage": used,
            "service_tier": "on_demand",
        }
    )
    body = {
        **envelope("chat.completion", id),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": used,
        "usage_breakdown": None,
        "x_groq": {"id": request, "seed": seed},
        "service_tier": "on_demand",
    }
    return Answer(completion=body, chunks=chunks)


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])]


def call_answer() -> Answer:
    call = {
        "id": "functions.get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location":"Florence,Italy"}'},
        "index": 0,
    }
    message = {
        "role": "assistant",
        "content": "I'll check the weather in Florence, Italy for you.",
        "tool_calls": [call],
    }
    return answer(
        "chatcmpl-00a93bf0-be50-4f2a-a2fa-7729472d1b2d",
        "req_01kkht59h3fzxvfpdjga0sbx0n",
        1075582771,
        message,
        "tool_calls",
        usage(93, 32),
    )


def text_answer() -> Answer:
    message = {
        "role": "assistant",
        "content": "The current temperature in Florence, Italy is 18 C.",
    }
    return answer(
        "chatcmpl-7a679b99-7eeb-4a98-ac30-c48297ee855f",
        "req_01kkht595hfwrt93w2tve660tb",
        1991909797,
        message,
        "stop",
        usage(143, 13),
    )


def closed_schema(model: ProviderModel, request: RecordedRequest) -> Any:
    """Groq's check: every message property is one its schema has."""
    for i, message in enumerate(request.messages):
        role = message.get("role", "")
        for key in sorted(set(message) - ALLOWED.get(role, set())):
            text = (
                f"'messages.{i}' : for 'role:{role}' the following must be satisfied"
                f"[('messages.{i}' : property '{key}' is unsupported)]"
            )
            return reject(400, {"error": {"message": text, "type": "invalid_request_error"}})
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_tool_loop_sends_only_what_groq_accepts(fake: StartFake, stream: bool) -> None:
    """The follow-up passes Groq's closed schema: nothing Groq put beside the message
    (`x_groq`, timings, `usage_breakdown`) leaks into the assistant message sent back.

    Source: https://github.com/run-llama/llama_index/issues/14701 (the rule, by its error).
    """
    step = call_answer()
    provider = await fake([step, text_answer()], rules=[closed_schema])

    result = await run_agent(provider.weather_agent(MODEL), "Weather in Florence?", stream=stream)

    assert result.output == "The current temperature in Florence, Italy is 18 C."
    assert provider.model.rejections == []
    assert same_call(calls_of(provider.followup())[0], step.message["tool_calls"][0])
    sent = provider.followup()["messages"][1]
    assert sent["content"] == "I'll check the weather in Florence, Italy for you."


async def test_an_unknown_message_property_is_refused_as_groq_refuses_it(fake: StartFake) -> None:
    """The fake's rule, with Groq's text: an assistant message with a property Groq does not
    know is a 400.

    Source: https://github.com/SimonSchubert/Kai/issues/265
    """
    provider = await fake([text_answer()], rules=[closed_schema])
    history = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "reasoning_content": "greet"},
        {"role": "user", "content": "Weather?"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=MODEL, messages=history)

    assert caught.value.status_code == 400
    assert "property 'reasoning_content' is unsupported" in caught.value.message


async def test_x_groq_is_read_on_each_chunk_and_merged_into_the_completion(fake: StartFake) -> None:
    """The first chunk's `x_groq` has the id and seed, the last choice chunk's the usage;
    the final completion's `x_groq` is both, merged key by key.

    Source: the recorded tool_streaming exchange (charmbracelet/fantasy, groq-kimi-k2).
    """
    provider = await fake([call_answer()])

    async with provider.client.chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "Weather?"}]
    ) as chat_stream:
        chunks = [chunk async for chunk in chat_stream]
        final = await chat_stream.get_final_completion()

    assert chunks[0].x_groq == {"id": "req_01kkht59h3fzxvfpdjga0sbx0n", "seed": 1075582771}
    assert chunks[-2].x_groq["usage"]["queue_time"] == pytest.approx(0.201239972)
    assert final.x_groq == {
        "id": "req_01kkht59h3fzxvfpdjga0sbx0n",
        "seed": 1075582771,
        "usage": usage(93, 32),
    }
    assert final.usage.queue_time == pytest.approx(0.201239972)
    assert msgspec.to_builtins(final)["x_groq"]["seed"] == 1075582771


async def test_a_plain_completion_keeps_x_groq_and_timings(fake: StartFake) -> None:
    """Plain, `x_groq`, `usage_breakdown` and the timings in `usage` are attributes.

    Source: the recorded tool exchange (charmbracelet/fantasy, groq-kimi-k2).
    """
    provider = await fake([call_answer()])

    done = await complete(
        provider.client, stream=False, model=MODEL, messages=[{"role": "user", "content": "Hi"}]
    )

    assert done.x_groq == {"id": "req_01kkht59h3fzxvfpdjga0sbx0n", "seed": 1075582771}
    assert done.usage_breakdown is None
    assert done.usage.total_time == pytest.approx(0.130313015)
    assert done.service_tier == "on_demand"
