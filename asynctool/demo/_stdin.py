"""Reading the chat's input lines without blocking the event loop, or the exit after Ctrl-C.

A blocking read runs in a daemon thread of its own: a worker thread (anyio's, or the default
executor's) would keep the process waiting for one more line after Ctrl-C, since the
interpreter joins those threads before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import threading
from collections.abc import Callable
from typing import TextIO, TypeVar

from ._render import Console

__all__ = ["read_line"]

T = TypeVar("T")


async def read_line(stdin: TextIO, console: Console) -> str | None:
    """The next line of input without its line ending, or None at the end of the input.

    On a terminal the user types after the console's mark (with line editing when `readline`
    is available); piped lines are echoed to the console as the prompt they are.
    """
    if stdin is sys.stdin and stdin.isatty():
        marker = console.input_marker()
        return await _in_daemon_thread(lambda: _input(marker))
    line = await _in_daemon_thread(stdin.readline)
    if not line:
        return None
    line = line.rstrip("\r\n")
    if line.strip():
        console.prompt(line)
    return line


def _input(marker: str) -> str | None:
    try:
        return input(marker)
    except EOFError:
        return None


async def _in_daemon_thread(read: Callable[[], T]) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # done: the read was cancelled
            outcome()

    def work() -> None:
        try:
            value = read()
        except BaseException as error:  # handed to the awaiting task, whatever it is
            outcome = functools.partial(future.set_exception, error)
        else:
            outcome = functools.partial(future.set_result, value)
        with contextlib.suppress(RuntimeError):  # the loop closed while we were reading
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name="asynctool.demo stdin", daemon=True).start()
    return await future
