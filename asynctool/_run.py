"""The agent loop: send the conversation, run the tool calls, feed results back, until an answer.

The loop is written once, as the async generator `Run.events`, and a turn once, as
`Run._turn`. `Agent.run` drives it with non-stream requests and keeps only the result;
`Agent.run_stream` drives it with streaming requests and hands every event to the caller.
Both build the same transcript.

One turn: send the transcript; if the answer has tool calls (whatever `finish_reason` says:
providers report `stop` with calls, and `tool_calls` with none), append the assistant message
as it came, run the calls, append one tool message per call in call order, and go again;
otherwise the answer is final. An error or a cancellation in the middle of a turn still
leaves every call answered: with its result if it finished, else as cancelled.

A turn tells what happens through `emit`, a plain callable. A plain turn has nothing to show
while it runs, so its events are collected and yielded when it is over. A streamed turn
(`_live.LiveTurn`) has: its text, reasoning and argument fragments as they arrive, each call's
result as it finishes while the others still run, and with `eager_tools` calls that start
before the stream ends. It runs in a worker task of its own (`_relay`), and its events come
through a memory object stream, because the generator must not yield inside the task group
that needs (anyio documents why); the relay cancels and joins the worker when the generator
is left, so no task outlives a turn, and leaving early or cancelling stops the tools and
closes the HTTP response (read inside `async with`).

Run control, each off unless the settings ask for it: `history` shapes what each request
sends of the transcript (which keeps everything); a request refused because the context is
full is sent again once after `on_overflow` compacted the transcript; the `budget` is checked
before each request and after each answer, and its deadline bounds each turn, entered and
left inside the turn (never across a yield). A call the hook deferred (`Defer`) is answered
by a placeholder, the turn's other calls finish, and the run ends with its state
(`_pause.PausedRun`) instead of the next request; `Run.resumed` goes on from that state, its
decided calls first.

The loop does no I/O of its own. It is given frozen settings (`RunSettings`) and the two things
a run does to the world, as callables: `Send` a request (a `ChatCompletion`, or a `ChatStream`
to read), and `Execute` a turn's calls (their `ToolResult`s); `_seam.py` holds that contract.
`Agent` hands it an HTTP client and a `ToolExecutor`; a test hands it a script and a recorder,
and a workflow engine its own steps, and the loop is the same. This module imports neither
the agent nor the executor.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from ._budget import Clock
from ._events import (
    AgentEvent,
    RunCompleted,
    RunResult,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
)
from ._exceptions import (
    PREVIEW_CHARS,
    AgentError,
    APIError,
    AsyncToolError,
    FinishReasonError,
    MaxTurnsExceeded,
    OutputError,
    OutputValidationError,
    RefusalError,
    ToolCallLimitExceeded,
    ToolCallsTruncatedError,
    ToolErrorLimitExceeded,
)
from ._history import HistoryContext, as_message, shaped
from ._live import Emit, LiveTurn, is_json, with_id
from ._lossless import wire_extras
from ._overflow import is_context_overflow
from ._pause import PausedRun, PendingCall, SavedResult, with_answers
from ._relay import relayed
from ._request import ChatCompletionRequest, StreamOptions, checked_messages
from ._seam import Execute, Report, RunSettings, Send, finished
from ._tools import ToolContext
from ._types import (
    ChatCompletion,
    DeveloperMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
    assistant_message,
)

if TYPE_CHECKING:
    from ._stream import ChatStream

__all__ = ["Run"]


logger = logging.getLogger("asynctool")

_FORCING_CHOICES = ("required",)

CANCELLED = "Error: this tool call was cancelled before it finished."


class Run:
    """One run's state, and the loop over it.

    Args:
        settings: the agent's settings for this run.
        input: the user's text, or a whole conversation (dicts or message structs).
        deps: handed to tools as `ToolContext.deps`.
        send: sends a turn's request (see `Send`).
        execute: runs a turn's tool calls (see `Execute`).
        stream: whether turns are streamed (and events yielded as chunks arrive).
    """

    def __init__(
        self,
        settings: RunSettings,
        input: str | Sequence[Any],
        deps: Any,
        *,
        send: Send,
        execute: Execute,
        stream: bool,
    ) -> None:
        self.settings = settings
        self.deps = deps
        self.send = send
        self.execute = execute
        self.stream = stream
        self.messages = _transcript(input, settings.instructions)
        self.usage = Usage()
        self.turns = 0
        self.tool_errors = 0  # failed calls in a row
        self.tool_choice = settings.tool_choice
        self.output_retries = settings.output_retries
        self.base = settings.request
        self.tool_results: list[ToolResult] = []
        self.answer: ChatCompletion | None = None  # the last turn's, when it called no tool
        self.completion: ChatCompletion | None = None  # the last one received
        self.requests = 0  # every request sent: turns, retries after compaction, summaries
        self.clock = Clock(settings.budget.max_run_seconds)
        self.sent: list[Message] = []  # what the last request sent, after `history`
        self.last_usage: Usage | None = None  # what the provider reported for it
        self.paused: PausedRun | None = None  # set when a turn's calls wait for a decision
        # On resume: the paused turn's calls, and the `Execute` that applies their decisions.
        self.decided: tuple[list[ToolCall], Execute] | None = None

    @classmethod
    def resumed(
        cls, settings: RunSettings, paused: PausedRun, deps: Any, *, decided: Execute, **ways: Any
    ) -> Run:
        """A run that goes on from `paused`: its decided calls run first (with `decided`, which
        applies the decisions), then the loop as if it had not stopped."""
        run = cls(settings, paused.messages, deps, **ways)
        run.usage = paused.usage
        run.turns = paused.turns
        run.requests = paused.requests
        run.clock = Clock(settings.budget.max_run_seconds, before=paused.elapsed)
        run.tool_errors = paused.tool_errors
        run.tool_choice = paused.tool_choice
        run.output_retries = paused.output_retries
        run.tool_results = [saved.restored() for saved in paused.tool_results]
        run.completion = paused.completion
        run.decided = ([pending.call for pending in paused.pending], decided)
        return run

    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        """The loop: yields every event of the run, the last one `RunCompleted`."""
        try:
            if self.decided is not None:
                events: list[AgentEvent] = []
                await self._timed(self._finish_paused_turn, events.append)
                for event in events:
                    yield event
            while self.paused is None:
                if self.turns >= self.settings.max_turns:
                    raise MaxTurnsExceeded(
                        f"The run reached max_turns={self.settings.max_turns} while the model "
                        "was still calling tools"
                    )
                self.turns += 1
                if self.stream:
                    # Closed here, not by the garbage collector: leaving early stops the
                    # turn's tools and closes its response.
                    async with aclosing(relayed(self._timed_turn)) as live:
                        async for event in live:
                            yield event
                else:
                    # A plain turn has nothing to show while it is under way.
                    events = []
                    await self._timed_turn(events.append)
                    for event in events:
                        yield event
                if self.answer is None:
                    continue  # the turn ran tools: the model is asked again
                result = self._result_of_final_answer(self.answer)
                if result is None:
                    continue  # the answer did not parse and went back to the model
                yield RunCompleted(result=result)
                return
            yield RunCompleted(result=self._result_of_pause())
        except AsyncToolError as error:
            self._attach(error)
            raise

    async def _turn(self, emit: Emit) -> None:
        """One turn: send the transcript, take the answer, run its calls; `self.answer` is the
        answer when it called no tool."""
        self.answer = None
        sent = await self._send_turn()
        if isinstance(sent, ChatCompletion):
            for call in _first_message_calls(sent):
                emit(ToolCallStarted(id=call.id, name=call.function.name, turn=self.turns))
            calls = await self.calls_of(sent, emit)
            if calls:
                await self.execute_calls(calls, emit, live=False)
        else:
            await LiveTurn(self, sent, emit).play()

    async def _timed_turn(self, emit: Emit) -> None:
        await self._timed(self._turn, emit)

    async def _timed(self, step: Callable[[Emit], Any], emit: Emit) -> None:
        """`step(emit)` under the run's deadline (`max_run_seconds`): cancelled when it passes,
        which answers the calls still running as cancelled, and the run ends with
        `TimeBudgetExceeded`. The scope is entered and left here, in the task that awaits
        the step, never across a yield."""
        remaining = self.clock.remaining()
        if remaining is None:
            await step(emit)
            return
        with anyio.move_on_after(remaining) as scope:
            await step(emit)
        if scope.cancelled_caught:
            raise self.clock.exceeded()

    async def _send_turn(self) -> ChatCompletion | ChatStream:
        """Send the turn's request. When it fails because the context is full and the agent
        has `on_overflow`, the transcript is compacted and the request sent once more."""
        try:
            return await self._send(await self._request())
        except APIError as error:
            if self.settings.on_overflow is None or not is_context_overflow(error):
                raise
            if not await self._compacted():
                raise
            logger.info("turn %d: the context was full; compacted, sending again", self.turns)
        return await self._send(await self._request())

    async def _send(self, request: ChatCompletionRequest) -> ChatCompletion | ChatStream:
        self.settings.budget.before_request(self.usage, self.requests)
        self.requests += 1
        return await self.send(request)

    async def _request(self) -> ChatCompletionRequest:
        messages = self.messages
        if self.settings.history is not None:
            context = HistoryContext(turn=self.turns, usage=self.last_usage, sent=self.sent)
            messages = await self.settings.history(self.messages, context)
        self.sent = messages
        return msgspec.structs.replace(
            self.base,
            messages=messages,
            tool_choice=self.tool_choice if self.base.tools else None,
            stream=True if self.stream else None,
            stream_options=_with_usage(self.base.stream_options) if self.stream else None,
        )

    async def _compacted(self) -> bool:
        """Whether `on_overflow` made the transcript shorter; it is replaced in place (tools
        hold it as `context.messages`), the summary standing where the old turns were."""
        assert self.settings.on_overflow is not None
        compacted = await self.settings.on_overflow(list(self.messages), self._ask)
        if compacted == self.messages:
            return False
        self.messages[:] = shaped(compacted, "on_overflow")
        return True

    async def _ask(self, messages: list[Message]) -> str:
        """Send `messages` to the run's model, without tools or an output type, and return
        its answer; the request counts in the run's usage and budget."""
        request = msgspec.structs.replace(
            self.base,
            messages=messages,
            tools=None,
            tool_choice=None,
            parallel_tool_calls=None,
            response_format=None,
            stream=None,
            stream_options=None,
        )
        completion = await self._send(request)
        assert isinstance(completion, ChatCompletion)  # a request without `stream` is plain
        self.usage = self.usage + (completion.usage or Usage())
        if not completion.choices:
            raise AgentError("The model answered the summary request with no choices")
        return completion.choices[0].message.content or ""

    async def calls_of(
        self, completion: ChatCompletion, emit: Emit, started: Sequence[ToolCall] = ()
    ) -> list[ToolCall]:
        """The turn's calls, ready to run (the assistant message appended), after its hook;
        `started` are those already running."""
        emit(self._account(completion))
        if self.settings.after_response is not None:
            await self.settings.after_response(completion)
        if _first_message_calls(completion):
            # Before the assistant message is appended: the transcript stays sendable.
            self.settings.budget.before_tools(self.usage, completion)
        calls = self._tool_calls(completion, started)
        if not calls:
            self.answer = completion
        for call in calls[len(started) :]:
            emit(ToolCallReady(call=call, turn=self.turns))
        return calls

    def _account(self, completion: ChatCompletion) -> TurnCompleted:
        usage = completion.usage or Usage()
        self.usage = self.usage + usage
        self.last_usage, self.completion = completion.usage, completion
        logger.debug(
            "turn %d: %d tool call(s), finish_reason=%s, %d tokens",
            self.turns,
            len(_first_message_calls(completion)),
            completion.choices[0].finish_reason if completion.choices else None,
            usage.total_tokens,
        )
        return TurnCompleted(turn=self.turns, completion=completion, usage=usage)

    def _tool_calls(
        self, completion: ChatCompletion, started: Sequence[ToolCall] = ()
    ) -> list[ToolCall]:
        """The calls to run, after appending the assistant message that made them; the calls
        already `started` stand for the first ones, as the objects that ran."""
        if not completion.choices:
            raise AgentError("The model answered with no choices", completion=completion)
        choice = completion.choices[0]
        if choice.finish_reason == "error":
            # OpenRouter's word for a generation that failed part way: what came is not an
            # answer, and a tool call in it may be cut off.
            error = APIError(
                "The provider ended the answer with finish_reason 'error'",
                body=wire_extras(completion).get("error"),
            )
            error.partial_completion = completion
            raise error
        calls = _with_ids(choice.message.tool_calls or [], self.turns)
        if not calls:
            return []
        if started:
            calls = [*started, *calls[len(started) :]]
        if choice.finish_reason == "length" and not all(is_json(c) for c in calls):
            raise ToolCallsTruncatedError(
                "The model ran out of tokens while writing tool-call arguments; raise "
                "max_tokens or max_completion_tokens",
                completion=completion,
            )
        cap = self.settings.max_tool_calls_per_turn
        if len(calls) > cap:
            # Before the assistant message is appended, as for truncated calls: the transcript
            # stays one that can be sent again, and `completion` holds the calls.
            raise ToolCallLimitExceeded(
                f"The model asked for {len(calls)} tool calls in one turn, more than "
                f"max_tool_calls_per_turn={cap}; none of them ran",
                completion=completion,
            )
        self.messages.append(assistant_message(choice.message, tool_calls=calls))
        if self.settings.reset_tool_choice and _is_forcing(self.tool_choice):
            self.tool_choice = "auto"
        return calls

    async def execute_calls(self, calls: list[ToolCall], emit: Emit, *, live: bool) -> None:
        """Run a turn's calls; their results are emitted as they finish when `live`, else in
        call order once all have."""
        try:
            if live:
                results = await self.executed(calls, emit)
            else:  # the plain run's way, one frame shorter: nothing to report
                results = await self.execute(calls, self._context)
        except BaseException as error:
            # On errors and cancellation too, every call gets its tool message.
            self.answer_all(calls, error, finished(error))
            raise
        if not live:
            for result in results:
                emit(result)
        self.record(calls, results)

    async def executed(
        self, calls: Sequence[ToolCall] | AsyncIterable[ToolCall], report: Report
    ) -> list[ToolResult]:
        """`execute`'s results, each reported once: as it finished, or at the end for those
        an `Execute` did not report."""
        told: set[int] = set()

        def tell(result: ToolResult) -> None:
            told.add(id(result))
            report(result)

        results = await self.execute(calls, self._context, report=tell)
        for result in results:
            if id(result) not in told:
                report(result)
        return results

    def record(self, calls: list[ToolCall], results: list[ToolResult]) -> None:
        """The tool messages of a turn whose calls all ended, in call order; a deferred call's
        is the placeholder, and the run pauses after the turn."""
        self.messages.extend(
            ToolMessage(content=result.content, tool_call_id=call.id)
            for call, result in zip(calls, results, strict=True)
        )
        self._settled(results)

    def _settled(self, results: list[ToolResult]) -> None:
        """Count a turn's results: those that ended go in `tool_results` and the error
        count; deferred ones pause the run."""
        ended = [result for result in results if result.deferred is None]
        self.tool_results.extend(ended)
        if ended:
            self._count_errors(ended)
        waiting = [result for result in results if result.deferred is not None]
        if waiting:
            self.paused = self._pause(waiting)

    async def _finish_paused_turn(self, emit: Emit) -> None:
        """On resume: run the paused turn's calls as decided, put their answers where the
        placeholders were, and go on (or pause again, for the calls deferred once more)."""
        assert self.decided is not None
        calls, decided = self.decided
        self.decided = None
        results = await decided(calls, self._context)
        for result in results:
            emit(result)
        answers = {r.call.id: r.content for r in results if r.deferred is None}
        self.messages[:] = with_answers(self.messages, answers)
        self._settled(results)

    def _pause(self, waiting: list[ToolResult]) -> PausedRun:
        tool_choice = self.tool_choice
        return PausedRun(
            messages=list(self.messages),
            pending=[
                PendingCall(call=r.call, turn=r.turn, reason=getattr(r.deferred, "reason", None))
                for r in waiting
            ],
            tool_results=[SavedResult.of(result) for result in self.tool_results],
            usage=self.usage,
            turns=self.turns,
            requests=self.requests,
            elapsed=self.clock.elapsed(),
            tool_errors=self.tool_errors,
            tool_choice=dict(tool_choice) if isinstance(tool_choice, Mapping) else tool_choice,
            output_retries=self.output_retries,
            completion=self.completion,
        )

    def _result_of_pause(self) -> RunResult[Any]:
        assert self.paused is not None and self.completion is not None
        return RunResult(
            output=None,
            messages=self.messages,
            usage=self.usage,
            turns=self.turns,
            completion=self.completion,
            tool_results=self.tool_results,
            paused=self.paused,
        )

    def answer_all(
        self, calls: Sequence[ToolCall], error: BaseException, done: Sequence[ToolResult | None]
    ) -> list[str]:
        """Answer every call of a turn that `error` ended: with its result among `done` if it
        finished, else as cancelled. `error.ran_tool_calls` names (and this returns) the ids
        of those that finished."""
        ran: list[str] = []
        for i, call in enumerate(calls):
            result = _finished_result(call, done, i)
            if result is None:
                self.messages.append(ToolMessage(content=CANCELLED, tool_call_id=call.id))
            else:
                self.messages.append(ToolMessage(content=result.content, tool_call_id=call.id))
                ran.append(call.id)
        with contextlib.suppress(AttributeError):  # an exception class with __slots__
            setattr(error, "ran_tool_calls", tuple(ran))  # noqa: B010 - any exception
        return ran

    def _context(self, call: ToolCall) -> ToolContext[Any]:
        return ToolContext(
            self.deps,
            tool_call_id=call.id,
            tool_name=call.function.name,
            messages=self.messages,
            turn=self.turns,
        )

    def _count_errors(self, results: list[ToolResult]) -> None:
        for result in results:
            self.tool_errors = self.tool_errors + 1 if result.is_error else 0
        if self.tool_errors >= self.settings.max_tool_errors:
            raise ToolErrorLimitExceeded(
                f"{self.tool_errors} tool calls in a row failed (max_tool_errors="
                f"{self.settings.max_tool_errors}); "
                f"the last said: {results[-1].content[:PREVIEW_CHARS]}"
            )

    def _result_of_final_answer(self, completion: ChatCompletion) -> RunResult[Any] | None:
        """The result of a final answer, or None when it went back to the model to fix."""
        choice = completion.choices[0]
        message = choice.message
        reason = choice.finish_reason
        accepted = self.settings.accept_finish_reasons
        if reason in ("length", "content_filter") and reason not in accepted:
            raise FinishReasonError.of(
                reason,
                f"The final answer ended with finish_reason={reason!r}; pass "
                f"accept_finish_reasons={{{reason!r}}} to accept such answers",
                completion=completion,
            )
        self.messages.append(message.to_param())
        output: Any = message.content
        if self.settings.output is not None:
            if message.refusal:
                raise RefusalError(message.refusal, completion=completion)
            try:
                output = self.settings.output.parse(message.content)
            except OutputValidationError as error:
                error.completion = completion
                if self.output_retries <= 0:
                    raise
                self.output_retries -= 1
                self.messages.append(UserMessage(content=_fix_request(error)))
                return None
        return RunResult(
            output=output,
            messages=self.messages,
            usage=self.usage,
            turns=self.turns,
            completion=completion,
            tool_results=self.tool_results,
        )

    def _attach(self, error: AsyncToolError) -> None:
        """Give an error that ends the run the transcript and usage so far."""
        error.messages = self.messages
        if isinstance(error, AgentError | OutputError):
            error.usage = self.usage


def _finished_result(
    call: ToolCall, finished: Sequence[ToolResult | None], i: int
) -> ToolResult | None:
    """The result of the `i`th call of a turn that failed, if it finished."""
    result = finished[i] if i < len(finished) else None
    # `is`: an error that went through another run (an agent inside a tool) may carry the
    # results of that run's calls, which are not this turn's.
    if result is None or result.call is not call:
        return None
    return result


def _transcript(input: str | Sequence[Any], instructions: str | None) -> list[Message]:
    if isinstance(input, str):
        messages: list[Message] = [UserMessage(content=input)]
    else:
        messages = [as_message(m) for m in checked_messages(input)]
    if instructions is not None and not (
        messages and isinstance(messages[0], SystemMessage | DeveloperMessage)
    ):
        messages.insert(0, SystemMessage(content=instructions))
    return messages


def _fix_request(error: OutputValidationError) -> str:
    return (
        f"Your answer could not be used: {error}. Answer again with only the JSON value the "
        "response format asks for, fixed."
    )


def _with_usage(options: StreamOptions | None) -> StreamOptions:
    """The stream options of a streaming turn: the usage chunk is always asked for."""
    if options is None:
        return StreamOptions(include_usage=True)
    return msgspec.structs.replace(options, include_usage=True)


def _first_message_calls(completion: ChatCompletion) -> list[ToolCall]:
    if not completion.choices:
        return []
    return completion.choices[0].message.tool_calls or []


def _with_ids(calls: list[ToolCall], turn: int) -> list[ToolCall]:
    """The calls, with an id made up for any a provider sent without one."""
    if all(call.id for call in calls):
        return calls
    return [call if call.id else with_id(call, turn, i) for i, call in enumerate(calls)]


def _is_forcing(tool_choice: str | Mapping[str, Any] | None) -> bool:
    return tool_choice in _FORCING_CHOICES or isinstance(tool_choice, Mapping)
