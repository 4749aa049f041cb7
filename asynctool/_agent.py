"""`Agent`: send the conversation, run the tool calls, feed the results back, until an answer.

The loop is written once, as the async generator `_Run.events`. `Agent.run` drives it with
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
"""

from __future__ import annotations

import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, Generic, TypeVar, Unpack, overload

import msgspec

from ._client import AsyncClient
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
    AgentError,
    AsyncToolError,
    FinishReasonError,
    InvalidRequestError,
    MaxTurnsExceeded,
    OutputError,
    OutputValidationError,
    RefusalError,
    ToolCallsTruncatedError,
    ToolErrorLimitExceeded,
)
from ._execute import (
    CANCELLED,
    BeforeToolCall,
    ToolErrorHandler,
    ToolExecutor,
    ToolOutcome,
    default_error_handler,
)
from ._output import OutputSpec
from ._request import ParseParams, build_body, checked_messages
from ._strict import SchemaError
from ._tools import Tool, ToolContext, ToolRegistry
from ._types import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    DeveloperMessage,
    Message,
    SystemMessage,
    ToolCall,
    Usage,
    UserMessage,
)

__all__ = ["Agent", "AgentOptions", "AgentStream"]

logger = logging.getLogger("asynctool")

OutputT = TypeVar("OutputT")
AfterResponse = Callable[[ChatCompletion], Awaitable[None]]
"""An async hook called with every completion the run receives."""

_FORCING_CHOICES = ("required",)


class AgentOptions(ParseParams, total=False):
    """The keywords of `Agent` besides `model` and `output_type` (see `Agent`)."""

    instructions: str | None
    max_turns: int
    tool_timeout: float | None
    max_concurrency: int
    max_tool_errors: int
    accept_finish_reasons: Iterable[str]
    reset_tool_choice: bool
    before_tool_call: BeforeToolCall | None
    after_response: AfterResponse | None
    tool_error_handler: ToolErrorHandler
    max_result_chars: int
    output_retries: int


class Agent(Generic[OutputT]):
    """Runs a model with tools until it answers without calling one.

    Args:
        client: the `AsyncClient` to send requests with.
        model: the model name.
        tools: `Tool`s (or plain functions, made into tools) or a `ToolRegistry`.
        instructions: a system message put first in every run that does not start with one.
        max_turns: the most requests one run may make; `MaxTurnsExceeded` past it.
        tool_choice: as in the API; a forced choice (`"required"` or a named function)
            applies to the first request only when `reset_tool_choice` is true (the default),
            so a forced call cannot loop forever.
        parallel_tool_calls: as in the API.
        tool_timeout: seconds each tool call may take (a tool's own `timeout` wins).
        max_concurrency: how many tool calls of one turn run at once.
        max_tool_errors: failed tool calls in a row that end the run (`ToolErrorLimitExceeded`).
        accept_finish_reasons: final-answer finish reasons besides `stop` to accept, e.g.
            `{"length"}`; others raise `FinishReasonError` with the partial answer.
        before_tool_call: async hook to approve, deny or rewrite each call.
        after_response: async hook called with every completion.
        tool_error_handler: turns a failed call's error into text for the model.
        max_result_chars: tool results longer than this are cut, with a note saying so.
        output_type: a type (Struct, dataclass, TypedDict, `list[Item]`...) the final answer
            must parse as; it is asked for with a strict `response_format`, and
            `result.output` is the parsed value.
        output_retries: how many times an answer that does not parse is sent back, with the
            reason, for the model to fix, before `OutputValidationError`.
        **params: any other request field of `create` (`temperature`, `max_tokens`, ...).
    """

    @overload
    def __init__(
        self: Agent[str | None],
        client: AsyncClient,
        *,
        model: str,
        output_type: None = None,
        **options: Unpack[AgentOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[OutputT],
        client: AsyncClient,
        *,
        model: str,
        output_type: type[OutputT],
        **options: Unpack[AgentOptions],
    ) -> None: ...

    def __init__(
        self,
        client: AsyncClient,
        *,
        model: str,
        tools: ToolRegistry | Iterable[Tool[..., Any] | Callable[..., Any]] = (),
        instructions: str | None = None,
        max_turns: int = 10,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        tool_timeout: float | None = None,
        max_concurrency: int = 8,
        max_tool_errors: int = 3,
        accept_finish_reasons: Iterable[str] = (),
        reset_tool_choice: bool = True,
        before_tool_call: BeforeToolCall | None = None,
        after_response: AfterResponse | None = None,
        tool_error_handler: ToolErrorHandler = default_error_handler,
        max_result_chars: int = 100_000,
        output_type: type[Any] | None = None,
        output_retries: int = 1,
        **params: Any,
    ) -> None:
        self.client = client
        self.model = model
        self.registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.instructions = instructions
        self.max_turns = _positive("max_turns", max_turns)
        self.max_tool_errors = _positive("max_tool_errors", max_tool_errors)
        self.accept_finish_reasons = frozenset(accept_finish_reasons)
        self.tool_choice = tool_choice
        self.reset_tool_choice = reset_tool_choice
        self.after_response = after_response
        self.params = {"parallel_tool_calls": parallel_tool_calls, **params}
        self.output: OutputSpec[Any] | None = None
        self.output_retries = output_retries
        if output_type is not None:
            self._ask_for(output_type)
        self.executor = ToolExecutor(
            self.registry,
            max_concurrency=_positive("max_concurrency", max_concurrency),
            tool_timeout=tool_timeout,
            before_tool_call=before_tool_call,
            error_handler=tool_error_handler,
            max_result_chars=_positive("max_result_chars", max_result_chars),
        )
        self._check_params()

    def _ask_for(self, output_type: type[Any]) -> None:
        if "response_format" in self.params:
            raise InvalidRequestError("response_format", "give output_type or response_format")
        if isinstance(self.output_retries, bool) or self.output_retries < 0:
            raise InvalidRequestError("output_retries", "expected an int >= 0")
        try:
            self.output = OutputSpec(output_type)
        except SchemaError as exc:
            raise InvalidRequestError("output_type", str(exc)) from exc
        self.params["response_format"] = self.output.response_format

    def _check_params(self) -> None:
        """Refuse bad request parameters now, not on the first turn."""
        if self.params.get("n", 1) != 1:
            raise InvalidRequestError("n", "an agent follows one conversation; n must be 1")
        if "stream" in self.params:
            raise InvalidRequestError("stream", "use run_stream() to stream")
        build_body(
            model=self.model,
            messages=[UserMessage(content="")],
            stream=False,
            params=self._request_params(self.tool_choice),
        )

    def _request_params(self, tool_choice: str | Mapping[str, Any] | None) -> dict[str, Any]:
        params = dict(self.params)
        if len(self.registry):
            params["tools"] = self.registry.definitions()
            params["tool_choice"] = tool_choice
        return params

    async def run(self, input: str | Sequence[Any], *, deps: Any = None) -> RunResult[OutputT]:
        """Run to the final answer.

        Args:
            input: the user's text, or a whole conversation (dicts or message structs).
            deps: handed to tools that take a `ToolContext`, as `context.deps`.

        Raises:
            MaxTurnsExceeded, ToolCallsTruncatedError, ToolErrorLimitExceeded: the run could
                not end well; each carries the transcript (`messages`) and `usage`.
            FinishReasonError, RefusalError, OutputValidationError: the final answer was cut
                short, refused, or (with `output_type`) did not parse; likewise.
            APIError and its subclasses: the server or the connection failed; `messages`
            holds the transcript up to it.
        """
        async for event in _Run(self, input, deps, stream=False).events():
            if isinstance(event, RunCompleted):
                result: RunResult[OutputT] = event.result
                return result
        raise AssertionError("a run ends with RunCompleted or an error")  # pragma: no cover

    def run_stream(self, input: str | Sequence[Any], *, deps: Any = None) -> AgentStream:
        """Run to the final answer, yielding events as they happen (see `AgentEvent`).

        Use it as `async with agent.run_stream(...) as events: async for event in events:`;
        leaving the block early cancels running tools and closes the open response.
        """
        return AgentStream(_Run(self, input, deps, stream=True))


class AgentStream:
    """The events of a streaming run: an async iterator, and an async context manager.

    `messages` is the transcript so far, valid at any point, also after an early exit;
    `result` is the `RunResult` once the run completed.
    """

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._events = run.events()
        self.result: RunResult[Any] | None = None

    @property
    def messages(self) -> list[Message]:
        """The transcript so far; every tool call in it is answered."""
        return self._run.messages

    def __aiter__(self) -> AgentStream:
        return self

    async def __anext__(self) -> AgentEvent:
        event = await self._events.__anext__()
        if isinstance(event, RunCompleted):
            self.result = event.result
        return event

    async def __aenter__(self) -> AgentStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the run: running tools are cancelled and the open response closed."""
        await self._events.aclose()


class _Run:
    """One run's state, and the loop over it."""

    def __init__(self, agent: Agent[Any], input: str | Sequence[Any], deps: Any, *, stream: bool):
        self.agent = agent
        self.deps = deps
        self.stream = stream
        self.messages = _transcript(input, agent.instructions)
        self.usage = Usage()
        self.turns = 0
        self.tool_errors = 0  # failed calls in a row
        self.tool_choice = agent.tool_choice
        self.output_retries = agent.output_retries

    async def events(self) -> AsyncGenerator[AgentEvent, None]:
        """The loop: yields every event of the run, the last one `RunCompleted`."""
        try:
            while True:
                if self.turns >= self.agent.max_turns:
                    raise MaxTurnsExceeded(
                        f"The run reached max_turns={self.agent.max_turns} while the model "
                        "was still calling tools"
                    )
                self.turns += 1
                completion: ChatCompletion | None = None
                async for event in self._request():
                    if isinstance(event, ChatCompletion):
                        completion = event
                    else:
                        yield event
                assert completion is not None
                yield self._account(completion)
                if self.agent.after_response is not None:
                    await self.agent.after_response(completion)
                calls = self._tool_calls(completion)
                if not calls:
                    result = self._finish(completion)
                    if result is None:
                        continue  # the answer did not parse and went back to the model
                    yield RunCompleted(result=result)
                    return
                for call in calls:
                    yield ToolCallReady(call=call, turn=self.turns)
                for tool_result in await self._run_tools(calls):
                    yield tool_result
        except AsyncToolError as error:
            self._attach(error)
            raise

    async def _request(self) -> AsyncIterator[AgentEvent | ChatCompletion]:
        """One request: its live events, then the completion itself."""
        params = self.agent._request_params(self.tool_choice)
        completions = self.agent.client.chat.completions
        if not self.stream:
            completion = await completions.create(
                model=self.agent.model, messages=self.messages, **params
            )
            for call in _first_message_calls(completion):
                yield ToolCallStarted(id=call.id, name=call.function.name, turn=self.turns)
            yield completion
            return
        params["stream_options"] = {"include_usage": True, **params.get("stream_options", {})}
        stream = await completions.create(
            model=self.agent.model, messages=self.messages, stream=True, **params
        )
        started: set[object] = set()
        async with stream:
            async for chunk in stream:
                for event in self._chunk_events(chunk, started):
                    yield event
            yield await stream.get_final_completion()

    def _chunk_events(self, chunk: ChatCompletionChunk, started: set[object]) -> list[AgentEvent]:
        events: list[AgentEvent] = []
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if delta.content:
                events.append(TextDelta(text=delta.content, turn=self.turns))
            for fragment in delta.tool_calls or ():
                key = fragment.id if fragment.id is not None else fragment.index
                name = fragment.function.name if fragment.function is not None else None
                if name and key not in started:
                    started.add(key)
                    events.append(ToolCallStarted(id=fragment.id or "", name=name, turn=self.turns))
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
        calls = _with_ids(choice.message.tool_calls or [], self.turns)
        if not calls:
            return []
        if choice.finish_reason == "length" and not all(_is_json(c) for c in calls):
            raise ToolCallsTruncatedError(
                "The model ran out of tokens while writing tool-call arguments; raise "
                "max_tokens or max_completion_tokens",
                completion=completion,
            )
        message = choice.message
        self.messages.append(
            AssistantMessage(
                content=message.content,
                refusal=message.refusal,
                tool_calls=calls,
                reasoning_content=message.reasoning_content,
            )
        )
        if self.agent.reset_tool_choice and _is_forcing(self.tool_choice):
            self.tool_choice = "auto"
        return calls

    async def _run_tools(self, calls: list[ToolCall]) -> list[ToolResult]:
        outcomes: list[ToolOutcome | None] = [None] * len(calls)
        try:
            await self.agent.executor.run(calls, outcomes, self._context)
        finally:
            # Runs on errors and cancellation too: every call gets its tool message.
            done = [outcome or CANCELLED for outcome in outcomes]
            self.messages.extend(
                outcome.message(call) for call, outcome in zip(calls, done, strict=True)
            )
        self._count_errors(done)
        return [
            ToolResult(
                call=call,
                content=outcome.content,
                is_error=outcome.is_error,
                duration=outcome.duration,
                turn=self.turns,
                value=outcome.value,
            )
            for call, outcome in zip(calls, done, strict=True)
        ]

    def _context(self, call: ToolCall) -> ToolContext[Any]:
        return ToolContext(
            self.deps,
            tool_call_id=call.id,
            tool_name=call.function.name,
            messages=self.messages,
            turn=self.turns,
        )

    def _count_errors(self, outcomes: list[ToolOutcome]) -> None:
        for outcome in outcomes:
            self.tool_errors = self.tool_errors + 1 if outcome.is_error else 0
        if self.tool_errors >= self.agent.max_tool_errors:
            raise ToolErrorLimitExceeded(
                f"{self.tool_errors} tool calls in a row failed (max_tool_errors="
                f"{self.agent.max_tool_errors}); the last said: {outcomes[-1].content[:200]}"
            )

    def _finish(self, completion: ChatCompletion) -> RunResult[Any] | None:
        """The result of a final answer, or None when it went back to the model to fix."""
        choice = completion.choices[0]
        message = choice.message
        reason = choice.finish_reason
        accepted = self.agent.accept_finish_reasons
        if reason in ("length", "content_filter") and reason not in accepted:
            raise FinishReasonError.of(
                reason,
                f"The final answer ended with finish_reason={reason!r}; pass "
                f"accept_finish_reasons={{{reason!r}}} to accept such answers",
                completion=completion,
            )
        self.messages.append(message.to_param())
        output: Any = message.content
        if self.agent.output is not None:
            if message.refusal:
                raise RefusalError(message.refusal, completion=completion)
            try:
                output = self.agent.output.parse(message.content)
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
        )

    def _attach(self, error: AsyncToolError) -> None:
        """Give an error that ends the run the transcript and usage so far."""
        error.messages = self.messages
        if isinstance(error, AgentError | OutputError):
            error.usage = self.usage


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
    if isinstance(message, msgspec.Struct):
        return message  # type: ignore[return-value]  # checked_messages allows only messages
    converted: Message = msgspec.convert(message, Message)
    return converted


def _fix_request(error: OutputValidationError) -> str:
    return (
        f"Your answer could not be used: {error}. Answer again with only the JSON value the "
        "response format asks for, fixed."
    )


def _first_message_calls(completion: ChatCompletion) -> list[ToolCall]:
    if not completion.choices:
        return []
    return completion.choices[0].message.tool_calls or []


def _with_ids(calls: list[ToolCall], turn: int) -> list[ToolCall]:
    """The calls, with an id made up for any a provider sent without one."""
    if all(call.id for call in calls):
        return calls
    return [
        call if call.id else ToolCall(id=f"call_{turn}_{i}", function=call.function)
        for i, call in enumerate(calls)
    ]


def _is_json(call: ToolCall) -> bool:
    try:
        msgspec.json.decode(call.function.arguments or "{}")
    except msgspec.DecodeError:
        return False
    return True


def _is_forcing(tool_choice: str | Mapping[str, Any] | None) -> bool:
    return tool_choice in _FORCING_CHOICES or isinstance(tool_choice, Mapping)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(name, f"expected an int >= 1, got {value!r}")
    return value
