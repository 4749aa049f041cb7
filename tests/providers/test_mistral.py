"""Mistral: tool call ids of nine letters and digits, kept exactly as Mistral made them.

Mistral's API checks the id of every tool call in a request, on assistant messages and on
tool messages: nine characters from a-z, A-Z, 0-9, or a 400 whose body is a flat error
object (`{"object": "error", "message": ...}`). Its tool calls carry an `index`, also in
plain answers.

Sources:
- the id rule and the 400, verbatim: https://github.com/nearai/ironclaw/issues/1241,
  https://github.com/editor-code-assistant/eca/issues/233; the validator that enforces it,
  https://github.com/mistralai/mistral-common (src/mistral_common/protocol/instruct/validator.py,
  as cited by https://docs.vllm.ai/en/v0.15.0/api/vllm/tool_parsers/mistral_tool_parser/)
- the shape of tool calls (`id`, `type`, `function`, `index`) and stream choices:
  https://docs.rs/crate/mistral-openapi-client/latest/source/docs/ToolCall.md (generated from
  Mistral's OpenAPI specification)

Not checked here: whether tool messages need `name`. Mistral's function-calling guide sends
one, but no source shows the API refusing a tool message without it.
"""

from __future__ import annotations

import re
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
    reject,
    run_agent,
    same_call,
    tool_messages,
)

MODEL = "mistral-large-latest"
ID = re.compile(r"[a-zA-Z0-9]{9}")


def envelope(kind: str) -> JSON:
    return {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": kind,
        "model": MODEL,
        "created": 1767225600,
    }


def used(prompt: int, output: int) -> JSON:
    return {"prompt_tokens": prompt, "total_tokens": prompt + output, "completion_tokens": output}


def answer(message: JSON, finish: str, usage: JSON) -> Answer:
    def chunk(delta: JSON, finish_reason: str | None = None, **top: Any) -> JSON:
        return {
            **envelope("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **top,
        }

    chunks: list[JSON | str] = [chunk({"role": "assistant", "content": ""})]
    if message.get("content"):
        chunks.append(chunk({"content": message["content"]}))
    if message.get("tool_calls"):
        chunks.append(chunk({"tool_calls": message["tool_calls"]}))
    # Mistral's last chunk has the finish reason and the usage together.
    chunks.append(chunk({"content": ""}, finish, usage=usage))
    body = {
        **envelope("chat.completion"),
        "usage": usage,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    return Answer(completion=body, chunks=chunks)


def call(id: str, location: str, index: int = 0) -> JSON:
    arguments = msgspec.json.encode({"location": location}).decode()
    return {
        "id": id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
        "index": index,
    }


def nine_character_ids(model: ProviderModel, request: RecordedRequest) -> Any:
    """Mistral's check of every tool call id in the request."""
    ids = [c.get("id") for m in request.messages for c in m.get("tool_calls") or ()]
    ids += [m.get("tool_call_id") for m in request.messages if m.get("role") == "tool"]
    for id in ids:
        if not isinstance(id, str) or not ID.fullmatch(id):
            message = f"Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."
            return reject(
                400,
                {
                    "object": "error",
                    "message": message,
                    "type": "invalid_function_call",
                    "param": None,
                    "code": "3280",
                },
            )
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_parallel_calls_keep_mistrals_ids(fake: StartFake, stream: bool) -> None:
    """Two calls in one turn: the ids go back unchanged, on the calls and on the tool
    messages, so Mistral's id check passes.

    Source: https://github.com/nearai/ironclaw/issues/1241 (the rule, by its error).
    """
    calls = [call("D681PevKs", "Paris", 0), call("Qm7Tz2xLb", "Lyon", 1)]
    provider = await fake(
        [
            answer(
                {"role": "assistant", "content": "", "tool_calls": calls},
                "tool_calls",
                used(120, 40),
            ),
            answer(
                {"role": "assistant", "content": "Paris and Lyon: 18 C."}, "stop", used(190, 12)
            ),
        ],
        rules=[nine_character_ids],
    )

    result = await run_agent(provider.weather_agent(MODEL), "Paris and Lyon?", stream=stream)

    assert result.output == "Paris and Lyon: 18 C."
    assert provider.model.rejections == []
    sent = calls_of(provider.followup())
    assert [same_call(s, c) for s, c in zip(sent, calls, strict=True)] == [True, True]
    assert [m["tool_call_id"] for m in tool_messages(provider.followup())] == [
        "D681PevKs",
        "Qm7Tz2xLb",
    ]
    assert result.usage.total_tokens == 160 + 202


async def test_an_id_that_is_not_mistrals_is_refused_with_mistrals_message(fake: StartFake) -> None:
    """The fake's rule, with Mistral's flat error body: `exc.message` is its sentence.

    Source: https://github.com/editor-code-assistant/eca/issues/233 (body, verbatim).
    """
    provider = await fake([], rules=[nine_character_ids])
    history = [
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [call("call_0fypS1hVX", "Paris")]},
        {"role": "tool", "tool_call_id": "call_0fypS1hVX", "content": "18 C"},
    ]

    with pytest.raises(BadRequestError) as caught:
        await provider.client.chat.completions.create(model=MODEL, messages=history)

    assert caught.value.message == (
        "Tool call id was call_0fypS1hVX but must be a-z, A-Z, 0-9, with a length of 9."
    )
    assert caught.value.code == "3280"
    assert caught.value.type == "invalid_function_call"
