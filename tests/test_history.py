"""History functions: the pairing rule on what they return, and the two ready ones."""

from __future__ import annotations

from typing import Any

import pytest

from asynctool import (
    AssistantMessage,
    FunctionCall,
    InvalidRequestError,
    Message,
    SystemMessage,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
)
from asynctool._history import (
    HistoryContext,
    check_pairs,
    estimate_tokens,
    history_hook,
    keep_last_turns,
    keep_within_tokens,
    shaped,
)


def call(call_id: str, name: str = "lookup", arguments: str = "{}") -> ToolCall:
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=arguments))


def calling(*ids: str) -> AssistantMessage:
    return AssistantMessage(tool_calls=[call(i) for i in ids])


def answer(call_id: str, content: str = "ok") -> ToolMessage:
    return ToolMessage(content=content, tool_call_id=call_id)


SYSTEM = SystemMessage(content="Be brief.")


def tool_loop(rounds: int, *, result: str = "ok") -> list[Message]:
    """One question worked on over `rounds` turns of two parallel calls each."""
    messages: list[Message] = [SYSTEM, UserMessage(content="question")]
    for r in range(rounds):
        messages += [calling(f"a{r}", f"b{r}"), answer(f"a{r}", result), answer(f"b{r}", result)]
    return messages


def chat(exchanges: int) -> list[Message]:
    messages: list[Message] = [SYSTEM]
    for i in range(exchanges):
        messages += [UserMessage(content=f"q{i}"), AssistantMessage(content=f"a{i}")]
    return [*messages, UserMessage(content="latest")]


# ---------------------------------------------------------------------------- the pairing rule


def test_a_whole_transcript_passes_the_pairing_rule() -> None:
    check_pairs(tool_loop(3))
    check_pairs(chat(2))


def test_tool_messages_may_answer_their_calls_in_any_order() -> None:
    check_pairs([UserMessage(content="q"), calling("a", "b"), answer("b"), answer("a")])


@pytest.mark.parametrize(
    ("messages", "field", "words"),
    [
        # A slice that starts inside a turn: the results without the call (pydantic-ai#2050).
        ([answer("b0"), UserMessage(content="q")], "history: messages[0]", "does not follow"),
        # The assistant message kept, one of its answers dropped.
        ([UserMessage(content="q"), calling("a", "b"), answer("a")], "messages[1]", "['b']"),
        # Every answer dropped.
        ([UserMessage(content="q"), calling("a")], "messages[1]", "['a']"),
        # Something between a call and its answer.
        (
            [calling("a"), UserMessage(content="q"), answer("a")],
            "messages[0]",
            "no tool message answering",
        ),
        # An answer to a call this message did not make.
        ([calling("a"), answer("a"), answer("z")], "messages[2]", "did not make"),
        ([calling("a"), answer("a"), answer("a")], "messages[2]", "a second time"),
    ],
)
def test_a_broken_pair_is_refused_naming_the_message(
    messages: list[Message], field: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_pairs(messages)
    assert caught.value.field.endswith(field)
    assert words in caught.value.reason


def test_what_a_function_returns_is_checked_and_dicts_become_structs() -> None:
    returned: list[Any] = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": "1"},
    ]
    messages = shaped(returned)
    assert [type(m) for m in messages] == [UserMessage, AssistantMessage, ToolMessage]
    with pytest.raises(InvalidRequestError, match="not a list of messages"):
        shaped("q")
    with pytest.raises(InvalidRequestError, match="at least one message"):
        shaped([])
    with pytest.raises(InvalidRequestError) as caught:
        shaped([{"role": "user"}])
    assert caught.value.field.startswith("history: messages[0]")


async def test_the_hook_takes_sync_and_async_functions_of_one_or_two_arguments() -> None:
    seen: list[Any] = []

    def last_two(messages: list[Message]) -> list[Message]:
        return messages[-1:]

    async def with_context(messages: list[Message], context: HistoryContext) -> list[Message]:
        seen.append(context.turn)
        return messages

    transcript = chat(1)
    one = history_hook(last_two)
    two = history_hook(with_context)
    assert one is not None and two is not None
    assert await one(transcript, HistoryContext()) == [transcript[-1]]
    assert await two(transcript, HistoryContext(turn=4)) == transcript
    assert seen == [4]
    assert history_hook(None) is None


async def test_the_function_gets_a_copy_so_the_transcript_keeps_everything() -> None:
    def clear(messages: list[Message]) -> list[Message]:
        last = messages[-1]
        messages.clear()
        return [last]

    transcript = chat(2)
    before = list(transcript)
    hook = history_hook(clear)
    assert hook is not None
    assert await hook(transcript, HistoryContext()) == [before[-1]]
    assert transcript == before


def test_a_function_that_cannot_take_the_messages_fails_when_it_is_given() -> None:
    def nothing() -> list[Message]:
        return []

    with pytest.raises(InvalidRequestError, match="expected a function"):
        history_hook(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"\(messages\) or \(messages, context\)"):
        history_hook(nothing)


async def test_a_history_function_that_splits_a_pair_is_raised_as_the_users_bug() -> None:
    # The naive slice: the last two messages are the answers without their call.
    hook = history_hook(lambda messages: messages[-2:])
    assert hook is not None
    with pytest.raises(InvalidRequestError) as caught:
        await hook(tool_loop(2), HistoryContext())
    assert caught.value.field == "history: messages[0]"
    assert "'a1'" in caught.value.reason  # the orphaned answer is named


# ------------------------------------------------------------------------- keep_last_turns


def test_keep_last_turns_keeps_the_instructions_the_question_and_the_last_rounds() -> None:
    messages = tool_loop(4)
    kept = keep_last_turns(2)(messages, HistoryContext())
    assert kept[:2] == [SYSTEM, UserMessage(content="question")]
    assert kept[2:] == messages[-6:]  # two turns of a call pair and its two answers
    check_pairs(kept)


def test_keep_last_turns_in_a_conversation_keeps_each_answer_with_its_question() -> None:
    messages = chat(3)  # system, q0 a0 q1 a1 q2 a2, latest
    kept = keep_last_turns(1)(messages, HistoryContext())
    assert [getattr(m, "content", None) for m in kept] == ["Be brief.", "q2", "a2", "latest"]


def test_keep_last_turns_changes_nothing_when_there_are_fewer_turns() -> None:
    messages = tool_loop(2)
    assert keep_last_turns(2)(messages, HistoryContext()) == messages


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_keep_last_turns_refuses_a_count_that_is_not_positive(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="keep_last_turns"):
        keep_last_turns(bad)


# ---------------------------------------------------------------------- keep_within_tokens


def test_the_estimate_is_four_characters_a_token_until_a_count_is_reported() -> None:
    messages: list[Message] = [UserMessage(content="x" * 400)]
    plain = estimate_tokens(messages)
    assert 100 < plain < 110  # the JSON around the text counts too
    # The provider said the same messages took 300 tokens: three times the rule of thumb.
    measured = HistoryContext(turn=2, usage=Usage(prompt_tokens=plain * 3), sent=messages)
    assert estimate_tokens(messages, measured) == plain * 3


def test_keep_within_tokens_drops_the_oldest_turns_until_the_estimate_fits() -> None:
    messages = tool_loop(6, result="r" * 200)  # each turn is about 130 tokens
    limit = 450
    kept = keep_within_tokens(limit)(messages, HistoryContext())
    assert estimate_tokens(kept) <= limit
    assert kept[:2] == [SYSTEM, UserMessage(content="question")]
    assert kept[-3:] == messages[-3:]
    check_pairs(kept)
    # Not more was dropped than needed: one turn more would not have fitted.
    one_more = [*kept[:2], *messages[len(messages) - len(kept) + 2 - 3 :]]
    assert estimate_tokens(one_more) > limit


def test_keep_within_tokens_uses_the_count_the_provider_reported() -> None:
    messages = tool_loop(6, result="r" * 200)
    plain = keep_within_tokens(2000)(messages, HistoryContext())
    assert plain == messages  # about 800 tokens by the rule of thumb
    # The last request, these same messages, took 4000 tokens: the estimate follows it.
    context = HistoryContext(turn=7, usage=Usage(prompt_tokens=4000), sent=messages)
    measured = keep_within_tokens(2000)(messages, context)
    assert len(measured) < len(messages)
    assert estimate_tokens(measured, context) <= 2000


def test_keep_within_tokens_keeps_the_last_turn_even_when_it_alone_is_over() -> None:
    messages = tool_loop(3, result="r" * 4000)
    kept = keep_within_tokens(10)(messages, HistoryContext())
    assert kept == [SYSTEM, UserMessage(content="question"), *messages[-3:]]


@pytest.mark.parametrize("bad", [0, None, "100"])
def test_keep_within_tokens_refuses_a_limit_that_is_not_positive(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="keep_within_tokens"):
        keep_within_tokens(bad)
