"""llama.cpp's `llama-server`: reasoning, `timings`, and errors sent as stream data.

`llama-server` answers gpt-oss with `reasoning_content`, adds a top-level `timings` object
(prompt and generation speed) to a plain answer and to the last chunk of a stream (the usage
chunk, with empty `choices`), makes up 32-character tool call ids, and reports an error in
the middle of a stream as a data event `{"error": {...}}` and then stops.

Sources:
- recorded exchanges with openai/gpt-oss-20b on llama-server b7010 (plain and streamed,
  reasoning, tool calls, `timings`):
  https://github.com/charmbracelet/fantasy/tree/main/providertests/testdata/TestOpenAICompatibleCommon/llama-cpp-gpt-oss
- the error event: `format_oai_sse(json {{ "error", res_json }})` and "error received during
  streaming, terminating stream" in https://github.com/ggml-org/llama.cpp/blob/master/tools/server/server-context.cpp;
  the error object is `format_error_response` (`code`, `message`, `type`); "context shift is
  disabled" is an error it sends while generating (same file).

No rule on the follow-up request is checked: llama-server renders whatever history it is
given through the model's template and does not refuse a missing `reasoning_content`.
"""

from __future__ import annotations

import msgspec
import pytest

from asynctool import APIError
from tests.providers._provider import (
    JSON,
    Answer,
    StartFake,
    calls_of,
    complete,
    run_agent,
    same_call,
)

MODEL = "openai/gpt-oss-20b"
FINGERPRINT = "b7010-c27efd2bd"
REASONING = "User wants weather in Florence, Italy. We can use the weather function."


def timings(prompt_n: int, predicted_n: int) -> JSON:
    return {
        "cache_n": 138,
        "prompt_n": prompt_n,
        "prompt_ms": 8.691,
        "prompt_per_token_ms": 8.691,
        "prompt_per_second": 115.06155793349441,
        "predicted_n": predicted_n,
        "predicted_ms": 339.279,
        "predicted_per_token_ms": 8.27509756097561,
        "predicted_per_second": 120.84449671214546,
    }


def chunk(id: str, delta: JSON, finish: str | None = None) -> JSON:
    return {
        "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
        "created": 1762855700,
        "id": id,
        "model": MODEL,
        "system_fingerprint": FINGERPRINT,
        "object": "chat.completion.chunk",
    }


def usage_chunk(id: str, used: JSON, times: JSON) -> JSON:
    return {**chunk(id, {}), "choices": [], "usage": used, "timings": times}


def plain(id: str, message: JSON, finish: str, used: JSON, times: JSON) -> JSON:
    return {
        "choices": [{"finish_reason": finish, "index": 0, "message": message}],
        "created": 1762855699,
        "model": MODEL,
        "system_fingerprint": FINGERPRINT,
        "object": "chat.completion",
        "usage": used,
        "id": id,
        "timings": times,
    }


def call_answer() -> Answer:
    id = "chatcmpl-lz25qRqbjeLO8nbwF4DJYJQc7KjZrG2z"
    call_id = "g2KOIWzn722hzEaZQmNVP4roUPEiYafL"
    arguments = '{"location":"Florence, Italy"}'
    call = {
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
        "id": call_id,
    }
    message = {
        "role": "assistant",
        "reasoning_content": REASONING,
        "content": None,
        "tool_calls": [call],
    }
    used = {"completion_tokens": 41, "prompt_tokens": 139, "total_tokens": 180}
    words = REASONING.split(" ")
    chunks: list[JSON | str] = [chunk(id, {"role": "assistant", "content": None})]
    chunks += [
        chunk(id, {"reasoning_content": w if i == 0 else " " + w}) for i, w in enumerate(words)
    ]
    chunks.append(
        chunk(
            id,
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"'},
                    }
                ]
            },
        )
    )
    for piece in ("location", '":"', "Flor", "ence", ",", " Italy", '"}'):
        chunks.append(chunk(id, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    chunks += [chunk(id, {}, "tool_calls"), usage_chunk(id, used, timings(1, 41))]
    return Answer(completion=plain(id, message, "tool_calls", used, timings(1, 41)), chunks=chunks)


def text_answer(text: str) -> Answer:
    id = "chatcmpl-PRVO688pTstdVIzbBa8S5l5QzcgoxAWl"
    used = {"completion_tokens": 18, "prompt_tokens": 196, "total_tokens": 214}
    message = {"role": "assistant", "content": text}
    return Answer(
        completion=plain(id, message, "stop", used, timings(36, 18)),
        chunks=[
            chunk(id, {"role": "assistant", "content": None}),
            *(chunk(id, {"content": piece}) for piece in (text[:5], text[5:])),
            chunk(id, {}, "stop"),
            usage_chunk(id, used, timings(36, 18)),
        ],
    )


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_tool_loop_sends_reasoning_and_the_servers_call_id_back(
    fake: StartFake, stream: bool
) -> None:
    """gpt-oss on llama-server: the follow-up carries the call with its 32-character id and
    the turn's `reasoning_content`, as the recorded client sent it.

    Source: the recorded tool exchanges (charmbracelet/fantasy, llama-cpp-gpt-oss).
    """
    step = call_answer()
    provider = await fake([step, text_answer("The current weather in Florence is 18 C.")])

    result = await run_agent(provider.weather_agent(MODEL), "Weather in Florence?", stream=stream)

    assert result.output == "The current weather in Florence is 18 C."
    sent = provider.followup()["messages"][1]
    assert sent["reasoning_content"] == REASONING
    assert same_call(calls_of(provider.followup())[0], step.message["tool_calls"][0])


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_timings_are_kept_on_the_completion(fake: StartFake, stream: bool) -> None:
    """`timings` is an attribute of the completion: from the body, or from the stream's last
    chunk (which has no choices), merged into the final completion.

    Source: the recorded exchanges (charmbracelet/fantasy, llama-cpp-gpt-oss).
    """
    provider = await fake([text_answer("Hello there.")])

    done = await complete(
        provider.client, stream=stream, model=MODEL, messages=[{"role": "user", "content": "Hi"}]
    )

    assert done.timings == timings(36, 18)
    assert done.timings["predicted_per_second"] == pytest.approx(120.84449671214546)
    assert msgspec.to_builtins(done)["timings"]["prompt_n"] == 36
    assert done.usage.total_tokens == 214


def error_answer(*deltas: JSON) -> Answer:
    id = "chatcmpl-Qe2t6mZl3u7E8a0kD9s1Vb4nR5yX2cWf"
    error = {"error": {"code": 500, "message": "context shift is disabled", "type": "server_error"}}
    return Answer(completion={}, chunks=[*(chunk(id, d) for d in deltas), error], done=False)


async def test_an_error_event_raises_with_what_arrived(fake: StartFake) -> None:
    """The `{"error": ...}` data event ends the stream with `APIError` carrying the server's
    message and the text that came before it.

    Source: ggml-org/llama.cpp tools/server/server-context.cpp (the event and the message).
    """
    provider = await fake(
        [error_answer({"role": "assistant", "content": None}, {"content": "Once upon"})]
    )

    with pytest.raises(APIError) as caught:
        await complete(
            provider.client,
            stream=True,
            model=MODEL,
            messages=[{"role": "user", "content": "A story"}],
        )

    assert caught.value.message == "context shift is disabled"
    assert caught.value.type == "server_error"
    assert caught.value.partial_completion.choices[0].message.content == "Once upon"


async def test_an_error_in_a_tool_call_turn_runs_nothing(fake: StartFake) -> None:
    """An agent run whose tool-call turn ends in the error event raises; the half-written
    call is not run.

    Source: ggml-org/llama.cpp tools/server/server-context.cpp
    """
    start = {
        "tool_calls": [
            {
                "index": 0,
                "id": "g2KOIWzn722hzEaZQmNVP4roUPEiYafL",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"locatio'},
            }
        ]
    }
    provider = await fake([error_answer({"role": "assistant", "content": None}, start)])

    with pytest.raises(APIError):
        await run_agent(provider.weather_agent(MODEL), "Weather?", stream=True)

    assert provider.calls == []
    assert len(provider.server.requests) == 1
