"""Gemini 3 through its OpenAI-compatible endpoint: thought signatures go back on their calls.

Gemini 3 puts `extra_content: {"google": {"thought_signature": ...}}` on the tool calls of an
answer (on the first call only when the calls are parallel, on each step's call when they are
sequential) and validates the current turn strictly: a call that comes back without its
signature is a 400, with an error body that is a JSON *list*.

Sources:
- thought signatures and the OpenAI-compatible `extra_content` field, parallel versus
  sequential calls, strict validation of the current turn:
  https://ai.google.dev/gemini-api/docs/thought-signatures
- the 400 and its list-shaped body from the OpenAI-compatible endpoint, verbatim:
  https://github.com/manthanabc/paws/issues/103,
  https://discuss.ai.google.dev/t/openai-api-compatibility-broken-due-to-thought-signature-on-gemini-3-pro-preview/109823
- a streamed tool-call delta with `extra_content` and no `index`:
  https://github.com/continuedev/continue/pull/8865 (and recorded deltas quoted in provider
  proxies' tests)
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asynctool import BadRequestError, MaxTurnsExceeded
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
    tool_messages,
)

MODEL = "gemini-3-pro-preview"
SIGNATURE_A = "CiQB0e2Kb4Q8m0pZ3m2FhQdC0yq1y9zQvJ2nXcYj1w7rY0V8pQ=="
SIGNATURE_B = "CiQB0e2Kb7Tq5aR6nX1cW8vD2fL9kE3mJ4hG0sY7uP1oI2wQ5Z=="
MISSING = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
# What Vertex answers for a signature that is present but not the one it issued:
# https://github.com/NoeFabris/opencode-antigravity-auth/issues/368
INVALID = "Unable to submit request because Thought signature is not valid."


def signed(signature: str) -> JSON:
    return {"google": {"thought_signature": signature}}


def call(id: str, location: str, signature: str | None = None, name: str = "get_weather") -> JSON:
    """A tool call as Gemini writes it: `extra_content` first, no `index`."""
    out: JSON = {}
    if signature is not None:
        out["extra_content"] = signed(signature)
    out["function"] = {
        "arguments": msgspec.json.encode({"location": location}).decode(),
        "name": name,
    }
    out["id"] = id
    out["type"] = "function"
    return out


def completion(message: JSON, finish_reason: str, usage: tuple[int, int]) -> JSON:
    prompt, output = usage
    return {
        "choices": [{"finish_reason": finish_reason, "index": 0, "message": message}],
        "created": 1767225600,
        "id": "x5ZWaePKGdSh1dkPlI7j8Ak",
        "model": MODEL,
        "object": "chat.completion",
        "usage": {
            "completion_tokens": output,
            "prompt_tokens": prompt,
            "total_tokens": prompt + output,
        },
    }


def chunk(delta: JSON, finish_reason: str | None = None, usage: JSON | None = None) -> JSON:
    out: JSON = {
        "choices": [{"delta": delta, "finish_reason": finish_reason, "index": 0}],
        "created": 1767225600,
        "id": "x5ZWaePKGdSh1dkPlI7j8Ak",
        "model": MODEL,
        "object": "chat.completion.chunk",
    }
    if usage is not None:
        out["usage"] = usage
    return out


def calls_answer(*calls: JSON) -> Answer:
    """A step that calls tools; streamed, every call arrives whole in one delta."""
    message = {"role": "assistant", "tool_calls": list(calls)}
    usage = {"completion_tokens": 24, "prompt_tokens": 61, "total_tokens": 85}
    return Answer(
        completion=completion(message, "tool_calls", (61, 24)),
        chunks=[
            chunk({"role": "assistant", "tool_calls": list(calls)}),
            chunk({"role": "assistant"}, "tool_calls", usage),
        ],
    )


def text_answer(text: str) -> Answer:
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    usage = {"completion_tokens": 12, "prompt_tokens": 96, "total_tokens": 108}
    return Answer(
        completion=completion({"content": text, "role": "assistant"}, "stop", (96, 12)),
        chunks=[
            chunk({"content": head, "role": "assistant"}),
            chunk({"content": tail, "role": "assistant"}),
            chunk({"role": "assistant"}, "stop", usage),
        ],
    )


def thought_signatures(model: ProviderModel, request: RecordedRequest) -> Any:
    """Gemini's check: in the current turn (since the last user message), every call it
    signed comes back with that signature. Positions count Gemini's contents, where system
    instructions are not a content."""
    messages = request.messages
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    turn_start = users[-1] if users else 0
    issued = model.issued_calls()
    position = 0
    for i, message in enumerate(messages):
        if message.get("role") in ("system", "developer"):
            continue
        position += 1
        if i < turn_start or message.get("role") != "assistant":
            continue
        for sent in message.get("tool_calls") or ():
            found = issued.get(sent.get("id"))
            expected = found[0].get("extra_content") if found else None
            if expected is None:
                continue  # not one of ours, or a parallel call after the first
            if sent.get("extra_content") is None:
                text = MISSING.format(name=sent["function"]["name"], position=position)
                return gemini_error(text)
            if sent["extra_content"] != expected:
                return gemini_error(INVALID)
    return None


def gemini_error(message: str) -> Any:
    # The OpenAI-compatible endpoint answers with a list holding one Google error object.
    return reject(400, [{"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}])


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_signed_call_goes_back_with_its_signature(fake: StartFake, stream: bool) -> None:
    """One call, one signature: the follow-up carries `extra_content` on that call, as sent.

    Source: https://ai.google.dev/gemini-api/docs/thought-signatures (function calling is
    validated strictly: a missing signature is a 4xx).
    """
    signed_call = call("function-call-1", "Florence, Italy", SIGNATURE_A)
    provider = await fake(
        [calls_answer(signed_call), text_answer("It is 18 C and clear in Florence.")],
        rules=[thought_signatures],
    )
    agent = provider.weather_agent(MODEL)

    result = await run_agent(agent, "Weather in Florence?", stream=stream)

    assert result.output == "It is 18 C and clear in Florence."
    assert provider.model.rejections == []
    [sent] = calls_of(provider.followup())
    assert same_call(sent, signed_call, "extra_content")
    assert tool_messages(provider.followup())[0]["tool_call_id"] == "function-call-1"


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_the_tool_call_keeps_extra_content_as_an_attribute(
    fake: StartFake, stream: bool
) -> None:
    """`tool_call.extra_content` is the Google object on the completion (assembled from the
    delta that carried it when streamed), and it is part of the call when encoded.

    Source: https://ai.google.dev/gemini-api/docs/thought-signatures
    """
    provider = await fake([calls_answer(call("function-call-1", "Lyon", SIGNATURE_A))])

    completion = await complete(
        provider.client,
        stream=stream,
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Lyon?"}],
    )

    [tool_call] = completion.choices[0].message.tool_calls
    assert tool_call.extra_content == signed(SIGNATURE_A)
    assert msgspec.to_builtins(tool_call)["extra_content"] == signed(SIGNATURE_A)


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_parallel_then_sequential_steps_keep_every_signature(
    fake: StartFake, stream: bool
) -> None:
    """Parallel calls carry one signature (on the first); the next step's call has its own.
    The third request holds both steps of the current turn, each with what it was given.

    Source: https://ai.google.dev/gemini-api/docs/thought-signatures ("parallel function
    calls": only the first call is signed; "sequential": every step's first call is).
    """
    first = call("function-call-1", "Paris", SIGNATURE_A)
    second = call("function-call-2", "Berlin")
    third = call("function-call-3", "Madrid", SIGNATURE_B)
    provider = await fake(
        [calls_answer(first, second), calls_answer(third), text_answer("Done with all three.")],
        rules=[thought_signatures],
    )

    result = await run_agent(provider.weather_agent(MODEL), "Three cities", stream=stream)

    assert result.output == "Done with all three."
    assert provider.model.rejections == []
    assert sorted(provider.calls) == ["Berlin", "Madrid", "Paris"]
    sent = calls_of(provider.followup(2))
    assert [c["id"] for c in sent] == ["function-call-1", "function-call-2", "function-call-3"]
    assert same_call(sent[0], first, "extra_content")
    assert same_call(sent[2], third, "extra_content")
    # The unsigned parallel call is sent back as it came: without a signature.
    assert "extra_content" not in sent[1]


async def test_a_saved_transcript_given_as_dicts_keeps_the_signature(fake: StartFake) -> None:
    """A run resumed from JSON (the transcript as dicts, ending with the tool result) sends
    the signature back: history given as dicts is converted without losing it.

    Source: https://ai.google.dev/gemini-api/docs/thought-signatures (the current turn is
    validated strictly, and here the resumed turn is the current one).
    """
    signed_call = call("function-call-1", "Oslo", SIGNATURE_A)
    provider = await fake(
        [calls_answer(signed_call), text_answer("Oslo: 18 C.")], rules=[thought_signatures]
    )
    # max_turns=1 stops the run once the tool has run; the error carries the transcript.
    with pytest.raises(MaxTurnsExceeded) as stopped:
        await provider.weather_agent(MODEL, max_turns=1).run("Oslo?")
    history: list[dict[str, Any]] = msgspec.json.decode(msgspec.json.encode(stopped.value.messages))

    resumed = await provider.weather_agent(MODEL).run(history)

    assert resumed.output == "Oslo: 18 C."
    assert provider.calls == ["Oslo"]
    [sent] = calls_of(provider.followup())
    assert same_call(sent, signed_call, "extra_content")


async def test_to_param_carries_the_signature_in_a_hand_written_loop(fake: StartFake) -> None:
    """`message.to_param()` is what a hand-written loop appends; it keeps `extra_content`.

    Source: https://ai.google.dev/gemini-api/docs/thought-signatures
    """
    signed_call = call("function-call-1", "Rome", SIGNATURE_A)
    provider = await fake(
        [calls_answer(signed_call), text_answer("Rome is clear.")], rules=[thought_signatures]
    )
    messages: list[Any] = [{"role": "user", "content": "Rome?"}]
    tools = [provider.weather_tool().definition]
    first = await provider.client.chat.completions.create(
        model=MODEL, messages=messages, tools=tools
    )
    message = first.choices[0].message
    messages.append(message.to_param())
    messages.append({"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18 C"})

    second = await provider.client.chat.completions.create(
        model=MODEL, messages=messages, tools=tools
    )

    assert second.choices[0].message.content == "Rome is clear."
    [sent] = calls_of(provider.followup())
    assert same_call(sent, signed_call, "extra_content")


async def test_a_call_sent_back_without_its_signature_is_refused(fake: StartFake) -> None:
    """The fake refuses what Gemini refuses: a 400 with Google's list-shaped body.

    Source: https://github.com/manthanabc/paws/issues/103 (status, body shape and text).
    """
    signed_call = call("function-call-1", "Nice", SIGNATURE_A)
    provider = await fake([calls_answer(signed_call), text_answer("unused")], [thought_signatures])
    await provider.client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Nice?"}]
    )
    unsigned = {k: v for k, v in signed_call.items() if k != "extra_content"}
    history = [
        {"role": "user", "content": "Nice?"},
        {"role": "assistant", "tool_calls": [unsigned]},
        {"role": "tool", "tool_call_id": "function-call-1", "content": "18 C"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=MODEL, messages=history)

    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, list)
    assert "position 2" in caught.value.body[0]["error"]["message"]


async def test_gemini_error_text_is_the_error_message(fake: StartFake) -> None:
    """Gemini's error body is a list; `exc.message` is the text inside it, not a generic
    "HTTP 400".

    Source: https://github.com/manthanabc/paws/issues/103 (the list-shaped body).
    """
    provider = await fake(
        [], [lambda model, request: gemini_error(MISSING.format(name="x", position=2))]
    )

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}]
        )

    assert caught.value.message.startswith("Function call is missing a thought_signature")
    assert "Function call is missing a thought_signature" in str(caught.value)
