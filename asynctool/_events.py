"""What an agent run produces: its result, and the events `run_stream` yields on the way."""

from __future__ import annotations

from typing import Any, Generic, TypeAlias, TypeVar

import msgspec

from ._pause import Defer, PausedRun, PendingCall
from ._types import ChatCompletion, Message, ToolCall, Usage

__all__ = [
    "AgentEvent",
    "ReasoningDelta",
    "RunCompleted",
    "RunResult",
    "TextDelta",
    "ToolCallArgumentsDelta",
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
        tool_results: every tool call of the run as it ended, in call order: what the
            model was told, whether it failed, how long it took, and the arguments it ran
            with when `before_tool_call` rewrote them (`rewritten_arguments`), which the
            transcript does not show.
        paused: when `before_tool_call` answered `Defer` for some calls, the run stopped
            after that turn's other calls: this is its saved state, for `Agent.resume`, and
            `output` is None. None when the run ended with an answer.
    """

    output: OutputT
    messages: list[Message]
    usage: Usage
    turns: int
    completion: ChatCompletion
    tool_results: list[ToolResult] = msgspec.field(default_factory=list)
    paused: PausedRun | None = None

    @property
    def pending(self) -> list[PendingCall]:
        """The calls that wait for a decision (`paused.pending`); empty unless paused."""
        return self.paused.pending if self.paused is not None else []


class TextDelta(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of the assistant's text, as it streams."""

    text: str
    turn: int


class ReasoningDelta(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of the model's reasoning, as it streams (`reasoning_content` or `reasoning`)."""

    text: str
    turn: int


class ToolCallStarted(msgspec.Struct, frozen=True, kw_only=True):
    """The model began a tool call; its arguments are still arriving."""

    id: str
    name: str
    turn: int


class ToolCallArgumentsDelta(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of a tool call's argument text, as it streams; the deltas of one call
    concatenate to its final `function.arguments`."""

    id: str
    name: str
    delta: str
    turn: int


class ToolCallReady(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call is complete (its arguments whole) and about to run."""

    call: ToolCall
    turn: int


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call ran (or failed, or was denied); `content` is what the model is told.

    `call` is the model's call, as the transcript keeps it. When `before_tool_call` returned
    `Rewrite`, the tool ran with `rewritten_arguments` (JSON text) instead of
    `call.function.arguments`; None means it ran with the model's own. `duration` is the
    tool's own time, without the hook's. When the hook returned `Defer`, the call did not
    run: `deferred` is that answer and `content` the placeholder the transcript holds until
    `Agent.resume` decides it (see `RunResult.paused`).
    """

    call: ToolCall
    content: str
    is_error: bool
    duration: float
    turn: int
    value: Any = None  # what the tool returned, before it was turned into text
    rewritten_arguments: str | None = None
    deferred: Defer | None = None  # the hook's Defer: the call waits, `content` says so


class TurnCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """One request of the run finished; `usage` is that request's."""

    turn: int
    completion: ChatCompletion
    usage: Usage


class RunCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """The run ended with an answer; the last event of a run."""

    result: RunResult[Any]


AgentEvent: TypeAlias = (
    TextDelta
    | ReasoningDelta
    | ToolCallStarted
    | ToolCallArgumentsDelta
    | ToolCallReady
    | ToolResult
    | TurnCompleted
    | RunCompleted
)
"""Every event `Agent.run_stream` yields."""
