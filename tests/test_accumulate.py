"""The accumulator, fed chunks directly: every merge rule and every provider quirk it handles."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynctool import ChatCompletion, ChatCompletionChunk
from asynctool._accumulate import ChatCompletionAccumulator
from asynctool._decode import normalize_chunk_quirks


def chunks(*raw: dict[str, Any]) -> list[ChatCompletionChunk]:
    return [msgspec.convert(c, ChatCompletionChunk) for c in raw]


def assemble(*raw: dict[str, Any]) -> ChatCompletion:
    acc = ChatCompletionAccumulator()
    for c in chunks(*raw):
        acc.add(c)
    return acc.completion()


def ch(delta: dict[str, Any] | None = None, index: int = 0, **choice: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "model": "m",
        "created": 7,
        "choices": [{"index": index, "delta": delta or {}, **choice}],
    }


def call(
    index: int | None = None,
    id: str | None = None,
    name: str | None = None,
    args: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = dict(extra)
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    if function:
        out["function"] = function
    return out


def calls(completion: ChatCompletion, choice: int = 0) -> list[tuple[str, str, str]]:
    message = completion.choices[choice].message
    return [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]


def test_content_appends_and_metadata_is_taken_once() -> None:
    done = assemble(
        ch({"role": "assistant", "content": "Hel"}),
        ch({"content": "lo"}),
        ch({"content": "!"}, finish_reason="stop"),
    )
    assert done.id == "c" and done.model == "m" and done.created == 7
    assert done.object == "chat.completion"
    message = done.choices[0].message
    assert (message.role, message.content) == ("assistant", "Hello!")
    assert done.choices[0].finish_reason == "stop"


def test_role_defaults_to_assistant_when_never_sent() -> None:
    assert assemble(ch({"content": "x"})).choices[0].message.role == "assistant"


def test_role_repeated_on_every_delta_is_kept_once() -> None:
    done = assemble(
        ch({"role": "assistant", "content": "a"}), ch({"role": "assistant", "content": "b"})
    )
    assert done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content == "ab"


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        ([{"content": None}, {"content": None}], None),
        ([{"content": ""}], ""),
        ([{"content": None}, {"content": "x"}], "x"),
        ([{}], None),
    ],
)
def test_content_null_versus_empty(deltas: list[dict[str, Any]], expected: str | None) -> None:
    assert assemble(*(ch(d) for d in deltas)).choices[0].message.content == expected
    acc = ChatCompletionAccumulator()
    acc.add_all(chunks(*(ch(d) for d in deltas), ch({"content": ""})))  # one batch, settled
    assert acc.completion().choices[0].message.content == (expected or "")


def test_each_batch_is_settled_into_one_string_per_text() -> None:
    # Two choices interleaved, each with content and a tool call, in batches of three chunks.
    raw = [
        ch(
            {"content": f"{i}", "tool_calls": [call(0, id="c", name="f", args=f"{i},")]},
            index=i % 2,
        )
        for i in range(12)
    ]
    raw[0]["choices"][0]["delta"]["tool_calls"][0]["type"] = "function"
    raw[1]["choices"][0]["delta"]["tool_calls"][0]["type"] = "function"
    acc = ChatCompletionAccumulator()
    decoded = chunks(*raw)
    for start in range(0, 12, 3):
        acc.add_all(decoded[start : start + 3])
        snapshot = acc.completion()
        assert snapshot.choices[0].message.content == "".join(map(str, range(0, start + 3, 2)))
    states = [acc._choices[0], acc._choices[1]]
    assert [len(state.content) for state in states] == [4, 4]  # one string per batch
    assert [len(state.tool_calls[0].arguments) for state in states] == [4, 4]
    assert calls(acc.completion(), 1) == [("c", "f", "".join(f"{i}," for i in range(1, 12, 2)))]


def test_refusal_and_reasoning_content_are_joined() -> None:
    done = assemble(
        ch({"reasoning_content": "think "}),
        ch({"reasoning_content": "hard"}),
        ch({"refusal": "I can't "}),
        ch({"refusal": "help with that."}, finish_reason="stop"),
    )
    message = done.choices[0].message
    assert message.reasoning_content == "think hard"
    assert message.refusal == "I can't help with that."
    assert message.content is None


def test_tool_call_fragments_joined_by_index() -> None:
    done = assemble(
        ch({"tool_calls": [call(0, "call_a", "get_weather", "")]}),
        ch({"tool_calls": [call(1, "call_b", "get_time", "")]}),
        ch({"tool_calls": [call(0, args='{"location": ')]}),
        ch({"tool_calls": [call(1, args='{"tz": "UTC"}')]}),
        ch({"tool_calls": [call(0, args='"Boston"}')]}, finish_reason="tool_calls"),
    )
    assert calls(done) == [
        ("call_a", "get_weather", '{"location": "Boston"}'),
        ("call_b", "get_time", '{"tz": "UTC"}'),
    ]
    assert done.choices[0].message.tool_calls[0].type == "function"  # type: ignore[index]


def test_tool_call_deltas_without_index_use_id() -> None:
    done = assemble(
        ch({"tool_calls": [call(None, "call_a", "f", '{"x"')]}),
        ch({"tool_calls": [call(None, None, None, ": 1}")]}),
        ch({"tool_calls": [call(None, "call_b", "g", "{}")]}),
    )
    assert calls(done) == [("call_a", "f", '{"x": 1}'), ("call_b", "g", "{}")]


def test_first_fragment_without_index_or_id_starts_a_call() -> None:
    assert calls(assemble(ch({"tool_calls": [call(None, None, "f", "{}")]}))) == [("", "f", "{}")]


def test_distinct_calls_all_sent_with_index_zero() -> None:
    done = assemble(
        ch({"tool_calls": [call(0, "call_a", "f", '{"a": 1}')]}),
        ch({"tool_calls": [call(0, "call_b", "g", '{"b"')]}),
        ch({"tool_calls": [call(0, None, None, ": 2}")]}),
    )
    assert calls(done) == [("call_a", "f", '{"a": 1}'), ("call_b", "g", '{"b": 2}')]


def test_an_empty_id_on_later_fragments_continues_the_call() -> None:
    """DashScope repeats `"id": ""` on every fragment after the first of a streamed call
    (https://github.com/langchain4j/langchain4j/issues/3974)."""
    done = assemble(
        ch({"tool_calls": [call(0, "call_a", "f", "", type="function")]}),
        ch({"tool_calls": [call(0, "", None, '{"a"', type="function")]}),
        ch({"tool_calls": [call(0, "", None, ": 1}")]}),
        ch({"tool_calls": [call(None, "", None, "")]}),
    )
    assert calls(done) == [("call_a", "f", '{"a": 1}')]


def test_whole_tool_call_in_a_single_delta() -> None:
    done = assemble(
        ch(
            {"tool_calls": [call(0, "call_a", "f", '{"a": 1}', type="function")]},
            finish_reason="tool_calls",
        )
    )
    assert calls(done) == [("call_a", "f", '{"a": 1}')]


def test_id_and_name_repeated_on_every_delta_are_not_duplicated() -> None:
    done = assemble(
        ch({"tool_calls": [call(0, "call_a", "get_weather", '{"a"', type="function")]}),
        ch({"tool_calls": [call(0, "call_a", "get_weather", ": 1}", type="function")]}),
    )
    assert calls(done) == [("call_a", "get_weather", '{"a": 1}')]


def test_tool_call_type_missing_defaults_to_function() -> None:
    done = assemble(ch({"tool_calls": [call(0, "call_a", "f", "{}")]}))
    assert done.choices[0].message.tool_calls[0].type == "function"  # type: ignore[index]


def test_arguments_sent_as_a_json_object_are_normalised_to_text() -> None:
    raw = ch({"tool_calls": [call(0, "call_a", "f", {"city": "Paris", "n": [1, 2]})]})
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, ChatCompletionChunk)
    fixed = msgspec.convert(normalize_chunk_quirks(raw), ChatCompletionChunk)
    acc = ChatCompletionAccumulator()
    acc.add(fixed)
    (only,) = calls(acc.completion())
    assert msgspec.json.decode(only[2]) == {"city": "Paris", "n": [1, 2]}


def test_normalize_leaves_strange_shapes_alone() -> None:
    odd = {"choices": ["x", {"delta": "y"}, {"delta": {"tool_calls": ["z", {"function": 3}]}}]}
    assert normalize_chunk_quirks(odd) == odd
    assert normalize_chunk_quirks([1]) == [1]


def test_finish_reason_stop_with_tool_calls_is_kept_as_sent() -> None:
    done = assemble(ch({"tool_calls": [call(0, "call_a", "f", "{}")]}, finish_reason="stop"))
    assert done.choices[0].finish_reason == "stop"
    assert calls(done) == [("call_a", "f", "{}")]


def test_n_choices_interleaved_out_of_order() -> None:
    done = assemble(
        ch({"content": "B1"}, index=1),
        ch({"content": "A1"}, index=0),
        ch({"content": "C1"}, index=2),
        ch({"content": "A2"}, index=0, finish_reason="stop"),
        ch({"content": "B2"}, index=1, finish_reason="length"),
        ch({"content": "C2"}, index=2, finish_reason="stop"),
    )
    assert [c.index for c in done.choices] == [0, 1, 2]
    assert [c.message.content for c in done.choices] == ["A1A2", "B1B2", "C1C2"]
    assert [c.finish_reason for c in done.choices] == ["stop", "length", "stop"]


def test_logprobs_are_appended() -> None:
    def lp(token: str) -> dict[str, Any]:
        return {
            "token": token,
            "logprob": -0.5,
            "bytes": list(token.encode()),
            "top_logprobs": [{"token": token, "logprob": -0.5}],
        }

    done = assemble(
        ch({"content": "a"}, logprobs={"content": [lp("a")]}),
        ch({"content": "b"}, logprobs={"content": [lp("b")], "refusal": None}),
        ch({"refusal": "no"}, logprobs={"refusal": [lp("no")]}),
    )
    logprobs = done.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None and logprobs.refusal is not None
    assert [t.token for t in logprobs.content] == ["a", "b"]
    assert logprobs.content[0].top_logprobs[0].token == "a"
    assert [t.token for t in logprobs.refusal] == ["no"]


def test_no_logprobs_means_none() -> None:
    assert assemble(ch({"content": "a"})).choices[0].logprobs is None


def test_usage_from_final_chunk_with_empty_choices() -> None:
    done = assemble(
        ch({"content": "a"}, finish_reason="stop"),
        {
            "id": "c",
            "choices": [],
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 1,
                "total_tokens": 4,
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        },
    )
    assert done.usage is not None and done.usage.total_tokens == 4
    assert done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens == 2
    assert done.choices[0].message.content == "a"


def test_usage_on_every_chunk_takes_the_last() -> None:
    def with_usage(n: int) -> dict[str, Any]:
        return {
            **ch({"content": "x"}),
            "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
        }

    done = assemble(with_usage(1), with_usage(2), with_usage(3))
    assert done.usage is not None and done.usage.completion_tokens == 3


def test_azure_first_chunk_with_empty_choices_and_prompt_filter_results() -> None:
    first = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [
            {
                "prompt_index": 0,
                "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
            }
        ],
    }
    annotation = {
        "id": "c",
        # Azure's annotation chunks still carry choices and finish reasons
        "object": "chat.completion.chunk.annotation",
        "choices": [
            {
                "index": 0,
                "delta": {},
                "finish_reason": "stop",
                "content_filter_results": {"violence": {"filtered": False, "severity": "safe"}},
            }
        ],
    }
    done = assemble(first, ch({"role": "assistant", "content": "hi"}), annotation)
    assert done.id == "c" and done.model == "m"
    assert done.prompt_filter_results is not None
    assert done.prompt_filter_results[0].content_filter_results["hate"].severity == "safe"  # type: ignore[index]
    assert done.choices[0].finish_reason == "stop"
    assert done.choices[0].content_filter_results["violence"].filtered is False  # type: ignore[index]


def test_system_fingerprint_and_service_tier_take_the_last() -> None:
    done = assemble(
        {**ch({"content": "a"}), "system_fingerprint": "fp_1", "service_tier": "default"},
        {**ch({"content": "b"}), "system_fingerprint": "fp_2"},
    )
    assert (done.system_fingerprint, done.service_tier) == ("fp_2", "default")


def test_legacy_function_call_is_assembled() -> None:
    done = assemble(
        ch({"function_call": {"name": "f", "arguments": '{"a"'}}),
        ch({"function_call": {"arguments": ": 1}"}}, finish_reason="function_call"),
    )
    fc = done.choices[0].message.function_call
    assert fc is not None and (fc.name, fc.arguments) == ("f", '{"a": 1}')


def test_finished_and_unfinished_choices() -> None:
    acc = ChatCompletionAccumulator()
    assert not acc.finished
    for c in chunks(
        ch({"content": "a"}, index=0), ch({"content": "b"}, index=1, finish_reason="stop")
    ):
        acc.add(c)
    assert not acc.finished
    assert acc.unfinished_choices() == [0]
    acc.add(chunks(ch(index=0, finish_reason="length"))[0])
    assert acc.finished and acc.unfinished_choices() == []


def test_snapshot_does_not_disturb_later_chunks() -> None:
    acc = ChatCompletionAccumulator()
    acc.add(chunks(ch({"content": "a", "tool_calls": [call(0, "i", "f", "{")]}))[0])
    first = acc.completion()
    acc.add(chunks(ch({"content": "b", "tool_calls": [call(0, args="}")]}))[0])
    assert first.choices[0].message.content == "a"
    assert acc.completion().choices[0].message.content == "ab"
    assert calls(acc.completion()) == [("i", "f", "{}")]


def test_twenty_thousand_fragments_join_in_order() -> None:
    acc = ChatCompletionAccumulator()
    one = chunks(ch({"content": "x", "tool_calls": [call(0, args="y")]}))[0]
    for _ in range(20_000):
        acc.add(one)
    message = acc.completion().choices[0].message
    assert message.content == "x" * 20_000
    assert calls(acc.completion())[0][2] == "y" * 20_000


# --- tool-call fragments in any order and any batching, against the rules written plainly ----


def reference_calls(fragments: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The module's tool-call rules, one fragment at a time, with nothing cached."""
    made: list[dict[str, Any]] = []
    by_index: dict[int, dict[str, Any]] = {}
    for fragment in fragments:
        index, id = fragment.get("index"), fragment.get("id")
        if index is None:
            target = made[-1] if made else None
            new = target is None or (
                id is not None and target["id"] is not None and id != target["id"]
            )
        else:
            target = by_index.get(index)
            new = target is None or (
                id is not None and target["id"] is not None and id != target["id"]
            )
        if new:
            target = {"index": index, "id": id, "type": None, "name": None, "args": ""}
            made.append(target)
            if index is not None:
                by_index[index] = target
        assert target is not None
        target["id"] = target["id"] if target["id"] is not None else id
        target["type"] = target["type"] if target["type"] is not None else fragment.get("type")
        function = fragment.get("function") or {}
        target["name"] = target["name"] if target["name"] is not None else function.get("name")
        target["args"] += function.get("arguments") or ""
    return [(c["id"] or "", c["name"] or "", c["args"]) for c in made]


_FRAGMENT = st.builds(
    lambda index, id, type, name, args: call(
        index, id, name, args, **({"type": type} if type else {})
    ),
    index=st.sampled_from([None, 0, 1]),
    id=st.sampled_from([None, None, "a", "b"]),
    type=st.sampled_from([None, "function", "function"]),
    name=st.sampled_from([None, None, "f", "g"]),
    args=st.sampled_from([None, "", "1", "2", "34"]),
)


@settings(max_examples=300, deadline=None)
@given(
    per_chunk=st.lists(st.tuples(st.integers(0, 1), st.lists(_FRAGMENT, max_size=3)), max_size=20),
    cuts=st.lists(st.integers(0, 20), max_size=4),
)
def test_tool_calls_match_the_rules_in_any_batching(
    per_chunk: list[tuple[int, list[dict[str, Any]]]], cuts: list[int]
) -> None:
    raw = [ch({"tool_calls": fragments}, index=choice) for choice, fragments in per_chunk]
    decoded = chunks(*raw)
    acc = ChatCompletionAccumulator()
    bounds = sorted({0, len(decoded), *(c for c in cuts if c < len(decoded))})
    for start, stop in pairwise(bounds):
        acc.add_all(decoded[start:stop])
    completion = acc.completion()
    assert [c.index for c in completion.choices] == sorted({c for c, _ in per_chunk})
    for position, built in enumerate(completion.choices):
        fragments = [f for c, fs in per_chunk if c == built.index for f in fs]
        assert calls(completion, position) == reference_calls(fragments)


@pytest.mark.parametrize("batch", [1, 64])
def test_watched_arguments_are_told_by_the_calls_own_rule(batch: int) -> None:
    """`watch_arguments` records each fragment's text with the call the merge sent it to, in
    one batch or chunk by chunk: the text before a call's name comes with the fragment that
    names it, and each call's records join to its final arguments."""
    raw = chunks(
        ch({"tool_calls": [call(0, "a", "add", '{"a":')]}),
        ch({"tool_calls": [call(0, args=" 1}")]}),
        ch({"tool_calls": [call(0, "b", args='{"b"')]}),  # a new id at index 0: a new call
        ch({"tool_calls": [call(0, name="add", args=": 2}")]}),  # named only now
        ch({"tool_calls": [call(1, "", "add", "{}")]}),  # an empty id is no id
    )
    acc = ChatCompletionAccumulator()
    assert acc.added_arguments is None  # off unless asked: the fast path stays as it is
    acc.watch_arguments()
    for start in range(0, len(raw), batch):
        acc.add_all(raw[start : start + batch])
    added = acc.added_arguments
    assert added is not None
    assert [(a.position, a.id, a.name, a.text) for a in added] == [
        (0, "a", "add", '{"a":'),
        (0, "a", "add", " 1}"),
        (1, "b", "add", '{"b": 2}'),
        (2, "", "add", "{}"),
    ]
    assert [a.chunk for a in added] == [raw[0], raw[1], raw[3], raw[4]]
    assert [s.position for s in acc.started_calls] == [0, 1, 2]
    joined = {p: "".join(a.text for a in added if a.position == p) for p in range(3)}
    assert [joined[p] for p in range(3)] == [c[2] for c in calls(acc.completion())]
