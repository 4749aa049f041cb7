"""`ScriptedModel`: answers requests from a list of turns, one turn per request, in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeAlias

from ._faults import status
from ._request import RecordedRequest
from ._turns import Turn

__all__ = ["ScriptStep", "ScriptedModel"]

ScriptStep: TypeAlias = Turn | Callable[[RecordedRequest], Turn | Awaitable[Turn]]
"""A turn, or a function (sync or async) that builds the turn from the request."""


class ScriptedModel:
    """A model that plays a script: the n-th valid chat request gets the n-th turn.

    Requests that fail authentication or validation do not use a turn. When the script runs
    out, the server answers 500 with an error saying so (code `script_exhausted`), unless
    `cycle` starts it over.

    Example:
        ```python
        model = ScriptedModel([
            tool_calls(call("get_weather", {"location": "Boston"})),
            lambda request: text(f"You sent {len(request.messages)} messages"),
            status(429, retry_after=1),
            drop_after(120),
        ])
        ```

    Args:
        steps: the turns, in order; a step may be a function of the `RecordedRequest`.
        cycle: start over at the first turn instead of running out (for benchmarks).
    """

    def __init__(self, steps: Iterable[ScriptStep] = (), *, cycle: bool = False) -> None:
        self.steps: list[ScriptStep] = list(steps)
        self.cycle = cycle
        self.used = 0
        self._next = 0

    def __repr__(self) -> str:
        return f"<ScriptedModel {self.remaining} of {len(self.steps)} turns left>"

    @property
    def remaining(self) -> int:
        """How many turns are left (when not cycling)."""
        return len(self.steps) - self._next

    def add(self, *steps: ScriptStep) -> None:
        """Append turns to the script."""
        self.steps.extend(steps)

    def respond(self, request: RecordedRequest) -> Turn | Awaitable[Turn]:
        """The next turn of the script (built by its function for a callable step)."""
        self.used += 1
        if self._next >= len(self.steps) and self.cycle and self.steps:
            self._next = 0
        if self._next >= len(self.steps):
            return status(
                500,
                f"ScriptedModel ran out of turns: this is request #{self.used} but the script "
                f"has {len(self.steps)} turn(s). Add turns, or check how many requests the "
                "code under test makes.",
                error_code="script_exhausted",
            )
        step = self.steps[self._next]
        self._next += 1
        return step(request) if callable(step) else step
