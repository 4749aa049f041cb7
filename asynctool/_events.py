"""What an agent run produces: its result, and the events `run_stream` yields on the way."""

from __future__ import annotations

from typing import Any, Generic, TypeAlias, TypeVar

import msgspec

from ._types import ChatCompletion, Message, ToolCall, Usage

__all__ = [
    "AgentEvent",
    "RunCompleted",
    "RunResult",
    "TextDelta",
    "ToolCallReady",
    "ToolCallStarted",
    "ToolResult",
    "TurnCompleted",
]

OutputT = TypeVar("OutputT")


class RunResult(msgspec.Struct, Generic[OutputT], kw_only=True):
    """The outcome of an agent run.

    Attributes:
        output: the final answer: its text, or with `output_type` the parsed value.
        messages: the whole transcript as wire structs: the input, every assistant turn with
            its tool calls, one tool message per call, and the final answer. It encodes to
            JSON and back (`msgspec.json.decode(data, type=list[Message])`), and
            `agent.run(result.messages + [next_message])` continues the conversation.
        usage: tokens summed over every request of the run.
        turns: how many requests the run made.
        completion: the last completion received.
    """

    output: OutputT
    messages: list[Message]
    usage: Usage
    turns: int
    completion: ChatCompletion


class TextDelta(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of the assistant's text, as it streams."""

    text: str
    turn: int


class ToolCallStarted(msgspec.Struct, frozen=True, kw_only=True):
    """The model began a tool call; its arguments are still arriving."""

    id: str
    name: str
    turn: int


class ToolCallReady(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call is complete (its arguments whole) and about to run."""

    call: ToolCall
    turn: int


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call ran (or failed, or was denied); `content` is what the model is told."""

    call: ToolCall
    content: str
    is_error: bool
    duration: float
    turn: int
    value: Any = None  # what the tool returned, before it was turned into text


class TurnCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """One request of the run finished; `usage` is that request's."""

    turn: int
    completion: ChatCompletion
    usage: Usage


class RunCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """The run ended with an answer; the last event of a run."""

    result: RunResult[Any]


AgentEvent: TypeAlias = (
    TextDelta | ToolCallStarted | ToolCallReady | ToolResult | TurnCompleted | RunCompleted
)
"""Every event `Agent.run_stream` yields."""
