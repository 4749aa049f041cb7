"""OpenRouter with Gemini models behind it: the thought signature rides in `reasoning_details`.

Gemini 3 behind OpenRouter answers a tool call with `reasoning_details` holding its
reasoning text and a `reasoning.encrypted` block tied to the call's id (the thought
signature). Without those details on the follow-up, OpenRouter answers 400, its message
"Provider returned error" and Gemini's own refusal inside `error.metadata.raw`.

Sources:
- preserving reasoning blocks:
  https://openrouter.ai/docs/guides/best-practices/reasoning-tokens#preserving-reasoning-blocks
- recorded exchanges with google/gemini-3-pro-preview, plain and streamed, and the follow-ups
  OpenRouter accepted:
  https://github.com/charmbracelet/fantasy/tree/main/providertests/testdata/TestOpenRouterThinking/gemini-3-pro-preview
- the 400, verbatim: https://github.com/LibreChat-AI/agents/issues/37,
  https://github.com/microsoft/agent-framework/issues/2947
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asynctool import BadRequestError
from asynctool.testing import RecordedRequest
from tests.providers._openrouter import (
    EXTRA,
    GEMINI,
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
    run_agent,
    sent_message_for,
)

GEMINI_THINKING = (
    "**Assessing User Intent**\n\nI'm dissecting the request about Florence's weather.\n\n",
    "**Pinpointing the Tool's Use**\n\nThe 'weather' tool is a direct match.\n\n",
)
GEMINI_ENCRYPTED = "CiUBjz1rX+QNZZDaA519jWkmEHkL1bakA2T4Xvum2KvF9e8Ip0JZCmYBjz1rXzYAg5DeuNR0igEJn1YkVzIDEDsN7c183Vby"


def gemini_call_step(stream: bool) -> Answer:
    """Gemini thinks in two text fragments and one encrypted block tied to the call.

    Plain, OpenRouter numbers the encrypted block `index: 1`. Streamed, the recording sends
    all three with `index: 0`; what it sent back (and OpenRouter accepted) was the text
    joined into one block and the encrypted block kept apart, so that is the message this
    answer means when streamed.
    """
    call_id = "tool_weather_wJMhKbJOiIeWsXDA84qT"
    model = "google/gemini-3-pro-preview-20251117"
    text = {"type": "reasoning.text", "format": "google-gemini-v1", "index": 0}
    encrypted = {
        "type": "reasoning.encrypted",
        "data": GEMINI_ENCRYPTED,
        "format": "google-gemini-v1",
        "id": call_id,
        "index": 0 if stream else 1,
    }
    joined = "".join(GEMINI_THINKING)
    call = weather_call(call_id, "Florence, Italy")
    message = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "reasoning": joined,
        "tool_calls": [call],
        "reasoning_details": [{**text, "text": joined}, encrypted],
    }
    used = usage(28, 120, 0.001496)
    chunks: list[JSON | str] = [
        chunk(
            model,
            "Google",
            {
                "content": "",
                "reasoning": GEMINI_THINKING[0],
                "reasoning_details": [{**text, "text": GEMINI_THINKING[0]}],
            },
            native=None,
        ),
        chunk(
            model,
            "Google",
            {
                "content": "",
                "reasoning": GEMINI_THINKING[1],
                "reasoning_details": [{**text, "text": GEMINI_THINKING[1]}],
            },
            native=None,
        ),
        chunk(
            model,
            "Google",
            {"content": "", "reasoning": None, "reasoning_details": [encrypted]},
            native=None,
        ),
        chunk(
            model,
            "Google",
            {
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            },
            native=None,
        ),
        chunk(
            model,
            "Google",
            {
                "content": None,
                "tool_calls": [
                    {"index": 0, "function": {"arguments": call["function"]["arguments"]}}
                ],
            },
            native=None,
        ),
        chunk(model, "Google", {"content": "", "reasoning": None}, "tool_calls", native="STOP"),
        {**chunk(model, "Google", {}), "choices": [], "usage": used},
    ]
    return Answer(
        completion=completion(model, "Google", message, "tool_calls", "STOP", used),
        chunks=chunks,
        body_prefix=WAITING,
    )


def gemini_keeps_its_reasoning(model: ProviderModel, request: RecordedRequest) -> Any:
    """Gemini behind OpenRouter: the thought signature travels in `reasoning_details`."""
    for call_id, (_, issued) in model.issued_calls().items():
        sent = sent_message_for(request.json, call_id)
        if sent is None or sent.get("reasoning_details") == issued["reasoning_details"]:
            continue
        position = request.messages.index(sent) + 1
        upstream = {
            "error": {
                "code": 400,
                "message": (
                    "Function call is missing a thought_signature in functionCall parts. This "
                    "is required for tools to work correctly, and missing thought_signature may "
                    "lead to degraded model performance. Additional data, function call "
                    f"`default_api:get_weather` , position {position}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                ),
                "status": "INVALID_ARGUMENT",
            }
        }
        raw = (
            "Gemini models require OpenRouter reasoning details to be preserved in each "
            "request. Please refer to our docs: https://openrouter.ai/docs/guides/best-practices/"
            "reasoning-tokens#preserving-reasoning-blocks. Upstream error: "
            + msgspec.json.format(msgspec.json.encode(upstream), indent=2).decode()
            + "\n"
        )
        return openrouter_error(raw, "Google AI Studio")
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_gemini_reasoning_details_come_back_unmodified(fake: StartFake, stream: bool) -> None:
    """Gemini's encrypted block (its thought signature) comes back in `reasoning_details`;
    streamed, the text fragments join and the encrypted block, a block of another type,
    stays a block of its own.

    Source: https://github.com/LibreChat-AI/agents/issues/37 (the 400 when dropped) and the
    recorded gemini-3-pro-preview exchanges in charmbracelet/fantasy (shapes, and the
    follow-up OpenRouter accepted).
    """
    step = gemini_call_step(stream)
    provider = await fake(
        [step, text_step(GEMINI, "Google", "It is 40 C in Florence.", 0.000384, native="STOP")],
        rules=[gemini_keeps_its_reasoning],
    )

    result = await run_agent(
        provider.weather_agent(GEMINI, extra_body=EXTRA), "Florence weather?", stream=stream
    )

    assert result.output == "It is 40 C in Florence."
    assert provider.model.rejections == []
    sent = provider.followup()["messages"][1]
    assert sent["reasoning_details"] == step.message["reasoning_details"]


async def test_gemini_without_reasoning_details_is_refused_with_openrouter_text(
    fake: StartFake,
) -> None:
    """The fake's rule and OpenRouter's error body: the message is OpenRouter's, the Gemini
    text is inside `metadata.raw`.

    Source: https://github.com/microsoft/agent-framework/issues/2947 (body, verbatim).
    """
    step = gemini_call_step(stream=False)
    provider = await fake([step], rules=[gemini_keeps_its_reasoning])
    await provider.client.chat.completions.create(
        model=GEMINI, messages=[{"role": "user", "content": "Weather?"}]
    )
    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": step.message["tool_calls"]},
        {"role": "tool", "tool_call_id": step.message["tool_calls"][0]["id"], "content": "40 C"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=GEMINI, messages=history)

    raw = caught.value.body["error"]["metadata"]["raw"]
    assert raw.startswith("Gemini models require OpenRouter reasoning details")
    assert "position 2" in raw
