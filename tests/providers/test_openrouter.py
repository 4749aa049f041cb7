"""OpenRouter with Anthropic models behind it: reasoning details, cost, errors mid-stream.

OpenRouter answers with `reasoning` (text) and `reasoning_details` (typed blocks; streamed as
fragments that carry an `index`), names the upstream in a top-level `provider`, keeps the
upstream's own finish reason in `native_finish_reason`, and reports `usage.cost`,
`cost_details`, `is_byok` and `prompt_tokens_details.cache_write_tokens`. For Anthropic models
(and Gemini ones, in test_openrouter_gemini.py) the `reasoning_details` of a tool-calling turn must come back unmodified, or
the upstream refuses the next request (a 400 whose body wraps the upstream's error in
`error.metadata.raw`). An error after the stream started is a chunk with `choices` and a
top-level `error`, with `finish_reason: "error"`.

Sources:
- reasoning tokens, `reasoning_details` and preserving reasoning blocks:
  https://openrouter.ai/docs/guides/best-practices/reasoning-tokens#preserving-reasoning-blocks
- recorded request/response pairs (plain and streamed) for anthropic/claude-sonnet-4,
  including the whitespace before a JSON body, `provider`, `native_finish_reason` and usage
  with cost: https://github.com/charmbracelet/fantasy/tree/main/providertests/testdata/TestOpenRouterThinking
- Anthropic's errors behind it: https://github.com/hotovo/aider-desk/issues/513 (the wrapping),
  https://github.com/anomalyco/opencode/issues/6176 (thinking block missing),
  https://github.com/anthropics/claude-code/issues/10627 (signature changed)
- mid-stream errors: https://openrouter.ai/docs/api/reference/streaming#handling-errors-during-streaming;
  `finish_reason: "error"` with `native_finish_reason: "MALFORMED_FUNCTION_CALL"`:
  https://github.com/OpenRouterTeam/openrouter-examples/issues/67
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asynctool import APIError, APIStatusError, BadRequestError, MaxTurnsExceeded
from asynctool.testing import RecordedRequest
from tests.providers._openrouter import (
    CLAUDE,
    EXTRA,
    GEMINI,
    PROCESSING,
    WAITING,
    chunk,
    completion,
    openrouter_error,
    text_step,
    usage,
    weather_call,
)
from tests.providers._provider import (
    JSON,
    Answer,
    ProviderModel,
    StartFake,
    calls_of,
    complete,
    run_agent,
    same_call,
    sent_message_for,
)

CLAUDE_THINKING = (
    "The user is asking for the weather in Florence, Italy. I have access to a weather "
    "function that takes a location parameter."
)
CLAUDE_SIGNATURE = "Ep0DCkgICxACGAIqQJmzDCDSnhjTLtbQN/8+vA+ikDMrFxdtqj0wHvIeq2oQUBTAQ8VRUYbJXEAcf7aD0WdIMvG1i4JHgNBPvjXICfcSDHw8OBuN4XlGNfRIKxoM4AR3oB+wLCO9h+yDIjCMOl5LPYOG3Mdoc"


def claude_call_step(
    call_id: str = "toolu_vrtx_015EeDRWGA7dLHZpVKzpowig", cost: float = 0.002922
) -> Answer:
    """Claude thinks (one text block with its signature), then calls `get_weather`."""
    details = [
        {
            "type": "reasoning.text",
            "text": CLAUDE_THINKING,
            "format": "anthropic-claude-v1",
            "index": 0,
            "signature": CLAUDE_SIGNATURE,
        }
    ]
    call = weather_call(call_id, "Florence, Italy")
    message = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "reasoning": CLAUDE_THINKING,
        "tool_calls": [call],
        "reasoning_details": details,
    }
    used = usage(424, 110, cost, cache_write=1024)
    model = "anthropic/claude-4-sonnet-20250522"
    half = len(CLAUDE_THINKING) // 2
    text = {"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0}

    def part(**fields: Any) -> JSON:
        return chunk(model, "Anthropic", {"content": "", **fields})

    chunks: list[JSON | str] = [
        part(reasoning=None, reasoning_details=[]),
        part(reasoning=None, reasoning_details=[{**text, "text": "", "signature": ""}]),
        PROCESSING,
        part(
            reasoning=CLAUDE_THINKING[:half],
            reasoning_details=[{**text, "text": CLAUDE_THINKING[:half]}],
        ),
        part(
            reasoning=CLAUDE_THINKING[half:],
            reasoning_details=[{**text, "text": CLAUDE_THINKING[half:]}],
        ),
        part(reasoning=None, reasoning_details=[{**text, "signature": CLAUDE_SIGNATURE}]),
        part(reasoning=None, reasoning_details=[]),
        chunk(
            model,
            "Anthropic",
            {
                "content": None,
                "tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}],
            },
        ),
        chunk(
            model,
            "Anthropic",
            {
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "type": "function",
                        "function": {"arguments": call["function"]["arguments"][:9]},
                    }
                ],
            },
        ),
        chunk(
            model,
            "Anthropic",
            {
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "type": "function",
                        "function": {"arguments": call["function"]["arguments"][9:]},
                    }
                ],
            },
        ),
        chunk(
            model,
            "Anthropic",
            {"content": "", "reasoning": None, "reasoning_details": []},
            "tool_calls",
        ),
        # The usage comes last, on a chunk of its own that still has a choice.
        chunk(model, "Anthropic", {"content": ""}, usage=used),
    ]
    return Answer(
        completion=completion(model, "Anthropic", message, "tool_calls", "tool_calls", used),
        chunks=chunks,
        body_prefix=WAITING,
    )


def anthropic_error(message: str) -> str:
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    return msgspec.json.encode(body).decode()


def claude_keeps_its_thinking(model: ProviderModel, request: RecordedRequest) -> Any:
    """Anthropic, with thinking on, wants each tool-calling turn to start with the thinking
    block it was given, signature intact; OpenRouter carries it as `reasoning_details`."""
    for call_id, (_, issued) in model.issued_calls().items():
        sent = sent_message_for(request.json, call_id)
        if sent is None:
            continue
        position = request.messages.index(sent) - 1  # Anthropic hoists the system message
        if not sent.get("reasoning_details"):
            text = (
                f"messages.{position}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                "but found `tool_use`. When `thinking` is enabled, a final `assistant` message "
                "must start with a thinking block (preceeding the lastmost set of `tool_use` and "
                "`tool_result` blocks)."
            )
            return openrouter_error(anthropic_error(text), "Anthropic")
        if sent["reasoning_details"] != issued["reasoning_details"]:
            text = f"messages.{position}.content.0: Invalid `signature` in `thinking` block"
            return openrouter_error(anthropic_error(text), "Anthropic")
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_claude_reasoning_details_come_back_unmodified(fake: StartFake, stream: bool) -> None:
    """The follow-up carries the thinking block as it was given (streamed, its text and its
    signature are merged from fragments of the same `index`), and `reasoning` with it.

    Source: https://openrouter.ai/docs/guides/best-practices/reasoning-tokens#preserving-reasoning-blocks
    and the recorded claude-sonnet-4 exchanges in charmbracelet/fantasy (shapes).
    """
    step = claude_call_step()
    provider = await fake(
        [step, text_step(CLAUDE, "Anthropic", "It is 18 C in Florence.", 0.002187)],
        rules=[claude_keeps_its_thinking],
    )
    agent = provider.weather_agent(CLAUDE, extra_body=EXTRA)

    result = await run_agent(agent, "What's the weather in Florence, Italy?", stream=stream)

    assert result.output == "It is 18 C in Florence."
    assert provider.model.rejections == []
    sent = provider.followup()["messages"][1]
    assert sent["reasoning_details"] == step.message["reasoning_details"]
    assert sent["reasoning"] == CLAUDE_THINKING
    assert same_call(calls_of(provider.followup())[0], step.message["tool_calls"][0])


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_cost_provider_and_native_finish_reason_are_kept(
    fake: StartFake, stream: bool
) -> None:
    """`usage.cost`, `cost_details`, `cache_write_tokens` are typed; `is_byok`, the top-level
    `provider` and the choice's `native_finish_reason` are kept as attributes, and all of it
    is in the encoded completion.

    Source: the recorded responses in charmbracelet/fantasy TestOpenRouterThinking (fields);
    https://openrouter.ai/docs/guides/best-practices/reasoning-tokens (reasoning fields).
    """
    provider = await fake([claude_call_step()])

    done = await complete(
        provider.client,
        stream=stream,
        model=CLAUDE,
        messages=[{"role": "user", "content": "Weather?"}],
        extra_body=EXTRA,
    )

    assert done.usage.cost == pytest.approx(0.002922)
    assert done.usage.cost_details["upstream_inference_cost"] == pytest.approx(0.002922)
    assert done.usage.prompt_tokens_details.cache_write_tokens == 1024
    assert done.usage.is_byok is False
    assert done.provider == "Anthropic"
    assert done.choices[0].native_finish_reason == "tool_calls"
    assert done.choices[0].message.reasoning == CLAUDE_THINKING
    encoded = msgspec.to_builtins(done)
    assert encoded["provider"] == "Anthropic"
    assert encoded["choices"][0]["native_finish_reason"] == "tool_calls"


async def test_every_chunk_reads_its_provider(fake: StartFake) -> None:
    """Unnamed fields are readable on the chunk they came on, not only on the final
    completion.

    Source: recorded claude-sonnet-4 stream in charmbracelet/fantasy (every chunk names its
    `provider`).
    """
    provider = await fake([claude_call_step()])

    async with provider.client.chat.completions.stream(
        model=CLAUDE, messages=[{"role": "user", "content": "Weather?"}], extra_body=EXTRA
    ) as chat_stream:
        chunks = [chunk async for chunk in chat_stream]

    assert {c.provider for c in chunks} == {"Anthropic"}
    assert chunks[0].choices[0].native_finish_reason is None
    with pytest.raises(AttributeError):
        _ = chunks[0].x_groq  # a field nobody sent is missing, not None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_run_sums_what_every_request_cost(fake: StartFake, stream: bool) -> None:
    """`result.usage.cost` is the sum of the requests' costs; cache writes sum too.

    Source: usage accounting fields as recorded (charmbracelet/fantasy TestOpenRouterThinking).
    """
    provider = await fake(
        [
            claude_call_step("toolu_vrtx_01AAAAAAAAAAAAAAAAAAAAAA", 0.002922),
            claude_call_step("toolu_vrtx_01BBBBBBBBBBBBBBBBBBBBBB", 0.003100),
            text_step(CLAUDE, "Anthropic", "Both done.", 0.002187),
        ],
        rules=[claude_keeps_its_thinking],
    )

    result = await run_agent(
        provider.weather_agent(CLAUDE, extra_body=EXTRA), "Twice", stream=stream
    )

    assert result.turns == 3
    assert result.usage.cost == pytest.approx(0.002922 + 0.003100 + 0.002187)
    assert result.usage.prompt_tokens_details.cache_write_tokens == 2048
    assert result.usage.total_tokens == 534 * 2 + 585


async def test_a_changed_thinking_block_is_refused_as_anthropic_refuses_it(fake: StartFake) -> None:
    """The fake's rule: a signature that is not the one issued gets Anthropic's 400, wrapped
    by OpenRouter; the upstream text is in the body, under `error.metadata.raw`.

    Source: https://github.com/anthropics/claude-code/issues/10627 (Anthropic's text),
    https://github.com/hotovo/aider-desk/issues/513 (OpenRouter's wrapping).
    """
    step = claude_call_step()
    provider = await fake([step], rules=[claude_keeps_its_thinking])
    await provider.client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "Weather?"}]
    )
    changed = dict(step.message)
    changed["reasoning_details"] = [{**step.message["reasoning_details"][0], "signature": "forged"}]
    history = [
        {"role": "user", "content": "Weather?"},
        {k: v for k, v in changed.items() if v is not None},
        {"role": "tool", "tool_call_id": step.message["tool_calls"][0]["id"], "content": "18 C"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=CLAUDE, messages=history)

    # The message says what the upstream said, not only OpenRouter's wrapper.
    assert caught.value.message.startswith("Provider returned error (Anthropic: ")
    assert "Invalid `signature` in `thinking` block" in caught.value.message
    assert (
        "Invalid `signature` in `thinking` block" in caught.value.body["error"]["metadata"]["raw"]
    )


# --------------------------------------------------------------------------- mid-stream errors


def broken_after(*deltas: JSON, error: JSON | None, native: str = "error") -> Answer:
    """A stream that starts well and ends in OpenRouter's error chunk (no `[DONE]` after)."""
    model = "anthropic/claude-4-sonnet-20250522"
    last = chunk(model, "Anthropic", {"content": ""}, "error", native=native)
    if error is not None:
        last = {**last, "error": error}
    return Answer(
        completion={},
        chunks=[*(chunk(model, "Anthropic", d) for d in deltas), last],
        done=False,
    )


DISCONNECTED = {"code": "server_error", "message": "Provider disconnected unexpectedly"}


async def test_an_error_chunk_with_choices_raises_with_what_arrived(fake: StartFake) -> None:
    """A chunk with `choices` and a top-level `error` ends the stream with `APIError`,
    whose `partial_completion` holds the text before it.

    Source: https://openrouter.ai/docs/api/reference/streaming#handling-errors-during-streaming
    (the chunk, verbatim in shape).
    """
    provider = await fake(
        [
            broken_after(
                {"content": "The weather in"}, {"content": " Florence is"}, error=DISCONNECTED
            )
        ]
    )

    with pytest.raises(APIError) as caught:
        await complete(
            provider.client, stream=True, model=CLAUDE, messages=[{"role": "user", "content": "Hi"}]
        )

    assert not isinstance(caught.value, APIStatusError)
    assert caught.value.message == "Provider disconnected unexpectedly"
    assert caught.value.code == "server_error"
    partial = caught.value.partial_completion
    assert partial is not None
    assert partial.choices[0].message.content == "The weather in Florence is"


async def test_finish_reason_error_alone_raises(fake: StartFake) -> None:
    """`finish_reason: "error"` without an error object is an error too, not an answer.

    Source: https://github.com/OpenRouterTeam/openrouter-examples/issues/67
    (`finish_reason: "error"`, `native_finish_reason: "MALFORMED_FUNCTION_CALL"`).
    """
    provider = await fake(
        [broken_after({"content": "Let me"}, error=None, native="MALFORMED_FUNCTION_CALL")]
    )

    with pytest.raises(APIError) as caught:
        await complete(
            provider.client, stream=True, model=GEMINI, messages=[{"role": "user", "content": "Hi"}]
        )

    assert caught.value.partial_completion is not None
    assert caught.value.partial_completion.choices[0].message.content == "Let me"
    assert caught.value.partial_completion.choices[0].finish_reason == "error"


async def test_a_tool_call_cut_by_an_error_never_runs(fake: StartFake) -> None:
    """In an agent run, a turn cut by the error chunk raises; the half-written call
    (`{"locatio`) is not run and no further request is made.

    Source: https://openrouter.ai/docs/api/reference/streaming#handling-errors-during-streaming
    """
    start = {
        "content": None,
        "tool_calls": [
            {**weather_call("toolu_01X", ""), "function": {"name": "get_weather", "arguments": ""}}
        ],
    }
    half = {"content": None, "tool_calls": [{"index": 0, "function": {"arguments": '{"locatio'}}]}
    provider = await fake([broken_after(start, half, error=DISCONNECTED)])
    agent = provider.weather_agent(CLAUDE)

    with pytest.raises(APIError) as caught:
        await run_agent(agent, "Weather?", stream=True)

    assert caught.value.message == "Provider disconnected unexpectedly"
    assert provider.calls == []
    assert len(provider.server.requests) == 1


async def test_a_saved_claude_transcript_resumes_with_its_thinking(fake: StartFake) -> None:
    """A run stopped after the tool ran, saved as JSON and resumed from dicts, still sends
    the thinking block unmodified: history given as dicts keeps `reasoning_details`.

    Source: https://openrouter.ai/docs/guides/best-practices/reasoning-tokens#preserving-reasoning-blocks
    """
    step = claude_call_step()
    provider = await fake(
        [step, text_step(CLAUDE, "Anthropic", "Resumed: 18 C.", 0.001)],
        rules=[claude_keeps_its_thinking],
    )
    with pytest.raises(MaxTurnsExceeded) as stopped:
        await provider.weather_agent(CLAUDE, max_turns=1, extra_body=EXTRA).run("Florence?")
    history = msgspec.json.decode(msgspec.json.encode(stopped.value.messages))

    resumed = await provider.weather_agent(CLAUDE, extra_body=EXTRA).run(history)

    assert resumed.output == "Resumed: 18 C."
    assert provider.model.rejections == []
    sent = provider.followup()["messages"][1]
    assert sent["reasoning_details"] == step.message["reasoning_details"]
