"""A context that is full: knowing the error when a provider sends it, and making room.

A request longer than the model's context fails, and each provider words it its own way.
`is_context_overflow(error)` knows these, each seen in the provider's own answer:

- OpenAI: code `context_length_exceeded`, "This model's maximum context length is 8192
  tokens. However, your messages resulted in 8227 tokens."
  (https://github.com/crewAIInc/crewAI-examples/issues/121)
- Azure OpenAI: the same code and text (https://github.com/Azure/azure-sdk-for-net/issues/41892),
  and for its newer models "Input tokens exceed the configured limit of 272000 tokens. Your
  messages resulted in 509178 tokens." (https://github.com/BerriAI/litellm/issues/15968)
- Anthropic and endpoints that speak its errors: `invalid_request_error`, "prompt is too
  long: 209353 tokens > 199999 maximum" (https://github.com/entropy-research/Devon/issues/88)
- Gemini: 400 `INVALID_ARGUMENT`, "The input token count (1200293) exceeds the maximum number
  of tokens allowed (1048576)." (https://github.com/google-gemini/gemini-cli/issues/6678)
- llama.cpp's llama-server: type `exceed_context_size_error` (added in
  https://github.com/ggml-org/llama.cpp/pull/15780), "request (25837 tokens) exceeds the
  available context size (25088 tokens), try increasing it", and before that "the request
  exceeds the available context size. try increasing the context size or enable context
  shift" (https://github.com/oobabooga/textgen/issues/7257); a real server is in the tests.
- vLLM: "This model's maximum context length is 16384 tokens. However, you requested 122946
  tokens (112946 in the messages, 10000 in the completion)."
  (https://github.com/vllm-project/vllm/issues/20409), and "The prompt (total length 25938) is
  too long to fit into the model (context length 4096)."
  (https://github.com/vllm-project/vllm/issues/12165)
- Ollama: "the input length exceeds the context length"
  (https://github.com/nano-step/nano-brain/issues/208), and since it stopped truncating
  prompts, llama.cpp's `exceed_context_size_error` (https://github.com/ollama/ollama/issues/16800).

Only an error the server sent is one: a dropped connection or a timeout says nothing about
the context. The text is matched, not the status: llama-server has answered 500 and 400
for it, and in a stream the error comes after a 200.

`summarize_oldest()` is the default way to make room: the older turns are summarised by the
same model, in one request, and replaced by the summary; the system and developer messages
and the latest turn stay as they were (the question about to be answered, or in a long run
of tool calls the last answer with its results, and the question). It cuts only between
whole turns, so a tool call never loses its answer.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

import msgspec

from ._exceptions import APIConnectionError, APIError, InvalidRequestError
from ._history import is_instruction, turn_starts
from ._types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
)

__all__ = ["SUMMARY_PREFIX", "Ask", "Compact", "is_context_overflow", "summarize_oldest"]

# Lowercased; each line names the provider whose words it is (sources in the docstring).
_OVERFLOW_TEXT = re.compile(
    "|".join(
        (
            r"maximum context length is \d+",  # OpenAI, Azure OpenAI, vLLM
            r"input tokens exceed the configured limit",  # Azure OpenAI
            r"prompt is too long",  # Anthropic
            r"input token count.*exceeds the maximum number of tokens",  # Gemini
            r"exceeds the available context size",  # llama.cpp, Ollama
            r"too long to fit into the model",  # vLLM
            r"input length exceeds the context length",  # Ollama
        )
    )
)
_OVERFLOW_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})


def is_context_overflow(error: BaseException) -> bool:
    """Whether `error` is a provider saying the request does not fit the model's context."""
    if not isinstance(error, APIError) or isinstance(error, APIConnectionError):
        return False
    if error.code in _OVERFLOW_CODES or error.type in _OVERFLOW_CODES:
        return True
    return any(_OVERFLOW_TEXT.search(text.lower()) for text in _texts(error))


def _texts(error: APIError) -> list[str]:
    """The error's message, and its whole body as text: a provider may nest its error as a
    JSON string inside another (Ollama's native API does), where no field reader looks."""
    texts = [error.message]
    if isinstance(error.body, str):
        texts.append(error.body)
    elif error.body is not None:
        try:
            texts.append(msgspec.json.encode(error.body).decode())
        except TypeError:
            pass
    return texts


# ------------------------------------------------------------------------------- compaction

Ask: TypeAlias = Callable[[list[Message]], Awaitable[str]]
"""Sends messages to the run's model (no tools, no output type) and returns its answer."""

Compact: TypeAlias = Callable[[list[Message], Ask], Awaitable[list[Message]]]
"""`async def compact(messages, ask) -> messages`: a transcript that takes less room.
Returning the messages unchanged says there is nothing to compact."""

SUMMARY_PREFIX = "[Summary of the earlier conversation, written when it outgrew the context]\n"
"""How a summary message begins: the transcript shows where compaction happened."""

SUMMARY_INSTRUCTIONS = (
    "Summarise the conversation below for yourself, to continue it later with only this "
    "summary. Keep every fact, number, name, decision, tool result and open question that "
    "may matter; drop greetings and repetition. Answer with the summary alone."
)


@dataclass(frozen=True, slots=True)
class _SummarizeOldest:
    instructions: str
    max_chars: int

    async def __call__(self, messages: list[Message], ask: Ask) -> list[Message]:
        split = _split(messages)
        if split is None:
            return messages
        head, old, last = split
        summary = await ask(
            [
                SystemMessage(content=self.instructions),
                UserMessage(content=_as_text(old)[-self.max_chars :]),
            ]
        )
        return [*head, UserMessage(content=SUMMARY_PREFIX + summary.strip()), *messages[last:]]


def _split(messages: list[Message]) -> tuple[list[Message], list[Message], int] | None:
    """What comes before the summary, what it summarises, and where the kept messages begin;
    None when there is nothing older than what is kept.

    Kept: the instructions, and the latest turn. When the transcript ends with a question
    the model is about to answer (a conversation), that question is the latest turn, and
    every earlier exchange is summarised. Otherwise (one question worked on over many
    turns of tool calls) it is the last answer with its calls and results, and the
    question stays too, before the summary.
    """
    starts = turn_starts(messages)
    if not starts:
        return None
    last_answer = max(i for i, m in enumerate(messages) if isinstance(m, AssistantMessage))
    after = [
        i for i in range(last_answer + 1, len(messages)) if isinstance(messages[i], UserMessage)
    ]
    last = after[0] if after else starts[-1]
    begin = next(i for i, m in enumerate(messages) if not is_instruction(m))
    users = [i for i, m in enumerate(messages) if isinstance(m, UserMessage)]
    pinned = users[-1] if users and begin <= users[-1] < last else None
    old = [
        messages[i] for i in range(begin, last) if i != pinned and not is_instruction(messages[i])
    ]
    if not old:
        return None
    head = [m for i, m in enumerate(messages[:last]) if i == pinned or is_instruction(m)]
    return head, old, last


def _as_text(messages: list[Message]) -> str:
    return "\n".join(_line(m) for m in messages)


def _line(message: Message) -> str:
    if isinstance(message, AssistantMessage):
        calls = [
            f"{call.function.name}({call.function.arguments})" for call in message.tool_calls or ()
        ]
        said = _content(message.content)
        return "assistant: " + "; ".join(
            [*([said] if said else []), *(f"called {c}" for c in calls)]
        )
    if isinstance(message, ToolMessage):
        return f"tool result ({message.tool_call_id}): {_content(message.content)}"
    return f"{message.role}: {_content(message.content)}"


def _content(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            getattr(part, "text", None) or f"[{type(part).__name__}]" for part in content
        )
    return str(content)


def summarize_oldest(
    *, instructions: str = SUMMARY_INSTRUCTIONS, max_chars: int = 100_000
) -> Compact:
    """The default compaction: the oldest turns, summarised by the run's own model.

    Args:
        instructions: the system message of the summary request.
        max_chars: the most characters of old conversation sent to be summarised (the most
            recent of them); the summary request must itself fit the context.
    """
    if not isinstance(instructions, str) or not instructions.strip():
        raise InvalidRequestError("instructions", "expected the text of a system message")
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise InvalidRequestError("max_chars", f"expected an int >= 1, got {max_chars!r}")
    return _SummarizeOldest(instructions, max_chars)
