"""What each scenario sends and what a client must count back.

The server builds every response from the functions here once, before the first request, and
the runner checks each client's tally against `expected()`. The module imports only the
standard library, because every benchmark client process imports it: anything heavier would
leak into the import state and peak RSS that those processes measure.

The bytes copy the shape of real OpenAI responses: compact JSON, chunks carrying `id`,
`object`, `created`, `model`, `service_tier`, `system_fingerprint`, `choices[{index, delta,
logprobs, finish_reason}]`, `usage: null` and `obfuscation`, then a usage chunk with empty
`choices`, then `data: [DONE]`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["stream", "concurrent", "request", "agent"]

MODEL = "gpt-4o-mini-2024-07-18"
CREATED = 1_731_000_000
FINGERPRINT = "fp_0ba0d124f1"
TOOL_NAME = "get_weather"
AGENT_TOOL_NAME = "add"
# Real token-sized fragments, with a few multi-byte characters so decoders meet UTF-8.
WORDS = (
    *(" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", ","),
    *(" naïve", " café", " —", " déjà", " vu", ".", " It", " was", " fine", "\n"),
)


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is; the full run uses the defaults of the issue."""

    text_chunks: int = 20_000
    tool_fragments: int = 20_000
    parallel_calls: int = 4
    parallel_fragments: int = 5_000  # per call
    concurrent_streams: int = 200
    concurrent_chunks: int = 500
    small_requests: int = 2_000
    large_bytes: int = 1_000_000
    large_requests: int = 10
    agent_turns: int = 50

    def to_json(self) -> str:
        """Encode for a command line."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Sizes:
        """Decode what `to_json` wrote."""
        return cls(**json.loads(text))


FULL = Sizes()
QUICK = Sizes(
    text_chunks=2_000,
    tool_fragments=2_000,
    parallel_fragments=500,
    concurrent_streams=50,
    concurrent_chunks=100,
    small_requests=300,
    large_requests=3,
    agent_turns=50,
)
TINY = Sizes(
    text_chunks=30,
    tool_fragments=30,
    parallel_fragments=8,
    concurrent_streams=5,
    concurrent_chunks=20,
    small_requests=10,
    large_bytes=20_000,
    large_requests=2,
    agent_turns=5,
)
PRESETS = {"full": FULL, "quick": QUICK, "tiny": TINY}


@dataclass(frozen=True)
class Scenario:
    """One measured situation: which response, how it is driven, and by which clients."""

    name: str
    title: str
    kind: Kind
    unit: Literal["chunk", "request", "turn"]
    clients: tuple[str, ...]


_STREAMERS = ("floor", "openai", "openai-helper", "asynctool", "asynctool-final")
_REQUESTERS = ("floor", "openai", "asynctool")
# asynctool with OpenTelemetry installed: without an SDK (the target), and with one recording.
_TRACED = ("asynctool-otel", "asynctool-otel-sdk")
_STREAMED = (*_STREAMERS, *_TRACED)
SCENARIOS = (
    Scenario("text_stream", "text stream", "stream", "chunk", (*_STREAMED, "floor-readline")),
    Scenario("tool_call_stream", "1 tool call, fragmented", "stream", "chunk", _STREAMED),
    Scenario("parallel_tool_calls", "parallel tool calls", "stream", "chunk", _STREAMED),
    Scenario("concurrent_streams", "concurrent streams", "concurrent", "chunk", _REQUESTERS),
    Scenario("small_requests", "small requests", "request", "request", (*_REQUESTERS, *_TRACED)),
    Scenario("large_response", "1 MB response", "request", "request", _REQUESTERS),
    Scenario("agent_loop", "agent loop", "agent", "turn", (*_REQUESTERS, "asynctool-agent")),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
# Warm-up requests go to these, so lazy imports and first connections stay out of the timing.
WARM_STREAM = "warm_stream"
WARM_REQUEST = "warm_request"
WARM_AGENT = "warm_agent"
WARM_CHUNKS = 20
WARM_TURNS = 2


@dataclass
class Tally:
    """What a client counted; `None` where that client does not look (iterating skips text)."""

    chunks: int = 0
    requests: int = 0
    content_chars: int | None = None
    argument_chars: int | None = None

    def __iadd__(self, other: Tally) -> Tally:
        self.chunks += other.chunks
        self.requests += other.requests
        self.content_chars = _add(self.content_chars, other.content_chars)
        self.argument_chars = _add(self.argument_chars, other.argument_chars)
        return self

    def mismatches(self, expected: Tally) -> list[str]:
        """Name every counted figure that differs from the expected one."""
        wrong = []
        for field in dataclasses.fields(self):
            got = getattr(self, field.name)
            want = getattr(expected, field.name)
            if got is not None and got != want:
                wrong.append(f"{field.name}: got {got}, expected {want}")
        return wrong


def _add(left: int | None, right: int | None) -> int | None:
    return right if left is None else left + (right or 0)


# --------------------------------------------------------------------------- request parameters

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Get the current weather in a given location.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state."},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
ADD_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": AGENT_TOOL_NAME,
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


def request_params(scenario: str) -> dict[str, Any]:
    """Keyword arguments of `chat.completions.create` for one scenario.

    Streaming clients add `stream=True` and `stream_options={"include_usage": True}` themselves.
    """
    params: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the weather like in Boston today?"},
        ],
    }
    if scenario in ("tool_call_stream", "parallel_tool_calls"):
        params["tools"] = [WEATHER_TOOL]
    if scenario == "agent_loop":
        params["tools"] = [ADD_TOOL]
    return params


def agent_arguments(turn: int) -> str:
    """The JSON arguments the model sends to the agent's tool on one turn."""
    return json.dumps({"a": turn, "b": 1}, separators=(",", ":"))


# --------------------------------------------------------------------------- response bodies


def dumps(obj: object) -> bytes:
    """Compact JSON with raw UTF-8, as OpenAI writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk` of choice 0."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    body = {**_envelope("chat.completion.chunk"), "choices": [choice], "usage": None}
    return {**body, "obfuscation": _obfuscation(delta)}


def usage_chunk() -> dict[str, Any]:
    """The last chunk when `stream_options.include_usage` is set: no choices, the usage."""
    body = {**_envelope("chat.completion.chunk"), "choices": [], "usage": _usage()}
    return {**body, "obfuscation": _obfuscation({})}


def _obfuscation(delta: dict[str, Any]) -> str:
    # OpenAI pads every streamed chunk with a random string, so that the size of an event
    # does not tell the length of its token (`stream_options.include_obfuscation`, on by
    # default). Deterministic here: the server builds its bytes once.
    size = 4 + len(json.dumps(delta)) % 12
    return _PADDING[:size]


_PADDING = "Zq3x9LmP0aWvRt7KcYe"


def completion(message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    """A non-stream `chat.completion` with one choice."""
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    return {**_envelope("chat.completion"), "choices": [choice], "usage": _usage()}


def _envelope(obj: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": obj,
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": 82,
        "completion_tokens": 17,
        "total_tokens": 99,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def text_words(count: int) -> list[str]:
    """`count` token-sized fragments of text."""
    return [WORDS[i % len(WORDS)] for i in range(count)]


def text_chunks(count: int) -> list[dict[str, Any]]:
    """A streamed answer of `count` content chunks, with its role, finish and usage chunks."""
    first = chunk({"role": "assistant", "content": "", "refusal": None})
    middle = [chunk({"content": word}) for word in text_words(count)]
    return [first, *middle, chunk({}, "stop"), usage_chunk()]


def tool_arguments(fragments: int, call: int) -> list[str]:
    """Valid JSON arguments for one call, cut into exactly `fragments` pieces of a few chars."""
    notes = "".join(text_words(fragments)).replace("\n", " ")
    text = json.dumps({"location": f"Boston, MA #{call}", "unit": "celsius", "notes": notes})
    cuts = [len(text) * i // fragments for i in range(fragments + 1)]
    return [text[start:end] for start, end in itertools.pairwise(cuts)]


def tool_call_chunks(calls: int, fragments: int) -> list[dict[str, Any]]:
    """`calls` tool calls one after the other, as OpenAI streams parallel calls."""
    out = [chunk({"role": "assistant", "content": None, "refusal": None})]
    for index in range(calls):
        head = {"index": index, "id": f"call_{index:024d}", "type": "function"}
        head["function"] = {"name": TOOL_NAME, "arguments": ""}
        out.append(chunk({"tool_calls": [head]}))
        for piece in tool_arguments(fragments, index):
            part = {"index": index, "function": {"arguments": piece}}
            out.append(chunk({"tool_calls": [part]}))
    return [*out, chunk({}, "tool_calls"), usage_chunk()]


def sse(chunks: list[dict[str, Any]]) -> bytes:
    """The event stream of these chunks, ended by `[DONE]`."""
    events = [b"data: " + dumps(item) + b"\n\n" for item in chunks]
    return b"".join(events) + b"data: [DONE]\n\n"


def small_completion() -> dict[str, Any]:
    """A typical short answer."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(text_words(40)),
        "refusal": None,
    }
    return completion({**message, "annotations": []}, "stop")


def large_completion(size: int) -> dict[str, Any]:
    """An answer whose JSON body is about `size` bytes."""
    words = text_words(size // 3)
    content = "".join(words)[: max(size - 600, 1)]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "annotations": [],
    }
    return completion(message, "stop")


def agent_message(turn: int, last: bool) -> dict[str, Any]:
    """The assistant message of one agent turn: a tool call, or the final answer."""
    if last:
        return {"role": "assistant", "content": "The sum is done.", "refusal": None}
    call = {"name": AGENT_TOOL_NAME, "arguments": agent_arguments(turn)}
    tool_call = {"id": f"call_{turn:024d}", "type": "function", "function": call}
    return {"role": "assistant", "content": None, "tool_calls": [tool_call], "refusal": None}


def agent_chunks(turn: int, last: bool) -> list[dict[str, Any]]:
    """The same turn as `agent_message`, streamed."""
    message = agent_message(turn, last)
    if last:
        body = [chunk({"role": "assistant", "content": message["content"]})]
        return [*body, chunk({}, "stop"), usage_chunk()]
    call = message["tool_calls"][0]
    head = {"index": 0, "id": call["id"], "type": "function"}
    head["function"] = {"name": AGENT_TOOL_NAME, "arguments": ""}
    rest = {"index": 0, "function": {"arguments": call["function"]["arguments"]}}
    body = [chunk({"role": "assistant", "content": None}), chunk({"tool_calls": [head]})]
    body.append(chunk({"tool_calls": [rest]}))
    return [*body, chunk({}, "tool_calls"), usage_chunk()]


# --------------------------------------------------------------------------- what must come back


def expected(scenario: str, sizes: Sizes, failed_streams: int = 0) -> Tally:
    """The tally a correct client reports for one run of `scenario`.

    `failed_streams` of the concurrent scenario are left out: a client that failed them (and
    said so) must still have counted every chunk of the others.
    """
    if scenario == "text_stream":
        return _stream_tally(text_chunks(sizes.text_chunks))
    if scenario == "tool_call_stream":
        return _stream_tally(tool_call_chunks(1, sizes.tool_fragments))
    if scenario == "parallel_tool_calls":
        return _stream_tally(tool_call_chunks(sizes.parallel_calls, sizes.parallel_fragments))
    if scenario == "concurrent_streams":
        one = _stream_tally(text_chunks(sizes.concurrent_chunks))
        total = Tally(content_chars=0, argument_chars=0)
        for _ in range(sizes.concurrent_streams - failed_streams):
            total += one
        return total
    if scenario == "small_requests":
        return _request_tally(small_completion(), sizes.small_requests)
    if scenario == "large_response":
        return _request_tally(large_completion(sizes.large_bytes), sizes.large_requests)
    if scenario == "agent_loop":
        return Tally(requests=sizes.agent_turns)
    raise ValueError(f"unknown scenario {scenario!r}")


def _stream_tally(chunks: list[dict[str, Any]]) -> Tally:
    content = arguments = 0
    for item in chunks:
        for choice in item["choices"]:
            content += len(choice["delta"].get("content") or "")
            for call in choice["delta"].get("tool_calls") or ():
                arguments += len(call["function"]["arguments"])
    return Tally(chunks=len(chunks), content_chars=content, argument_chars=arguments)


def _request_tally(body: dict[str, Any], count: int) -> Tally:
    content = len(body["choices"][0]["message"]["content"])
    return Tally(requests=count, content_chars=content * count)
