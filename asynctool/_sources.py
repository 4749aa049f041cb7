"""Tool sources: what `Agent(tools=[...])` may hold besides tools: tools of their own, that change.

An MCP server (`asynctool.mcp`) is one: its tools are whatever it lists, and it may say that its
list changed. A source is asked for its tools when a run starts and again before every request,
so a run offers the model the tools the source has now, and its executor runs those same tools.

The agent knows only this module's `ToolSource` and `RunTools`; it never imports a source's
module (the MCP one imports the `mcp` SDK, which `import asynctool` must not). A run gets its
own `RunTools`: the agent's registry and the sources' tools, merged and checked for clashing
names, and an executor that reads that merged registry, so two runs of one agent never see each
other's snapshot half-way through a turn.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from ._exceptions import ToolDefinitionError
from ._execute import ToolExecutor
from ._request import ChatCompletionRequest
from ._seam import Send
from ._tools import Tool, ToolRegistry

__all__ = ["RunTools", "ToolSource", "split_sources"]


class ToolSource(ABC):
    """Something that holds tools of its own, listed when asked (an MCP server, say).

    Given in `Agent(tools=[...])`, all its tools are offered on every request of a run.
    """

    @abstractmethod
    def listed_tools(self) -> Sequence[Tool[..., Any]]:
        """The tools as last listed; raises `AsyncToolError` when the source cannot give any
        (an MCP server that was not entered with `async with`)."""

    @abstractmethod
    async def current_tools(self) -> Sequence[Tool[..., Any]]:
        """The tools now: listed again first if the source said its list changed."""

    @abstractmethod
    def describe(self) -> str:
        """What the source is, for an error message: "the MCP server `python weather.py`"."""


def split_sources(
    tools: Iterable[Any],
) -> tuple[list[ToolSource], list[Any]]:
    """The sources among `tools`, and everything else (tools and functions), in order."""
    sources: list[ToolSource] = []
    rest: list[Any] = []
    for item in tools:
        (sources if isinstance(item, ToolSource) else rest).append(item)
    return sources, rest


class RunTools:
    """One run's tools: the agent's registry and its sources' tools, kept current per request."""

    def __init__(
        self, registry: ToolRegistry, sources: Sequence[ToolSource], executor: ToolExecutor
    ) -> None:
        self._local = registry
        self._sources = sources
        # A copy with its own registry: the agent's executor stays as it is for other runs.
        self._executor = copy.copy(executor)
        self._listed: list[Sequence[Tool[..., Any]]] = []
        self._take([s.listed_tools() for s in sources])

    def _take(self, listed: list[Sequence[Tool[..., Any]]]) -> None:
        """Merge what the sources listed, unless it is what they listed last time (the same
        tool objects): a request then reuses the registry and its definitions."""
        if len(listed) == len(self._listed) and all(
            len(now) == len(before) and all(a is b for a, b in zip(now, before, strict=True))
            for now, before in zip(listed, self._listed, strict=True)
        ):
            return
        self._listed = listed
        self.registry = _merged(self._local, list(zip(self._sources, listed, strict=True)))
        self._executor.registry = self.registry
        self._definitions = self.registry.definitions()

    def first_request(self, request: ChatCompletionRequest) -> ChatCompletionRequest:
        """The run's base request with the sources' tools in it (as last listed)."""
        return _with_tools(request, self._definitions)

    def send(self, send: Send) -> Send:
        """`send`, listing the sources' tools again before each request."""

        async def refreshed(request: ChatCompletionRequest) -> Any:
            self._take([await source.current_tools() for source in self._sources])
            return await send(_with_tools(request, self._definitions))

        return refreshed

    @property
    def executor(self) -> ToolExecutor:
        """The run's executor: the agent's, reading this run's registry."""
        return self._executor


def _merged(
    registry: ToolRegistry, listed: Sequence[tuple[ToolSource, Sequence[Tool[..., Any]]]]
) -> ToolRegistry:
    """One registry of every tool; a name given twice is an error that says by whom."""
    merged = ToolRegistry(registry)
    owners = {item.name: "a tool given to the agent" for item in registry}
    for source, tools in listed:
        for item in tools:
            if item.name in owners:
                raise ToolDefinitionError(
                    f"two tools are named {item.name!r}: {owners[item.name]} and one of "
                    f"{source.describe()}; give the server a prefix (prefix='...' names its "
                    "tools prefix_<name>)"
                )
            owners[item.name] = f"one of {source.describe()}"
            merged.add(item)
    return merged


def _with_tools(
    request: ChatCompletionRequest, definitions: list[dict[str, Any]]
) -> ChatCompletionRequest:
    if not definitions:  # a server that lists nothing now: no tools, so no tool_choice either
        return msgspec.structs.replace(request, tools=None, tool_choice=None)
    return msgspec.structs.replace(request, tools=definitions)
