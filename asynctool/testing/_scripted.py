"""`ScriptedModel`: answers requests from a list of turns, one turn per request, in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Final, TypeAlias

from ._faults import status
from ._request import RecordedRequest
from ._turns import Turn

__all__ = ["ScriptStep", "ScriptedModel"]

ScriptStep: TypeAlias = Turn | Callable[[RecordedRequest], Turn | Awaitable[Turn]]
"""A turn, or a function (sync or async) that builds the turn from the request."""

# Idempotency keys remembered to tell a retry from a new request: the latest ones only, so a
# cycling script serving a benchmark does not grow without end. A retry follows its request
# within a few seconds; far fewer than this many requests come in between.
_KEYS_KEPT: Final = 1024


class ScriptedModel:
    """A model that plays a script: the n-th valid chat request gets the n-th turn.

    Requests that fail authentication or validation do not use a turn; a retry uses one, as
    it is a request the server sees. When the script runs out, the server answers 500 with
    an error saying so (code `script_exhausted`) and `x-should-retry: false`, which
    asynctool and the OpenAI SDK obey: the code under test fails at once, not after its
    retries. Unless `cycle` starts the script over.

    `requests` counts the requests the code under test made: an attempt that repeats an
    earlier one's `Idempotency-Key` (asynctool) or says it is a retry
    (`x-stainless-retry-count`, the OpenAI SDK) is not a new request. `used` counts every
    attempt that asked for a turn.

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
        self.requests = 0
        self._next = 0
        self._keys: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first

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
        retry = self._is_retry(request)
        if not retry:
            self.requests += 1
        if self._next >= len(self.steps) and self.cycle and self.steps:
            self._next = 0
        if self._next >= len(self.steps):
            which = f"a retry of request #{self.requests}" if retry else f"request #{self.requests}"
            return status(
                500,
                f"ScriptedModel ran out of turns: this is {which} but the script has "
                f"{len(self.steps)} turn(s). Add turns, or check how many requests the code "
                "under test makes.",
                error_code="script_exhausted",
                # A retry would only run out again, and make the count harder to read.
                headers={"x-should-retry": "false"},
            )
        step = self.steps[self._next]
        self._next += 1
        return step(request) if callable(step) else step

    def _is_retry(self, request: RecordedRequest) -> bool:
        if request.headers.get("x-stainless-retry-count", "0") not in ("", "0"):
            return True
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return False
        if key in self._keys:
            return True
        self._keys[key] = None
        if len(self._keys) > _KEYS_KEPT:
            del self._keys[next(iter(self._keys))]
        return False
