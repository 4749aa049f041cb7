"""The agent loop: send the conversation, run the tool calls, feed results back, until an answer.

The loop is written once, as the async generator `Run.events`. `Agent.run` drives it with
non-stream requests and keeps only the result; `Agent.run_stream` drives it with streaming
requests and hands every event to the caller. Both build the same transcript.

One turn: send the transcript; if the answer has tool calls (whatever `finish_reason` says:
providers report `stop` with calls, and `tool_calls` with none), append the assistant message
as it came, run the calls, append one tool message per call in call order, and go again;
otherwise the answer is final. The tool messages are appended in a `finally`, so an error or a
cancellation in the middle of a turn still leaves every call answered.

No task outlives a turn: tools run in a task group that is closed before anything is yielded
(yielding inside a cancel scope would break it), and a stream is read inside `async with`, so
leaving early or cancelling closes the HTTP response.

The loop does no I/O of its own. It is given frozen settings (`RunSettings`) and the two things
a run does to the world, as callables: `Send` a request (a `ChatCompletion`, or a `ChatStream`
to read), and `Execute` a turn's calls (their `ToolResult`s); `_seam.py` holds that contract.
`Agent` hands it an HTTP client and a `ToolExecutor`; a test hands it a script and a recorder,
and a workflow engine its own steps, and the loop is the same. This module imports neither
the agent nor the executor.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import msgspec

from ._events import (
    AgentEvent,
    RunCompleted,
    RunResult,
    TextDelta,
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
from ._lossless import convert, wire_extras
from ._request import StreamOptions, checked_messages
from ._seam import Execute, RunSettings, Send, finished
from ._tools import ToolContext
from ._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
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

    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        """The loop: yields every event of the run, the last one `RunCompleted`."""
        try:
            while True:
                if self.turns >= self.settings.max_turns:
                    raise MaxTurnsExceeded(
                        f"The run reached max_turns={self.settings.max_turns} while the model "
                        "was still calling tools"
                    )
                self.turns += 1
                completion: ChatCompletion | None = None
                # Closed here, not by the garbage collector: leaving early closes the response.
                async with aclosing(self._request()) as request:
                    async for event in request:
                        if isinstance(event, ChatCompletion):
                            completion = event
                        else:
                            yield event
                assert completion is not None
                yield self._account(completion)
                if self.settings.after_response is not None:
                    await self.settings.after_response(completion)
                calls = self._tool_calls(completion)
                if not calls:
                    result = self._result_of_final_answer(completion)
                    if result is None:
                        continue  # the answer did not parse and went back to the model
                    yield RunCompleted(result=result)
                    return
                try:
                    for call in calls:
                        yield ToolCallReady(call=call, turn=self.turns)
                except BaseException:
                    # Left between the assistant message and its tool messages: answer them.
                    self.messages.extend(_cancelled(call) for call in calls)
                    raise
                for tool_result in await self._run_tools(calls):
                    yield tool_result
        except AsyncToolError as error:
            self._attach(error)
            raise

    async def _request(self) -> AsyncGenerator[AgentEvent | ChatCompletion, None]:
        """One request: its live events, then the completion itself."""
        request = msgspec.structs.replace(
            self.base,
            messages=self.messages,
            tool_choice=self.tool_choice if self.base.tools else None,
            stream=True if self.stream else None,
            stream_options=_with_usage(self.base.stream_options) if self.stream else None,
        )
        sent = await self.send(request)
        if isinstance(sent, ChatCompletion):
            for call in _first_message_calls(sent):
                yield ToolCallStarted(id=call.id, name=call.function.name, turn=self.turns)
            yield sent
            return
        async with sent:
            async for chunk in sent:
                for event in self._chunk_events(chunk, sent):
                    yield event
            yield await sent.get_final_completion()

    def _chunk_events(self, chunk: ChatCompletionChunk, stream: ChatStream) -> list[AgentEvent]:
        events: list[AgentEvent] = []
        for choice in chunk.choices:
            if choice.index == 0 and choice.delta.content:
                events.append(TextDelta(text=choice.delta.content, turn=self.turns))
        # Which call a fragment belongs to is the accumulator's rule, not one of the loop's
        # own: the events then name exactly the calls the turn's completion holds.
        for call in stream.calls_started_by(chunk):
            if call.choice == 0:
                events.append(ToolCallStarted(id=call.id, name=call.name, turn=self.turns))
        return events

    def _account(self, completion: ChatCompletion) -> TurnCompleted:
        usage = completion.usage or Usage()
        self.usage = self.usage + usage
        logger.debug(
            "turn %d: %d tool call(s), finish_reason=%s, %d tokens",
            self.turns,
            len(_first_message_calls(completion)),
            completion.choices[0].finish_reason if completion.choices else None,
            usage.total_tokens,
        )
        return TurnCompleted(turn=self.turns, completion=completion, usage=usage)

    def _tool_calls(self, completion: ChatCompletion) -> list[ToolCall]:
        """The calls to run, after appending the assistant message that made them."""
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
        if choice.finish_reason == "length" and not all(_is_json(c) for c in calls):
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

    async def _run_tools(self, calls: list[ToolCall]) -> list[ToolResult]:
        try:
            results = await self.execute(calls, self._context)
        except BaseException as error:
            # On errors and cancellation too, every call gets its tool message.
            done = finished(error)
            self.messages.extend(_answer_or_cancel(call, done, i) for i, call in enumerate(calls))
            raise
        self.messages.extend(
            ToolMessage(content=result.content, tool_call_id=call.id)
            for call, result in zip(calls, results, strict=True)
        )
        self.tool_results.extend(results)
        self._count_errors(results)
        return results

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


def _cancelled(call: ToolCall) -> ToolMessage:
    return ToolMessage(content=CANCELLED, tool_call_id=call.id)


def _answer_or_cancel(call: ToolCall, finished: Sequence[ToolResult | None], i: int) -> ToolMessage:
    """The tool message of a call whose turn failed: its result if it finished, else cancelled."""
    result = finished[i] if i < len(finished) else None
    # `is`: an error that went through another run (an agent inside a tool) may carry the
    # results of that run's calls, which are not this turn's.
    if result is None or result.call is not call:
        return _cancelled(call)
    return ToolMessage(content=result.content, tool_call_id=call.id)


def _transcript(input: str | Sequence[Any], instructions: str | None) -> list[Message]:
    if isinstance(input, str):
        messages: list[Message] = [UserMessage(content=input)]
    else:
        messages = [_as_message(m) for m in checked_messages(input)]
    if instructions is not None and not (
        messages and isinstance(messages[0], SystemMessage | DeveloperMessage)
    ):
        messages.insert(0, SystemMessage(content=instructions))
    return messages


def _as_message(message: Any) -> Message:
    if isinstance(message, ChatCompletionMessage):
        return message.to_param()
    if isinstance(message, msgspec.Struct):
        return message  # type: ignore[return-value]  # checked_messages allows only messages
    # A dict keeps every field: a saved transcript may hold what a provider wants back.
    converted: Message = convert(message, Message)
    return converted


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
    return [
        call if call.id else msgspec.structs.replace(call, id=f"call_{turn}_{i}")
        for i, call in enumerate(calls)
    ]


def _is_json(call: ToolCall) -> bool:
    try:
        msgspec.json.decode(call.function.arguments or "{}")
    except (msgspec.DecodeError, RecursionError):
        # Nested too deep to decode (msgspec raises RecursionError long before it could see
        # whether the text ends): not known to be whole, and no tool could decode it either.
        return False
    return True


def _is_forcing(tool_choice: str | Mapping[str, Any] | None) -> bool:
    return tool_choice in _FORCING_CHOICES or isinstance(tool_choice, Mapping)
