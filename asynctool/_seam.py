"""What the agent loop is given: frozen settings, and the two ways it acts on the world.

`Run` (`_run.py`) sends no request and runs no tool itself. It calls a `Send` and an
`Execute`, and reads its limits from `RunSettings`. `Agent` hands it its client's `_send` and
its `ToolExecutor`; a test can hand it a script and a recorder, and a workflow engine its own
steps (a request, a turn of tool calls), with the same loop. This module is the contract
between them, and imports none of them.

`Execute` is given one turn's calls and returns their results, in call order, whatever order
they finished in. Two things are asked of it only when the run streams: to `report` each
result as it finishes (the live `ToolResult` events), and, with `eager_tools`, to take the
calls as they become ready (an async iterable that ends when the turn's last call is given)
rather than all at once, starting each as it comes. A step that cannot do either may wait
for every call and return: the loop reports the results it was not told of when it returns,
and the transcript is the same; only the events come later.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from ._budget import Budget
from ._events import ToolResult
from ._history import Shape
from ._overflow import Compact
from ._request import ChatCompletionRequest
from ._tools import ToolContext
from ._types import ChatCompletion, ToolCall

if TYPE_CHECKING:
    from ._output import OutputSpec
    from ._stream import ChatStream

__all__ = [
    "AfterResponse",
    "Execute",
    "Report",
    "RunSettings",
    "Send",
    "finished",
    "keep_finished",
]

AfterResponse: TypeAlias = Callable[[ChatCompletion], Awaitable[None]]
"""An async hook called with every completion the run receives."""

Send: TypeAlias = "Callable[[ChatCompletionRequest], Awaitable[ChatCompletion | ChatStream]]"
"""Sends one turn's request: a `ChatCompletion`, or with `stream=True` a `ChatStream`, which
the loop reads inside `async with` and closes."""

Report: TypeAlias = Callable[[ToolResult], None]
"""Told each result of a turn as its call finishes (not async: it only hands the event on)."""


class Execute(Protocol):
    """Runs one turn's calls, each with the context the loop makes for it.

    `calls` is a sequence, or, for a streamed turn with `eager_tools`, an async iterable of
    the calls as they become ready, in call order, which ends when the last one is given.
    The result is one `ToolResult` per call, in call order; `report`, when given, is called
    with each as it finishes. What it raises ends the run: the calls it finished first go
    with the error (`keep_finished`), and the loop answers the others as cancelled.
    """

    def __call__(
        self,
        calls: Sequence[ToolCall] | AsyncIterable[ToolCall],
        context: Callable[[ToolCall], ToolContext[Any]],
        /,
        *,
        report: Report | None = None,
    ) -> Awaitable[list[ToolResult]]: ...


_FINISHED = "_asynctool_finished"  # the attribute `keep_finished` sets on an error


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What a run knows of its agent, fixed when it starts (see `Agent` for each one).

    `request` is the request every turn starts from, already checked; a turn replaces its
    `messages`, `tool_choice` and `stream`. `history` shapes what each request sends of the
    transcript, `on_overflow` makes room when the context is full, `budget` bounds the run.
    """

    request: ChatCompletionRequest
    tool_choice: str | Mapping[str, Any] | None = None
    instructions: str | None = None
    max_turns: int = 10
    max_tool_calls_per_turn: int = 32
    max_tool_errors: int = 3
    accept_finish_reasons: frozenset[str] = frozenset()
    reset_tool_choice: bool = True
    after_response: AfterResponse | None = None
    output: OutputSpec[Any] | None = None
    output_retries: int = 1
    eager_tools: bool = False
    history: Shape | None = None
    on_overflow: Compact | None = None
    budget: Budget = field(default_factory=Budget)


def keep_finished(error: BaseException, results: Sequence[ToolResult | None]) -> None:
    """Let `error`, which ends a turn, carry the results of the calls that finished before it
    (None for the others, in call order): the transcript then keeps what ran, rather than
    telling the model that a call which did its work was cancelled."""
    try:
        setattr(error, _FINISHED, tuple(results))
    except AttributeError:  # an exception class with __slots__: its calls read "cancelled"
        pass


def finished(error: BaseException) -> Sequence[ToolResult | None]:
    """What `keep_finished` left on `error`: the turn's results that finished, else ()."""
    results: Sequence[ToolResult | None] = getattr(error, _FINISHED, ())
    return results
