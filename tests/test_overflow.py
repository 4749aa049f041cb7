"""A full context: each provider's error recognised as it reaches the client, and the default
compaction that makes room."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asynctool import (
    APIError,
    AssistantMessage,
    DeveloperMessage,
    FunctionCall,
    ImageContentPart,
    ImageURL,
    InvalidRequestError,
    Message,
    SystemMessage,
    TextContentPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from asynctool._exceptions import APIConnectionError
from asynctool._history import check_pairs
from asynctool._overflow import SUMMARY_PREFIX, is_context_overflow, summarize_oldest
from asynctool.testing import RawResponse, hang_up, raw_stream, status

from .conftest import serving

# Each provider's answer to a prompt over its context, as its users reported it (each URL is
# also in asynctool/_overflow.py). The status is the one the report shows.
PROVIDERS: dict[str, tuple[int, Any]] = {
    # https://github.com/crewAIInc/crewAI-examples/issues/121
    "openai": (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 8192 tokens. However, your "
                "messages resulted in 8227 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
    ),
    # https://github.com/BerriAI/litellm/issues/15968 (the text; the envelope is OpenAI's)
    "azure": (
        400,
        {
            "error": {
                "message": "Input tokens exceed the configured limit of 272000 tokens. Your "
                "messages resulted in 509178 tokens. Please reduce the length of the messages.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        },
    ),
    # https://github.com/entropy-research/Devon/issues/88
    "anthropic": (
        400,
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 209353 tokens > 199999 maximum",
            },
        },
    ),
    # https://github.com/google-gemini/gemini-cli/issues/6678: Gemini's list of errors
    "gemini": (
        400,
        [
            {
                "error": {
                    "code": 400,
                    "message": "The input token count (1200293) exceeds the maximum number of "
                    "tokens allowed (1048576).",
                    "status": "INVALID_ARGUMENT",
                }
            }
        ],
    ),
    # https://github.com/ggml-org/llama.cpp/pull/15780 (the type) and
    # https://github.com/llmmllab/llmmllab-api/issues/69 (today's text)
    "llama.cpp": (
        400,
        {
            "error": {
                "code": 400,
                "message": "request (25837 tokens) exceeds the available context size (25088 "
                "tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 25837,
                "n_ctx": 25088,
            }
        },
    ),
    # https://github.com/oobabooga/textgen/issues/7257: before the type existed
    "llama.cpp-older": (
        500,
        {
            "error": {
                "code": 500,
                "message": "the request exceeds the available context size. try increasing the "
                "context size or enable context shift",
                "type": "server_error",
            }
        },
    ),
    # https://github.com/ogx-ai/ogx/issues/4534: vLLM's top-level error object
    "vllm": (
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 6048 tokens. However, you "
            "requested 6616 tokens (568 in the messages, 6048 in the completion). Please "
            "reduce the length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    ),
    # https://github.com/vllm-project/vllm/issues/12165
    "vllm-prompt": (
        400,
        {
            "object": "error",
            "message": "The prompt (total length 25938) is too long to fit into the model "
            "(context length 4096). Make sure that `max_model_len` is no smaller than the "
            "number of text tokens plus multimodal tokens.",
            "type": "BadRequestError",
            "code": 400,
        },
    ),
    # https://github.com/nano-step/nano-brain/issues/208
    "ollama": (400, {"error": "the input length exceeds the context length"}),
    # https://github.com/ollama/ollama/issues/16800: llama.cpp's error, as a JSON string
    "ollama-nested": (
        400,
        {
            "error": '{"error":{"code":400,"message":"request (351 tokens) exceeds the '
            'available context size (256 tokens), try increasing it","type":'
            '"exceed_context_size_error","n_prompt_tokens":351,"n_ctx":256}}'
        },
    ),
}

# Errors that are not about the context, and must not set off a compaction.
OTHERS: dict[str, tuple[int, Any]] = {
    "max_tokens": (
        400,
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "max_tokens: 10000 > 4096, which is the maximum allowed number of "
                "output tokens for claude-3-5-sonnet-20240620",
            },
        },
    ),
    "tool role": (
        400,
        {
            "error": {
                "message": "Invalid parameter: messages with role 'tool' must be a response "
                "to a preceeding message with 'tool_calls'.",
                "type": "invalid_request_error",
                "param": "messages.[2].role",
                "code": None,
            }
        },
    ),
    "rate limit": (429, {"error": {"message": "Rate limit reached", "type": "requests"}}),
}


async def error_from(answer: RawResponse | Any, *, stream: bool = False) -> BaseException:
    async with serving(answer, max_retries=0) as (_, client):
        with pytest.raises(APIError) as caught:
            if stream:
                async with await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}], stream=True
                ) as chunks:
                    async for _ in chunks:
                        pass
            else:
                await client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
    return caught.value


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_each_providers_full_context_error_is_recognised(provider: str) -> None:
    code, body = PROVIDERS[provider]
    error = await error_from(status(code, body=body))
    assert is_context_overflow(error)


@pytest.mark.parametrize("kind", sorted(OTHERS))
async def test_other_errors_are_not_a_full_context(kind: str) -> None:
    code, body = OTHERS[kind]
    assert not is_context_overflow(await error_from(status(code, body=body)))


async def test_an_overflow_sent_inside_a_stream_is_recognised() -> None:
    # llama-server's streamed error event after a 200 (https://github.com/containers/ramalama/
    # issues/1914 shows it: `error: {"code":400,"message":"the request exceeds ..."}`).
    event = msgspec.json.encode(
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size. try increasing "
                "the context size or enable context shift",
                "type": "invalid_request_error",
            }
        }
    )
    error = await error_from(raw_stream(b"data: " + event + b"\n\n"), stream=True)
    assert type(error) is APIError
    assert is_context_overflow(error)


async def test_a_dropped_connection_is_not_a_full_context() -> None:
    error = await error_from(hang_up())
    assert isinstance(error, APIConnectionError)
    assert not is_context_overflow(error)
    assert not is_context_overflow(ValueError("maximum context length is 3"))


# -------------------------------------------------------------------------- summarize_oldest


def call(call_id: str) -> ToolCall:
    return ToolCall(id=call_id, function=FunctionCall(name="lookup", arguments='{"q": 1}'))


class Summariser:
    """An `ask` that records what it was asked and answers with a fixed summary."""

    def __init__(self) -> None:
        self.asked: list[list[Message]] = []

    async def __call__(self, messages: list[Message]) -> str:
        self.asked.append(messages)
        return "  the user asked about Oslo; lookup said 12C  "


async def test_a_conversation_keeps_its_instructions_and_the_question_to_answer() -> None:
    messages: list[Message] = [
        SystemMessage(content="Be brief."),
        UserMessage(content="Weather in Oslo?"),
        AssistantMessage(tool_calls=[call("a")]),
        ToolMessage(content="12C", tool_call_id="a"),
        AssistantMessage(content="12C in Oslo."),
        DeveloperMessage(content="Use metric units."),
        UserMessage(content="And Bergen?"),
        AssistantMessage(content="9C."),
        UserMessage(content="And Tromso?"),
    ]
    ask = Summariser()
    compacted = await summarize_oldest()(messages, ask)
    assert compacted == [
        SystemMessage(content="Be brief."),
        DeveloperMessage(content="Use metric units."),
        UserMessage(content=SUMMARY_PREFIX + "the user asked about Oslo; lookup said 12C"),
        UserMessage(content="And Tromso?"),
    ]
    (request,) = ask.asked
    assert isinstance(request[0], SystemMessage) and "Summarise" in str(request[0].content)
    told = request[1].content
    assert isinstance(told, str)
    assert told.splitlines() == [
        "user: Weather in Oslo?",
        'assistant: called lookup({"q": 1})',
        "tool result (a): 12C",
        "assistant: 12C in Oslo.",
        "user: And Bergen?",
        "assistant: 9C.",
    ]


async def test_one_exchange_before_the_question_is_summarised_too() -> None:
    messages: list[Message] = [
        UserMessage(content="long " * 100),
        AssistantMessage(content="noted"),
        UserMessage(content="now?"),
    ]
    compacted = await summarize_oldest()(messages, Summariser())
    assert [type(m) for m in compacted] == [UserMessage, UserMessage]
    assert compacted[1] == UserMessage(content="now?")


async def test_one_question_over_many_turns_keeps_the_question_and_the_last_turn() -> None:
    messages: list[Message] = [SystemMessage(content="s"), UserMessage(content="Plan a trip")]
    for i in range(3):
        messages += [
            AssistantMessage(content=f"step {i}", tool_calls=[call(f"c{i}"), call(f"d{i}")]),
            ToolMessage(content=f"r{i}", tool_call_id=f"c{i}"),
            ToolMessage(content=f"s{i}", tool_call_id=f"d{i}"),
        ]
    compacted = await summarize_oldest()(messages, Summariser())
    assert compacted[:2] == messages[:2]
    assert isinstance(compacted[2], UserMessage)
    assert str(compacted[2].content).startswith(SUMMARY_PREFIX)
    assert compacted[3:] == messages[-3:]
    check_pairs(compacted)


async def test_a_single_turn_has_nothing_older_to_summarise() -> None:
    messages: list[Message] = [
        SystemMessage(content="s"),
        UserMessage(content="q" * 10_000),
        AssistantMessage(tool_calls=[call("a")]),
        ToolMessage(content="big", tool_call_id="a"),
    ]
    ask = Summariser()
    assert await summarize_oldest()(messages, ask) == messages
    assert ask.asked == []


async def test_the_summary_request_sends_at_most_max_chars_of_the_newest_text() -> None:
    messages: list[Message] = [
        UserMessage(content="old " * 1000),
        AssistantMessage(content="fine"),
        UserMessage(content="new"),
    ]
    ask = Summariser()
    await summarize_oldest(max_chars=50)(messages, ask)
    told = str(ask.asked[0][1].content)
    assert len(told) == 50 and told.endswith("assistant: fine")


@pytest.mark.parametrize(
    ("options", "field"),
    [({"max_chars": 0}, "max_chars"), ({"instructions": " "}, "instructions")],
)
def test_summarize_oldest_refuses_bad_options(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        summarize_oldest(**options)
    assert caught.value.field == field


async def test_an_overflow_in_a_plain_text_body_is_recognised() -> None:
    # A gateway in front of the model that answers in text, not JSON.
    body = RawResponse(
        status=400, body=b"prompt is too long: 9000 tokens > 8192", content_type="text/plain"
    )
    assert is_context_overflow(await error_from(body))


async def test_the_summary_request_tells_content_parts_by_their_text() -> None:
    messages: list[Message] = [
        UserMessage(
            content=[
                TextContentPart(text="look at"),
                ImageContentPart(image_url=ImageURL(url="data:,")),
            ]
        ),
        AssistantMessage(content=None, refusal="no"),
        UserMessage(content="now?"),
    ]
    ask = Summariser()
    await summarize_oldest()(messages, ask)
    assert str(ask.asked[0][1].content).splitlines() == [
        "user: look at [ImageContentPart]",
        "assistant: ",
    ]
