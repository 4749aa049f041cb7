"""The saved state of a paused run: JSON both ways, checked on load, and the decisions."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from asynctool import (
    AssistantMessage,
    FunctionCall,
    InvalidRequestError,
    Message,
    ToolCall,
    ToolMessage,
    Usage,
    UserMessage,
)
from asynctool._events import ToolResult
from asynctool._execute import Deny, Rewrite
from asynctool._history import check_pairs
from asynctool._pause import (
    PENDING,
    Answer,
    Approve,
    Defer,
    PausedRun,
    PendingCall,
    SavedResult,
    checked_decisions,
    placeholder,
    with_answers,
)

CALLS = [
    ToolCall(id="a", function=FunctionCall(name="refund", arguments='{"amount": 500}')),
    ToolCall(id="b", function=FunctionCall(name="lookup", arguments='{"order": 7}')),
    ToolCall(
        id="c",
        function=FunctionCall(name="refund", arguments='{"amount": 20}'),
        extra_content={"google": {"thought_signature": "sig"}},
    ),
]


def paused() -> PausedRun:
    done = ToolResult(
        call=CALLS[1], content="order 7: shipped", is_error=False, duration=0.1, turn=1
    )
    messages: list[Message] = [
        UserMessage(content="refund my orders"),
        AssistantMessage(tool_calls=CALLS),
        placeholder(CALLS[0]),
        ToolMessage(content=done.content, tool_call_id="b"),
        placeholder(CALLS[2]),
    ]
    return PausedRun(
        messages=messages,
        pending=[
            PendingCall(call=CALLS[0], turn=1, reason="over 100"),
            PendingCall(call=CALLS[2], turn=1),
        ],
        tool_results=[SavedResult.of(done)],
        usage=Usage(prompt_tokens=30, completion_tokens=12, total_tokens=42),
        turns=1,
        requests=1,
        elapsed=0.25,
        tool_choice={"type": "function", "function": {"name": "refund"}},
        output_retries=1,
    )


def test_a_paused_run_goes_to_json_and_back_unchanged() -> None:
    state = paused()
    data = state.to_json()
    assert PausedRun.from_json(data) == state
    assert PausedRun.from_json(data.decode()) == state
    # Plain JSON, readable by anything: the pending calls and their reasons are in it.
    raw = msgspec.json.decode(data)
    assert [p["call"]["id"] for p in raw["pending"]] == ["a", "c"]
    assert raw["pending"][0]["reason"] == "over 100"
    assert raw["format"] == 1
    # What a provider wants back on a call (Gemini's signature) survives the trip.
    assert raw["messages"][1]["tool_calls"][2]["extra_content"]["google"]["thought_signature"]


def test_the_saved_transcript_is_sendable_with_placeholders_for_the_pending_calls() -> None:
    state = paused()
    check_pairs(state.messages)
    assert [m.content for m in state.messages if isinstance(m, ToolMessage)] == [
        PENDING,
        "order 7: shipped",
        PENDING,
    ]


def test_answers_replace_the_placeholders_and_nothing_else() -> None:
    state = paused()
    answered = with_answers(state.messages, {"a": "refunded 500", "c": "refunded 20"})
    tool_messages = [(m.tool_call_id, m.content) for m in answered if isinstance(m, ToolMessage)]
    assert tool_messages == [("a", "refunded 500"), ("b", "order 7: shipped"), ("c", "refunded 20")]
    assert state.messages[2].content == PENDING  # type: ignore[union-attr]  # the state is not changed


def test_a_saved_result_keeps_everything_but_the_value() -> None:
    result = ToolResult(
        call=CALLS[0],
        content="done",
        is_error=True,
        duration=1.5,
        turn=3,
        value=object(),
        rewritten_arguments='{"amount": 1}',
    )
    restored = SavedResult.of(result).restored()
    assert restored == msgspec.structs.replace(result, value=None)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"{", "not a saved paused run"),
        (b'{"messages": [], "pending": [], "format": 2}', "format"),
        (b'{"messages": [], "pending": []}', "no call is pending"),
    ],
)
def test_what_is_not_a_paused_run_is_refused_on_load(data: bytes, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words) as caught:
        PausedRun.from_json(data)
    assert caught.value.field == "paused"


def test_a_transcript_whose_placeholder_was_removed_is_refused() -> None:
    state = paused()
    state.messages[4] = ToolMessage(content="something else", tool_call_id="c")
    with pytest.raises(InvalidRequestError, match="'c' has no placeholder"):
        PausedRun.from_json(state.to_json())


def test_every_kind_of_decision_is_accepted() -> None:
    state = paused()
    decisions = (Approve(), Deny("no"), Rewrite({"amount": 100}), Answer({"ok": True}), Defer())
    for decision in decisions:
        decided = checked_decisions(state, {"a": decision, "c": Approve()})
        assert decided == {"a": decision, "c": Approve()}


@pytest.mark.parametrize(
    ("decisions", "field", "words"),
    [
        ([Approve(), Approve()], "decisions", "expected a dict"),
        ({"a": Approve()}, "decisions", "no decision for the pending call 'c'"),
        ({"a": Approve(), "c": Approve(), "b": Approve()}, "decisions", "no pending call has"),
        ({"a": Approve(), "c": None}, "decisions['c']", "got None"),
        ({"a": True, "c": Approve()}, "decisions['a']", "got True"),
    ],
)
def test_decisions_that_do_not_fit_the_pending_calls_are_refused(
    decisions: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidRequestError, match=words) as caught:
        checked_decisions(paused(), decisions)
    assert caught.value.field == field
