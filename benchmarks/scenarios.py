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

Kind = Literal["stream", "concurrent", "request", "agent", "latency"]

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
    # The latency scenario's script, in seconds: the tool-call turn streams for `stream_s`,
    # its first call's arguments are complete at `first_ready_s`, that call's tool takes
    # `slow_tool_s` and the other three `fast_tool_s`. `ticks` evenly spaced writes carry it.
    latency_stream_s: float = 2.0
    latency_first_ready_s: float = 0.3
    latency_slow_tool_s: float = 1.5
    latency_fast_tool_s: float = 0.01
    latency_ticks: int = 40

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
    # A tenth of the real script: the smoke test checks the plumbing, not the times.
    latency_stream_s=0.2,
    latency_first_ready_s=0.03,
    latency_slow_tool_s=0.15,
    latency_fast_tool_s=0.005,
)
PRESETS = {"full": FULL, "quick": QUICK, "tiny": TINY}


@dataclass(frozen=True)
class Scenario:
    """One measured situation: which response, how it is driven, and by which clients."""

    name: str
    title: str
    kind: Kind
    unit: Literal["chunk", "request", "turn", "run"]
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
    Scenario(
        "agent_latency",
        "agent latency",
        "latency",
        "run",
        ("asynctool-agent", "asynctool-eager", "openai-agents", "pydantic-ai"),
    ),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
# Warm-up requests go to these, so lazy imports and first connections stay out of the timing.
WARM_STREAM = "warm_stream"
WARM_REQUEST = "warm_request"
WARM_AGENT = "warm_agent"
WARM_CHUNKS = 20
WARM_TURNS = 2
WARM_LATENCY = "warm_latency"


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


@dataclass
class LatencyRun:
    """What a client saw in one run of the latency scenario, in seconds from the run's start
    (-1: never), and what its tools counted: `tools_run` is incremented by the tools
    themselves, `results_seen` by the client for each tool-result event its framework gave it.
    """

    tools_run: int = 0
    results_seen: int = 0
    slow_tool_started_s: float = -1.0
    last_result_s: float = -1.0
    final_s: float = -1.0
    output: str | None = None

    def mismatches(self) -> list[str]:
        """What the client did not do: run every tool, report every result, give the answer."""
        wrong = []
        calls = len(LATENCY_CALLS)
        if self.tools_run != calls:
            wrong.append(f"tools run: {self.tools_run}, expected {calls}")
        if self.results_seen != calls:
            wrong.append(f"tool results reported: {self.results_seen}, expected {calls}")
        if self.output != LATENCY_ANSWER:
            wrong.append(f"final answer {self.output!r}, expected {LATENCY_ANSWER!r}")
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
    if scenario == "agent_latency":
        ask = "Find a flight from Boston to Lisbon, and the weather in Boston, Lisbon and Porto."
        params["messages"][1]["content"] = ask
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


# --------------------------------------------------------------------------- the latency script

SLOW_TOOL = "search_flights"
FAST_TOOL = "get_weather"
LATENCY_ANSWER = "Three flights to Lisbon, and the weather is fine in all three cities."


@dataclass(frozen=True)
class ScriptedCall:
    """One tool call of the latency scenario's tool-call turn."""

    id: str
    name: str
    arguments: dict[str, str]

    @property
    def text(self) -> str:
        """The arguments as the model streams them."""
        return json.dumps(self.arguments)

    @property
    def output(self) -> str:
        """What the call's tool returns."""
        return tool_output(self.name, self.arguments)


LATENCY_CALLS = (
    ScriptedCall(
        "call_Fq7RrW0d9vPZlXc2mYkT4bNs", SLOW_TOOL, {"origin": "BOS", "destination": "LIS"}
    ),
    ScriptedCall("call_2hJ8sLqP5tVxWnC0aZ3eRgUo", FAST_TOOL, {"city": "Boston"}),
    ScriptedCall("call_Kd4mY9bXoT1iQwE6pS8vNfHj", FAST_TOOL, {"city": "Lisbon"}),
    ScriptedCall("call_uB5cG0zRa7LkM3yD1xWq9PeT", FAST_TOOL, {"city": "Porto"}),
)


def tool_output(name: str, arguments: dict[str, Any]) -> str:
    """What the scenario's tools return. It depends on the arguments, so the server can tell
    that a result it is sent was computed for that call, by the tool."""
    if name == SLOW_TOOL:
        return f"3 flights {arguments['origin']}-{arguments['destination']}, from 412 EUR"
    return f"{arguments['city']}: {12 + len(arguments['city'])} C, clear"


def latency_goal_s(sizes: Sizes) -> float:
    """When the tool-call turn can end at the earliest: its stream has ended, and the slow
    tool, started as soon as its call was complete, has returned."""
    return max(sizes.latency_stream_s, sizes.latency_first_ready_s + sizes.latency_slow_tool_s)


def latency_after_stream_s(sizes: Sizes) -> float:
    """When it ends if no tool starts before the stream has ended."""
    return sizes.latency_stream_s + max(sizes.latency_slow_tool_s, sizes.latency_fast_tool_s)


def latency_stream(sizes: Sizes, timed: bool = True) -> list[tuple[float, bytes]]:
    """The tool-call turn as (seconds after the request, event-stream bytes) writes.

    `latency_ticks` writes evenly spaced over `latency_stream_s`, then one at the end with the
    finish and usage chunks and `[DONE]`. The first call has the ticks before
    `latency_first_ready_s`, so the second call's head, which tells a client that the first
    call's arguments are complete, arrives exactly then; the other calls share the rest.
    `timed=False` sends the same bytes at once (the warm-up).
    """
    ticks, others = sizes.latency_ticks, len(LATENCY_CALLS) - 1
    first = round(ticks * sizes.latency_first_ready_s / sizes.latency_stream_s)
    bounds = [0, *(first + (ticks - first) * i // others for i in range(others + 1))]
    if min(end - start for start, end in itertools.pairwise(bounds)) < 2:
        raise ValueError(f"latency_ticks={ticks} leaves a call less than 2 writes")
    groups: list[list[dict[str, Any]]] = [[] for _ in range(ticks + 1)]
    groups[0].append(chunk({"role": "assistant", "content": None, "refusal": None}))
    spans = zip(LATENCY_CALLS, itertools.pairwise(bounds), strict=True)
    for index, (call, (start, end)) in enumerate(spans):
        for tick, item in enumerate(_streamed_call(index, call, end - start), start):
            groups[tick].append(item)
    groups[ticks] += [chunk({}, "tool_calls"), usage_chunk()]
    step = sizes.latency_stream_s / ticks if timed else 0.0
    writes = [(tick * step, _events(group)) for tick, group in enumerate(groups)]
    writes[-1] = (writes[-1][0], writes[-1][1] + b"data: [DONE]\n\n")
    return writes


def _streamed_call(index: int, call: ScriptedCall, writes: int) -> list[dict[str, Any]]:
    """One call as `writes` chunks: its head (id and name), then its arguments in pieces."""
    function = {"name": call.name, "arguments": ""}
    head = {"index": index, "id": call.id, "type": "function", "function": function}
    cuts = [len(call.text) * i // (writes - 1) for i in range(writes)]
    parts = [
        {"index": index, "function": {"arguments": call.text[a:b]}}
        for a, b in itertools.pairwise(cuts)
    ]
    return [chunk({"tool_calls": [part]}) for part in (head, *parts)]


def _events(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + dumps(item) + b"\n\n" for item in chunks)


def latency_answer_chunks() -> list[dict[str, Any]]:
    """The final answer, streamed at once: the scenario times the tool turn, not this."""
    words = LATENCY_ANSWER.split(" ")
    pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
    body = [chunk({"role": "assistant", "content": "", "refusal": None})]
    body += [chunk({"content": piece}) for piece in pieces]
    return [*body, chunk({}, "stop"), usage_chunk()]


def latency_problems(received: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the requests a client made in one run of the latency scenario, as the
    server recorded them: it must stream the tool-call turn, then send back every call, as
    streamed, with the output of its tool. A client that skips a tool, or its results, fails
    here however fast it was."""
    if len(received) != 2:
        return [f"the server got {len(received)} request(s), expected 2 (the turn, the results)"]
    first, second = received
    problems = []
    if not first["stream"]:
        problems.append("the tool-call turn was not streamed")
    want_calls = {c.id: (c.name, c.arguments) for c in LATENCY_CALLS}
    got_calls = {c["id"]: (c["name"], _json_or_text(c["arguments"])) for c in second["tool_calls"]}
    if len(second["tool_calls"]) != len(LATENCY_CALLS) or got_calls != want_calls:
        problems.append(f"the results request repeats the calls {got_calls}, not {want_calls}")
    want_results = {c.id: c.output for c in LATENCY_CALLS}
    got_results = {r["tool_call_id"]: r["content"] for r in second["tool_results"]}
    if len(second["tool_results"]) != len(LATENCY_CALLS) or got_results != want_results:
        problems.append(f"the results request sends {got_results}, not {want_results}")
    return problems


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


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
    if scenario == "agent_latency":
        return Tally(requests=2)
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
