"""Run one turn's tool calls: approval, concurrency, timeouts, and failures turned into text.

This is the one place that decides what becomes a tool message and what propagates:

- an unknown tool, bad arguments (`ToolArgumentsError`), an exception the tool raises, a tool
  timeout: passed to the error handler, whose text becomes the call's tool message (the
  default handler words it so the model can fix its call). A handler that raises ends the run
  with its exception.
- a denial by the `before_tool_call` hook: a tool message saying so.
- cancellation and `BaseException`s: propagate. The caller answers every call the turn did not
  finish with a synthetic "cancelled" message, so the transcript stays valid.

Calls run concurrently in an anyio task group bounded by a capacity limiter; a tool marked
`sequential` runs alone, after the others. Outcomes are written by position, so tool messages
keep the order of the calls, not of completion.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec

from ._exceptions import ToolArgumentsError, ToolTimeoutError, UnknownToolError
from ._tools import Tool, ToolContext, ToolRegistry
from ._types import ToolCall, ToolMessage

__all__ = ["Deny", "Rewrite", "ToolExecutor", "ToolOutcome", "default_error_handler"]

logger = logging.getLogger("asynctool")


@dataclass(frozen=True, slots=True)
class Deny:
    """A `before_tool_call` decision: do not run the call; the model is told `reason`."""

    reason: str = "The user did not allow this tool call."


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A `before_tool_call` decision: run the call with these arguments instead."""

    arguments: dict[str, Any] | str


BeforeToolCall = Callable[[ToolCall, ToolContext[Any]], Awaitable[Deny | Rewrite | None]]
"""An async hook run before each call: return None to run it, `Deny` or `Rewrite`."""

ToolErrorHandler = Callable[[ToolCall, Exception], str]
"""Turns a failed call's error into the text the model reads; raise to end the run instead."""


@dataclass(slots=True)
class ToolOutcome:
    """How one call ended: the text for its tool message, and what the tool returned."""

    content: str
    is_error: bool = False
    duration: float = 0.0
    value: Any = None

    def message(self, call: ToolCall) -> ToolMessage:
        return ToolMessage(content=self.content, tool_call_id=call.id)


CANCELLED = ToolOutcome("Error: this tool call was cancelled before it finished.", is_error=True)


def default_error_handler(call: ToolCall, error: Exception) -> str:
    """Word a failed call so that the model can act on it."""
    if isinstance(error, ToolArgumentsError):
        return f"Error: {error}. Call {call.function.name} again with corrected arguments."
    if isinstance(error, UnknownToolError | ToolTimeoutError):
        return f"Error: {error}."
    return f"Error: the tool {call.function.name!r} raised {type(error).__name__}: {error}"


class ToolExecutor:
    """Runs tool calls against a registry, with the agent's limits and hooks."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        max_concurrency: int,
        tool_timeout: float | None,
        before_tool_call: BeforeToolCall | None,
        error_handler: ToolErrorHandler,
        max_result_chars: int,
    ) -> None:
        self.registry = registry
        self.max_concurrency = max_concurrency
        self.tool_timeout = tool_timeout
        self.before_tool_call = before_tool_call
        self.error_handler = error_handler
        self.max_result_chars = max_result_chars

    async def run(
        self,
        calls: Sequence[ToolCall],
        outcomes: list[ToolOutcome | None],
        context: Callable[[ToolCall], ToolContext[Any]],
    ) -> None:
        """Run every call, writing each outcome at its call's position as it finishes."""
        if len(calls) == 1:  # nothing to run beside it: no task group needed
            outcomes[0] = await self._run_one(calls[0], context(calls[0]))
            return
        limiter = anyio.CapacityLimiter(self.max_concurrency)
        fatal: list[BaseException] = []
        alone = [i for i, call in enumerate(calls) if self._is_sequential(call)]
        async with anyio.create_task_group() as group:

            async def one(i: int) -> None:
                try:
                    async with limiter:
                        outcomes[i] = await self._run_one(calls[i], context(calls[i]))
                except Exception as exc:  # a handler that raised: end the turn with it
                    fatal.append(exc)
                    group.cancel_scope.cancel()

            for i in range(len(calls)):
                if i not in alone:
                    group.start_soon(one, i)
        for i in alone:
            if fatal:
                break
            outcomes[i] = await self._run_one(calls[i], context(calls[i]))
        if fatal:
            raise fatal[0]

    def _is_sequential(self, call: ToolCall) -> bool:
        tool = self.registry.get(call.function.name)
        return tool is not None and tool.sequential

    async def _run_one(self, call: ToolCall, context: ToolContext[Any]) -> ToolOutcome:
        started = time.perf_counter()
        try:
            outcome = await self._attempt(call, context)
        except Exception as error:
            outcome = ToolOutcome(self._capped(self.error_handler(call, error)), is_error=True)
        outcome.duration = time.perf_counter() - started
        logger.debug(
            "tool %s (%s) %s in %.3fs",
            call.function.name,
            call.id,
            "failed" if outcome.is_error else "finished",
            outcome.duration,
        )
        return outcome

    async def _attempt(self, call: ToolCall, context: ToolContext[Any]) -> ToolOutcome:
        tool = self.registry.get(call.function.name)
        if tool is None:
            raise UnknownToolError(call.function.name, [t.name for t in self.registry])
        arguments: str | bytes = call.function.arguments
        if self.before_tool_call is not None:
            decision = await self.before_tool_call(call, context)
            if isinstance(decision, Deny):
                return ToolOutcome(decision.reason, is_error=True)
            if isinstance(decision, Rewrite):
                arguments = _argument_text(decision.arguments)
        value = await self._call(tool, arguments, context)
        return ToolOutcome(self.render(value), value=value)

    async def _call(
        self, tool: Tool[..., Any], arguments: str | bytes, context: ToolContext[Any]
    ) -> Any:
        timeout = tool.timeout if tool.timeout is not None else self.tool_timeout
        with anyio.move_on_after(timeout) as scope:
            return await tool.run(arguments, context=context)
        # Only reached when the scope cancelled the call: a tool's own TimeoutError propagates.
        assert scope.cancelled_caught and timeout is not None
        raise ToolTimeoutError(tool.name, timeout)

    def render(self, value: Any) -> str:
        """A tool's return value as message text: strings as they are, the rest as JSON, capped."""
        if isinstance(value, str):
            text = value
        else:
            try:
                text = msgspec.json.encode(value).decode()
            except TypeError:
                text = str(value)
        return self._capped(text)

    def _capped(self, text: str) -> str:
        if len(text) > self.max_result_chars:
            cut = len(text) - self.max_result_chars
            text = f"{text[: self.max_result_chars]}\n[cut: {cut} more characters not shown]"
        return text


def _argument_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else msgspec.json.encode(arguments).decode()
