"""vLLM's OpenAI-compatible server: `reasoning`, and the extras it adds to every answer.

vLLM returns a reasoning parser's output as `reasoning` (it was `reasoning_content` until the
rename), adds `stop_reason` and `token_ids` to choices and `prompt_logprobs`,
`prompt_token_ids` and `kv_transfer_params` to the completion, names tool calls
`chatcmpl-tool-...`, and streams a call's arguments in fragments after a delta with its id
and name. Models with interleaved thinking need `reasoning` back on assistant messages.

Sources:
- the rename to `reasoning`: https://github.com/vllm-project/vllm/pull/27752,
  https://github.com/vllm-project/vllm/pull/33402
- `reasoning` sent back for interleaved thinking in multi-turn flows:
  https://github.com/vllm-project/router/pull/115
- the response fields: https://github.com/vllm-project/vllm/blob/main/vllm/entrypoints/openai/chat_completion/protocol.py
  (`ChatCompletionResponseChoice.stop_reason`, `token_ids`; `prompt_logprobs`,
  `kv_transfer_params` on the response)
- a streamed tool-call delta: https://github.com/vllm-project/vllm-ascend/issues/14501

No rule on the follow-up is checked: vLLM's request models accept extra fields, and a
missing `reasoning` degrades the model instead of failing the request.
"""

from __future__ import annotations

import pytest

from tests.providers._provider import (
    JSON,
    Answer,
    StartFake,
    calls_of,
    complete,
    run_agent,
    same_call,
)

MODEL = "Qwen/Qwen3-8B"
REASONING = "The user wants the weather in Kyoto. I will call get_weather."


def envelope(kind: str, id: str) -> JSON:
    return {"id": id, "object": kind, "created": 1767225600, "model": MODEL}


def plain(id: str, message: JSON, finish: str, used: JSON) -> JSON:
    choice = {
        "index": 0,
        "message": {
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            **message,
        },
        "logprobs": None,
        "finish_reason": finish,
        "stop_reason": None,
        "token_ids": None,
    }
    return {
        **envelope("chat.completion", id),
        "choices": [choice],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": used,
        "prompt_logprobs": None,
        "prompt_token_ids": None,
        "kv_transfer_params": None,
    }


def chunk(id: str, delta: JSON, finish: str | None = None) -> JSON:
    choice: JSON = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    if finish is not None:
        choice["stop_reason"] = None
    return {**envelope("chat.completion.chunk", id), "choices": [choice]}


def used(prompt: int, output: int) -> JSON:
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + output,
        "completion_tokens": output,
        "prompt_tokens_details": None,
    }


def call_answer() -> Answer:
    id = "chatcmpl-8f1b0e4c2d7a4b9c9e5a"
    call = {
        "id": "chatcmpl-tool-5c4a1f0e9b2d4e7f",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location": "Kyoto"}'},
    }
    message = {"role": "assistant", "content": None, "reasoning": REASONING, "tool_calls": [call]}
    chunks: list[JSON | str] = [
        chunk(id, {"role": "assistant", "content": ""}),
        chunk(id, {"reasoning": REASONING[:20]}),
        chunk(id, {"reasoning": REASONING[20:]}),
        chunk(
            id,
            {
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "index": 0,
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            },
        ),
        chunk(id, {"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]}),
        chunk(id, {"tool_calls": [{"index": 0, "function": {"arguments": '"Kyoto"}'}}]}),
        chunk(id, {}, "tool_calls"),
        {**envelope("chat.completion.chunk", id), "choices": [], "usage": used(210, 52)},
    ]
    return Answer(completion=plain(id, message, "tool_calls", used(210, 52)), chunks=chunks)


def text_answer(text: str) -> Answer:
    id = "chatcmpl-1d2e3f4a5b6c7d8e9f0a"
    return Answer(
        completion=plain(
            id, {"role": "assistant", "content": text, "reasoning": None}, "stop", used(280, 11)
        ),
        chunks=[
            chunk(id, {"role": "assistant", "content": ""}),
            chunk(id, {"content": text}),
            chunk(id, {}, "stop"),
            {**envelope("chat.completion.chunk", id), "choices": [], "usage": used(280, 11)},
        ],
    )


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_reasoning_goes_back_for_interleaved_thinking(fake: StartFake, stream: bool) -> None:
    """The follow-up's assistant message carries `reasoning` as vLLM produced it, and the
    call with vLLM's id.

    Source: https://github.com/vllm-project/router/pull/115 (reasoning sent back in
    multi-turn flows), https://github.com/vllm-project/vllm/pull/27752 (the field).
    """
    step = call_answer()
    provider = await fake([step, text_answer("Kyoto is 18 C and clear.")])

    result = await run_agent(provider.weather_agent(MODEL), "Kyoto?", stream=stream)

    assert result.output == "Kyoto is 18 C and clear."
    sent = provider.followup()["messages"][1]
    assert sent["reasoning"] == REASONING
    assert same_call(calls_of(provider.followup())[0], step.message["tool_calls"][0])


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_vllm_extras_are_readable(fake: StartFake, stream: bool) -> None:
    """`reasoning` is typed; `stop_reason` (on the choice) and `kv_transfer_params` (plain
    answers only) are attributes of what carried them.

    Source: https://github.com/vllm-project/vllm/blob/main/vllm/entrypoints/openai/chat_completion/protocol.py
    """
    provider = await fake([call_answer()])

    done = await complete(
        provider.client,
        stream=stream,
        model=MODEL,
        messages=[{"role": "user", "content": "Kyoto?"}],
    )

    assert done.choices[0].message.reasoning == REASONING
    assert done.choices[0].stop_reason is None
    if not stream:
        assert done.kv_transfer_params is None
        assert done.choices[0].token_ids is None


async def test_history_given_as_dicts_keeps_reasoning(fake: StartFake) -> None:
    """A transcript saved as JSON and given back as dicts still carries `reasoning` on the
    assistant message.

    Source: https://github.com/vllm-project/router/pull/115
    """
    step = call_answer()
    provider = await fake([text_answer("Kyoto again: 18 C.")])
    history = [
        {"role": "user", "content": "Kyoto?"},
        {key: value for key, value in step.message.items() if value is not None},
        {"role": "tool", "tool_call_id": step.message["tool_calls"][0]["id"], "content": "18 C"},
    ]

    result = await provider.weather_agent(MODEL).run(history)

    assert result.output == "Kyoto again: 18 C."
    assert provider.bodies[0]["messages"][1]["reasoning"] == REASONING
