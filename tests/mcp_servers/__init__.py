"""MCP servers for the tests, run as real subprocesses: `tools_server.py` over stdio or over
streamable HTTP on 127.0.0.1, and helpers to start them and to read what they saw."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio

from asynctool.mcp import MCPServerHTTP, MCPServerStdio

SCRIPT = str(Path(__file__).with_name("tools_server.py"))
# How long a test waits for a server to do what it must do before failing; never reached when
# things work, so it bounds a failure, not a measurement.
PATIENCE = 20.0


def stdio(log: Path, *extra: str, **options: Any) -> MCPServerStdio:
    """The test server as a subprocess on stdio, logging to `log`."""
    return MCPServerStdio(sys.executable, [SCRIPT, str(log), *extra], **options)


def events(log: Path) -> list[dict[str, Any]]:
    """What the server recorded, in order (nothing if it recorded nothing yet)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def named(log: Path, event: str) -> list[dict[str, Any]]:
    return [e for e in events(log) if e["event"] == event]


async def wait_for(what: Callable[[], bool]) -> None:
    """Wait until `what()` holds; fail after PATIENCE seconds."""
    with anyio.fail_after(PATIENCE):
        # Polling: what is waited for happens in another process (a line in its log file).
        while not what():  # noqa: ASYNC110
            await anyio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def http_url(log: Path) -> AsyncIterator[str]:
    """The test server on streamable HTTP, in a subprocess on 127.0.0.1; its endpoint URL."""
    port = free_port()
    process = await anyio.open_process(
        [sys.executable, SCRIPT, str(log), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with process:
        try:
            await wait_for(lambda: _accepts(port) or process.returncode is not None)
            assert process.returncode is None, "the HTTP test server exited"
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            with anyio.fail_after(PATIENCE):
                await process.wait()


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http(url: str, **options: Any) -> MCPServerHTTP:
    return MCPServerHTTP(url, **options)
