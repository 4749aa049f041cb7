"""Azure OpenAI: content filter results everywhere, a first chunk without choices.

Azure's stream opens with a chunk that has no choices, an empty id and model, and the
prompt's `prompt_filter_results`; every later chunk's choice has `content_filter_results`,
and the last chunk (no choices) adds a `latency_checkpoint`. A plain answer has
`prompt_filter_results`, per-choice `content_filter_results`, and `latency_checkpoint`
inside `usage`.

Sources:
- recorded exchanges with gpt-5-mini on Azure's /openai/v1 endpoint, plain and streamed:
  https://github.com/charmbracelet/fantasy/tree/main/providertests/testdata/TestAzureCommon/azure-gpt-5-mini
- content filter annotations (categories, `filtered`, `severity`, `detected`):
  https://learn.microsoft.com/en-us/azure/ai-services/openai/concepts/content-filter-annotations
- content streaming: https://learn.microsoft.com/en-gb/azure/foundry/openai/concepts/content-streaming

No Azure-specific rule on the follow-up is checked beyond OpenAI's (the embedded server
validates those): none is documented.
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

MODEL = "gpt-5-mini"
SAFE = {"filtered": False, "severity": "safe"}
PROMPT_FILTER = [
    {
        "prompt_index": 0,
        "content_filter_results": {
            "hate": SAFE,
            "jailbreak": {"detected": False, "filtered": False},
            "self_harm": SAFE,
            "sexual": SAFE,
            "violence": SAFE,
        },
    }
]
CHOICE_FILTER = {
    "hate": SAFE,
    "protected_material_code": {"detected": False, "filtered": False},
    "protected_material_text": {"detected": False, "filtered": False},
    "self_harm": SAFE,
    "sexual": SAFE,
    "violence": SAFE,
}
LATENCY = {
    "engine_tbt_ms": 10,
    "engine_ttft_ms": 42,
    "engine_ttlt_ms": 1736,
    "pre_inference_ms": 127,
    "service_tbt_ms": 10,
    "service_ttft_ms": 554,
    "service_ttlt_ms": 2243,
    "total_duration_ms": 2123,
    "user_visible_ttft_ms": 427,
}


def used(prompt: int, output: int, **extra: object) -> JSON:
    return {
        "completion_tokens": output,
        "completion_tokens_details": {
            "accepted_prediction_tokens": 0,
            "audio_tokens": 0,
            "reasoning_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "prompt_tokens": prompt,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
        "total_tokens": prompt + output,
        **extra,
    }


def answer(id: str, message: JSON, finish: str, prompt: int, output: int) -> Answer:
    def chunk(delta: JSON, finish_reason: str | None = None, obfuscation: str = "BRHU") -> JSON:
        choice = {
            "content_filter_results": {},
            "delta": delta,
            "finish_reason": finish_reason,
            "index": 0,
            "logprobs": None,
        }
        return {
            "choices": [choice],
            "created": 1782321623,
            "id": id,
            "model": "gpt-5-mini-2025-08-07",
            "obfuscation": obfuscation,
            "object": "chat.completion.chunk",
            "service_tier": "default",
            "system_fingerprint": None,
            "usage": None,
        }

    chunks: list[JSON | str] = [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": PROMPT_FILTER,
        }
    ]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        first = {
            **call,
            "index": 0,
            "function": {"arguments": "", "name": call["function"]["name"]},
        }
        chunks.append(
            chunk({"content": None, "refusal": None, "role": "assistant", "tool_calls": [first]})
        )
        arguments = call["function"]["arguments"]
        for piece in (arguments[:2], arguments[2:10], arguments[10:]):
            chunks.append(
                chunk(
                    {"tool_calls": [{"function": {"arguments": piece}, "index": 0}]},
                    obfuscation="Xj8lw887mg",
                )
            )
    else:
        chunks.append(chunk({"content": "", "refusal": None, "role": "assistant"}))
        chunks.append(chunk({"content": message["content"]}))
    chunks.append(chunk({}, finish, obfuscation="kZv1Ls5KFhu"))
    chunks.append(
        {
            "choices": [],
            "created": 1782321623,
            "id": id,
            "latency_checkpoint": LATENCY,
            "model": "gpt-5-mini-2025-08-07",
            "obfuscation": "R",
            "object": "chat.completion.chunk",
            "service_tier": "default",
            "system_fingerprint": None,
            "usage": used(prompt, output),
        }
    )
    body = {
        "choices": [
            {
                "content_filter_results": CHOICE_FILTER,
                "finish_reason": finish,
                "index": 0,
                "logprobs": None,
                "message": {
                    "annotations": [],
                    "refusal": None,
                    "role": "assistant",
                    "content": None,
                    **message,
                },
            }
        ],
        "created": 1782321616,
        "id": id,
        "model": "gpt-5-mini-2025-08-07",
        "object": "chat.completion",
        "prompt_filter_results": PROMPT_FILTER,
        "service_tier": "default",
        "system_fingerprint": None,
        "usage": used(prompt, output, latency_checkpoint=LATENCY),
    }
    return Answer(completion=body, chunks=chunks)


def call_answer() -> Answer:
    call = {
        "function": {"arguments": '{"location":"Florence, Italy"}', "name": "get_weather"},
        "id": "call_tWA8BJziGlCyhQEXhEHn6eXK",
        "type": "function",
    }
    return answer(
        "chatcmpl-DuLYtUePDgoybMkZrAI7utkb2fiRp", {"tool_calls": [call]}, "tool_calls", 145, 154
    )


def text_answer() -> Answer:
    return answer(
        "chatcmpl-DuLYwZ1HseuIZItghoKIrUbk69X6t",
        {"content": "Right now in Florence it's about 18 C."},
        "stop",
        176,
        20,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_tool_loop_through_azures_filter_annotations(fake: StartFake, stream: bool) -> None:
    """The run completes through the choiceless first chunk and the filter annotations, and
    the follow-up carries the call as Azure sent it.

    Source: the recorded tool exchanges (charmbracelet/fantasy, azure-gpt-5-mini).
    """
    step = call_answer()
    provider = await fake([step, text_answer()])

    result = await run_agent(provider.weather_agent(MODEL), "Weather in Florence?", stream=stream)

    assert result.output == "Right now in Florence it's about 18 C."
    assert same_call(calls_of(provider.followup())[0], step.message["tool_calls"][0])
    assert (
        result.completion.prompt_filter_results[0].content_filter_results["hate"].severity == "safe"
    )


async def test_a_plain_answer_keeps_filter_results_and_latency(fake: StartFake) -> None:
    """Plain: the choice's filter results are typed, and `usage.latency_checkpoint` (which
    asynctool does not name) is an attribute of the usage.

    Source: https://learn.microsoft.com/en-us/azure/ai-services/openai/concepts/content-filter-annotations
    and the recorded tool exchange (charmbracelet/fantasy, azure-gpt-5-mini).
    """
    provider = await fake([call_answer()])

    done = await complete(
        provider.client, stream=False, model=MODEL, messages=[{"role": "user", "content": "Hi"}]
    )

    results = done.choices[0].content_filter_results
    assert results["violence"].filtered is False
    assert results["protected_material_code"].detected is False
    assert done.usage.latency_checkpoint == LATENCY


async def test_a_stream_merges_the_last_chunks_latency_checkpoint(fake: StartFake) -> None:
    """Streamed: the first chunk's prompt filter results and the last chunk's
    `latency_checkpoint` both end up on the final completion.

    Source: the recorded tool_streaming exchange (charmbracelet/fantasy, azure-gpt-5-mini).
    """
    provider = await fake([call_answer()])

    done = await complete(
        provider.client, stream=True, model=MODEL, messages=[{"role": "user", "content": "Hi"}]
    )

    assert done.id == "chatcmpl-DuLYtUePDgoybMkZrAI7utkb2fiRp"
    assert done.prompt_filter_results[0].content_filter_results["jailbreak"].detected is False
    assert done.latency_checkpoint == LATENCY
    assert (
        done.choices[0].message.tool_calls[0].function.arguments == '{"location":"Florence, Italy"}'
    )
