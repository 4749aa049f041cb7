"""A streamed turn: what its chunks show as they arrive, and its calls run as they complete.

`LiveTurn` reads one turn's `ChatStream` for a `Run` and emits its events as they happen:
text and reasoning deltas, each call as it begins (`ToolCallStarted`) and each fragment of its
arguments (`ToolCallArgumentsDelta`), by the accumulator's rule of which call a fragment is of.
The calls then run through the run's `Execute`, which reports each result as it finishes.

With `eager_tools`, each call is given to `Execute` as soon as it is complete, which the Chat
Completions stream shows one way only: the next call began (or the stream ended). Nothing in
the format marks one call's arguments as whole (the Responses API has an event for that,
`response.function_call_arguments.done`; chat chunks have none), and a JSON object that closes
is no such sign: a provider that interleaves the fragments of parallel calls can close one
and add to another. So a call whose text does not parse yet waits for the end, with every
call after it (calls start in call order). A call is taken as the accumulator has it, which
may be up to a batch of chunks ahead of the events handed out. The
calls go to `Execute` through a memory object stream while the response is still read; both
run in a task group this turn enters and leaves in its own task (the relay's worker, which
yields nothing; see `_relay`).

The hooks and limits apply as to any call, at the moment each call starts:
`max_tool_calls_per_turn` is checked as calls begin, so a turn that goes over it stops where
it is (the stream closed, what runs cancelled), and no call past the limit starts, nor the
one its beginning completed. If the turn fails once calls started (the stream drops, sends an
error, ends with `finish_reason: "error"` or cut short by `length`, a hook raises, the run is
cancelled), the calls still running are cancelled, the transcript gets the assistant message
with the calls that started (the turn's own, if it was already appended), each answered with
its result or as cancelled, and the error names the calls that ran, in `ran_tool_calls` and
in its message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeAlias

import anyio
import msgspec

from ._events import (
    AgentEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
)
from ._exceptions import APIError, AsyncToolError, ToolCallLimitExceeded
from ._lossless import extras
from ._seam import finished
from ._types import ChatCompletion, ChatCompletionChunk, ChoiceDelta, ToolCall, assistant_message

if TYPE_CHECKING:
    from ._run import Run
    from ._stream import ChatStream

__all__ = ["Emit", "LiveTurn", "is_json", "made_up_id"]

Emit: TypeAlias = Callable[[AgentEvent], None]
"""How a turn tells what happens: the caller collects the events, or relays them live."""


class LiveTurn:
    """One streamed turn of a run: its events as they happen, its calls run."""

    def __init__(self, run: Run, stream: ChatStream, emit: Emit) -> None:
        self.run = run
        self.stream = stream
        self.emit = emit
        self.turn = run.turns
        self.started: list[ToolCall] = []  # the calls given to `execute` before the end
        self.calls: list[ToolCall] | None = None  # set once the assistant message is appended

    async def play(self) -> None:
        """Read the stream, then run the turn's calls (or, eagerly, while reading)."""
        if self.run.settings.eager_tools:
            await self._play_eagerly()
            return
        completion = await self._read()
        calls = await self.run.calls_of(completion, self.emit)
        if calls:
            await self.run.execute_calls(calls, self.emit, live=True)

    async def _read(self, begins: Callable[[int], None] | None = None) -> ChatCompletion:
        """Read the stream to its completion, emitting what each chunk shows; `begins` is told
        of each call as it begins."""
        async with self.stream as stream:
            stream.watch_arguments()
            async for chunk in stream:
                self._show(chunk, begins)
            return await stream.get_final_completion()

    def _show(self, chunk: ChatCompletionChunk, begins: Callable[[int], None] | None) -> None:
        emit, turn = self.emit, self.turn
        calls = False
        for choice in chunk.choices:
            delta = choice.delta
            calls = calls or delta.tool_calls is not None
            if choice.index == 0:
                if delta.content:
                    emit(TextDelta(text=delta.content, turn=turn))
                if delta.reasoning_content is not None or extras(delta):
                    if reasoning := reasoning_in(delta):
                        emit(ReasoningDelta(text=reasoning, turn=turn))
        if not calls:
            return  # a chunk without call fragments started no call and added no arguments
        # Which call a fragment belongs to is the accumulator's rule, not one of the loop's
        # own: the events then name exactly the calls the turn's completion holds.
        for call in self.stream.calls_started_by(chunk):
            if call.choice == 0:
                if begins is not None:
                    begins(call.position)
                id = call.id or made_up_id(turn, call.position)
                emit(ToolCallStarted(id=id, name=call.name, turn=turn))
        for added in self.stream.arguments_added_by(chunk):
            if added.choice == 0:
                id = added.id or made_up_id(turn, added.position)
                emit(ToolCallArgumentsDelta(id=id, name=added.name, delta=added.text, turn=turn))

    async def _play_eagerly(self) -> None:
        """Read the stream while the calls complete so far run (see the module docstring)."""
        results: list[ToolResult] = []
        ended: list[BaseException] = []  # what ended `execute` early, with what finished
        failed: list[BaseException] = []  # what ended the reading
        feed, given = anyio.create_memory_object_stream[ToolCall](math.inf)
        try:
            async with anyio.create_task_group() as group:

                async def execute() -> None:
                    try:
                        results.extend(await self.run.executed(given, self.emit))
                    except anyio.get_cancelled_exc_class() as exc:
                        ended.append(exc)
                        raise
                    except BaseException as exc:
                        # A hook's bug, a handler's error, an interrupt: the turn ends with it,
                        # raised below, bare (out of the task group it would come wrapped).
                        ended.append(exc)
                        group.cancel_scope.cancel()

                group.start_soon(execute)
                try:
                    await self._give_calls(feed)
                except anyio.get_cancelled_exc_class():
                    raise  # the tools' failure stopped the reading, or the run is cancelled
                except BaseException as exc:
                    failed.append(exc)
                    group.cancel_scope.cancel()
        except BaseException as exc:  # the run is cancelled
            self._keep_whole(exc, _finished_of(ended, results))
            raise
        finally:
            feed.close()
            given.close()
        cancelled = anyio.get_cancelled_exc_class()
        error = next(iter(failed), None) or next(
            (e for e in ended if not isinstance(e, cancelled)), None
        )
        if error is not None:
            self._keep_whole(error, _finished_of(ended, results))
            raise error
        if self.calls:
            self.run.record(self.calls, results)

    async def _give_calls(self, feed: MemoryObjectSendStream[ToolCall]) -> None:
        """Give `feed` every call of the turn, each as soon as it is complete, then close it."""
        cap = self.run.settings.max_tool_calls_per_turn
        started = self.started

        def begins(position: int) -> None:
            if position >= cap:
                raise ToolCallLimitExceeded(
                    f"The model began more than max_tool_calls_per_turn={cap} tool calls in "
                    f"one turn; the stream was closed at call {position + 1}",
                    completion=self.stream.snapshot(),
                )
            for call in self._complete(len(started), position):
                started.append(call)
                self.emit(ToolCallReady(call=call, turn=self.turn))
                feed.send_nowait(call)

        completion = await self._read(begins)
        self.calls = await self.run.calls_of(completion, self.emit, started)
        for call in self.calls[len(started) :]:
            feed.send_nowait(call)
        feed.close()  # the last call is given: `execute` ends when they have

    def _complete(self, first: int, end: int) -> Iterator[ToolCall]:
        """The calls from `first` to `end` (those a later call follows), in order, up to the
        first whose arguments do not parse yet: that one, and those after it, wait."""
        for position in range(first, end):
            call = self.stream.tool_call(0, position)
            # No text yet is not `{}`: its fragments may still come, after the next call's.
            if not call.function.arguments or not is_json(call):
                return
            yield call if call.id else with_id(call, self.turn, position)

    def _keep_whole(self, error: BaseException, done: Sequence[ToolResult | None]) -> None:
        """Keep the transcript whole after the turn failed: the calls that started are in an
        assistant message (the turn's own, or the partial one), each answered; the error
        says which ran."""
        calls = self.calls
        if calls is None:
            if not self.started:
                return  # nothing ran: the turn leaves no trace, as any failed request
            message = self.stream.snapshot().choices[0].message
            self.run.messages.append(assistant_message(message, tool_calls=self.started))
            calls = self.started
        if not calls:
            return
        ran = self.run.answer_all(calls, error, done)
        if self.started and isinstance(error, AsyncToolError):
            _say_which_ran(error, ran, [call.id for call in calls if call.id not in ran])


if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectSendStream


def _finished_of(
    ended: list[BaseException], results: list[ToolResult]
) -> Sequence[ToolResult | None]:
    """The results of the calls that finished: those the error that ended `execute`
    carries, or all of them when it ended well."""
    return finished(ended[0]) if ended else results


def _say_which_ran(error: AsyncToolError, ran: list[str], stopped: list[str]) -> None:
    """Add to the message of an error that ended an eager turn which of its calls had run."""
    note = f" [eager_tools: ran {', '.join(ran) or 'none'}"
    note += f"; cancelled {', '.join(stopped)}]" if stopped else "]"
    if isinstance(error, APIError):
        error.message += note  # what its str() shows
    error.args = (f"{error.args[0] if error.args else ''}{note}", *error.args[1:])


def reasoning_in(delta: ChoiceDelta) -> str | None:
    """The reasoning text a delta adds: `reasoning_content` (DeepSeek, Moonshot, Qwen, older
    vLLM) or `reasoning` (OpenRouter, Groq, Ollama, vLLM). The delta struct does not name
    `reasoning`, so that the plain chunk stays cheap: it is there only on a delta that came
    with unnamed fields (`_lossless`), and a plain text chunk costs one attribute read more.
    vLLM has sent both with the same text; `reasoning_content` wins."""
    if delta.reasoning_content is not None:
        return delta.reasoning_content
    if not extras(delta):
        return None
    text = getattr(delta, "reasoning", None)
    return text if isinstance(text, str) else None


def with_id(call: ToolCall, turn: int, position: int) -> ToolCall:
    """`call`, with the id made up for it."""
    return msgspec.structs.replace(call, id=made_up_id(turn, position))


def made_up_id(turn: int, position: int) -> str:
    """The id of a call a provider sent without one: the same in every event and the
    transcript."""
    return f"call_{turn}_{position}"


def is_json(call: ToolCall) -> bool:
    """Whether a call's arguments are JSON: whole, as far as the text can tell."""
    try:
        msgspec.json.decode(call.function.arguments or "{}")
    except (msgspec.DecodeError, RecursionError):
        # Nested too deep to decode (msgspec raises RecursionError long before it could see
        # whether the text ends): not known to be whole, and no tool could decode it either.
        return False
    return True
