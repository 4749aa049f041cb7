"""`python -m asynctool.demo`: run the demo agent once, as a chat, or for its JSON transcript.

`main` owns the process concerns: it parses the command line, runs everything in one event
loop, and turns the failures a user can cause (a wrong key, a server that is not there) into
one line on stderr and exit status 1, never a traceback. `_session` does the work: it starts
the embedded model server when there is no base URL, opens the client, and runs the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import msgspec

from .. import (
    Agent,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AssistantMessage,
    AsyncClient,
    AsyncToolError,
    AuthenticationError,
    Message,
    NotFoundError,
    RunResult,
    Usage,
    UserMessage,
)
from .._exceptions import MCPServerError
from ..testing import DemoModel, ModelServer
from ._options import PROG, Settings, parse_settings
from ._render import Console, Quiet, printable, since_last_user
from ._stdin import read_line
from ._tools import build_agent

__all__ = ["describe_error", "main"]

_QUIT = frozenset({"exit", "quit", "/exit", "/quit"})
_MAX_ERROR = 400  # characters of an error line; a server's error body can be long


class Report(msgspec.Struct, kw_only=True):
    """What `--json` prints: the run's transcript and its numbers."""

    model: str
    base_url: str
    embedded: bool
    output: str | None
    finish_reason: str | None
    turns: int
    usage: Usage
    elapsed: float
    messages: list[Message]


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the demo; returns the exit status (a bad option exits 2 through argparse)."""
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    settings = parse_settings(argv, environ)
    console = Quiet(stdout) if settings.json else Console.for_stream(stdout, environ)
    try:
        asyncio.run(_session(settings, console, sys.stdin if stdin is None else stdin, stdout))
    except KeyboardInterrupt:
        console.interrupted()
        return 130
    except (AsyncToolError, OSError) as error:
        console.end_line()
        # The server's words are in it: shown, never run by the terminal.
        line = printable(describe_error(error, settings))
        print(f"{PROG}: error: {line}", file=stderr, flush=True)
        return 1
    return 0


def describe_error(error: BaseException, settings: Settings) -> str:
    """One line saying what went wrong and, where it helps, what to check."""
    where = settings.base_url or "the embedded model server"
    if isinstance(error, AuthenticationError):
        text = (
            f"{where} rejected the API key (HTTP 401: {error.message}); check --api-key or "
            f"OPENAI_API_KEY, and --auth (now {settings.auth})"
        )
    elif isinstance(error, NotFoundError):
        text = f"{where} answered HTTP 404 ({error.message}); check --base-url and --model"
    elif isinstance(error, APIStatusError):
        text = f"{where} answered HTTP {error.status_code}: {error.message}"
    elif isinstance(error, APITimeoutError):
        text = f"{where} did not answer in time: {error.message}"
    elif isinstance(error, APIConnectionError):
        text = f"cannot reach {where}: {error.message.removeprefix('Connection error: ')}"
    else:
        text = str(error) or type(error).__name__
    if isinstance(error, APIError) and error.request_id:
        text += f" (request id: {error.request_id})"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


async def _session(settings: Settings, console: Console, stdin: TextIO, stdout: TextIO) -> None:
    async with contextlib.AsyncExitStack() as stack:
        base_url = settings.base_url
        if base_url is None:
            server = await stack.enter_async_context(ModelServer(DemoModel()))
            base_url = server.base_url
        # "" rather than None: no key for the embedded server, and none read from the
        # environment behind the settings' back.
        client = AsyncClient(base_url, settings.api_key or "", auth=settings.auth)
        await stack.enter_async_context(client)
        servers = [await stack.enter_async_context(server) for server in _mcp_servers(settings)]
        agent = build_agent(client, settings.model, extra_tools=servers, **settings.agent_options())
        banner = _banner(settings, base_url, console.symbols.sep)
        for server in servers:
            names = ", ".join(tool.name for tool in server.listed_tools()) or "no tools"
            banner.append(f"MCP: {server.describe()}, with {names}.")
        console.banner(banner)
        if settings.interactive:
            await _chat(agent, settings, console, stdin)
            return
        assert settings.prompt is not None  # only interactive runs start without one
        console.prompt(settings.prompt)
        result, elapsed = await _ask(agent, settings.prompt, settings, console)
        if settings.json:
            stdout.write(_report(settings, base_url, result, elapsed) + "\n")


def _mcp_servers(settings: Settings) -> list[Any]:
    """The `--mcp` servers, not yet started; the MCP SDK is imported only when one is asked for."""
    if not settings.mcp:
        return []
    try:
        from ..mcp import MCPServerStdio
    except ImportError as exc:
        raise MCPServerError(
            f"--mcp needs the MCP SDK ({exc}); install it with pip install 'asynctool[mcp]'"
        ) from None
    return [MCPServerStdio(command[0], command[1:]) for command in settings.mcp]


async def _chat(agent: Agent[Any], settings: Settings, console: Console, stdin: TextIO) -> None:
    """A conversation: each line of input is a message, sent with everything said before."""
    messages: list[Message] = []
    line = settings.prompt
    if line is not None:
        console.prompt(line)
    else:
        line = await read_line(stdin, console)
    while line is not None and line.strip().lower() not in _QUIT:
        if line.strip():
            conversation = [*messages, UserMessage(content=line)]
            result, _ = await _ask(agent, conversation, settings, console)
            messages = result.messages
        line = await read_line(stdin, console)


async def _ask(
    agent: Agent[Any], conversation: str | list[Message], settings: Settings, console: Console
) -> tuple[RunResult[Any], float]:
    """One run to the answer, shown as it goes; the result and the seconds it took."""
    started = time.perf_counter()
    if settings.stream:
        async with agent.run_stream(conversation) as events:
            async for event in events:
                console.event(event)
        assert events.result is not None  # the loop ends with RunCompleted, or raises
        result = events.result
    else:
        result = await agent.run(conversation)
        console.transcript(since_last_user(result.messages))
    last = result.messages[-1]
    if isinstance(last, AssistantMessage) and last.refusal and not result.output:
        console.refusal(last.refusal)
    if settings.max_tokens and _finish_reason(result) == "length":
        console.cut(settings.max_tokens)
    elapsed = time.perf_counter() - started
    console.summary(result, elapsed)
    return result, elapsed


def _finish_reason(result: RunResult[Any]) -> str | None:
    choices = result.completion.choices
    return choices[0].finish_reason if choices else None


def _report(settings: Settings, base_url: str, result: RunResult[Any], elapsed: float) -> str:
    report = Report(
        model=settings.model,
        base_url=base_url,
        embedded=settings.embedded,
        output=result.output,
        finish_reason=_finish_reason(result),
        turns=result.turns,
        usage=result.usage,
        elapsed=round(elapsed, 3),
        messages=result.messages,
    )
    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode()


def _banner(settings: Settings, base_url: str, sep: str) -> list[str]:
    if settings.embedded:
        lines = [
            f"asynctool demo {sep} DemoModel at {base_url}, embedded in this process",
            "DemoModel is a deterministic local stand-in, not an LLM: it picks tools by "
            "matching the words of your message.",
        ]
    else:
        key = "no API key" if not settings.api_key else f"key sent as {_header(settings.auth)}"
        lines = [f"asynctool demo {sep} {settings.model} at {base_url} ({key})"]
    lines.append(
        "Tools: get_delivery_date and get_weather return sample data; get_local_time reads "
        "real clocks (zoneinfo)."
    )
    if settings.interactive:
        lines.append("One message per line; Ctrl-D or 'exit' ends the chat.")
    elif settings.embedded:
        lines.append("Point it at a real model with --base-url and --api-key (see --help).")
    return lines


def _header(auth: str) -> str:
    return "Authorization: Bearer" if auth == "bearer" else auth
