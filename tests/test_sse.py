"""The SSE decoder against the WHATWG event-stream rules: feed bytes, collect events."""

from __future__ import annotations

import re
import sys
import tracemalloc

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynctool._exceptions import StreamDecodeError
from asynctool._sse import ServerSentEvent, SSEDecoder


def decode(*chunks: bytes, max_event_size: int = 1 << 20) -> tuple[list[ServerSentEvent], bool]:
    """Feed the chunks in order, then close: every event and what close() reported."""
    decoder = SSEDecoder(max_event_size=max_event_size)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events, decoder.close()


def ev(
    data: bytes, event: str = "message", id: str | None = None, retry: int | None = None
) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


def every_split(stream: bytes) -> list[tuple[bytes, bytes]]:
    return [(stream[:i], stream[i:]) for i in range(len(stream) + 1)]


# --- one rule per row ------------------------------------------------------------------------

RULES = {
    "data with one space": (b"data: hi\n\n", [ev(b"hi")]),
    "data without space": (b"data:hi\n\n", [ev(b"hi")]),
    "only one space removed": (b"data:  hi \n\n", [ev(b" hi ")]),
    "a tab is not a space": (b"data:\thi\n\n", [ev(b"\thi")]),
    "value keeps later colons": (b"data: a:b: c\n\n", [ev(b"a:b: c")]),
    "value starting with a colon": (b"data::x\n\n", [ev(b":x")]),
    "multi-line data joined by LF": (b"data: a\ndata: b\ndata: c\n\n", [ev(b"a\nb\nc")]),
    "empty data line dispatches empty data": (b"data:\n\n", [ev(b"")]),
    "no colon: field with empty value": (b"data\n\n", [ev(b"")]),
    "two empty data lines": (b"data\ndata\n\n", [ev(b"\n")]),
    "only the final LF is removed": (b"data: a\ndata:\n\n", [ev(b"a\n")]),
    "blank lines alone dispatch nothing": (b"\n\n\n\n", []),
    "several events": (b"data: 1\n\ndata: 2\n\n", [ev(b"1"), ev(b"2")]),
    "extra blank lines between events": (b"data: 1\n\n\n\ndata: 2\n\n", [ev(b"1"), ev(b"2")]),
    "comment ignored": (b": keep-alive\ndata: x\n\n", [ev(b"x")]),
    "empty comment ignored": (b":\ndata: x\n\n", [ev(b"x")]),
    "comment between data lines": (b"data: a\n: no\ndata: b\n\n", [ev(b"a\nb")]),
    "comment-only block dispatches nothing": (b": ping\n\n", []),
    "event sets the type": (b"event: add\ndata: x\n\n", [ev(b"x", event="add")]),
    "empty event means message": (b"event: add\nevent:\ndata: x\n\n", [ev(b"x")]),
    "event type lasts one event": (
        b"event: add\ndata: 1\n\ndata: 2\n\n",
        [ev(b"1", event="add"), ev(b"2")],
    ),
    "event without data is dropped with its type": (b"event: add\n\ndata: x\n\n", [ev(b"x")]),
    "last event type wins": (b"event: a\nevent: b\ndata: x\n\n", [ev(b"x", event="b")]),
    "id sets the id": (b"id: 7\ndata: x\n\n", [ev(b"x", id="7")]),
    "id lasts until changed": (
        b"id: 7\ndata: 1\n\ndata: 2\n\nid: 8\ndata: 3\n\n",
        [ev(b"1", id="7"), ev(b"2", id="7"), ev(b"3", id="8")],
    ),
    "id with NUL ignored": (b"id: 7\n\nid: a\x00b\ndata: x\n\n", [ev(b"x", id="7")]),
    "empty id resets it to empty": (
        b"id: 7\ndata: 1\n\nid\ndata: 2\n\n",
        [ev(b"1", id="7"), ev(b"2", id="")],
    ),
    "id on a data-less event still applies": (b"id: 7\n\ndata: x\n\n", [ev(b"x", id="7")]),
    "id after data in the same event applies": (b"data: x\nid: 9\n\n", [ev(b"x", id="9")]),
    "retry digits": (b"retry: 1500\ndata: x\n\n", [ev(b"x", retry=1500)]),
    "retry leading zeros": (b"retry: 007\ndata: x\n\n", [ev(b"x", retry=7)]),
    "retry lasts one event": (
        b"retry: 10\ndata: 1\n\ndata: 2\n\n",
        [ev(b"1", retry=10), ev(b"2")],
    ),
    "retry not all digits ignored": (b"retry: 15x\ndata: x\n\n", [ev(b"x")]),
    "retry negative ignored": (b"retry: -1\ndata: x\n\n", [ev(b"x")]),
    "retry decimal ignored": (b"retry: 1.5\ndata: x\n\n", [ev(b"x")]),
    "retry empty ignored": (b"retry:\ndata: x\n\n", [ev(b"x")]),
    "retry with two spaces ignored": (b"retry:  10\ndata: x\n\n", [ev(b"x")]),
    "retry with non-ASCII digits ignored": (
        "retry: \u0661\u0662\ndata: x\n\n".encode(),
        [ev(b"x")],
    ),
    "unknown field ignored": (b"foo: bar\ndata: x\n\n", [ev(b"x")]),
    "field names are case-sensitive": (b"Data: x\nDATA: y\n\n", []),
    "a space before the colon is part of the name": (b"data : x\n\n", []),
    "CR line ends": (b"data: a\rdata: b\r\r", [ev(b"a\nb")]),
    "CRLF line ends": (b"data: a\r\ndata: b\r\n\r\n", [ev(b"a\nb")]),
    "CR then CRLF is two line ends": (b"data: a\r\r\n", [ev(b"a")]),
    "LF then CR is two line ends": (b"data: a\n\r", [ev(b"a")]),
    "LF CR LF is three line ends": (b"data: a\n\r\ndata: b\n\n", [ev(b"a"), ev(b"b")]),
    "mixed endings": (
        b"data: a\r\ndata: b\rdata: c\n\r\nevent: e\rdata: d\n\r",
        [ev(b"a\nb\nc"), ev(b"d", event="e")],
    ),
    "BOM stripped at the start": (b"\xef\xbb\xbfdata: x\n\n", [ev(b"x")]),
    "BOM before a comment": (b"\xef\xbb\xbf: hi\ndata: x\n\n", [ev(b"x")]),
    "only one BOM stripped": (b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n", []),
    "BOM later is not stripped": (b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n", [ev(b"1")]),
    "BOM inside data kept": (b"data: \xef\xbb\xbfx\n\n", [ev(b"\xef\xbb\xbfx")]),
    "non-ASCII data kept as bytes": (
        "data: h\u00e9 \U0001f30d\n\n".encode(),
        [ev("h\u00e9 \U0001f30d".encode())],
    ),
    "invalid UTF-8 data kept raw": (b"data: \xff\xfe\n\n", [ev(b"\xff\xfe")]),
    "non-ASCII event type": (
        "event: \u00e9t\u00e9\ndata: x\n\n".encode(),
        [ev(b"x", "\u00e9t\u00e9")],
    ),
    "invalid UTF-8 id replaced": (b"id: a\xffb\ndata: x\n\n", [ev(b"x", id="a\ufffdb")]),
    "unfinished event not dispatched": (b"data: 1\n\ndata: 2\n", [ev(b"1")]),
    "unterminated line not dispatched": (b"data: 1\n\ndata: 2", [ev(b"1")]),
}


@pytest.mark.parametrize(("stream", "expected"), RULES.values(), ids=RULES.keys())
def test_rule(stream: bytes, expected: list[ServerSentEvent]) -> None:
    assert decode(stream)[0] == expected


@pytest.mark.parametrize(("stream", "expected"), RULES.values(), ids=RULES.keys())
def test_rule_fed_byte_by_byte(stream: bytes, expected: list[ServerSentEvent]) -> None:
    assert decode(*(stream[i : i + 1] for i in range(len(stream))))[0] == expected


@pytest.mark.parametrize(("stream", "expected"), RULES.values(), ids=RULES.keys())
def test_rule_split_anywhere(stream: bytes, expected: list[ServerSentEvent]) -> None:
    for head, tail in every_split(stream):
        assert decode(head, tail)[0] == expected, (head, tail)


# --- state across chunks ---------------------------------------------------------------------

SPLITS = {
    "CR then LF in the next chunk is one line end": (
        [b"data: a\r", b"\ndata: b\r\n\r\n"],
        [ev(b"a\nb")],
    ),
    "CR then LF after an empty chunk": ([b"data: a\r", b"", b"\n", b"data: b\n\n"], [ev(b"a\nb")]),
    "CR then LF then LF dispatches": ([b"data: a\r", b"\n", b"\n"], [ev(b"a")]),
    "CR then CR dispatches": ([b"data: a\r", b"\r"], [ev(b"a")]),
    "CR then text": ([b"data: a\r", b"data: b\r\r"], [ev(b"a\nb")]),
    "CR then LF alone then CR": ([b"data: a\r", b"\n", b"\r"], [ev(b"a")]),
    "CRLF CR across chunks": ([b"data: a\r\n", b"\r"], [ev(b"a")]),
    "BOM split over chunks": ([b"\xef", b"\xbb", b"\xbfdata: x\n\n"], [ev(b"x")]),
    "BOM after empty chunks": ([b"", b"\xef\xbb", b"", b"\xbfdata: x\n\n"], [ev(b"x")]),
    "BOM prefix that is not a BOM": ([b"\xef\xbb", b"x: 1\ndata: x\n\n"], [ev(b"x")]),
    "multi-byte character split": (
        [b"data: \xf0\x9f", b"\x8c\x8d!\n\n"],
        [ev("\U0001f30d!".encode())],
    ),
    "event type before the chunk with its data": (
        [b"event: add\n", b"data: x\n\ndata: y\n\n"],
        [ev(b"x", event="add"), ev(b"y")],
    ),
    "retry before the chunk with its data": (
        [b"retry: 5\n", b"data: x\n\ndata: y\n\n"],
        [ev(b"x", retry=5), ev(b"y")],
    ),
    "data line before the chunk that ends the event": (
        [b"data: a\n", b"data: b\n\ndata: c\n\n"],
        [ev(b"a\nb"), ev(b"c")],
    ),
    "id before the chunk with its data": (
        [b"id: 3\n", b"data: x\n\ndata: y\n\n"],
        [ev(b"x", id="3"), ev(b"y", id="3")],
    ),
    "partial line completed by a block": ([b"da", b"ta: x\n\n"], [ev(b"x")]),
    "partial line completed without a blank line": ([b"da", b"ta: x\n", b"\n"], [ev(b"x")]),
    "block that is not a data line": (
        [b"data: 1\n\nevent: e\ndata: 2\n\ndata: 3\ndata: 4\n\n"],
        [ev(b"1"), ev(b"2", event="e"), ev(b"3\n4")],
    ),
}


@pytest.mark.parametrize(("chunks", "expected"), SPLITS.values(), ids=SPLITS.keys())
def test_chunk_boundaries(chunks: list[bytes], expected: list[ServerSentEvent]) -> None:
    events, incomplete = decode(*chunks)
    assert events == expected
    assert not incomplete


def test_utf8_split_inside_every_character() -> None:
    text = "data: \u00e9\u20ac\U0001f30d\n\n"
    for head, tail in every_split(text.encode()):
        events, _ = decode(head, tail)
        assert [event.text for event in events] == ["\u00e9\u20ac\U0001f30d"]


def test_last_event_id_follows_blank_lines() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id is None
    assert decoder.feed(b"id: 1\n\n") == []
    assert decoder.last_event_id == "1"
    decoder.feed(b"id: 2\n")
    # The ID buffer only becomes the last event ID when the blank line comes.
    assert decoder.last_event_id == "1"
    assert decoder.close()
    assert decoder.last_event_id == "1"


def test_reconnection_time_set_without_an_event() -> None:
    decoder = SSEDecoder()
    assert decoder.reconnection_time is None
    assert decoder.feed(b"retry: 3000\n\n") == []
    assert decoder.reconnection_time == 3000


def test_retry_too_long_for_int_ignored() -> None:
    limit = sys.get_int_max_str_digits()
    if limit == 0:
        pytest.skip("this interpreter converts integers of any length")
    digits = b"9" * (limit + 1)
    assert decode(b"retry: " + digits + b"\ndata: x\n\n")[0] == [ev(b"x")]


def test_close_starts_a_new_stream() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 4\nevent: e\ndata: lost")
    assert decoder.close()
    # A new body may begin with its own byte order mark; the last event ID carries over.
    events = decoder.feed(b"\xef\xbb\xbfdata: x\n\n")
    assert events == [ev(b"x")]
    assert not decoder.close()


def test_close_keeps_last_event_id_for_the_next_stream() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 4\ndata: a\n\n")
    assert not decoder.close()
    assert decoder.feed(b"data: b\n\n") == [ev(b"b", id="4")]


CLOSE = {
    "nothing": (b"", False),
    "complete event": (b"data: x\n\n", False),
    "trailing blank line after CR": (b"data: x\n\r", False),
    "comment line": (b": ping\n", False),
    "unknown field": (b"foo: 1\n", False),
    "id equal to the last one": (b"id: 1\n\nid: 1\n", False),
    "whole BOM": (b"\xef\xbb\xbf", False),
    "partial line": (b"data: x", True),
    "partial comment": (b": pi", True),
    "data without blank line": (b"data: x\n", True),
    "data ended by CR": (b"data: x\r", True),
    "event type without blank line": (b"event: e\n", True),
    "retry without blank line": (b"retry: 5\n", True),
    "new id without blank line": (b"id: 5\n", True),
    "part of a BOM": (b"\xef\xbb", True),
}


@pytest.mark.parametrize(("stream", "incomplete"), CLOSE.values(), ids=CLOSE.keys())
def test_close_reports_pending_data(stream: bytes, incomplete: bool) -> None:
    assert decode(stream)[1] is incomplete
    assert decode(*(stream[i : i + 1] for i in range(len(stream))))[1] is incomplete


# --- the size bound --------------------------------------------------------------------------

TOO_LARGE = {
    "line in one chunk": [b"data: 0123456789\n\n"],
    "line in the middle of a chunk": [b"data: 1\n\ndata: 0123456789\n\n"],
    "partial line in one chunk": [b"data: 0123456789"],
    "partial line growing": [b"data: ", b"0123", b"4567", b"89"],
    "line completed after growing": [b"data: 0123", b"456789\n"],
    "CR-ended line": [b"data: 0123456789\r"],
    "data of a multi-line event": [b"data:01234\ndata:67890\n\n"],
    "data of a multi-line event over chunks": [b"data:0123\n", b"data:4567\n", b"data:89\n"],
}


@pytest.mark.parametrize("chunks", TOO_LARGE.values(), ids=TOO_LARGE.keys())
def test_size_bound(chunks: list[bytes]) -> None:
    decoder = SSEDecoder(max_event_size=10)
    with pytest.raises(StreamDecodeError, match=r"10 bytes.*max_event_size") as caught:
        for chunk in chunks:
            decoder.feed(chunk)
    assert caught.value.data.startswith(("data", "0123"))


def test_size_bound_raises_before_buffering_the_excess() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    decoder.feed(b"data: ")
    for _ in range(197):
        decoder.feed(b"xxxxx")
    decoder.feed(b"xxxxxxxxx")  # the partial line is now 1,000 bytes: still allowed
    with pytest.raises(StreamDecodeError):
        decoder.feed(b"x")


@pytest.mark.parametrize(
    "stream",
    [b"data: 0123\n\n", b"data:01234\ndata:6789\n\n", b"data: 0123\r\n\r\n"],
    ids=["line at the bound", "data at the bound", "CRLF not counted"],
)
def test_size_bound_is_inclusive(stream: bytes) -> None:
    for head, tail in every_split(stream):
        events, _ = decode(head, tail, max_event_size=10)
        assert len(events) == 1


# --- the event object ------------------------------------------------------------------------


def test_event_defaults_and_text() -> None:
    event = ServerSentEvent()
    assert (event.event, event.data, event.id, event.retry) == ("message", b"", None, None)
    assert ServerSentEvent(data=b"caf\xc3\xa9 \xff").text == "caf\u00e9 \ufffd"


# --- a recorded-looking OpenAI stream --------------------------------------------------------

_CHUNK = (
    '{"id":"chatcmpl-9xA1","object":"chat.completion.chunk","created":1718000000,'
    '"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0aa8d3e20b","choices":[%s]%s}'
)
_CHOICE = '{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}'
_DELTAS = [
    ('{"role":"assistant","content":"","refusal":null}', "null"),
    ('{"content":"Bonjour"}', "null"),
    ('{"content":" \u00e0 tous"}', "null"),
    ('{"content":" \U0001f30d"}', "null"),
    ("{}", '"stop"'),
]
_USAGE = ',"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}'
OPENAI_STREAM = (
    ": OPENROUTER PROCESSING\n\n"
    + "".join(f"data: {_CHUNK % (_CHOICE % delta, '')}\n\n" for delta in _DELTAS)
    + f"data: {_CHUNK % ('', _USAGE)}\n\n"
    + "data: [DONE]\n\n"
).encode()


def _content(events: list[ServerSentEvent]) -> str:
    chunks = [msgspec.json.decode(event.data) for event in events[:-1]]
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_openai_stream_split_at_every_offset(line_end: str) -> None:
    stream = OPENAI_STREAM.replace(b"\n", line_end.encode())
    expected, incomplete = decode(stream)
    assert len(expected) == 7
    assert expected[-1] == ev(b"[DONE]")
    assert _content(expected) == "Bonjour \u00e0 tous \U0001f30d"
    assert not incomplete
    for head, tail in every_split(stream):
        assert decode(head, tail) == (expected, False)
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == (expected, False)


# --- any split, same events; and the same events as a literal reading of the standard --------

_LINE_END = re.compile(r"\r\n|\r|\n")


def reference_decode(stream: bytes) -> tuple[list[tuple[str, str, str | None, int | None]], bool]:
    """The standard's algorithm, transcribed literally on text, as an oracle."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    *lines, rest = _LINE_END.split(text)
    events: list[tuple[str, str, str | None, int | None]] = []
    data, event_type = "", ""
    id_buffer: str | None = None
    last_id: str | None = None
    retry: int | None = None
    for line in lines:
        if not line:
            last_id = id_buffer
            if data:
                events.append((event_type or "message", data.removesuffix("\n"), id_buffer, retry))
            data, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            id_buffer = value
        elif name == "retry" and value and all("0" <= c <= "9" for c in value):
            retry = int(value)
    incomplete = bool(rest or data or event_type or retry is not None or id_buffer != last_id)
    return events, incomplete


_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12)
_FIELD = st.one_of(
    st.tuples(st.just("data"), _TEXT | st.sampled_from(["", " ", ":", "\ufeff", "\U0001f30d"])),
    st.tuples(st.just("event"), st.sampled_from(["", "add", "\u00e9t\u00e9", " x"])),
    st.tuples(st.just("id"), st.sampled_from(["", "1", "2", "a\0b", "\u00fc"])),
    st.tuples(
        st.just("retry"),
        st.integers(0, 99_999).map(str) | st.sampled_from(["", "-1", "1.5", " 5", "\u0661"]),
    ),
    # An empty name makes a comment; the others are fields the standard ignores.
    st.tuples(st.sampled_from(["", "foo", "Data", "data "]), _TEXT),
)
_LINE = st.one_of(
    st.tuples(_FIELD, st.sampled_from([":", ": "])).map(
        lambda f: f"{f[0][0]}{f[1]}{f[0][1]}".encode()
    ),
    st.sampled_from([b"data", b"event", b"id", b"retry", b"\xff: x", b"data: \xe2\x82"]),
)
_ENDING = st.sampled_from([b"\n", b"\r", b"\r\n"])
_LINES = st.lists(st.tuples(_LINE, _ENDING), max_size=4)
# Mostly whole events (field lines, then a blank line), then possibly an unfinished one.
_BLOCK = st.tuples(_LINES, _ENDING).map(lambda b: [*b[0], (b"", b[1])])


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    lines = [line for block in draw(st.lists(_BLOCK, max_size=6)) for line in block]
    lines += draw(_LINES)
    stream = b"".join(line + ending for line, ending in lines)
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + stream + draw(st.sampled_from([b"", b"data: unterminated"]))


@settings(max_examples=400, deadline=None)
@given(stream=event_streams(), data=st.data())
def test_any_split_gives_the_same_events(stream: bytes, data: st.DataObject) -> None:
    whole = decode(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert decode(*pieces) == whole
    events, incomplete = whole
    expected, expected_incomplete = reference_decode(stream)
    assert [(e.event, e.text, e.id, e.retry) for e in events] == expected
    assert incomplete is expected_incomplete


# --- events_from: plain events as bytes, and the whole-run path that cuts them -------------------

_PLAIN = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=8)
# Runs of plain events, as a completion streams them, broken now and then by something else.
_INTERRUPTION = st.sampled_from(
    [
        b": ping\n\n",
        b"\n\n",
        b"data: a\ndata: b\n\n",
        b"event: error\ndata: e\n\n",
        b"id: 7\n\n",
        b"id:\n\n",
        b"retry: 5\ndata: r\n\n",
        b"data:no-space\n\n",
        b"data: x\n\n\n",
        b"data: [DONE]\n\n",
    ]
)
_RUN_BLOCK = _PLAIN.map(lambda text: b"data: " + text.encode() + b"\n\n") | _INTERRUPTION


@settings(max_examples=400, deadline=None)
@given(
    blocks=st.lists(_RUN_BLOCK, max_size=12),
    tail=st.sampled_from([b"", b"data: cut"]),
    data=st.data(),
)
def test_runs_of_plain_events_split_anywhere(
    blocks: list[bytes], tail: bytes, data: st.DataObject
) -> None:
    stream = b"".join(blocks) + tail
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    events, incomplete = decode(*pieces)
    expected, expected_incomplete = reference_decode(stream)
    assert [(e.event, e.text, e.id, e.retry) for e in events] == expected
    assert incomplete is expected_incomplete


@settings(max_examples=200, deadline=None)
@given(stream=event_streams())
def test_events_from_gives_plain_events_as_bytes(stream: bytes) -> None:
    items = SSEDecoder().events_from(stream)
    events, _ = decode(stream)
    assert len(items) == len(events)
    for item, event in zip(items, events, strict=True):
        if isinstance(item, bytes):
            assert (event.event, event.id, event.retry) == ("message", None, None)
            assert item == event.data
        else:
            assert item == event
            assert (item.event, item.id, item.retry) != ("message", None, None)


def test_a_run_of_plain_events_is_cut_at_once() -> None:
    decoder = SSEDecoder()
    assert decoder.events_from(b"data: 1\n\ndata: 2\n\ndata: 3") == [b"1", b"2"]
    assert decoder.events_from(b"\n\ndata: 4\n\n") == [b"3", b"4"]
    assert decoder.events_from(b"data: 5\n\nid: 9\n\ndata: 6\n\n") == [b"5", ev(b"6", id="9")]
    # An ID in force makes every later event carry it, so none is plain any more.
    assert decoder.events_from(b"data: 7\n\n") == [ev(b"7", id="9")]
    assert decoder.close() is False


def test_a_run_that_continues_an_event_is_not_plain() -> None:
    decoder = SSEDecoder()
    assert decoder.events_from(b"data: a\n") == []
    assert decoder.events_from(b"data: b\n\ndata: c\n\n") == [b"a\nb", b"c"]


@pytest.mark.parametrize("at", [0, 63, 64, 150, 299])
def test_a_long_run_is_checked_to_its_end(at: int) -> None:
    # The run is searched for line feeds a few dozen events at a time: a two-line event deep
    # in it must still send the chunk down the line-by-line path.
    blocks = [b"data: %d\n\n" % i for i in range(300)]
    blocks[at] = b"data: %d\ndata: more\n\n" % at
    expected = [b"%d" % i for i in range(300)]
    expected[at] = b"%d\nmore" % at
    decoder = SSEDecoder()
    assert decoder.events_from(b"".join(blocks) + b"data: next") == expected
    assert decoder.events_from(b"\n\n") == [b"next"]


def test_a_large_read_is_cut_without_copying_it() -> None:
    # A read of a streamed completion can be 256 KiB. A copy of it, made and freed at every
    # read, makes malloc return the top of its heap to the system and fault it in again.
    event = b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n'
    chunk = b"".join(event % (b"x" * (i % 50)) for i in range(4000)) + b"data: {"
    decoder = SSEDecoder()
    decoder.events_from(b"data: ")  # a partial line carried over, as between reads
    tracemalloc.start()
    try:
        events = decoder.events_from(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(events) == 4000
    pieces = sum(map(sys.getsizeof, events)) + sys.getsizeof(events)
    # What is kept is the events themselves; scratch space on top of them stays small.
    assert peak - pieces < len(chunk) // 4
