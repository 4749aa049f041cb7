"""A run that stops for a person, is saved as JSON, and goes on later, maybe elsewhere.

`before_tool_call` may answer `Defer()`: the call does not run now. The run finishes the
turn's other calls, then stops and returns a `RunResult` whose `paused` is a `PausedRun`
(and `pending` lists the calls that wait). `PausedRun` is a msgspec Struct: `to_json()` and
`PausedRun.from_json()` carry it to a file, a database row or another process, and
`agent.resume(paused, decisions)` goes on from it with a decision per pending call:
`Approve()`, `Deny(reason)`, `Rewrite(arguments)`, `Answer(output)`, or `Defer()` again to
keep that one waiting while the others go on.

While paused, the transcript (`PausedRun.messages`) is one that can be sent as it is: each
pending call is answered by a placeholder tool message (`PENDING`), which `resume` replaces
with the call's real answer. Leaving the calls unanswered would give a transcript that every
provider refuses (an assistant message's calls must all be answered), and taking the
assistant message out would lose the calls and the other calls' results. With the
placeholder, `agent.run(paused.messages + [follow_up])` also works, should the decision never
come: the model reads that the call did not run.

What `PausedRun` keeps is what the loop needs to go on as if it had not stopped: the
transcript, the pending calls, every tool result so far (without `value`, the tool's Python
return value, which need not be JSON), the usage, the turns and requests made and the time
spent, the failed calls in a row, the `tool_choice` in force and the output retries left.
The agent's own settings (model, tools, hooks, limits) are not saved: `resume` runs with the
agent it is called on, which may have been made anew in another process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import msgspec

from ._exceptions import InvalidRequestError
from ._types import AssistantMessage, ChatCompletion, Message, ToolCall, ToolMessage, Usage

if TYPE_CHECKING:
    from ._events import ToolResult
    from ._execute import Deny, Rewrite

__all__ = [
    "PENDING",
    "Answer",
    "Approve",
    "Decision",
    "Defer",
    "PausedRun",
    "PendingCall",
    "SavedResult",
    "checked_decisions",
    "placeholder",
    "with_answers",
]

PENDING = "This tool call is waiting for a person's decision; it has not run."
"""The text of the placeholder tool message that answers a pending call while paused."""

FORMAT: Literal[1] = 1
"""The version of `PausedRun`'s JSON; one of another version is refused, not misread."""


@dataclass(frozen=True, slots=True)
class Defer:
    """A `before_tool_call` decision: do not run the call now; end the run after this turn's
    other calls, with the call in `result.pending`, to be decided later (`Agent.resume`).

    `reason` is for whoever decides ("refunds above 100 need a manager"); the model does not
    see it.
    """

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Approve:
    """A decision for a pending call: run it, as the model wrote it."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A decision for a pending call (or a `before_tool_call` answer): do not run the tool;
    `output` is its result, told to the model as a tool's return value is (text as it is,
    anything else as JSON)."""

    output: Any


Decision: TypeAlias = "Approve | Deny | Rewrite | Answer | Defer"
"""What `Agent.resume` takes for each pending call (`Defer`: it waits on)."""


class PendingCall(msgspec.Struct, frozen=True, kw_only=True):
    """A tool call that waits for a decision.

    Attributes:
        call: the model's call: `call.id` keys the decision, `call.function` says what it
            would run.
        turn: the turn that made it.
        reason: what `Defer(reason)` said.
    """

    call: ToolCall
    turn: int
    reason: str | None = None


class SavedResult(msgspec.Struct, frozen=True, kw_only=True):
    """A `ToolResult` as it is saved: every field but `value`."""

    call: ToolCall
    content: str
    is_error: bool
    duration: float
    turn: int
    rewritten_arguments: str | None = None

    @classmethod
    def of(cls, result: ToolResult) -> SavedResult:
        """`result`, without its value."""
        return cls(
            call=result.call,
            content=result.content,
            is_error=result.is_error,
            duration=result.duration,
            turn=result.turn,
            rewritten_arguments=result.rewritten_arguments,
        )

    def restored(self) -> ToolResult:
        """The `ToolResult` again; `value` is None, as it was not saved."""
        from ._events import ToolResult  # here: _events imports this module

        return ToolResult(
            call=self.call,
            content=self.content,
            is_error=self.is_error,
            duration=self.duration,
            turn=self.turn,
            rewritten_arguments=self.rewritten_arguments,
        )


class PausedRun(msgspec.Struct, kw_only=True):
    """Everything a paused run needs to go on (see the module docstring); JSON both ways.

    Attributes:
        messages: the transcript, each pending call answered by a `PENDING` placeholder.
        pending: the calls that wait, in call order.
        tool_results: every call of the run that ended, in order, this turn's too.
        usage: the tokens of every request so far.
        turns: the turns (answers of the model) so far.
        requests: the requests so far (turns, and any summary made to free context).
        elapsed: seconds the run has run, not counting the pause (for `max_run_seconds`).
        tool_errors: failed tool calls in a row, for `max_tool_errors`.
        tool_choice: the `tool_choice` in force (a forced one is reset after its turn).
        output_retries: how many more answers that do not parse may go back to the model.
        completion: the completion that made the pending calls.
        format: the version of this shape.
    """

    messages: list[Message]
    pending: list[PendingCall]
    tool_results: list[SavedResult] = msgspec.field(default_factory=list)
    usage: Usage = msgspec.field(default_factory=Usage)
    turns: int = 0
    requests: int = 0
    elapsed: float = 0.0
    tool_errors: int = 0
    tool_choice: str | dict[str, Any] | None = None
    output_retries: int = 0
    completion: ChatCompletion | None = None
    format: Literal[1] = FORMAT

    def to_json(self) -> bytes:
        """This state as JSON."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> PausedRun:
        """A state `to_json` wrote.

        Raises:
            InvalidRequestError: the data is not one, naming where it fails.
        """
        try:
            state = msgspec.json.decode(data, type=cls)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise InvalidRequestError("paused", f"not a saved paused run: {exc}") from None
        state.check()
        return state

    def check(self) -> None:
        """Raise `InvalidRequestError` unless every pending call has its placeholder in the
        transcript, answering the last assistant message that made it."""
        if not self.pending:
            raise InvalidRequestError("paused", "no call is pending: the run was not paused")
        answered = _placeholders(self.messages)
        for pending in self.pending:
            if pending.call.id not in answered:
                raise InvalidRequestError(
                    "paused",
                    f"the pending call {pending.call.id!r} has no placeholder tool message "
                    "after the last assistant message; the transcript was changed",
                )


def placeholder(call: ToolCall) -> ToolMessage:
    """The tool message that answers `call` while it waits."""
    return ToolMessage(content=PENDING, tool_call_id=call.id)


def _placeholders(messages: Sequence[Message]) -> dict[str, int]:
    """Where the placeholders of the last assistant message's calls are, by call id."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, AssistantMessage)), default=-1)
    return {
        message.tool_call_id: i
        for i, message in enumerate(messages[last + 1 :], last + 1)
        if isinstance(message, ToolMessage) and message.content == PENDING
    }


def with_answers(messages: list[Message], answers: Mapping[str, str]) -> list[Message]:
    """The transcript with each placeholder whose call is in `answers` replaced by its answer."""
    at = _placeholders(messages)
    replaced = list(messages)
    for call_id, content in answers.items():
        replaced[at[call_id]] = ToolMessage(content=content, tool_call_id=call_id)
    return replaced


def checked_decisions(paused: PausedRun, decisions: object) -> dict[str, Decision]:
    """`decisions`, checked to give one decision to each pending call and no other;
    `InvalidRequestError` naming what is wrong otherwise, before anything runs."""
    from ._execute import Deny, Rewrite  # here: _execute imports this module

    if not isinstance(decisions, Mapping):
        raise InvalidRequestError(
            "decisions", f"expected a dict of call id to decision, got {type(decisions).__name__}"
        )
    ids = [pending.call.id for pending in paused.pending]
    unknown = [key for key in decisions if key not in ids]
    if unknown:
        raise InvalidRequestError(
            "decisions", f"no pending call has the id {unknown[0]!r}; the pending calls are {ids}"
        )
    missing = [call_id for call_id in ids if call_id not in decisions]
    if missing:
        raise InvalidRequestError(
            "decisions",
            f"no decision for the pending call {missing[0]!r}; give each pending call "
            "Approve(), Deny(reason), Rewrite(arguments), Answer(output) or Defer()",
        )
    checked: dict[str, Decision] = {}
    for call_id in ids:
        decision = decisions[call_id]
        if not isinstance(decision, Approve | Deny | Rewrite | Answer | Defer):
            raise InvalidRequestError(
                f"decisions[{call_id!r}]",
                "expected Approve(), Deny(reason), Rewrite(arguments), Answer(output) or "
                f"Defer(), got {decision!r}"[:300],
            )
        checked[call_id] = decision
    return checked
