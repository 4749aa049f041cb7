"""Events made by a task of their own, read through an async generator: a streamed turn's.

A streamed turn does several things at once: it reads the response while its tools run, and
hands on each event (a text delta, a call's result) as it happens. Those need a task group,
and the events need to reach the caller through `Run.events`, an async generator. A
generator must not yield inside a task group or a cancel scope (anyio says so; trio's
design notes say why): the scope would be left open while the caller's code runs, its
cancellation would land in the caller's code, and a generator closed from another task (the
garbage collector's) would exit the scope in the wrong task.

So the generator owns no task group. `relayed(produce)` starts one worker task that runs
`produce(emit)`; whatever task group the turn needs is entered and exited inside that task,
which yields nothing. `emit` puts an event in an unbounded memory object stream (it never
waits: a turn's events are no more than its response and results, which the accumulator
keeps anyway), and the generator hands them on as they come. What `produce` raises,
cancellation aside, is raised from the generator, in the reader's task, as it was raised:
never wrapped in an exception group, and an interrupt never escapes the event loop from the
worker.

The worker never outlives the generator: when the generator is left for any reason (the
turn ended, the reader broke out, was cancelled, or closed it), its `finally` cancels the
worker and waits for it, shielded, before it goes on. The turn's own cleanup (cancelling its
tools, closing its response, answering every call in the transcript) has then run.

The worker is an asyncio task, joined as just said, because no task group can be kept open
across a generator's yields; the HTTP transport already ties the client to asyncio.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ["relayed"]

E = TypeVar("E")


async def relayed(
    produce: Callable[[Callable[[E], None]], Awaitable[None]],
) -> AsyncGenerator[E, None]:
    """The events `produce(emit)` emits, as it emits them, while it runs in a task of its own;
    then what it raised, if anything."""
    send, receive = anyio.create_memory_object_stream[E](math.inf)
    failed: list[BaseException] = []
    stopping = False

    def emit(event: E) -> None:
        try:
            send.send_nowait(event)
        except anyio.BrokenResourceError:  # the reader has left, and is stopping the worker
            pass

    async def work() -> None:
        try:
            await produce(emit)
        except BaseException as exc:
            if stopping and isinstance(exc, asyncio.CancelledError):
                raise  # the reader's own cancellation: nobody waits for an outcome
            failed.append(exc)
        finally:
            send.close()

    worker = asyncio.get_running_loop().create_task(work(), name="asynctool turn")
    try:
        while True:
            try:
                # Events already made are handed on without a pass through the event loop.
                event = receive.receive_nowait()
            except anyio.WouldBlock:
                try:
                    event = await receive.receive()
                except anyio.EndOfStream:
                    break
            except anyio.EndOfStream:
                break
            yield event
    finally:
        if not worker.done():
            stopping = True
            worker.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait((worker,))
        receive.close()
    if failed:
        raise failed[0]
