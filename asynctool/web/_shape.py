"""The shape both web formats share: a run as steps, each step's parts opened and closed once.

The Vercel AI SDK's UI message stream and AG-UI describe a run the same way, with different
words: a step per model request (`start-step`/`finish-step`, `STEP_STARTED`/`STEP_FINISHED`),
inside it blocks of text and of reasoning that open, grow and close (`text-start`... and
`TEXT_MESSAGE_START`...), and tool calls that open, take their arguments, close, and get a
result. Both front ends refuse a delta for a part that is not open, and AG-UI a run that
finishes with a part still open (`verifyEvents`), so when a part opens and closes is decided
here, once, and each format only words these marks.

The rules:
- a step is a turn of the run: it starts with the first event of that turn and finishes when
  an event of a later turn arrives, or the run ends. A turn's tool results come after its
  `TurnCompleted`, and belong to its step, as the AI SDK's own backend streams them;
- a text or reasoning block opens on its first non-empty delta and closes when something else
  begins (the other kind of block, a tool call), when its turn completes, or at the end;
- a tool call opens on `ToolCallStarted`; an event about a call that was never opened (a
  source other than `run_stream`, say) opens it first, so no front end meets an unknown id.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from .._events import (
    AgentEvent,
    ReasoningDelta,
    RunCompleted,
    RunResult,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
)
from .._types import ToolCall

BlockKind: TypeAlias = Literal["text", "reasoning"]


class StepStarted(msgspec.Struct, frozen=True):
    turn: int
    message_id: str  # the assistant message this turn writes


class StepFinished(msgspec.Struct, frozen=True):
    turn: int


class BlockStarted(msgspec.Struct, frozen=True):
    kind: BlockKind
    id: str  # unique in the run
    message_id: str  # the turn's assistant message


class BlockDelta(msgspec.Struct, frozen=True):
    kind: BlockKind
    id: str
    message_id: str
    text: str


class BlockEnded(msgspec.Struct, frozen=True):
    kind: BlockKind
    id: str
    message_id: str


class CallStarted(msgspec.Struct, frozen=True):
    id: str
    name: str
    message_id: str


class CallDelta(msgspec.Struct, frozen=True):
    id: str
    delta: str


class CallReady(msgspec.Struct, frozen=True):
    call: ToolCall
    streamed: bool  # whether CallDeltas carried its arguments already


class CallResult(msgspec.Struct, frozen=True):
    result: ToolResult
    message_id: str  # the tool message the result becomes


class Finished(msgspec.Struct, frozen=True):
    result: RunResult[object] | None  # None: the events ended without RunCompleted


Mark: TypeAlias = (
    StepStarted
    | StepFinished
    | BlockStarted
    | BlockDelta
    | BlockEnded
    | CallStarted
    | CallDelta
    | CallReady
    | CallResult
    | Finished
)


class Shaper:
    """Agent events in, marks out, for one run; `prefix` makes the run's ids unique."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.turn = 0  # the open step's turn; 0: none open
        self.finished = False  # whether `end` made its marks
        self.block: BlockEnded | None = None  # the open block, as the mark that closes it
        self.blocks = 0
        self.opened: set[tuple[int, str]] = set()  # the calls (turn, id) that were opened,
        self.streamed: set[tuple[int, str]] = set()  # that had argument deltas,
        self.ready: set[tuple[int, str]] = set()  # and that were announced complete

    def marks(self, event: AgentEvent) -> list[Mark]:
        """The marks `event` makes, in order."""
        if isinstance(event, RunCompleted):
            return self.end(event.result)
        marks = self._step(event.turn)
        if isinstance(event, TextDelta):
            marks += self._write("text", event.text)
        elif isinstance(event, ReasoningDelta):
            marks += self._write("reasoning", event.text)
        elif isinstance(event, TurnCompleted):
            marks += self._close_block()
        else:
            marks += self._close_block() + self._call(event)
        return marks

    def end(self, result: RunResult[object] | None = None) -> list[Mark]:
        """The marks that close what is open, and the run."""
        self.finished = True
        marks = self._close_block()
        if self.turn:
            marks.append(StepFinished(self.turn))
            self.turn = 0
        return [*marks, Finished(result)]

    def message_id(self, turn: int) -> str:
        return f"{self.prefix}-turn-{turn}"

    def _step(self, turn: int) -> list[Mark]:
        if turn <= self.turn:
            return []
        marks = self._close_block()
        if self.turn:
            marks.append(StepFinished(self.turn))
        self.turn = turn
        return [*marks, StepStarted(turn, self.message_id(turn))]

    def _write(self, kind: BlockKind, text: str) -> list[Mark]:
        if not text:  # an empty delta opens nothing: some providers send them as keep-alives
            return []
        marks: list[Mark] = []
        if self.block is None or self.block.kind != kind:
            marks += self._close_block()
            self.blocks += 1
            opened = BlockStarted(kind, f"{self.prefix}-{kind}-{self.blocks}", self._message)
            self.block = BlockEnded(kind, opened.id, opened.message_id)
            marks.append(opened)
        assert self.block is not None
        return [*marks, BlockDelta(kind, self.block.id, self.block.message_id, text)]

    @property
    def _message(self) -> str:
        return self.message_id(self.turn)

    def _close_block(self) -> list[Mark]:
        block, self.block = self.block, None
        return [] if block is None else [block]

    def _call(
        self, event: ToolCallStarted | ToolCallArgumentsDelta | ToolCallReady | ToolResult
    ) -> list[Mark]:
        # Calls are known by turn and id: some servers number their calls afresh each turn.
        key = (
            event.turn,
            event.call.id if isinstance(event, ToolCallReady | ToolResult) else event.id,
        )
        if isinstance(event, ToolCallStarted):
            return self._open(key, event.name)
        if isinstance(event, ToolCallArgumentsDelta):
            self.streamed.add(key)
            return [*self._open(key, event.name), CallDelta(event.id, event.delta)]
        call = event.call
        marks = self._open(key, call.function.name)
        if key not in self.ready:  # a result is always of a call the front end saw whole
            self.ready.add(key)
            marks.append(CallReady(call, streamed=key in self.streamed))
        if isinstance(event, ToolResult):
            marks.append(CallResult(event, f"{self.prefix}-result-{event.turn}-{call.id}"))
        return marks

    def _open(self, key: tuple[int, str], name: str) -> list[Mark]:
        if key in self.opened:
            return []
        self.opened.add(key)
        return [CallStarted(key[1], name, self._message)]
