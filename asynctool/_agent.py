"""`Agent`: send the conversation, run the tool calls, feed the results back, until an answer.

This module holds the configuration (`Agent`) and the streaming handle (`AgentStream`); the loop
itself, written once for both `run` and `run_stream`, is `_run.Run`. Each run gets the agent's
settings, frozen, and the agent's ways of acting: its client sends the requests, its
`ToolExecutor` runs the calls. The loop knows nothing else of the agent.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import logging
import weakref
from collections.abc import (
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any, Generic, TypeVar, Unpack, overload

from ._budget import Budget
from ._client import AsyncClient
from ._closing import AsyncCloseable
from ._events import (
    AgentEvent,
    RunCompleted,
    RunResult,
)
from ._exceptions import (
    InvalidRequestError,
    SchemaError,
    ToolArgumentsError,
)
from ._execute import (
    BeforeToolCall,
    Deny,
    Rewrite,
    Slots,
    ToolErrorHandler,
    ToolExecutor,
    default_error_handler,
    rewritten,
)
from ._history import History, history_hook
from ._output import OutputSpec
from ._overflow import Compact
from ._pause import Answer, Approve, Decision, Defer, PausedRun, checked_decisions
from ._request import ChatCompletionRequest, ParseParams, build_body
from ._run import Run
from ._seam import AfterResponse, Execute, RunSettings, Send
from ._sources import RunTools, ToolSource, split_sources
from ._tools import Tool, ToolContext, ToolRegistry
from ._tracing import AgentTrace, start_agent
from ._types import (
    Message,
    ToolCall,
    UserMessage,
)

__all__ = ["Agent", "AgentOptions", "AgentStream"]

logger = logging.getLogger("asynctool")

OutputT = TypeVar("OutputT")


class AgentOptions(ParseParams, total=False):
    """The keywords of `Agent` besides `model` and `output_type` (see `Agent`)."""

    name: str
    instructions: str | None
    max_turns: int
    tool_timeout: float | None
    max_concurrency: int
    max_tool_calls_per_turn: int
    max_tool_errors: int
    accept_finish_reasons: Iterable[str]
    reset_tool_choice: bool
    before_tool_call: BeforeToolCall | None
    after_response: AfterResponse | None
    tool_error_handler: ToolErrorHandler
    max_result_chars: int
    output_retries: int
    eager_tools: bool
    history: History | None
    on_overflow: Compact | None
    max_total_tokens: int | None
    max_requests: int | None
    max_run_seconds: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Ways:
    """What one run is given (see `Agent._ways`)."""

    settings: RunSettings
    send: Send
    execute: Execute
    executor: ToolExecutor
    slots: Slots


class Agent(Generic[OutputT]):
    """Runs a model with tools until it answers without calling one.

    Args:
        client: the `AsyncClient` to send requests with.
        model: the model name.
        tools: `Tool`s (or plain functions, made into tools) or a `ToolRegistry`; also tool
            sources such as MCP servers (`asynctool.mcp`), whose tools are listed again
            before every request.
        name: what traces call the agent: its runs are `invoke_agent {name}` spans.
        instructions: a system message put first in every run that does not start with one.
        max_turns: the most requests one run may make; `MaxTurnsExceeded` past it.
        tool_choice: as in the API; a forced choice (`"required"` or a named function)
            applies to the first request only when `reset_tool_choice` is true (the default),
            so a forced call cannot loop forever.
        parallel_tool_calls: as in the API.
        tool_timeout: seconds each tool call may take (a tool's own `timeout` wins).
        max_concurrency: how many tool calls of one turn run at once. A sync tool's thread
            keeps its place past the call's timeout, until the function returns.
        max_tool_calls_per_turn: the most tool calls one answer may make; an answer with
            more ends the run with `AgentError` before any of them runs.
        max_tool_errors: failed tool calls in a row that end the run (`ToolErrorLimitExceeded`).
        accept_finish_reasons: final-answer finish reasons besides `stop` to accept, e.g.
            `{"length"}`; others raise `FinishReasonError` with the partial answer.
        before_tool_call: `async def hook(call: ToolCall, context: ToolContext) -> Deny |
            Rewrite | Defer | Answer | None`, run before each call of a registered tool: None
            runs it, `Deny` does not, `Rewrite` runs it with other arguments, `Answer` gives
            its output without running it, `Defer` leaves it to be decided later: the run
            pauses after the turn's other calls (`RunResult.paused`, `resume`). Anything else
            it returns, or raises, is raised to the caller and the call does not run.
        after_response: `async def hook(completion: ChatCompletion) -> None`, called with
            every completion; what it raises is raised to the caller.
        tool_error_handler: `def handler(call: ToolCall, error: Exception) -> str` (not
            async): the text the model is told about a failed call; raise to end the run.
        max_result_chars: tool results longer than this are cut, with a note saying so.
        output_type: a type (Struct, dataclass, TypedDict, `list[Item]`...) the final answer
            must parse as; it is asked for with a strict `response_format`, and
            `result.output` is the parsed value.
        output_retries: how many times an answer that does not parse is sent back, with the
            reason, for the model to fix, before `OutputValidationError`.
        eager_tools: in `run_stream`, start each tool call as soon as its arguments are
            complete (the next call began) instead of when the whole answer has streamed.
            The hooks and limits apply as to any call. `run` is not changed by it.
        history: `def history(messages[, context]) -> messages` (sync or async), called
            before each request with the messages about to be sent; what it returns is sent
            instead (an assistant message with tool calls with all its tool messages, or not
            at all: anything else is an `InvalidRequestError`). The transcript keeps all.
            `keep_last_turns(n)` and `keep_within_tokens(limit)` are ready ones.
        on_overflow: `async def compact(messages, ask) -> messages`, called when a request
            fails because the context is full (`is_context_overflow`); the request is sent
            again once with what it returns. `summarize_oldest()` is the ready one. Off by
            default.
        max_total_tokens: the most tokens (as reported) a run may use; `TokenBudgetExceeded`.
        max_requests: the most requests a run may send, summaries included;
            `RequestBudgetExceeded`.
        max_run_seconds: the most wall time a run may take (pauses aside);
            `TimeBudgetExceeded`.
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
        tools: ToolRegistry | Iterable[Tool[..., Any] | Callable[..., Any] | ToolSource] = (),
        name: str = "asynctool",
        instructions: str | None = None,
        max_turns: int = 10,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        tool_timeout: float | None = None,
        max_concurrency: int = 8,
        max_tool_calls_per_turn: int = 32,
        max_tool_errors: int = 3,
        accept_finish_reasons: Iterable[str] = (),
        reset_tool_choice: bool = True,
        before_tool_call: BeforeToolCall | None = None,
        after_response: AfterResponse | None = None,
        tool_error_handler: ToolErrorHandler = default_error_handler,
        max_result_chars: int = 100_000,
        output_type: type[Any] | None = None,
        output_retries: int = 1,
        eager_tools: bool = False,
        history: History | None = None,
        on_overflow: Compact | None = None,
        max_total_tokens: int | None = None,
        max_requests: int | None = None,
        max_run_seconds: float | None = None,
        **params: Any,
    ) -> None:
        self.client = client
        self.model = model
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("name", f"expected a non-empty str, got {name!r}")
        self.name = name
        self.sources: list[ToolSource] = []
        if not isinstance(tools, ToolRegistry):
            self.sources, local = split_sources(tools)
            tools = ToolRegistry(local)
        self.registry = tools
        self.instructions = instructions
        self.max_turns = _positive("max_turns", max_turns)
        self.max_tool_errors = _positive("max_tool_errors", max_tool_errors)
        self.max_tool_calls_per_turn = _positive("max_tool_calls_per_turn", max_tool_calls_per_turn)
        self.accept_finish_reasons = frozenset(accept_finish_reasons)
        self.tool_choice = tool_choice
        self.reset_tool_choice = reset_tool_choice
        self.eager_tools = _flag("eager_tools", eager_tools)
        self.history = history_hook(history)
        self.on_overflow = _hook("on_overflow", on_overflow, ("messages", "ask"))
        self.budget = Budget.checked(max_total_tokens, max_requests, max_run_seconds)
        self.after_response = _hook("after_response", after_response, ("completion",))
        self.params = {"parallel_tool_calls": parallel_tool_calls, **params}
        self.output: OutputSpec[Any] | None = None
        self.output_retries = output_retries
        if output_type is not None:
            self._ask_for(output_type)
        self.executor = ToolExecutor(
            self.registry,
            max_concurrency=_positive("max_concurrency", max_concurrency),
            tool_timeout=tool_timeout,
            before_tool_call=_hook("before_tool_call", before_tool_call, ("call", "context")),
            error_handler=_hook(
                "tool_error_handler", tool_error_handler, ("call", "error"), is_async=False
            ),
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
        self.base_request()

    def base_request(self) -> ChatCompletionRequest:
        """The request every turn of a run starts from, checked once; turns replace `messages`,
        `tool_choice` and `stream`. Built per run, so tools added to the registry count."""
        params = dict(self.params)
        if len(self.registry):
            params["tools"] = self.registry.definitions()
            params["tool_choice"] = self.tool_choice
        params.pop("extra_body", None)
        return build_body(
            model=self.model, messages=[UserMessage(content="")], stream=False, params=params
        )

    def settings(self) -> RunSettings:
        """This agent's settings, as a run gets them (frozen: a run is not changed by what is
        done to the agent while it runs)."""
        return RunSettings(
            request=self.base_request(),
            tool_choice=self.tool_choice,
            instructions=self.instructions,
            max_turns=self.max_turns,
            max_tool_calls_per_turn=self.max_tool_calls_per_turn,
            max_tool_errors=self.max_tool_errors,
            accept_finish_reasons=self.accept_finish_reasons,
            reset_tool_choice=self.reset_tool_choice,
            after_response=self.after_response,
            output=self.output,
            output_retries=self.output_retries,
            eager_tools=self.eager_tools,
            history=self.history,
            on_overflow=self.on_overflow,
            budget=self.budget,
        )

    def _start(self, input: str | Sequence[Any], deps: Any, *, stream: bool) -> Run:
        """A run of this agent, with its two ways of acting on the world."""
        ways = self._ways()
        return Run(ways.settings, input, deps, send=ways.send, execute=ways.execute, stream=stream)

    def _ways(self) -> _Ways:
        """A run's settings, its way to send (the client) and to run tools (the executor, with
        its slots); with tool sources, their tools listed again before each request."""
        settings = self.settings()
        # Partials, not closures: no extra frame per turn. `_send` takes a request already
        # checked, as `base_request` built it.
        send: Send = functools.partial(
            self.client.chat.completions._send, extra_body=self.params.get("extra_body")
        )
        executor = self.executor
        if self.sources:  # (_sources.py) the run's own executor, reading the run's registry
            tools = RunTools(self.registry, self.sources, self.executor)
            settings = dataclasses.replace(settings, request=tools.first_request(settings.request))
            send, executor = tools.send(send), tools.executor
        # Slots are per run: a sync tool's thread left running in one turn counts in the next.
        slots = executor.slots()
        execute: Execute = functools.partial(executor.execute, slots=slots)
        return _Ways(settings, send, execute, executor, slots)

    async def resume(
        self, paused: PausedRun, decisions: Mapping[str, Decision], *, deps: Any = None
    ) -> RunResult[OutputT]:
        """Go on with a paused run (`result.paused`, maybe loaded with `PausedRun.from_json`
        in another process), a decision for each of its pending calls, by call id:
        `Approve()`, `Deny(reason)`, `Rewrite(arguments)`, `Answer(output)`, or `Defer()`
        to keep it waiting (the run then pauses again once the others have run).

        The decided calls run first (not through `before_tool_call`: the decision is its
        answer), their answers take the placeholders' places, and the run goes on as
        `run` does, with this agent's settings; its counts (turns, requests, tokens, time)
        go on from the paused run's.

        Raises:
            InvalidRequestError: a pending call has no decision, a decision names no pending
                call or is not one, or a `Rewrite` gives arguments the tool refuses; before
                anything runs or is sent.
            The errors of `run`.
        """
        run = self._result_of(self._resumed(paused, decisions, deps, stream=False))
        trace = self._trace()
        return await (run if trace is None else trace.follow(run))

    def resume_stream(
        self, paused: PausedRun, decisions: Mapping[str, Decision], *, deps: Any = None
    ) -> AgentStream:
        """`resume`, yielding events as `run_stream` does: first the decided calls' results."""
        run = self._resumed(paused, decisions, deps, stream=True)
        trace = self._trace()
        return AgentStream(run) if trace is None else _TracedAgentStream(run, trace)

    def _resumed(
        self, paused: PausedRun, decisions: Mapping[str, Decision], deps: Any, *, stream: bool
    ) -> Run:
        checked = self._checked_resumption(paused, decisions)
        ways = self._ways()
        # The paused calls run as decided, not through `before_tool_call` again.
        applying = copy.copy(ways.executor)
        applying.before_tool_call = functools.partial(_as_decided, checked)
        decided: Execute = functools.partial(applying.execute, slots=ways.slots)
        return Run.resumed(
            ways.settings,
            paused,
            deps,
            decided=decided,
            send=ways.send,
            execute=ways.execute,
            stream=stream,
        )

    def _checked_resumption(
        self, paused: PausedRun, decisions: Mapping[str, Decision]
    ) -> dict[str, Decision]:
        """The decisions for `paused`'s pending calls, by call id, checked before anything
        runs or is sent (for `resume`, and for a durable engine's own resume).

        Raises:
            InvalidRequestError: `paused` is not a saved run, a pending call has no decision, a
                decision names no pending call or is not one, or a `Rewrite` gives arguments
                the tool refuses.
        """
        if not isinstance(paused, PausedRun):
            raise InvalidRequestError(
                "paused", f"expected a PausedRun (result.paused), got {type(paused).__name__}"
            )
        paused.check()
        checked = checked_decisions(paused, decisions)
        for pending in paused.pending:
            self._check_rewrite(pending.call, checked[pending.call.id])
        return checked

    def _check_rewrite(self, call: ToolCall, decision: Decision) -> None:
        """A `Rewrite` decision the tool refuses is refused now, before anything runs."""
        tool = self.registry.get(call.function.name)
        if not isinstance(decision, Rewrite) or tool is None:
            return
        try:
            rewritten(call, tool, decision)
        except ToolArgumentsError as exc:
            raise InvalidRequestError(
                f"decisions[{call.id!r}]",
                f"Rewrite(arguments) gives arguments the tool refuses: {exc.__cause__ or exc}; "
                "nothing ran",
            ) from None
        except TypeError as exc:
            raise InvalidRequestError(f"decisions[{call.id!r}]", str(exc)) from None

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
        run = self._result_of(self._start(input, deps, stream=False))
        trace = self._trace()
        return await (run if trace is None else trace.follow(run))

    async def _result_of(self, run: Run) -> RunResult[OutputT]:
        async for event in run.events():
            if isinstance(event, RunCompleted):
                result: RunResult[OutputT] = event.result
                return result
        raise AssertionError("a run ends with RunCompleted or an error")  # pragma: no cover

    def run_stream(self, input: str | Sequence[Any], *, deps: Any = None) -> AgentStream:
        """Run to the final answer, yielding events as they happen (see `AgentEvent`).

        Use it as `async with agent.run_stream(...) as events: async for event in events:`;
        leaving the block early cancels running tools and closes the open response.
        """
        run = self._start(input, deps, stream=True)
        trace = self._trace()
        return AgentStream(run) if trace is None else _TracedAgentStream(run, trace)

    def _trace(self) -> AgentTrace | None:
        """The `invoke_agent` span of a run, when a tracer provider is configured."""
        return start_agent(self.name, self.model, self.client._transport.base_url, self.params.get)


class AgentStream(AsyncCloseable):
    """The events of a streaming run: an async iterator, and an async context manager.

    `messages` is the transcript so far, valid at any point, also after an early exit;
    `result` is the `RunResult` once the run completed.
    """

    def __init__(self, run: Run) -> None:
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

    async def close(self) -> None:
        """Stop the run: running tools are cancelled and the open response closed."""
        await self._events.aclose()

    aclose = close


class _TracedAgentStream(AgentStream):
    """An `AgentStream` whose steps run under the run's `invoke_agent` span (made only when a
    tracer provider is configured, so an untraced stream pays nothing per event)."""

    def __init__(self, run: Run, trace: AgentTrace) -> None:
        super().__init__(run)
        self._trace = trace
        weakref.finalize(self, trace.closed).atexit = False  # dropped without being closed

    async def __anext__(self) -> AgentEvent:
        event = await self._trace.step(super().__anext__())
        if self.result is not None:
            self._trace.succeeded(self.result)
        return event

    async def close(self) -> None:
        """Stop the run: running tools are cancelled and the open response closed."""
        try:
            await self._trace.step(super().close())
        finally:
            self._trace.closed()

    aclose = close


HookT = TypeVar("HookT")


def _hook(name: str, hook: HookT, params: tuple[str, ...], *, is_async: bool = True) -> HookT:
    """`hook`, checked now: a hook that cannot be called as documented fails here, not in the
    middle of a run (where it used to be reported to the model as the tool's error)."""
    if hook is None:
        return hook
    kind = "an async function (async def)" if is_async else "a plain function (not async)"
    wanted = f"{kind} taking ({', '.join(params)})"
    if not callable(hook):
        raise InvalidRequestError(name, f"expected {wanted}, got {type(hook).__name__}")
    if _is_async_callable(hook) != is_async:
        got = "an async function" if not is_async else "a plain function"
        raise InvalidRequestError(name, f"expected {wanted}, got {got}: {hook!r}")
    try:
        signature = inspect.signature(hook)
    except (TypeError, ValueError):  # a builtin or C callable without one: trust it
        return hook
    try:
        signature.bind(*params)
    except TypeError as exc:
        raise InvalidRequestError(
            name, f"expected {wanted}; {getattr(hook, '__name__', hook)!r}{signature} {exc}"
        ) from exc
    return hook


def _is_async_callable(fn: Callable[..., Any]) -> bool:
    # `iscoroutinefunction` sees through methods and partials; an object with an async
    # `__call__` it does not.
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - the method itself is what is asked about
    )


async def _as_decided(
    decisions: Mapping[str, Decision], call: ToolCall, context: ToolContext[Any]
) -> Deny | Rewrite | Defer | Answer | None:
    """The `before_tool_call` of a resumed run's paused calls: each call's decision."""
    decision = decisions[call.id]
    return None if isinstance(decision, Approve) else decision


def _flag(name: str, value: bool) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequestError(name, f"expected True or False, got {value!r}")
    return value


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(name, f"expected an int >= 1, got {value!r}")
    return value
