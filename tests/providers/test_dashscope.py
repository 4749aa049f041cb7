"""Alibaba DashScope (Qwen) compatible mode: thinking streams, and calls whose later deltas
say `"id": ""`.

DashScope's `compatible-mode/v1` streams a tool call's id and name on its first delta only;
every later delta of the same call restates `"id": ""` and `"type": "function"` and carries
an argument fragment. With `enable_thinking` (streaming only: a plain request with it is a
400) the reasoning comes as `reasoning_content`. On the follow-up it checks that every
assistant `tool_calls` message is followed by a tool message for each call id, and that
every tool message answers such a call.

Sources:
- the streamed `"id": ""` continuation deltas, from Alibaba's function-calling guide and
  captured streams: https://www.alibabacloud.com/help/en/model-studio/qwen-function-calling
  (as quoted in https://github.com/experientiallabs/experiential/pull/742),
  https://github.com/anomalyco/opencode/pull/40969, https://github.com/symfony/ai/pull/2220
- thinking only when streaming, and its 400:
  https://github.com/langchain4j/langchain4j/issues/3974
- the follow-up checks, verbatim: https://github.com/agentscope-ai/agentscope/issues/772,
  https://github.com/sigoden/aichat/pull/993
"""

from __future__ import annotations

from typing import Any

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

MODEL = "qwen-plus"
THINKING = {"enable_thinking": True}
CALL_ID = "call_a1ad8367bde7444f82142e8e"
REASONING = "The user asks about Hangzhou; I should call get_weather."


def envelope(kind: str, id: str) -> JSON:
    return {
        "object": kind,
        "created": 1767225600,
        "system_fingerprint": None,
        "model": MODEL,
        "id": id,
    }


def chunk(id: str, delta: JSON, finish: str | None = None) -> JSON:
    return {
        "choices": [{"delta": delta, "finish_reason": finish, "index": 0, "logprobs": None}],
        **envelope("chat.completion.chunk", id),
        "usage": None,
    }


def used(prompt: int, output: int) -> JSON:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def call_answer(thinking: bool) -> Answer:
    id = "chatcmpl-3f5c8a1e-9b2d-9e4f-a6c7-1d2e3f4a5b6c"
    call = {
        "function": {"name": "get_weather", "arguments": '{"location": "Hangzhou"}'},
        "index": 0,
        "id": CALL_ID,
        "type": "function",
    }
    message: JSON = {"content": "", "role": "assistant", "tool_calls": [call]}
    chunks: list[JSON | str] = [chunk(id, {"content": None, "role": "assistant"})]
    if thinking:
        message["reasoning_content"] = REASONING
        chunks += [
            chunk(id, {"content": None, "reasoning_content": REASONING[:20]}),
            chunk(id, {"content": None, "reasoning_content": REASONING[20:]}),
        ]
    chunks += [
        chunk(
            id,
            {
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": CALL_ID,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            },
        ),
        # The continuation deltas: an empty id, the type again, no name.
        chunk(
            id,
            {
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "",
                        "type": "function",
                        "function": {"arguments": '{"location": '},
                    }
                ],
            },
        ),
        chunk(
            id,
            {
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "",
                        "type": "function",
                        "function": {"arguments": '"Hangzhou"}'},
                    }
                ],
            },
        ),
        chunk(id, {"content": ""}, "tool_calls"),
        {"choices": [], **envelope("chat.completion.chunk", id), "usage": used(250, 46)},
    ]
    body = {
        "choices": [
            {"message": message, "finish_reason": "tool_calls", "index": 0, "logprobs": None}
        ],
        **envelope("chat.completion", id),
        "usage": used(250, 46),
    }
    return Answer(completion=body, chunks=chunks)


def text_answer(text: str) -> Answer:
    id = "chatcmpl-7a8b9c0d-1e2f-9a4b-8c5d-6e7f8a9b0c1d"
    return Answer(
        completion={
            "choices": [
                {
                    "message": {"content": text, "role": "assistant"},
                    "finish_reason": "stop",
                    "index": 0,
                    "logprobs": None,
                }
            ],
            **envelope("chat.completion", id),
            "usage": used(320, 12),
        },
        chunks=[
            chunk(id, {"content": "", "role": "assistant"}),
            chunk(id, {"content": text}),
            chunk(id, {"content": ""}, "stop"),
            {"choices": [], **envelope("chat.completion.chunk", id), "usage": used(320, 12)},
        ],
    )


def dashscope_error(message: str) -> Any:
    error = {
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_parameter_error",
    }
    return reject(
        400,
        {
            "error": error,
            "id": "chatcmpl-00000000-0000-0000-0000-000000000000",
            "request_id": "7a403520-184b-43fc-b13f-68606ddc5a1b",
        },
    )


def thinking_streams_only(model: ProviderModel, request: RecordedRequest) -> Any:
    if request.json.get("enable_thinking") is True and not request.stream:
        return dashscope_error(
            "parameter.enable_thinking must be set to false for non-streaming calls"
        )
    return None


def calls_answered(model: ProviderModel, request: RecordedRequest) -> Any:
    """DashScope's two checks of tool messages against the calls before them."""
    messages = request.messages
    open_ids: set[str] = set()
    for i, message in enumerate(messages):
        if message.get("role") == "tool":
            if message.get("tool_call_id") not in open_ids:
                return dashscope_error(
                    '<400> InternalError.Algo.InvalidParameter: messages with role "tool" must be '
                    'a response to a preceeding message with "tool_calls".'
                )
            open_ids.discard(message["tool_call_id"])
            continue
        if open_ids:
            return dashscope_error(
                '<400> InternalError.Algo.InvalidParameter: An assistant message with "tool_calls" '
                'must be followed by tool messages responding to each "tool_call_id". The following '
                f"tool_call_ids did not have response messages: message[{i}].role"
            )
        open_ids = {c.get("id") for c in message.get("tool_calls") or ()}
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_call_streamed_with_empty_continuation_ids_is_one_call(
    fake: StartFake, stream: bool
) -> None:
    """The call arrives whole and once, although its later deltas say `"id": ""`: the tool
    runs once with the full arguments, and the follow-up has that one call and its result.
    Streamed, thinking is on and its `reasoning_content` goes back with the call.

    Source: https://github.com/symfony/ai/pull/2220 and https://github.com/anomalyco/opencode/pull/40969
    (the continuation deltas); https://github.com/agentscope-ai/agentscope/issues/772 (the
    follow-up check).
    """
    step = call_answer(thinking=stream)
    provider = await fake(
        [step, text_answer("Hangzhou is 18 C and clear.")],
        rules=[thinking_streams_only, calls_answered],
    )
    options = {"extra_body": THINKING} if stream else {}

    result = await run_agent(provider.weather_agent(MODEL, **options), "Hangzhou?", stream=stream)

    assert result.output == "Hangzhou is 18 C and clear."
    assert provider.model.rejections == []
    assert provider.calls == ["Hangzhou"]
    [sent] = calls_of(provider.followup())
    assert same_call(sent, step.message["tool_calls"][0])
    assert [m["tool_call_id"] for m in tool_messages(provider.followup())] == [CALL_ID]
    if stream:
        assert provider.followup()["messages"][1]["reasoning_content"] == REASONING


async def test_thinking_on_a_plain_request_is_refused_with_dashscopes_message(
    fake: StartFake,
) -> None:
    """The fake's rule: `enable_thinking` without streaming is a 400, and `exc.message` is
    DashScope's sentence.

    Source: https://github.com/langchain4j/langchain4j/issues/3974
    """
    provider = await fake([text_answer("unused")], rules=[thinking_streams_only])

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], extra_body=THINKING
        )

    assert (
        caught.value.message
        == "parameter.enable_thinking must be set to false for non-streaming calls"
    )
    assert caught.value.code == "invalid_parameter_error"
