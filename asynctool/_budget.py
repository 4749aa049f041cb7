"""A run's bounds besides `max_turns`: tokens, requests and wall time.

`Agent(max_total_tokens=..., max_requests=..., max_run_seconds=...)`, each None (no bound) by
default. Crossing one ends the run with a `BudgetExceeded` subclass which, like
`MaxTurnsExceeded`, carries the transcript so far (`messages`, every call in it answered)
and the `usage` (the errors are in `_exceptions.py`, in the tree):

- `TokenBudgetExceeded`: the tokens the provider reported, summed over the run's requests,
  reached `max_total_tokens`. A request's size is known only once it is answered, so the
  bound is checked before each request (none is sent once it is reached) and after each
  answer (its tool calls do not run once it is crossed: nothing could be sent with their
  results). A final answer that crosses it is still returned: it is paid for and whole.
- `RequestBudgetExceeded`: `max_requests` requests were sent and the run needs another.
  Every request counts: each turn, and a summary made to free context.
- `TimeBudgetExceeded`: `max_run_seconds` of wall time passed since the run started. It is
  a deadline over the run's requests and tool calls: the one under way is cancelled when it
  passes (running tools are answered as cancelled). Time spent paused does not count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ._exceptions import (
    InvalidRequestError,
    RequestBudgetExceeded,
    TimeBudgetExceeded,
    TokenBudgetExceeded,
)
from ._types import ChatCompletion, Usage

__all__ = ["Budget", "Clock"]


@dataclass(frozen=True, slots=True)
class Budget:
    """A run's bounds; None is no bound."""

    max_total_tokens: int | None = None
    max_requests: int | None = None
    max_run_seconds: float | None = None

    @classmethod
    def checked(
        cls,
        max_total_tokens: int | None,
        max_requests: int | None,
        max_run_seconds: float | None,
    ) -> Budget:
        """The bounds, each refused now (naming it) unless None or positive."""
        for name, value in (("max_total_tokens", max_total_tokens), ("max_requests", max_requests)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidRequestError(name, f"expected an int >= 1 or None, got {value!r}")
            if value is not None and value < 1:
                raise InvalidRequestError(name, f"expected an int >= 1 or None, got {value!r}")
        seconds = max_run_seconds
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0
        ):
            raise InvalidRequestError(
                "max_run_seconds", f"expected a number of seconds > 0 or None, got {seconds!r}"
            )
        return cls(max_total_tokens, max_requests, max_run_seconds)

    def before_request(self, usage: Usage, requests: int) -> None:
        """Raise unless the run may send one more request."""
        tokens = self.max_total_tokens
        if tokens is not None and usage.total_tokens >= tokens:
            raise TokenBudgetExceeded(
                f"The run used {usage.total_tokens} tokens, max_total_tokens={tokens}; raise it, "
                "or send less each turn (history=keep_within_tokens(...))",
                limit=tokens,
                used=usage.total_tokens,
            )
        if self.max_requests is not None and requests >= self.max_requests:
            raise RequestBudgetExceeded(
                f"The run made {requests} requests, max_requests={self.max_requests}, and "
                "needs another; raise max_requests to let it go on",
                limit=self.max_requests,
                used=requests,
            )

    def before_tools(self, usage: Usage, completion: ChatCompletion) -> None:
        """Raise if the tokens are spent: the results of the calls of `completion` could not
        be sent. The error carries `completion`, whose calls did not run."""
        tokens = self.max_total_tokens
        if tokens is not None and usage.total_tokens >= tokens:
            raise TokenBudgetExceeded(
                f"The run used {usage.total_tokens} tokens, max_total_tokens={tokens}, while "
                "the model was still calling tools; the calls of the last answer did not run "
                "(raise max_total_tokens, or send less each turn with history=...)",
                limit=tokens,
                used=usage.total_tokens,
                completion=completion,
            )


class Clock:
    """A run's wall time: what it had used before (a paused run's), plus since it started."""

    __slots__ = ("_before", "_started", "limit")

    def __init__(self, limit: float | None, *, before: float = 0.0) -> None:
        self.limit = limit
        self._before = before
        self._started = time.monotonic()

    def elapsed(self) -> float:
        """Seconds the run has run."""
        return self._before + time.monotonic() - self._started

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 once it passed), or None without one."""
        if self.limit is None:
            return None
        return max(0.0, self.limit - self.elapsed())

    def exceeded(self) -> TimeBudgetExceeded:
        """The error for a run past its deadline."""
        assert self.limit is not None
        return TimeBudgetExceeded(
            f"The run took more than max_run_seconds={self.limit:g}; what was still running "
            "was cancelled (raise max_run_seconds, or bound slow tools with tool_timeout)",
            limit=self.limit,
            used=self.elapsed(),
        )

    def check(self) -> None:
        """Raise if the deadline has passed."""
        if self.limit is not None and self.elapsed() >= self.limit:
            raise self.exceeded()
