"""Soak: many concurrent streams against the embedded server, with faults mixed in.

Every request must end in success or in the error its fault documents; afterwards no
connection may still be acquired, no task of the client may be left, and the memory the test
allocated must come back to within 10% of where it stood after a warm-up round of the same size.

Memory is measured with `tracemalloc` (what Python code holds, not what the allocator keeps
from the OS), after `gc.collect()`, against a baseline taken after a warm-up round of the same
size: the first round grows every pool and table to its working size (the connection pool,
the selector's maps, aiohttp's caches), so only what a round leaks shows up in the second.
The server's own request log is cleared between rounds: it keeps every request on purpose.

The default run does a short round (200 requests); the 1,000-request soak is marked `slow` and
runs with `-m slow` or `ASYNCTOOL_SLOW=1`. Loopback only, and bounded in time.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import tracemalloc
from collections import Counter
from typing import Any

import anyio
import pytest

from asynctool import AsyncClient, AsyncToolError, Timeout
from asynctool.testing import (
    ModelServer,
    RecordedRequest,
    Turn,
    bad_data,
    drop_after,
    error_event,
    garbage,
    html_error,
    html_page,
    stall,
    status,
    text,
    truncated,
)
from tests.conftest import connections_in_use

REPLY = text("The quick brown fox jumps over the lazy dog, then back again. " * 2)
STALL_IDLE = 0.5  # the idle bound of requests whose stream stalls for good
LOADED_IDLE = 15.0  # the idle bound of every other request: the loop is busy under this load
MEMORY_SLACK = 0.10
# Every request of a round is in flight at once; they share a pool this size. The embedded
# server listens with aiohttp's backlog of 128: more simultaneous connects than that overflow
# the kernel's accept queue, and the SYN retransmits (1 s, 3 s, ...) turn into connect timeouts
# that eat the retry budget. A pool also makes a leaked connection visible: the round would
# wait for it forever and hit the time limit.
POOL = 100


def slow_requested(config: pytest.Config) -> bool:
    """Whether the long variants should run: `ASYNCTOOL_SLOW=1`, or `-m` selecting `slow`."""
    if os.environ.get("ASYNCTOOL_SLOW") == "1":
        return True
    expression = str(config.getoption("markexpr", default="") or "")
    return "slow" in expression and "not slow" not in expression


class FaultMix:
    """A model that answers each request with the fault its user message names (`kind:n`).

    `retry` answers the first attempt 503 and the retry (same Idempotency-Key) a reply; the
    key is forgotten then, so the model holds nothing once a round is over.
    """

    def __init__(self) -> None:
        self.first_attempts: set[str] = set()

    def respond(self, request: RecordedRequest) -> Turn:
        kind = str(request.messages[-1]["content"]).partition(":")[0]
        if kind == "retry":
            key = request.headers["Idempotency-Key"]
            if key in self.first_attempts:
                self.first_attempts.discard(key)
                return REPLY
            self.first_attempts.add(key)
            return status(503, retry_after=0)
        return FAULTS[kind]


FAULTS: dict[str, Turn] = {
    "ok": REPLY,
    "drop": drop_after(400, REPLY),
    "stall": stall(after=3, reply=REPLY),
    "bad-data": bad_data(after=2, reply=REPLY),
    "garbage": garbage(after=2, reply=REPLY),
    "html-502": html_error(502),
    "html-200": html_page(),
    "truncated": truncated(-40, REPLY),
    "error-event": error_event(after=2, reply=REPLY),
    "leave-early": stall(after=3, reply=REPLY),
    "cancel": stall(after=1, reply=REPLY),
}
# What each request may end in: the documented outcome of its fault, and nothing else.
EXPECTED: dict[str, str] = {
    "ok": "ok",
    "retry": "ok",
    "drop": "IncompleteStreamError",
    "stall": "APITimeoutError",
    "bad-data": "StreamDecodeError",
    "garbage": "IncompleteStreamError",
    "html-502": "InternalServerError",
    "html-200": "APIResponseValidationError",
    "truncated": "IncompleteStreamError",
    "error-event": "APIError",
    "leave-early": "left",
    "cancel": "cancelled",
}
KINDS = list(EXPECTED)


async def one_request(client: AsyncClient, n: int) -> tuple[str, str]:
    """One streamed request of the mix; returns its kind and how it ended."""
    kind = KINDS[n % len(KINDS)]
    idle = STALL_IDLE if kind == "stall" else LOADED_IDLE
    try:
        if kind == "cancel":
            async with asyncio.timeout(0.2):  # the caller gives up, mid-stream or earlier
                await read_stream(client, kind, n, idle)
        else:
            return kind, await read_stream(client, kind, n, idle)
    except AsyncToolError as error:
        return kind, type(error).__name__
    except TimeoutError:
        return kind, "cancelled"
    return kind, "not cancelled"


async def read_stream(client: AsyncClient, kind: str, n: int, idle: float) -> str:
    stream = await client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": f"{kind}:{n}"}],
        stream=True,
        timeout=Timeout(total=40, connect=10, first_byte=30, idle=idle),
    )
    async with stream:
        async for _ in stream:
            if kind == "leave-early":
                return "left"
        completion = await stream.get_final_completion()
    assert completion.choices[0].message.content == REPLY.content
    return "ok"


async def run_round(client: AsyncClient, count: int, offset: int) -> list[tuple[str, str]]:
    """`count` requests at once, in one task group: none outlives the round."""
    outcomes: list[tuple[str, str]] = []

    async def one(n: int) -> None:
        outcomes.append(await one_request(client, n))

    async with anyio.create_task_group() as group:
        for n in range(offset, offset + count):
            group.start_soon(one, n)
    return outcomes


def client_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still alive, but this test's own and the server's connection handlers."""
    current = asyncio.current_task()
    return [
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    ]


def traced_after_gc() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def soak(count: int, time_limit: float) -> None:
    started = time.perf_counter()
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        with anyio.fail_after(time_limit):
            model = FaultMix()
            async with ModelServer(model) as server:
                client = AsyncClient(base_url=server.base_url, max_retries=1, max_connections=POOL)
                async with client:
                    await run_round(client, count, 0)
                    server.requests.clear()
                    baseline = traced_after_gc()
                    outcomes = await run_round(client, count, count)
                    server.requests.clear()
                    await asyncio.sleep(0)  # let callbacks scheduled by the last close run
                    in_use = connections_in_use(client)
                    leftover = client_tasks()
                    after = traced_after_gc()
    finally:
        if not tracing:
            tracemalloc.stop()
    wrong = Counter((kind, got) for kind, got in outcomes if got != EXPECTED[kind])
    assert not wrong, f"outcomes that are not the documented ones: {dict(wrong)}"
    assert len(outcomes) == count
    assert not model.first_attempts  # every 503 was followed by its retry
    assert in_use == 0, f"{in_use} connections still acquired"
    assert leftover == [], f"tasks left behind: {leftover[:5]}"
    growth = (after - baseline) / baseline
    assert growth <= MEMORY_SLACK, (
        f"traced memory grew {growth:.1%} over one round ({baseline} -> {after} bytes)"
    )
    assert time.perf_counter() - started < time_limit


async def test_soak_short() -> None:
    await soak(count=200, time_limit=20)


@pytest.mark.slow
async def test_soak_1000_concurrent_streams(request: pytest.FixtureRequest) -> None:
    if not slow_requested(request.config):
        pytest.skip("long soak: run with -m slow or ASYNCTOOL_SLOW=1")
    await soak(count=1000, time_limit=60)


def test_every_kind_of_the_mix_has_an_expected_outcome() -> None:
    assert set(FAULTS) | {"retry"} == set(EXPECTED)
