"""MCP tool servers over the official `mcp` SDK: a subprocess on stdio, or streamable HTTP.

A server is an async context manager: entering it starts (or reaches) the server, makes the
MCP handshake and lists its tools; leaving it ends the session (and the subprocess). Its tools
are `MCPTool`s, usable wherever a `Tool` is; given to `Agent(tools=[...])`, the server itself is
a `ToolSource` (`_sources.py`) whose tools the agent lists again before each request once the
server has said `notifications/tools/list_changed`.

The session uses the handshake era of the protocol (`initialize`, revisions up to 2025-11-25;
the SDK's `mode="legacy"`), which every server speaks, 2026 ones included: there a server may
send `notifications/tools/list_changed` whenever its list changes, where the 2026-07-28 revision
sends it only on a `subscriptions/listen` stream. A call that is cancelled (the run left early,
a tool timeout) is cancelled on the server too: on anyio cancellation the SDK sends
`notifications/cancelled` for the request before it lets the cancellation go on
(mcp/shared/jsonrpc_dispatcher.py, "courtesy cancel"; tests/mcp assert what the server saw).

What fails where:

- a server that cannot be started, reached or listed: `MCPServerError` when entering it, naming
  the command (with the end of its stderr) or the URL (with what it answered);
- a call that fails, the server gone mid-run included: a `ToolError`, so the agent turns it into
  the call's tool message (`Error: ...`) and the run goes on. The model can still answer with
  its other tools, or say that this one is unavailable; a server that stays gone fails every
  call to it at once, and `max_tool_errors` ends the run. Nothing waits for a dead server: its
  session is closed, so each call fails as it is made;
- a result the server marks `isError`: a `ToolError` with the server's text, an error tool
  message like any failing tool's.

Header values (an `Authorization` header) never appear in a message or a repr: errors are
redacted with `_redact`, and the repr names the headers only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO, Any, Self

import anyio
import httpx2
import mcp_types
import msgspec
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from ._exceptions import MCPServerError, ToolDefinitionError, ToolError
from ._mcp_tools import ArgumentChecker, closed_schema, parameters_of, result_text
from ._redact import credentials_in, redact_text
from ._request import is_tool_name
from ._sources import ToolSource
from ._tools import Tool, ToolContext
from ._types import FunctionDefinition
from ._version import __version__

__all__ = ["MCPServerHTTP", "MCPServerStdio", "MCPTool"]

logger = logging.getLogger("asynctool")

# How much of a subprocess's stderr an error quotes: its last lines, where a traceback ends.
_STDERR_CHARS = 2000
# How much of an HTTP error's body an error quotes.
_BODY_CHARS = 300
# The SDK's own defaults for a client it makes itself (mcp.shared._httpx_utils): 30 s to
# connect, write or wait for the pool, 300 s between reads, as a server may hold a stream open.
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class MCPTool(Tool[..., Any]):
    """A tool of an MCP server: its definition from the server's listing; running it calls the
    server (`tools/call`) and returns the result as text.

    Attributes:
        server: the server it belongs to.
        remote_name: the tool's name on the server (`name` carries the server's `prefix`).
        input_schema: the server's input schema, as listed.
    """

    def __init__(self, server: _MCPServer, listed: mcp_types.Tool, name: str) -> None:
        # Not Tool.__init__: there is no function signature to read, the server's schema is it.
        self.server = server
        self.remote_name = listed.name
        self.input_schema = listed.input_schema
        self.name = name
        self.description = listed.description or listed.title or ""
        parameters, nulls = parameters_of(listed.input_schema)
        self.strict = nulls is not None
        self.sequential = False
        self.timeout = None
        self._is_async = True
        self._checker = ArgumentChecker(
            name, closed_schema(listed.input_schema), nulls or frozenset()
        )
        function = FunctionDefinition(
            name=name,
            description=self.description,
            parameters=parameters,
            strict=True if self.strict else None,
        )
        self._definition = msgspec.json.encode({"type": "function", "function": function})
        self.fn = self.call

    def parse_arguments(self, arguments: str | bytes) -> dict[str, Any]:
        """Check a model's JSON arguments against the input schema; the dict to send. Raises
        `ToolArgumentsError` with a message meant for the model."""
        return self._checker.check(arguments)

    async def run(
        self,
        arguments: str | bytes,
        *,
        context: ToolContext[Any] | None = None,
        run_sync: Any = None,
    ) -> str:
        """Check the arguments, call the tool on the server, and return its result as text.

        Raises `ToolArgumentsError` for bad arguments (the server is not called), and
        `ToolError` when the server reports an error (`isError`) or the call fails.
        """
        return await self.server.call_tool(self.remote_name, self.parse_arguments(arguments))

    async def call(self, **arguments: Any) -> str:
        """Call the tool with keyword arguments, unchecked: `await tool(city="Paris")`."""
        return await self.server.call_tool(self.remote_name, arguments)

    def __repr__(self) -> str:
        return f"MCPTool(name={self.name!r}, strict={self.strict}, server={self.server!r})"


class _MCPServer(ToolSource):
    """What both transports share: the session, the listing, the calls and their errors."""

    def __init__(self, *, prefix: str | None) -> None:
        if prefix is not None and not (isinstance(prefix, str) and is_tool_name(prefix)):
            raise ToolDefinitionError(
                f"prefix={prefix!r}: a prefix must be letters, digits, `_` or `-`"
            )
        self.prefix = prefix
        self._client: Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._tools: list[MCPTool] = []
        self._stale = False
        self._listing = anyio.Lock()

    # ------------------------------------------------------------------- subclasses' parts

    def _transport(self, stack: contextlib.ExitStack) -> Any:
        raise NotImplementedError

    def _failure(self, exc: BaseException) -> str:
        """What went wrong, for a message (the exception's own words, and what the server
        said: its stderr, its HTTP answer)."""
        raise NotImplementedError

    # ------------------------------------------------------------------- the session

    async def __aenter__(self) -> Self:
        if self._client is not None:
            raise MCPServerError(f"{self.describe()} is already connected")
        stack = contextlib.AsyncExitStack()
        failure: str | None = None
        try:
            await self._connect(stack)
        except BaseException as exc:
            self._client = None
            # Worded before the stack closes (the subprocess's stderr file goes with it), and
            # raised outside this block: the SDK's exception, which may hold the HTTP request
            # and its headers, is not kept as the error's context.
            if isinstance(exc, Exception) and not isinstance(exc, MCPServerError):
                failure = self._cannot_start(exc)
            with anyio.CancelScope(shield=True):
                await stack.aclose()
            if failure is None:
                raise
        if failure is not None:
            raise MCPServerError(failure)
        self._stack = stack
        return self

    async def _connect(self, stack: contextlib.AsyncExitStack) -> None:
        transport = self._transport(stack.enter_context(contextlib.ExitStack()))
        client = Client(
            transport,
            mode="legacy",
            cache=None,  # a listing is fetched when asked for, never served from a cache
            message_handler=self._on_message,
            client_info=mcp_types.Implementation(name="asynctool", version=__version__),
        )
        self._client = await stack.enter_async_context(client)
        await self._list()

    async def __aexit__(self, *exc_info: Any) -> None:
        stack, self._stack, self._client, self._tools = self._stack, None, None, []
        if stack is None:
            return
        try:
            await stack.__aexit__(*exc_info)
        except BaseExceptionGroup as group:
            # The SDK's task groups wrap what the `async with` block raised; the caller gets
            # their own exception back, as from any other context manager.
            if exc_info[1] is None or _leaves(group) != [exc_info[1]]:
                raise

    def _cannot_start(self, exc: BaseException) -> str:
        raise NotImplementedError

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._stale = True  # listed again before the next request of every run using it
        await anyio.lowlevel.checkpoint()

    def _connected(self) -> Client:
        if self._client is None:
            raise MCPServerError(
                f"{self.describe()} is not connected; enter it first (`async with server:`)"
            )
        return self._client

    # ------------------------------------------------------------------- tools

    async def list_tools(self) -> list[Tool[..., Any]]:
        """The server's tools, listed now (`tools/list`, every page)."""
        await self._list()
        return list(self._tools)

    def listed_tools(self) -> list[Tool[..., Any]]:
        """The tools as last listed (when entered, or after a change); no request."""
        self._connected()
        return list(self._tools)

    async def current_tools(self) -> list[Tool[..., Any]]:
        """The tools, listed again first if the server said its list changed."""
        self._connected()
        if self._stale:
            async with self._listing:
                if self._stale:
                    self._stale = False
                    await self._list()
        return list(self._tools)

    async def _list(self) -> None:
        client = self._connected()
        listed: list[mcp_types.Tool] = []
        cursor: str | None = None
        failure: str | None = None
        try:
            while True:
                page = await client.list_tools(cursor=cursor)
                listed.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
        except Exception as exc:
            failure = f"{self.describe()} could not list its tools: {self._failure(exc)}"
        if failure is not None:  # raised here, without the SDK's exception as its context
            raise MCPServerError(failure)
        self._tools = [tool for tool in map(self._tool, listed) if tool is not None]

    def _tool(self, listed: mcp_types.Tool) -> MCPTool | None:
        name = listed.name if self.prefix is None else f"{self.prefix}_{listed.name}"
        if not is_tool_name(name):
            # The server's naming, which the user cannot fix: leave the tool out, and say so.
            logger.warning(
                "%s: tool %r left out: a name sent to the model must be 1 to 64 letters, "
                "digits, `_` or `-`",
                self.describe(),
                name,
            )
            return None
        return MCPTool(self, listed, name)

    async def call_tool(self, name: str, arguments: Mapping[str, Any]) -> str:
        """Call the server's tool `name` (its own name, without the prefix); its result as text.

        Raises `ToolError` with the server's text when the result is an error (`isError`),
        and when the call fails (the server is gone, or answered with a protocol error).
        """
        client = self._connected()
        failure: str | None = None
        try:
            result = await client.call_tool(name, dict(arguments))
        except Exception as exc:
            failure = f"{self.describe()} failed the call of {name!r}: {self._failure(exc)}"
        if failure is not None:  # raised here, without the SDK's exception as its context
            raise ToolError(failure)
        text = result_text(result.content, result.structured_content)
        if result.is_error:
            raise ToolError(text or f"the MCP tool {name!r} failed and said nothing more")
        return text


class MCPServerStdio(_MCPServer):
    """An MCP server run as a subprocess, spoken to on its stdin and stdout.

    Args:
        command: the program to run (`"python"`, `"npx"`, ...).
        args: its arguments.
        env: environment variables for it. The SDK starts the server with a small default
            environment (`HOME`, `PATH`, `USER`, ... on POSIX), not this process's: what the
            server needs besides (an API key, `PYTHONPATH`) goes here.
        cwd: the directory to run it in.
        prefix: when given, each tool is named `<prefix>_<name>`, to tell apart two servers'
            tools of one name.
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        prefix: str | None = None,
    ) -> None:
        if not isinstance(command, str) or not command:
            raise ToolDefinitionError(f"command: expected the program to run, got {command!r}")
        if isinstance(args, str) or not all(isinstance(arg, str) for arg in args):
            raise ToolDefinitionError(f"args: expected a list of strings, got {args!r}")
        super().__init__(prefix=prefix)
        self.command = command
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._stderr: IO[str] | None = None

    def _transport(self, stack: contextlib.ExitStack) -> Any:
        # A real file, as the subprocess writes its stderr to it directly; read for errors.
        self._stderr = stack.enter_context(
            tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        )
        params = StdioServerParameters(
            command=self.command,
            args=self.args,
            env=self.env,
            cwd=None if self.cwd is None else os.fspath(self.cwd),
        )
        return stdio_client(params, errlog=self._stderr)

    def describe(self) -> str:
        """The server, for a message: "the MCP server `python weather.py`"."""
        return f"the MCP server `{shlex.join([self.command, *self.args])}`"

    def _cannot_start(self, exc: BaseException) -> str:
        return f"cannot start {self.describe()}: {self._failure(exc)}"

    def _failure(self, exc: BaseException) -> str:
        reason = _reason(exc)
        if reason == "MCPError: Connection closed":  # the SDK's words when stdout ends
            reason = "the server closed the connection (has its process ended?)"
        stderr = self._stderr_tail()
        return f"{reason}; its stderr ended with:\n{stderr}" if stderr else reason

    def _stderr_tail(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ""
        fd = self._stderr.fileno()
        size = os.fstat(fd).st_size
        # pread: the subprocess shares the file's offset, which a seek would move under it.
        data = os.pread(fd, _STDERR_CHARS, max(0, size - _STDERR_CHARS))
        return data.decode("utf-8", "replace").strip()

    def __repr__(self) -> str:
        return f"MCPServerStdio({self.command!r}, {self.args!r}, prefix={self.prefix!r})"


class MCPServerHTTP(_MCPServer):
    """An MCP server reached over streamable HTTP.

    Args:
        url: the server's MCP endpoint (`http://127.0.0.1:8000/mcp`).
        headers: headers sent with every request (`{"Authorization": "Bearer ..."}`); their
            values never appear in an error or a repr.
        prefix: when given, each tool is named `<prefix>_<name>`.
    """

    def __init__(
        self, url: str, *, headers: Mapping[str, str] | None = None, prefix: str | None = None
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ToolDefinitionError(f"url: expected an http:// or https:// URL, got {url!r}")
        super().__init__(prefix=prefix)
        self.url = url
        self._headers = dict(headers or {})
        # Every value, not only the credential headers': a custom header may carry a token too.
        self._secrets = [*self._headers.values(), *credentials_in(self._headers)]
        self._refusal = ""  # the last error status the server answered, for messages

    def _transport(self, stack: contextlib.ExitStack) -> Any:
        self._refusal = ""
        http = httpx2.AsyncClient(
            headers=self._headers,
            timeout=_HTTP_TIMEOUT,
            event_hooks={"response": [self._note_refusal]},
        )
        # streamable_http_client leaves a client it was given open: it is closed after it.
        return _closing_client(streamable_http_client(self.url, http_client=http), http)

    def describe(self) -> str:
        """The server, for a message: "the MCP server at http://127.0.0.1:8000/mcp"."""
        return f"the MCP server at {self.url}"

    def _cannot_start(self, exc: BaseException) -> str:
        return f"cannot reach {self.describe()}: {self._failure(exc)}"

    def _failure(self, exc: BaseException) -> str:
        said = f" ({self._refusal})" if self._refusal else ""
        return redact_text(f"{_reason(exc)}{said}", self._secrets)

    async def _note_refusal(self, response: httpx2.Response) -> None:
        """Keep what the server answered with an error status: the SDK turns any status into
        a JSON-RPC error of its own ("Server returned an error response"), without it."""
        if response.status_code < 400:
            return
        body = (await response.aread()).decode("utf-8", "replace").strip()
        said = f": {body[:_BODY_CHARS]}" if body else ""
        self._refusal = f"HTTP {response.status_code} {response.reason_phrase}{said}"

    def __repr__(self) -> str:
        names = sorted(self._headers)
        return f"MCPServerHTTP({self.url!r}, headers={names!r}, prefix={self.prefix!r})"


@contextlib.asynccontextmanager
async def _closing_client(transport: Any, http: httpx2.AsyncClient) -> Any:
    async with http, transport as streams:
        yield streams


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return leaves


def _reason(exc: BaseException) -> str:
    """An exception's own words, through the exception groups anyio's task groups wrap it in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
