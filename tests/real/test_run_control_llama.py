"""A full context against a real llama-server started with a context of 256 tokens.

llama-server refuses a prompt longer than its context with a 400, `exceed_context_size_error`
(the text `_overflow.py` cites); here it is the server's own answer, not a recorded one. The
agent with `on_overflow=summarize_oldest()` has the old turns summarised by the same server
and sends again; without it, the error is raised and recognised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from asynctool import (
    Agent,
    AsyncClient,
    BadRequestError,
    RunCompleted,
    RunResult,
    UserMessage,
    is_context_overflow,
    summarize_oldest,
)
from asynctool._overflow import SUMMARY_PREFIX

from ._llama import RunningServer, provision, serve
from .test_llama_server import END_OF_TURN, GREEDY, MODEL

CONTEXT = 256

# About 280 tokens in all: the old exchange alone is over the context (a list of 120 words),
# the latest question is short. The summary request sends at most `max_chars` of the old
# text, so that it fits the context itself, with the answer's `max_tokens`.
LONG_CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "Remember this list: " + "apple, " * 120},
    {"role": "assistant", "content": "I will remember the list."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def small_llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A llama-server whose context is only `CONTEXT` tokens."""
    provisioned = provision()
    with serve(provisioned, tmp_path_factory.mktemp("small-llama"), context=CONTEXT) as server:
        yield server


@pytest.fixture
async def small_client(small_llama: RunningServer) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        base_url=small_llama.base_url, api_key=small_llama.api_key, max_retries=0
    ) as client:
        yield client


def agent(client: AsyncClient, **options: Any) -> Agent[str | None]:
    return Agent(client, model=MODEL, max_tokens=24, stop=[END_OF_TURN], **GREEDY, **options)


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_without_on_overflow_the_servers_refusal_is_raised_and_recognised(
    small_client: AsyncClient, stream: bool
) -> None:
    with pytest.raises(BadRequestError) as caught:
        if stream:
            async with agent(small_client).run_stream(LONG_CONVERSATION) as events:
                async for _ in events:
                    pass
        else:
            await agent(small_client).run(LONG_CONVERSATION)
    error = caught.value
    assert f"exceeds the available context size ({CONTEXT} tokens)" in error.message
    assert is_context_overflow(error)


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_a_full_context_is_summarised_by_the_same_server_and_sent_again(
    small_client: AsyncClient, small_llama: RunningServer, stream: bool
) -> None:
    before = small_llama.log_text().count("exceeds the available context size")
    compacting = agent(small_client, on_overflow=summarize_oldest(max_chars=300))
    if stream:
        async with compacting.run_stream(LONG_CONVERSATION) as events:
            last = [event async for event in events][-1]
        assert isinstance(last, RunCompleted)
        result: RunResult[str | None] = last.result
    else:
        result = await compacting.run(LONG_CONVERSATION)
    # The server refused the first request once, then answered the summary and the retry.
    assert small_llama.log_text().count("exceeds the available context size") == before + 1
    summary = result.messages[1]
    assert isinstance(summary, UserMessage)
    assert isinstance(summary.content, str) and summary.content.startswith(SUMMARY_PREFIX)
    assert len(summary.content) > len(SUMMARY_PREFIX)  # the model did write something
    assert [type(m).__name__ for m in result.messages] == [
        "SystemMessage",
        "UserMessage",
        "UserMessage",
        "AssistantMessage",
    ]
    assert result.messages[2] == UserMessage(content="What is the capital of France?")
    assert isinstance(result.output, str)
    # Both answered requests were counted: the summary's tokens and the answer's.
    assert result.completion.usage is not None
    assert result.usage.total_tokens > result.completion.usage.total_tokens
    assert result.usage.prompt_tokens < 2 * CONTEXT
