"""History shaping, compaction on a full context and budgets, through a real agent run.

Every test asserts on what the embedded server received: what a history function sends,
what a summary request holds, how many requests a bound lets through.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from asynctool import (
    Agent,
    AssistantMessage,
    AsyncClient,
    BadRequestError,
    HistoryContext,
    InvalidRequestError,
    Message,
    RequestBudgetExceeded,
    RunCompleted,
    RunResult,
    TimeBudgetExceeded,
    TokenBudgetExceeded,
    ToolMessage,
    UserMessage,
    is_context_overflow,
    keep_last_turns,
    keep_within_tokens,
    summarize_oldest,
)
from asynctool._history import check_pairs
from asynctool._overflow import SUMMARY_PREFIX
from asynctool._run import CANCELLED
from asynctool.testing import ModelServer, ScriptedModel, ScriptStep, Usage, call, status, text
from asynctool.testing import tool_calls as calling

from .test_overflow import PROVIDERS


async def lookup(order: int) -> str:
    """Look an order up.

    Args:
        order: the order number.
    """
    return f"order {order}: shipped, {'details ' * 20}"


async def slow(seconds: float) -> str:
    """Wait, then answer.

    Args:
        seconds: how long.
    """
    await asyncio.sleep(seconds)
    return "waited"


def looking_up(*orders: int) -> ScriptStep:
    return calling(*(call("lookup", {"order": o}, id=f"c{o}") for o in orders))


async def run(
    turns: list[ScriptStep],
    input: Any = "Where are my orders?",
    *,
    stream: bool = False,
    **options: Any,
) -> tuple[ModelServer, RunResult[Any]]:
    """The agent's result, and the server that answered it."""
    async with ModelServer(ScriptedModel(turns)) as server:
        async with AsyncClient(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        ) as client:
            agent = Agent(client, model="m", tools=[lookup, slow], **options)
            if not stream:
                return server, await agent.run(input)
            async with agent.run_stream(input) as events:
                last = [event async for event in events][-1]
            assert isinstance(last, RunCompleted)
            return server, last.result


async def failing(turns: list[ScriptStep], error: type[BaseException], **options: Any) -> Any:
    """The error the run ends with, and the server."""
    input = options.pop("input", "Where are my orders?")
    async with ModelServer(ScriptedModel(turns)) as server:
        async with AsyncClient(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        ) as client:
            agent = Agent(client, model="m", tools=[lookup, slow], **options)
            with pytest.raises(error) as caught:
                await agent.run(input)
    return caught.value, server


def roles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["role"] for m in messages]


# ---------------------------------------------------------------------------------- history


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_keep_last_turns_shapes_each_request_and_the_transcript_keeps_all(
    stream: bool,
) -> None:
    turns = [looking_up(1), looking_up(2), looking_up(3), text("All shipped.")]
    server, result = await run(turns, history=keep_last_turns(1), stream=stream)
    sent = [request.messages for request in server.requests]
    assert roles(sent[0]) == ["user"]
    # From the third request on, one earlier turn is sent, after the question.
    assert roles(sent[3]) == ["user", "assistant", "tool"]
    assert sent[3][1]["tool_calls"][0]["id"] == "c3"
    assert sent[3][0]["content"] == "Where are my orders?"
    assert len(result.messages) == 1 + 3 * 2 + 1
    assert result.output == "All shipped."


async def test_a_history_function_may_drop_whole_turns_and_trim_results() -> None:
    def drop_and_trim(messages: list[Message]) -> list[Message]:
        # Drop every turn but the last, as a pair; cut what the last tool said.
        last = max(
            (i for i, m in enumerate(messages) if isinstance(m, AssistantMessage)), default=0
        )
        trimmed = [
            ToolMessage(content=m.content[:10], tool_call_id=m.tool_call_id)  # type: ignore[index]
            if isinstance(m, ToolMessage)
            else m
            for m in messages[last:]
        ]
        return [messages[0], *trimmed] if last else messages

    server, result = await run([looking_up(1), looking_up(2), text("ok")], history=drop_and_trim)
    third = server.requests[2].messages
    assert roles(third) == ["user", "assistant", "tool"]
    assert third[2] == {"role": "tool", "tool_call_id": "c2", "content": "order 2: s"}
    # The transcript has the whole text of every result.
    assert [m.content for m in result.messages if isinstance(m, ToolMessage)] == [
        await lookup(1),
        await lookup(2),
    ]


async def test_a_history_function_that_splits_a_tool_pair_ends_the_run_before_sending() -> None:
    error, server = await failing(
        [looking_up(1), text("never")],
        InvalidRequestError,
        history=lambda messages: messages[-1:],  # the tool message alone, without its call
    )
    assert len(server.requests) == 1  # the second request was never sent
    assert error.field == "history: messages[0]"
    assert "'c1'" in error.reason
    # The run's transcript is whole, and goes with the error.
    check_pairs(error.messages)
    assert len(error.messages) == 3


async def test_an_async_history_function_sees_the_last_usage_and_what_was_sent() -> None:
    seen: list[tuple[int, int | None, int]] = []

    async def record(messages: list[Message], context: HistoryContext) -> list[Message]:
        usage = context.usage.prompt_tokens if context.usage is not None else None
        seen.append((context.turn, usage, len(context.sent)))
        return messages

    reported = Usage(prompt_tokens=77, completion_tokens=5, total_tokens=82)
    turns = [calling(call("lookup", {"order": 1}), usage=reported), text("ok")]
    await run(turns, history=record)
    assert seen == [(1, None, 0), (2, 77, 1)]


async def test_keep_within_tokens_follows_the_count_the_provider_reported() -> None:
    big = Usage(prompt_tokens=5000, completion_tokens=10, total_tokens=5010)
    turns = [
        calling(call("lookup", {"order": 1}, id="c1"), usage=big),
        calling(call("lookup", {"order": 2}, id="c2"), usage=big),
        text("ok"),
    ]
    # By characters, every request fits 1,000 tokens; by the reported count it does not.
    server, _ = await run(turns, history=keep_within_tokens(1000))
    assert roles(server.requests[2].messages) == ["user", "assistant", "tool"]
    assert server.requests[2].messages[1]["tool_calls"][0]["id"] == "c2"


def test_a_history_that_is_not_a_function_is_refused_when_the_agent_is_made() -> None:
    client = AsyncClient(base_url="http://127.0.0.1:9/v1", api_key="sk-test")
    with pytest.raises(InvalidRequestError) as caught:
        Agent(client, model="m", history=[])  # type: ignore[arg-type]
    assert caught.value.field == "history"
    with pytest.raises(InvalidRequestError) as caught:
        Agent(client, model="m", on_overflow=lambda messages, ask: messages)  # type: ignore[arg-type, return-value]
    assert caught.value.field == "on_overflow"


# ------------------------------------------------------------------------------- overflow

CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Where is order 1?"},
    {"role": "assistant", "content": "Shipped."},
    {"role": "user", "content": "And order 2?"},
    {"role": "assistant", "content": "Also shipped."},
    {"role": "user", "content": "When do both arrive?"},
]
SUMMARY = "Orders 1 and 2 were asked about; both shipped."


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_a_full_context_is_compacted_and_the_request_sent_again(
    provider: str, stream: bool
) -> None:
    code, body = PROVIDERS[provider]
    turns = [status(code, body=body), text(SUMMARY), text("Both on Friday.")]
    server, result = await run(turns, CONVERSATION, on_overflow=summarize_oldest(), stream=stream)
    assert result.output == "Both on Friday."
    assert len(server.requests) == 3
    # The summary request: the run's model, no tools, the old turns as text.
    summary = server.requests[1]
    assert summary.json["model"] == "m"
    assert "tools" not in summary.json and "tool_choice" not in summary.json
    assert "stream" not in summary.json
    assert roles(summary.messages) == ["system", "user"]
    assert summary.messages[1]["content"].splitlines() == [
        "user: Where is order 1?",
        "assistant: Shipped.",
        "user: And order 2?",
        "assistant: Also shipped.",
    ]
    # The retry: the instructions, the summary where the old turns were, the question.
    retried = server.requests[2].messages
    assert retried == [
        CONVERSATION[0],
        {"role": "user", "content": SUMMARY_PREFIX + SUMMARY},
        CONVERSATION[-1],
    ]
    # The transcript records the compaction: it holds the summary, then goes on.
    assert isinstance(result.messages[1], UserMessage)
    assert str(result.messages[1].content).startswith(SUMMARY_PREFIX)
    assert len(result.messages) == len(retried) + 1
    # The summary's tokens count in the run's usage.
    assert result.usage.total_tokens > result.completion.usage.total_tokens  # type: ignore[union-attr]


async def test_without_on_overflow_a_full_context_is_raised_as_it_came() -> None:
    code, body = PROVIDERS["openai"]
    error, server = await failing([status(code, body=body)], BadRequestError)
    assert is_context_overflow(error)
    assert len(server.requests) == 1


async def test_a_second_overflow_after_compacting_is_raised() -> None:
    code, body = PROVIDERS["llama.cpp"]
    error, server = await failing(
        [status(code, body=body), text(SUMMARY), status(code, body=body)],
        BadRequestError,
        input=CONVERSATION,
        on_overflow=summarize_oldest(),
    )
    assert len(server.requests) == 3  # the request, the summary, the one retry
    assert is_context_overflow(error)
    assert str(error.messages[1].content).startswith(SUMMARY_PREFIX)


async def test_a_transcript_with_nothing_older_to_summarise_raises_the_overflow() -> None:
    code, body = PROVIDERS["anthropic"]
    error, server = await failing(
        [status(code, body=body)], BadRequestError, on_overflow=summarize_oldest()
    )
    assert len(server.requests) == 1
    assert is_context_overflow(error)


async def test_other_errors_are_not_compacted() -> None:
    error, server = await failing(
        [status(400, "max_tokens is too large")],
        BadRequestError,
        input=CONVERSATION,
        on_overflow=summarize_oldest(),
    )
    assert not is_context_overflow(error)
    assert len(server.requests) == 1


async def test_compacting_one_long_question_keeps_every_call_with_its_answer() -> None:
    code, body = PROVIDERS["vllm"]
    turns = [looking_up(1), looking_up(2, 3), status(code, body=body), text(SUMMARY), text("ok")]
    server, result = await run(turns, on_overflow=summarize_oldest())
    told = server.requests[3].messages[1]["content"]
    assert 'called lookup({"order":1})' in told and "tool result (c1)" in told
    retried = server.requests[4].messages
    assert roles(retried) == ["user", "user", "assistant", "tool", "tool"]
    assert retried[0]["content"] == "Where are my orders?"
    assert [c["id"] for c in retried[2]["tool_calls"]] == ["c2", "c3"]
    check_pairs(result.messages)


async def test_a_compaction_function_that_splits_a_pair_is_raised_as_the_users_bug() -> None:
    async def broken(messages: list[Message], ask: Any) -> list[Message]:
        return messages[-1:]

    code, body = PROVIDERS["gemini"]
    error, server = await failing(
        [looking_up(1), status(code, body=body)],
        InvalidRequestError,
        on_overflow=broken,
    )
    assert error.field == "on_overflow: messages[0]"
    assert len(server.requests) == 2


# -------------------------------------------------------------------------------- budgets


async def test_max_requests_ends_the_run_before_the_request_past_it() -> None:
    error, server = await failing(
        [looking_up(1), looking_up(2), looking_up(3), text("never")],
        RequestBudgetExceeded,
        max_requests=2,
    )
    assert len(server.requests) == 2
    assert (error.limit, error.used) == (2, 2)
    check_pairs(error.messages)
    assert len(error.messages) == 5  # both turns, each call answered
    assert error.usage is not None and error.usage.total_tokens > 0


async def test_a_summary_request_counts_in_max_requests() -> None:
    code, body = PROVIDERS["openai"]
    error, server = await failing(
        [status(code, body=body), text(SUMMARY), text("never")],
        RequestBudgetExceeded,
        input=CONVERSATION,
        on_overflow=summarize_oldest(),
        max_requests=2,
    )
    assert len(server.requests) == 2  # the failed one and the summary
    assert error.used == 2


async def test_max_total_tokens_stops_the_calls_of_an_answer_that_crossed_it() -> None:
    heavy = Usage(prompt_tokens=60, completion_tokens=40, total_tokens=100)
    error, server = await failing(
        [calling(call("lookup", {"order": 1}), usage=heavy), text("never")],
        TokenBudgetExceeded,
        max_total_tokens=100,
    )
    assert len(server.requests) == 1
    assert (error.limit, error.used) == (100, 100)
    # The calls did not run; the transcript stops before the answer that made them.
    assert [type(m) for m in error.messages] == [UserMessage]
    assert error.completion.choices[0].message.tool_calls[0].function.name == "lookup"


async def test_an_answer_that_crosses_max_total_tokens_is_still_returned() -> None:
    heavy = Usage(prompt_tokens=60, completion_tokens=40, total_tokens=100)
    server, result = await run([text("Here it is.", usage=heavy)], max_total_tokens=50)
    assert result.output == "Here it is." and result.usage.total_tokens == 100
    assert len(server.requests) == 1


async def test_max_total_tokens_stops_the_next_request_once_reached() -> None:
    half = Usage(prompt_tokens=30, completion_tokens=20, total_tokens=50)
    error, server = await failing(
        [
            calling(call("lookup", {"order": 1}), usage=half),
            calling(call("lookup", {"order": 2}), usage=half),
            text("never"),
        ],
        TokenBudgetExceeded,
        max_total_tokens=100,
    )
    assert len(server.requests) == 2
    assert error.used == 100


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_max_run_seconds_cancels_what_runs_and_answers_it(stream: bool) -> None:
    turns = [calling(call("slow", {"seconds": 0.3}, id="s")), text("never")]
    async with ModelServer(ScriptedModel(turns)) as server:
        async with AsyncClient(
            base_url=server.base_url, api_key="sk-test", max_retries=0
        ) as client:
            agent = Agent(client, model="m", tools=[slow], max_run_seconds=0.1)
            with pytest.raises(TimeBudgetExceeded) as caught:
                if stream:
                    async with agent.run_stream("wait") as events:
                        async for _ in events:
                            pass
                else:
                    await agent.run("wait")
    error = caught.value
    assert isinstance(error, TimeoutError) and error.limit == 0.1
    assert len(server.requests) == 1
    assert error.messages[-1] == ToolMessage(content=CANCELLED, tool_call_id="s")
    check_pairs(error.messages)


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_total_tokens", 0), ("max_requests", 1.5), ("max_run_seconds", -1)],
)
def test_a_bad_bound_is_refused_when_the_agent_is_made(option: str, value: Any) -> None:
    client = AsyncClient(base_url="http://127.0.0.1:9/v1", api_key="sk-test")
    with pytest.raises(InvalidRequestError) as caught:
        Agent(client, model="m", **{option: value})
    assert caught.value.field == option


@pytest.mark.parametrize("provider", ["openai", "llama.cpp"])
async def test_run_and_run_stream_compact_to_the_same_transcript(provider: str) -> None:
    code, body = PROVIDERS[provider]
    turns = [status(code, body=body), text(SUMMARY), text("Both on Friday.")]
    results = [
        await run(turns, CONVERSATION, on_overflow=summarize_oldest(), stream=stream)
        for stream in (False, True)
    ]
    (plain_server, plain), (streamed_server, streamed) = results
    assert plain.messages == streamed.messages
    assert [r.messages for r in plain_server.requests] == [
        r.messages for r in streamed_server.requests
    ]
