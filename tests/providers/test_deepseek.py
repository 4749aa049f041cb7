"""DeepSeek in thinking mode: `reasoning_content` of tool-calling turns goes back, always.

In thinking mode DeepSeek answers with `reasoning_content` beside `content`. Between two user
messages, if the model called tools, the assistant messages' `reasoning_content` must be sent
back in every later request, or the API answers 400. Usage reports the context cache in
`prompt_cache_hit_tokens` and `prompt_cache_miss_tokens`.

Sources:
- thinking mode, multi-turn rules and tool calls:
  https://api-docs.deepseek.com/guides/thinking_mode ("For turns that do perform tool calls,
  the reasoning_content must be fully passed back to the API in all subsequent requests")
- the 400's text: https://github.com/warpdotdev/warp/issues/11587,
  https://github.com/anomalyco/opencode/issues/24722
- cache usage fields: https://api-docs.deepseek.com/guides/kv_cache
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asynctool import BadRequestError, Message
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
    sent_message_for,
)

MODEL = "deepseek-v4-pro"
THINKING = {"thinking": {"type": "enabled"}}


def usage(prompt: int, output: int, hit: int) -> JSON:
    return {
        "completion_tokens": output,
        "prompt_tokens": prompt,
        "prompt_cache_hit_tokens": hit,
        "prompt_cache_miss_tokens": prompt - hit,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": hit},
        "completion_tokens_details": {"reasoning_tokens": output // 2},
    }


def envelope(kind: str) -> JSON:
    return {
        "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
        "object": kind,
        "created": 1767225600,
        "model": MODEL,
        "system_fingerprint": "fp_8802369eaa_prod0623_fp8_kvcache",
    }


def chunk(delta: JSON, finish: str | None = None) -> JSON:
    return {
        **envelope("chat.completion.chunk"),
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def step(
    reasoning: str, *, call_id: str | None, location: str = "", text: str = "", used: JSON
) -> Answer:
    """One sub-turn: reasoning, then a tool call (or, without `call_id`, the answer)."""
    message: JSON = {"content": text, "reasoning_content": reasoning, "role": "assistant"}
    chunks: list[JSON | str] = [
        chunk({"role": "assistant", "content": None, "reasoning_content": ""})
    ]
    half = len(reasoning) // 2
    chunks += [
        chunk({"content": None, "reasoning_content": reasoning[:half]}),
        chunk({"content": None, "reasoning_content": reasoning[half:]}),
    ]
    if call_id is not None:
        arguments = msgspec.json.encode({"location": location}).decode()
        call = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }
        message["tool_calls"] = [call]
        chunks += [
            chunk({"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}),
            chunk({"content": ""}, "tool_calls"),
        ]
        finish = "tool_calls"
    else:
        chunks += [chunk({"content": text}), chunk({"content": ""}, "stop")]
        finish = "stop"
    chunks.append({**envelope("chat.completion.chunk"), "choices": [], "usage": used})
    body = {
        **envelope("chat.completion"),
        "choices": [{"finish_reason": finish, "index": 0, "message": message, "logprobs": None}],
        "usage": used,
    }
    return Answer(completion=body, chunks=chunks)


def reasoning_passed_back(model: ProviderModel, request: RecordedRequest) -> Any:
    """DeepSeek's check: every tool-calling assistant message it answered with comes back
    with its `reasoning_content`."""
    for call_id, (_, issued) in model.issued_calls().items():
        sent = sent_message_for(request.json, call_id)
        if sent is not None and sent.get("reasoning_content") != issued["reasoning_content"]:
            return reject(
                400,
                {
                    "error": {
                        "message": "The `reasoning_content` in the thinking mode must be passed back to the API.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_request_error",
                    }
                },
            )
    return None


def two_lookups() -> list[Answer]:
    return [
        step(
            "I need today's weather in Hangzhou first.",
            call_id="call_00_Hx7ZtNw",
            location="Hangzhou",
            used=usage(310, 40, 0),
        ),
        step(
            "Now Beijing, to compare.",
            call_id="call_00_Bq2YmLr",
            location="Beijing",
            used=usage(380, 36, 256),
        ),
        step(
            "Both are known; answer.",
            call_id=None,
            text="Hangzhou and Beijing are both clear.",
            used=usage(450, 30, 320),
        ),
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_reasoning_of_every_tool_step_goes_back(fake: StartFake, stream: bool) -> None:
    """Two tool sub-turns, then the answer: the second and third requests carry each
    earlier step's `reasoning_content`, exactly as given.

    Source: https://api-docs.deepseek.com/guides/thinking_mode (tool calls section).
    """
    answers = two_lookups()
    provider = await fake(answers, rules=[reasoning_passed_back])
    agent = provider.weather_agent(MODEL, extra_body=THINKING)

    result = await run_agent(agent, "Compare Hangzhou and Beijing", stream=stream)

    assert result.output == "Hangzhou and Beijing are both clear."
    assert provider.model.rejections == []
    assert provider.calls == ["Hangzhou", "Beijing"]
    last = provider.followup(2)
    for answer in answers[:2]:
        call = answer.message["tool_calls"][0]
        sent = sent_message_for(last, call["id"])
        assert sent is not None
        assert sent["reasoning_content"] == answer.message["reasoning_content"]
        assert same_call(sent["tool_calls"][0], call)


async def test_a_saved_conversation_keeps_reasoning_in_later_user_turns(fake: StartFake) -> None:
    """A conversation saved as JSON and continued with a new user message still sends the
    tool steps' `reasoning_content`: "in all subsequent requests", not only within the turn.

    Source: https://api-docs.deepseek.com/guides/thinking_mode
    """
    answers = [
        *two_lookups(),
        step("Easy.", call_id=None, text="Yes, take a jacket.", used=usage(500, 10, 448)),
    ]
    provider = await fake(answers, rules=[reasoning_passed_back])
    agent = provider.weather_agent(MODEL, extra_body=THINKING)
    first = await agent.run("Compare Hangzhou and Beijing")
    saved = msgspec.json.encode(first.messages)

    history = msgspec.json.decode(saved, type=list[Message])
    second = await agent.run([*history, {"role": "user", "content": "Jacket?"}])

    assert second.output == "Yes, take a jacket."
    assert provider.model.rejections == []
    assert len(calls_of(provider.followup(3))) == 2


async def test_dropping_reasoning_is_refused_with_deepseeks_text(fake: StartFake) -> None:
    """The fake's rule: a tool-calling message sent back without its reasoning is a 400,
    and the error's message is DeepSeek's sentence.

    Source: https://github.com/warpdotdev/warp/issues/11587 (the text).
    """
    answers = two_lookups()
    provider = await fake(answers, rules=[reasoning_passed_back])
    await provider.client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Go"}]
    )
    call = answers[0].message["tool_calls"][0]
    history = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "clear"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=MODEL, messages=history)

    assert caught.value.status_code == 400
    assert (
        caught.value.message
        == "The `reasoning_content` in the thinking mode must be passed back to the API."
    )


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_cache_hits_and_misses_are_typed(fake: StartFake, stream: bool) -> None:
    """`usage.prompt_cache_hit_tokens` and `prompt_cache_miss_tokens` are read, plain and
    streamed (from the final usage chunk).

    Source: https://api-docs.deepseek.com/guides/kv_cache
    """
    provider = await fake(two_lookups()[1:2])

    done = await complete(
        provider.client,
        stream=stream,
        model=MODEL,
        messages=[{"role": "user", "content": "Beijing?"}],
        extra_body=THINKING,
    )

    assert done.usage.prompt_cache_hit_tokens == 256
    assert done.usage.prompt_cache_miss_tokens == 124
    assert done.choices[0].message.reasoning_content == "Now Beijing, to compare."


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_run_sums_cache_hits_and_misses(fake: StartFake, stream: bool) -> None:
    """A run's usage sums the cache counters of its three requests.

    Source: https://api-docs.deepseek.com/guides/kv_cache
    """
    provider = await fake(two_lookups(), rules=[reasoning_passed_back])

    result = await run_agent(
        provider.weather_agent(MODEL, extra_body=THINKING), "Compare", stream=stream
    )

    assert result.usage.prompt_cache_hit_tokens == 0 + 256 + 320
    assert result.usage.prompt_cache_miss_tokens == 310 + 124 + 130
    assert result.usage.prompt_tokens == 310 + 380 + 450


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_to_param_keeps_reasoning_in_a_hand_written_loop(
    fake: StartFake, stream: bool
) -> None:
    """A hand-written loop that appends `message.to_param()` sends `reasoning_content`
    back, as the agent does: one conversion from an answer to history.

    Source: https://api-docs.deepseek.com/guides/thinking_mode (tool calls section).
    """
    answers = two_lookups()
    provider = await fake([answers[0], answers[2]], rules=[reasoning_passed_back])
    messages: list[Any] = [{"role": "user", "content": "Hangzhou?"}]
    tools = [provider.weather_tool().definition]

    first = await complete(
        provider.client,
        stream=stream,
        model=MODEL,
        messages=messages,
        tools=tools,
        extra_body=THINKING,
    )
    message = first.choices[0].message
    messages += [
        message.to_param(),
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "clear"},
    ]
    second = await complete(
        provider.client,
        stream=stream,
        model=MODEL,
        messages=messages,
        tools=tools,
        extra_body=THINKING,
    )

    assert second.choices[0].message.content == "Hangzhou and Beijing are both clear."
    assert provider.model.rejections == []
    assert (
        provider.followup()["messages"][1]["reasoning_content"]
        == answers[0].message["reasoning_content"]
    )
