"""Run one turn's tool calls: approval, concurrency, timeouts, and failures turned into text.

This is the one place that decides what becomes a tool message and what propagates:

- an unknown tool, bad arguments (`ToolArgumentsError`), an exception the tool raises, a tool
  timeout, a `CancelledError` a tool raises while nothing cancelled it: passed to the error
  handler, whose text becomes the call's tool message (the default handler words it so the
  model can fix its call). A handler that raises ends the run with its exception.
- a denial by the `before_tool_call` hook: a tool message saying so; its `Answer(output)`:
  that output as the tool message, the tool not run; its `Defer()`: a result marked
  `deferred`, the placeholder (`_pause.PENDING`) as its text, for the loop to pause on.
- a bug in a hook (it raised, returned something that is not a decision, or rewrote the
  arguments into ones the tool refuses): raised to the caller, never shown to the model,
  and the call does not run. The hook is the user's code; the model cannot fix it.
- cancellation, `KeyboardInterrupt` and `SystemExit`: propagate, bare, however many calls the
  turn has. The results of the calls that did finish go with the error (`_seam.keep_finished`),
  and the loop answers every other call with a synthetic "cancelled" message, so the
  transcript stays valid and does not call "cancelled" a call that ran.

Calls run concurrently in an anyio task group bounded by the run's `Slots`; a tool marked
`sequential` runs alone, after the others. Results are kept by position, so they (and the
tool messages) keep the order of the calls, not of completion; `report`, when given, hears
of each as it finishes. The calls may come all at once or one by one as they become ready
(an async iterable, for `eager_tools`): each starts when it comes, and a sequential one
waits for the last call to have come and every other to have finished.

A sync tool cannot be interrupted: past its timeout (or when its run is cancelled) the wait for
it ends, and its thread runs on. That thread keeps its slot until it returns, so a tool that
keeps timing out cannot pile up threads beyond `max_concurrency` (each one also delays the
interpreter's exit, as worker threads are not daemons).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio
import msgspec

from ._events import ToolResult
from ._exceptions import ToolArgumentsError, ToolError, ToolTimeoutError, UnknownToolError
from ._pause import PENDING, Answer, Defer
from ._seam import Report, keep_finished
from ._tools import Tool, ToolContext, ToolRegistry
from ._tracing import traced_tool
from ._types import ToolCall

__all__ = [
    "Deny",
    "Rewrite",
    "Slots",
    "ToolExecutor",
    "default_error_handler",
    "rewritten",
]

logger = logging.getLogger("asynctool")


@dataclass(frozen=True, slots=True)
class Deny:
    """A `before_tool_call` decision: do not run the call; the model is told `reason`."""

    reason: str = "The user did not allow this tool call."


@dataclass(frozen=True, slots=True)
class Rewrite:
    """A `before_tool_call` decision: run the call with these arguments instead.

    The transcript keeps the model's own call; the tool message holds the result of this one,
    and `ToolResult.rewritten_arguments` records the argument text that ran.
    """

    arguments: dict[str, Any] | str


BeforeToolCall = Callable[
    [ToolCall, ToolContext[Any]], Awaitable[Deny | Rewrite | Defer | Answer | None]
]
"""An async hook run before each call: return None to run it, `Deny`, `Rewrite`, `Defer`
(decide later: the run pauses, see `_pause`) or `Answer` (the output, without running it)."""

ToolErrorHandler = Callable[[ToolCall, Exception], str]
"""Turns a failed call's error into the text the model reads; raise to end the run instead."""

# What a tool may raise that is not its own failure: the user, or the interpreter, stopping.
_INTERRUPTS = (KeyboardInterrupt, SystemExit)


def default_error_handler(call: ToolCall, error: Exception) -> str:
    """Word a failed call so that the model can act on it."""
    if isinstance(error, ToolArgumentsError):
        return f"Error: {error}. Call {call.function.name} again with corrected arguments."
    if isinstance(error, UnknownToolError | ToolTimeoutError) or type(error) is ToolError:
        return f"Error: {error}."
    return f"Error: the tool {call.function.name!r} raised {type(error).__name__}: {error}"


class Slots:
    """A run's `max_concurrency` slots, shared by its turns.

    A call holds a slot while it runs; a sync tool's thread holds it until the function
    returns, also after the call timed out or was cancelled. Made once per run, so a thread
    abandoned in one turn still counts in the next; the limiter itself is made on first use,
    inside the event loop.
    """

    __slots__ = ("_limiter", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def held(self) -> bool:
        """Whether a slot is taken (by a thread left running past its call, between turns)."""
        return self._limiter is not None and self._limiter.borrowed_tokens > 0

    async def take(self) -> _Slot:
        """Wait for a free slot and take it."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.total)
        slot = _Slot(self._limiter)
        await self._limiter.acquire_on_behalf_of(slot)
        return slot


# The states of a slot's thread, guarded by the slot's lock: the call and the thread each
# decide, under it, which of the two gives the slot back.
_PENDING, _RUNNING, _DONE, _ABANDONED = range(4)


class _Slot:
    """One taken slot: given back when its call ends, or by its thread if that runs on."""

    __slots__ = ("_limiter", "_lock", "_loop", "_state")

    def __init__(self, limiter: anyio.CapacityLimiter) -> None:
        self._limiter = limiter
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._state = _PENDING

    async def run_sync(self, call: Callable[[], Any]) -> Any:
        """Run a sync tool's call in a worker thread that keeps this slot until it returns."""
        self._loop = asyncio.get_running_loop()

        def work() -> Any:
            with self._lock:
                if self._state == _ABANDONED:
                    return None  # its call ended before the thread began: do not start it now
                self._state = _RUNNING
            try:
                return call()
            finally:
                with self._lock:
                    abandoned = self._state == _ABANDONED
                    self._state = _DONE
                if abandoned:
                    self._give_back_from_thread()

        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)

    def leave(self) -> None:
        """The call is over: give the slot back, unless its thread is still running."""
        with self._lock:
            running = self._state == _RUNNING
            self._state = _ABANDONED
        if not running:
            self._limiter.release_on_behalf_of(self)

    def _give_back_from_thread(self) -> None:
        # anyio's limiter belongs to the event loop's thread. asyncio's own call_soon_threadsafe
        # rather than anyio.from_thread: this thread may outlive the loop, and must then end
        # rather than wait for a loop that is gone (aiohttp already ties us to asyncio).
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._limiter.release_on_behalf_of, self)
        except RuntimeError:  # the loop is closed: nothing waits for the slot any more
            pass


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

    def slots(self) -> Slots:
        """Fresh slots for one run."""
        return Slots(self.max_concurrency)

    async def execute(
        self,
        calls: Sequence[ToolCall] | AsyncIterable[ToolCall],
        context: Callable[[ToolCall], ToolContext[Any]],
        slots: Slots,
        *,
        report: Report | None = None,
    ) -> list[ToolResult]:
        """Run every call, each as soon as it comes; the results, in call order.

        `report` is called with each result as it finishes. What ends the turn (a hook's or
        handler's error, an interrupt, a cancellation) is raised as it is, carrying the
        results of the calls that finished (`keep_finished`).
        """
        if isinstance(calls, Sequence) and len(calls) == 1:
            # Nothing to run beside it: no task group needed.
            result = await self._execute_one(calls[0], context(calls[0]), slots, bounded=False)
            if report is not None:
                report(result)
            return [result]
        results: list[ToolResult | None] = []
        try:
            await self._execute_together(calls, results, context, slots, report)
        except BaseException as error:
            keep_finished(error, results)
            raise
        # Every position is filled: a call that did not finish raised out of `_execute_together`.
        return cast("list[ToolResult]", results)

    async def _execute_together(
        self,
        calls: Sequence[ToolCall] | AsyncIterable[ToolCall],
        results: list[ToolResult | None],
        context: Callable[[ToolCall], ToolContext[Any]],
        slots: Slots,
        report: Report | None,
    ) -> None:
        """Run the calls as they come, in `results` by position (None until each ends)."""
        fatal: list[BaseException] = []
        alone: list[tuple[int, ToolCall]] = []
        async with anyio.create_task_group() as group:

            async def one(i: int, call: ToolCall) -> None:
                try:
                    result = await self._execute_one(call, context(call), slots)
                except anyio.get_cancelled_exc_class():
                    raise  # the group's own cancellation, or the run's
                except BaseException as exc:
                    # A handler or a hook that raised, or an interrupt: end the turn with it,
                    # raised bare below. Left to the task group it would come out wrapped in
                    # a BaseExceptionGroup, and an interrupt would also escape the event loop.
                    fatal.append(exc)
                    group.cancel_scope.cancel()
                    return
                results[i] = result
                if report is not None:
                    report(result)

            def start(call: ToolCall) -> None:
                results.append(None)
                if self._is_sequential(call):
                    alone.append((len(results) - 1, call))
                else:
                    group.start_soon(one, len(results) - 1, call)

            if isinstance(calls, Sequence):
                for call in calls:
                    start(call)
            else:
                async for call in calls:
                    start(call)
        for i, call in alone:
            if fatal:
                break
            result = await self._execute_one(call, context(call), slots, bounded=False)
            results[i] = result
            if report is not None:
                report(result)
        if fatal:
            raise next((e for e in fatal if isinstance(e, _INTERRUPTS)), fatal[0])

    def _is_sequential(self, call: ToolCall) -> bool:
        tool = self.registry.get(call.function.name)
        return tool is not None and tool.sequential

    async def _execute_one(
        self, call: ToolCall, context: ToolContext[Any], slots: Slots, *, bounded: bool = True
    ) -> ToolResult:
        """One call, in a slot when it runs beside others, is sync (its thread may outlive the
        call) or a thread of an earlier turn still holds one."""
        tool = self.registry.get(call.function.name)
        sync = tool is not None and not tool.is_async
        if not (bounded or sync or slots.held):
            return await self._settle(call, tool, context, None)
        slot = await slots.take()
        try:
            return await self._settle(call, tool, context, slot if sync else None)
        finally:
            slot.leave()

    async def _settle(
        self,
        call: ToolCall,
        tool: Tool[..., Any] | None,
        context: ToolContext[Any],
        slot: _Slot | None,
    ) -> ToolResult:
        arguments: str | bytes = call.function.arguments
        rewritten_text: str | None = None
        if tool is not None and self.before_tool_call is not None:
            # Outside the `try` below: what goes wrong in the hook is the user's bug, raised.
            decision = await self.before_tool_call(call, context)
            if isinstance(decision, Deny | Defer | Answer):
                return self._not_run(call, decision, context.turn)
            if decision is not None:
                arguments = rewritten_text = rewritten(call, tool, decision)
        started = time.perf_counter()
        is_error = False
        try:
            attempt = self._attempt(call, tool, arguments, context, slot)
            value = await traced_tool(call, tool, arguments, attempt)
            content = self.render(value)
        except Exception as error:
            value, content, is_error = None, self._error_text(call, error), True
        duration = time.perf_counter() - started
        logger.debug(
            "tool %s (%s) %s in %.3fs",
            call.function.name,
            call.id,
            "failed" if is_error else "finished",
            duration,
        )
        return ToolResult(
            call=call,
            content=content,
            is_error=is_error,
            duration=duration,
            turn=context.turn,
            value=value,
            rewritten_arguments=rewritten_text,
        )

    def _not_run(self, call: ToolCall, decision: Deny | Defer | Answer, turn: int) -> ToolResult:
        """The result of a call the hook did not let run: denied, deferred (answered by the
        placeholder until `Agent.resume` decides it) or answered in the tool's stead."""
        if isinstance(decision, Answer):
            content, value = self.render(decision.output), decision.output
            return ToolResult(
                call=call, content=content, is_error=False, duration=0.0, turn=turn, value=value
            )
        denied = isinstance(decision, Deny)
        return ToolResult(
            call=call,
            content=decision.reason if isinstance(decision, Deny) else PENDING,
            is_error=denied,
            duration=0.0,
            turn=turn,
            deferred=None if isinstance(decision, Deny) else decision,
        )

    async def _attempt(
        self,
        call: ToolCall,
        tool: Tool[..., Any] | None,
        arguments: str | bytes,
        context: ToolContext[Any],
        slot: _Slot | None,
    ) -> Any:
        """What the tool returned."""
        if tool is None:
            raise UnknownToolError(call.function.name, [t.name for t in self.registry])
        try:
            return await self._call(tool, arguments, context, slot)
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # a real cancellation: the timeout's, or the run's
            # Nothing cancelled the call: the tool let a CancelledError of its own escape (a
            # task it cancelled and awaited, say). That is its failure, not the run's.
            raise ToolError(
                f"the tool {tool.name!r} raised CancelledError while it was not cancelled"
            ) from exc

    async def _call(
        self,
        tool: Tool[..., Any],
        arguments: str | bytes,
        context: ToolContext[Any],
        slot: _Slot | None,
    ) -> Any:
        timeout = tool.timeout if tool.timeout is not None else self.tool_timeout
        with anyio.move_on_after(timeout) as scope:
            if slot is None:
                return await tool.run(arguments, context=context)
            return await tool.run(arguments, context=context, run_sync=slot.run_sync)
        # Only reached when the scope cancelled the call: a tool's own TimeoutError propagates.
        assert scope.cancelled_caught and timeout is not None
        raise ToolTimeoutError(tool.name, timeout)

    def _error_text(self, call: ToolCall, error: Exception) -> str:
        text = self.error_handler(call, error)
        if not isinstance(text, str):
            raise TypeError(
                f"tool_error_handler returned {type(text).__name__}, not the str to tell the "
                "model; raise from it to end the run instead"
            )
        return self._capped(text)

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


def rewritten(call: ToolCall, tool: Tool[..., Any], decision: object) -> str:
    """The argument text of a `Rewrite`, checked: anything else a hook returns is a bug in it.

    Only `None` approves a call. `Deny` (the class), `False`, `"deny"`: whatever the hook
    meant, guessing could run a call it meant to stop, so the run stops and says why.
    """
    if not isinstance(decision, Rewrite):
        what = f"the class {decision.__name__}" if isinstance(decision, type) else repr(decision)
        raise TypeError(
            f"before_tool_call returned {what[:100]} for the call {call.id} of "
            f"{call.function.name!r}; return None to run it, Deny(reason) to refuse it, "
            "Rewrite(arguments) to run it with other arguments, Defer() to decide later or "
            "Answer(output) to answer in its stead. It did not run."
        )
    if not isinstance(decision.arguments, dict | str):
        raise TypeError(
            f"Rewrite(arguments) takes a dict or JSON text, got {type(decision.arguments).__name__}"
        )
    text = _argument_text(decision.arguments)
    try:
        tool.parse_arguments(text)
    except ToolArgumentsError as error:
        # The model did not write these arguments, so it is not told to fix them.
        raise ToolArgumentsError(
            f"before_tool_call rewrote the arguments of the call {call.id} into ones the tool "
            f"refuses: {error}. It did not run.",
            tool=error.tool,
            path=error.path,
        ) from error
    return text


def _argument_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else msgspec.json.encode(arguments).decode()
