"""Which call a streamed fragment belongs to is decided once, by the accumulator.

The agent's live `ToolCallStarted` events used to apply a rule of their own (`id or index`)
while the accumulator went by index, then id, with an empty id as no id: a fragment that
repeated `name` without an `id` was one call in the completion and a second, id-less
`ToolCallStarted` in the events. Each test streams through a real socket and checks that the
events name exactly the calls the final completion holds.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from asynctool import Agent, ToolCallReady, ToolCallStarted, tool
from tests.conftest import Serve, chunk, fragment, sse, stream


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def serve(serve: Serve) -> Serve:
    """A turn's stream is read once: a failure is not retried."""
    return functools.partial(serve, max_retries=0)


async def started_and_ready(
    serve: Serve, *fragments: dict[str, Any]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Stream one turn of these fragments, then an answer; the started and the ready calls."""
    calls = [chunk(role="assistant")]
    calls += [chunk(tool_calls=[f]) for f in fragments]
    calls.append(chunk(finish_reason="tool_calls"))
    _, client = await serve(
        stream(sse(*calls)),
        stream(sse(chunk("done", role="assistant"), chunk(finish_reason="stop"))),
    )
    agent = Agent(client, model="m", tools=[add])
    async with agent.run_stream("add") as events:
        seen = [event async for event in events]
    started = [(e.id, e.name) for e in seen if isinstance(e, ToolCallStarted)]
    ready = [(e.call.id, e.call.function.name) for e in seen if isinstance(e, ToolCallReady)]
    return started, ready


async def test_a_name_repeated_without_an_id_starts_no_second_call(serve: Serve) -> None:
    started, ready = await started_and_ready(
        serve,
        fragment(id="call_1", type="function", name="add", arguments='{"a": 1,'),
        fragment(name="add", arguments=' "b": 2}'),
    )
    assert ready == [("call_1", "add")]
    assert started == [("call_1", "add")]


async def test_an_empty_id_is_no_id(serve: Serve) -> None:
    # DashScope repeats `"id": ""` (and the name) on every fragment after a call's first.
    started, ready = await started_and_ready(
        serve,
        fragment(id="call_1", type="function", name="add", arguments='{"a": 1,'),
        fragment(id="", name="add", arguments=' "b": 2}'),
    )
    assert ready == [("call_1", "add")]
    assert started == [("call_1", "add")]


async def test_new_ids_at_index_zero_are_new_calls(serve: Serve) -> None:
    # Some servers send every call as `index: 0`; the id tells them apart.
    started, ready = await started_and_ready(
        serve,
        fragment(id="a", type="function", name="add", arguments='{"a": 1, "b": 2}'),
        fragment(id="b", type="function", name="add", arguments='{"a": 3, "b": 4}'),
    )
    assert ready == [("a", "add"), ("b", "add")]
    assert started == ready


async def test_a_name_after_the_id_starts_the_call_then(serve: Serve) -> None:
    started, ready = await started_and_ready(
        serve,
        fragment(id="call_1", type="function"),
        fragment(name="add", arguments='{"a": 1, "b": 2}'),
        fragment(index=1, id="call_2", type="function", name="add", arguments='{"a": 3, "b": 4}'),
    )
    assert ready == [("call_1", "add"), ("call_2", "add")]
    assert started == ready


async def test_fragments_without_index_go_by_id(serve: Serve) -> None:
    started, ready = await started_and_ready(
        serve,
        fragment(None, id="a", type="function", name="add", arguments='{"a": 1,'),
        fragment(None, name="add", arguments=' "b": 2}'),
        fragment(None, id="b", type="function", name="add", arguments='{"a": 3, "b": 4}'),
    )
    assert ready == [("a", "add"), ("b", "add")]
    assert started == ready


async def test_a_call_starts_after_the_text_before_it(serve: Serve) -> None:
    # The accumulator takes a read's chunks a batch at a time, ahead of the chunk handed out;
    # each event still comes with the chunk that made it, across batches.
    words = [chunk(f"w{i} ") for i in range(150)]
    head = fragment(id="call_1", type="function", name="add", arguments='{"a": 1, "b": 2}')
    _, client = await serve(
        stream(sse(chunk(role="assistant"), *words, chunk(tool_calls=[head]), *words[:70])),
        stream(sse(chunk("done", role="assistant"), chunk(finish_reason="stop"))),
    )
    async with Agent(client, model="m", tools=[add]).run_stream("add") as events:
        seen = [event async for event in events]
    kinds = [type(e).__name__ for e in seen if type(e).__name__ in ("TextDelta", "ToolCallStarted")]
    assert kinds[:221] == ["TextDelta"] * 150 + ["ToolCallStarted"] + ["TextDelta"] * 70
