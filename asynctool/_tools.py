"""Tools: functions a model may call, their definitions, and a registry of them.

`@tool` turns a function into a `Tool` once, when it is decorated: its signature and docstring
become a JSON Schema and a decoder (`_schema.function_schema`). `Tool.run` decodes a model's
JSON arguments with that decoder and calls the function, in a worker thread when it is not async.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Generic, ParamSpec, TypedDict, TypeVar, Unpack, overload

import anyio.to_thread
import msgspec

from ._exceptions import ToolDefinitionError, ToolError
from ._request import is_tool_name
from ._schema import function_schema
from ._types import FunctionDefinition

__all__ = ["Tool", "ToolContext", "ToolRegistry", "tool"]

P = ParamSpec("P")
R = TypeVar("R")
DepsT = TypeVar("DepsT")

RunSync = Callable[[Callable[[], Any]], Awaitable[Any]]
"""Runs a sync tool's bound call off the event loop and returns its result (`Tool.run`)."""


@dataclasses.dataclass
class ToolContext(Generic[DepsT]):
    """Per-run state handed to a tool that asks for it.

    A parameter annotated `ToolContext` (or `ToolContext[MyDeps]`) is left out of the tool's
    schema; the agent passes one when it runs the tool. `Tool.run` without a context raises
    `ToolError` for such a tool, unless the parameter has a default.

    Attributes:
        deps: the dependencies given to the run (a database pool, a user id, ...).
        tool_call_id: the id of the tool call being answered.
        tool_name: the name of the tool being run.
        messages: the transcript so far.
        turn: the number of the current request of the run, from 1.
    """

    deps: DepsT
    _: dataclasses.KW_ONLY
    tool_call_id: str = ""
    tool_name: str = ""
    messages: list[Any] = dataclasses.field(default_factory=list)
    turn: int = 0


class Tool(Generic[P, R]):
    """A function a model may call: its definition for the request, and a checked way to run it.

    Build one with `@tool`. The tool is still callable as the function itself.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        sequential: bool = False,
        timeout: float | None = None,
        idempotent: bool = True,
    ) -> None:
        schema = function_schema(fn, strict=strict, context_type=ToolContext)
        self.fn = fn
        self.name = _check_name(name if name is not None else schema.name, fn)
        self.description = description if description is not None else schema.description
        self.strict = strict
        self.sequential = sequential
        self.timeout = _check_timeout(timeout, self.name)
        if not isinstance(idempotent, bool):
            raise ToolDefinitionError(f"{self.name}: idempotent must be True or False")
        self.idempotent = idempotent
        self._schema = schema
        self._is_async = inspect.iscoroutinefunction(fn)
        function = FunctionDefinition(
            name=self.name,
            description=self.description,
            parameters=schema.parameters,
            strict=True if strict else None,
        )
        # Stored encoded: every read decodes a fresh dict, so no caller can change the cached one.
        self._definition = msgspec.json.encode({"type": "function", "function": function})
        functools.update_wrapper(self, fn, updated=())

    @property
    def definition(self) -> dict[str, Any]:
        """The OpenAI tool dict: `{"type": "function", "function": {"name", "description",
        "parameters", "strict"?}}`; a fresh copy on each read."""
        definition: dict[str, Any] = msgspec.json.decode(self._definition)
        return definition

    def parse_arguments(self, arguments: str | bytes) -> dict[str, Any]:
        """Check a model's JSON arguments without calling the function.

        Returns the keyword arguments the function would get (context parameters aside);
        arguments the model left out are absent, so the function's defaults apply. Raises
        `ToolArgumentsError` with a message meant for the model.
        """
        return self._schema.decode(arguments, tool=self.name)

    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function; a sync one runs in a worker thread."""
        return self._is_async

    async def run(
        self,
        arguments: str | bytes,
        *,
        context: ToolContext[Any] | None = None,
        run_sync: RunSync | None = None,
    ) -> Any:
        """Check a model's JSON arguments, call the function with them and return its result.

        A sync function runs in a worker thread. Cancelling the call (or a timeout) stops the
        wait at once, but cannot stop a sync function, whose thread finishes in the background.
        Raises `ToolArgumentsError` for bad arguments, and `ToolError` when the function needs a
        `ToolContext` and none is given; what the function raises propagates unchanged.

        Args:
            arguments: the model's JSON text.
            context: the run's context, for a function that takes a `ToolContext`.
            run_sync: how a sync function is run off the event loop: an async function that
                takes the call (no arguments) and returns its result. A worker thread that is
                abandoned on cancellation by default; the agent passes one whose thread keeps
                its concurrency slot until it returns.
        """
        kwargs = self.parse_arguments(arguments)
        kwargs.update(self._context_arguments(context))
        fn: Callable[..., Any] = self.fn
        if self._is_async:
            return await fn(**kwargs)
        call = functools.partial(fn, **kwargs)
        result = await (run_sync or _in_worker_thread)(call)
        if inspect.isawaitable(result):  # a sync wrapper around a coroutine function
            result = await result
        return result

    def _context_arguments(self, context: ToolContext[Any] | None) -> dict[str, Any]:
        if context is not None:
            return dict.fromkeys(self._schema.context_params, context)
        required = [name for name, needed in self._schema.context_params.items() if needed]
        if required:
            raise ToolError(
                f"tool {self.name!r} takes a ToolContext (parameter `{required[0]}`); "
                "pass run(..., context=ToolContext(...))"
            )
        return {}

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, strict={self.strict}, sequential={self.sequential})"


@overload
def tool(fn: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    sequential: bool = False,
    timeout: float | None = None,
    idempotent: bool = True,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    sequential: bool = False,
    timeout: float | None = None,
    idempotent: bool = True,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Make a function (async or not), a bound method or a `functools.partial` a `Tool`.

    Use it bare (`@tool`) or with options (`@tool(strict=True)`).

    Args:
        fn: the function, when used bare.
        name: the name the model calls it by; the function's name by default.
        description: what it does, for the model; the docstring's summary by default.
        strict: use OpenAI's strict mode: the schema is rewritten to the strict subset and the
            model's arguments always match it. A parameter with a default may then be sent as
            null, which stands for the default.
        sequential: the agent runs this tool alone, never at the same time as other tool
            calls of the same turn.
        timeout: seconds the agent lets one call run before it fails it; no limit by default.
        idempotent: whether running the call twice does no more than running it once. A
            durable run (`asynctool.temporal`) retries a call whose worker was lost only for
            an idempotent tool; a plain run never retries a tool and does not read it.

    Raises:
        ToolDefinitionError: for a function that cannot become a tool; the message names the
            function and the parameter.
    """

    def decorate(fn: Callable[P, R]) -> Tool[P, R]:
        if isinstance(fn, Tool):
            raise ToolDefinitionError(
                f"{fn.name}: already a Tool; use tool(t.fn, ...) to redefine it"
            )
        return Tool(
            fn,
            name=name,
            description=description,
            strict=strict,
            sequential=sequential,
            timeout=timeout,
            idempotent=idempotent,
        )

    return decorate if fn is None else decorate(fn)


class _ToolOptions(TypedDict, total=False):
    """The keywords of `tool`, for `ToolRegistry.tool`, which passes them on."""

    name: str | None
    description: str | None
    strict: bool
    sequential: bool
    timeout: float | None
    idempotent: bool


class ToolRegistry:
    """The tools an agent may offer, by name; names are unique."""

    def __init__(self, tools: Iterable[Tool[..., Any] | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool[..., Any]] = {}
        for item in tools:
            self.add(item)

    def add(self, tool_or_function: Tool[..., Any] | Callable[..., Any]) -> Tool[..., Any]:
        """Register a tool, or a function made a tool with the default options; return it.

        Raises `ToolDefinitionError` when a tool of the same name is already registered.
        """
        item = tool_or_function if isinstance(tool_or_function, Tool) else tool(tool_or_function)
        if item.name in self._tools:
            raise ToolDefinitionError(f"a tool named {item.name!r} is already registered")
        self._tools[item.name] = item
        return item

    @overload
    def tool(self, fn: Callable[P, R], /) -> Tool[P, R]: ...
    @overload
    def tool(
        self, fn: None = None, /, **options: Unpack[_ToolOptions]
    ) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
    def tool(
        self, fn: Callable[P, R] | None = None, /, **options: Unpack[_ToolOptions]
    ) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
        """Like `@tool` (bare or with the same options), and register the tool."""

        def decorate(fn: Callable[P, R]) -> Tool[P, R]:
            # `tool`'s options, checked and defaulted there: written once, in its signature.
            made = tool(**options)(fn)
            self.add(made)
            return made

        return decorate if fn is None else decorate(fn)

    def definitions(self) -> list[dict[str, Any]]:
        """The OpenAI tool dicts of every tool, in the order they were added; fresh copies."""
        return [item.definition for item in self._tools.values()]

    def get(self, name: str) -> Tool[..., Any] | None:
        """The tool called `name`, or None."""
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool[..., Any]:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool[..., Any]]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({list(self._tools)!r})"


async def _in_worker_thread(call: Callable[[], Any]) -> Any:
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


def _check_name(name: str, fn: object) -> str:
    if not is_tool_name(name):
        raise ToolDefinitionError(
            f"{fn!r}: tool name {name!r} must be 1 to 64 letters, digits, `_` or `-`; "
            "pass name=... to choose one"
        )
    return name


def _check_timeout(timeout: float | None, name: str) -> float | None:
    if timeout is not None and not timeout > 0:
        raise ToolDefinitionError(f"{name}: timeout must be a positive number of seconds or None")
    return timeout
