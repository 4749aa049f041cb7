"""The clients under comparison, each behind one small interface.

A client process imports only the library it measures, so this module imports none: each
implementation lives in its own module and is loaded by name in `open_client`.

| name | what it does |
| --- | --- |
| `floor` | aiohttp reading lines, `msgspec` decoding into a minimal struct, no accumulation |
| `floor-readline` | the same with aiohttp's `async for line in resp.content` (see `floor`) |
| `openai` | the official SDK's `AsyncOpenAI`, iterating `create(stream=True)` |
| `openai-helper` | the SDK's `chat.completions.stream()` helper, then `get_final_completion()` |
| `asynctool` | `AsyncClient`, iterating `create(stream=True)`, with OpenTelemetry out of reach |
| `asynctool-final` | the same, then `get_final_completion()` |
| `asynctool-agent` | `asynctool.Agent` (only the agent scenarios; `run_stream` for latency) |
| `asynctool-eager` | `asynctool.Agent(..., eager_tools=True)`, `run_stream` (only latency) |
| `openai-agents` | openai-agents' `Runner.run_streamed`, on Chat Completions (only latency) |
| `pydantic-ai` | pydantic-ai's `Agent.iter`, every node streamed (only latency) |
| `asynctool-otel` | `asynctool`, with `opentelemetry-api` importable and no SDK configured |
| `asynctool-otel-sdk` | `asynctool`, with an OpenTelemetry SDK recording into memory |

The agent scenario drives `floor`, `openai` and `asynctool` through one hand-written loop
(`manual_agent`), so the difference between `asynctool-agent` and `asynctool` there is the
cost of the `Agent` machinery alone. The latency scenario gives every framework the same two
tools (`LatencyTools`), which count their calls and note the run's moments.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

from benchmarks.scenarios import FAST_TOOL, SLOW_TOOL, LatencyRun, Tally, tool_output

API_KEY = "sk-benchmark-not-a-real-key"
INCLUDE_USAGE = {"include_usage": True}
# Which SDK figure a client is compared with: like for like, accumulating with accumulating.
SDK_BASELINE = {
    "floor": "openai",
    "floor-readline": "openai",
    "openai": "openai",
    "openai-helper": "openai-helper",
    "asynctool": "openai",
    "asynctool-final": "openai-helper",
    "asynctool-agent": "openai",
    "asynctool-otel": "openai",
    "asynctool-otel-sdk": "openai",
}
# The OpenAI SDK's own clients, whose repetitions `--sdk-reps` caps.
SDK_CLIENTS = frozenset({"openai", "openai-helper"})
_IMPLEMENTATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "floor": ("floor", {"readline": False}),
    "floor-readline": ("floor", {"readline": True}),
    "openai": ("openai_sdk", {"helper": False}),
    "openai-helper": ("openai_sdk", {"helper": True}),
    "asynctool": ("asynctool_client", {"mode": "iterate"}),
    "asynctool-final": ("asynctool_client", {"mode": "final"}),
    "asynctool-agent": ("asynctool_client", {"mode": "agent"}),
    "asynctool-eager": ("asynctool_client", {"mode": "eager"}),
    "openai-agents": ("openai_agents_client", {}),
    "pydantic-ai": ("pydantic_ai_client", {}),
    "asynctool-otel": ("asynctool_client", {"mode": "iterate", "otel": "api"}),
    "asynctool-otel-sdk": ("asynctool_client", {"mode": "iterate", "otel": "sdk"}),
}
NAMES = tuple(_IMPLEMENTATIONS)
# The clients whose libraries come with the `bench` extra rather than the test extra.
BENCH_EXTRA = frozenset({"openai-agents", "pydantic-ai"})


class BenchClient(Protocol):
    """One library, bound to one base URL, able to run every kind of scenario."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def stream(self, params: dict[str, Any]) -> Tally:
        """Read one streamed completion to its end, counting chunks."""
        ...

    async def request(self, params: dict[str, Any]) -> Tally:
        """Make one non-stream request."""
        ...

    async def agent(self, params: dict[str, Any], max_turns: int) -> Tally:
        """Run the tool loop until the model answers; `requests` is the number of turns."""
        ...

    async def latency(self, params: dict[str, Any], tools: LatencyTools) -> LatencyRun:
        """Run the latency scenario with `tools`, streamed, noting each tool result and the
        answer as the framework hands them over (only the agent frameworks have this)."""
        ...


def _module(name: str) -> Any:
    module_name, _ = _IMPLEMENTATIONS[name]
    return importlib.import_module(f"benchmarks.clients.{module_name}")


def open_client(name: str, base_url: str) -> BenchClient:
    """Import the library behind `name` and bind a client to `base_url`."""
    _, options = _IMPLEMENTATIONS[name]
    client: BenchClient = _module(name).Client(base_url, **options)
    return client


def unavailable(name: str) -> str | None:
    """Why `name` cannot run here, or `None` when it can."""
    try:
        module = _module(name)
    except Exception as exc:  # a missing or half-written library, whatever it raises
        hint = " (pip install '.[bench]')" if name in BENCH_EXTRA else ""
        return f"cannot import: {type(exc).__name__}: {exc}{hint}"
    _, options = _IMPLEMENTATIONS[name]
    reason: str | None = module.missing(**options)
    return reason


# --------------------------------------------------------------------------- shared pieces


def tally_completion(completion: Any) -> Tally:
    """Count the text and tool-call arguments of an assembled completion (SDK or asynctool)."""
    message = completion.choices[0].message
    arguments = sum(len(call.function.arguments) for call in message.tool_calls or ())
    return Tally(content_chars=len(message.content or ""), argument_chars=arguments)


@dataclass
class Reply:
    """What the hand-written agent loop needs from one completion."""

    content: str | None
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # id, name, arguments


async def add(arguments: str) -> str:
    """The agent's trivial tool: add two integers."""
    values = json.loads(arguments)
    return str(values["a"] + values["b"])


async def manual_agent(
    complete: Callable[[list[dict[str, Any]]], Awaitable[Reply]],
    params: dict[str, Any],
    max_turns: int,
) -> Tally:
    """The loop a user writes by hand: send, run each tool call, append results, repeat."""
    messages: list[dict[str, Any]] = list(params["messages"])
    for turn in range(1, max_turns + 1):
        reply = await complete(messages)
        if not reply.tool_calls:
            return Tally(requests=turn)
        calls = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in reply.tool_calls
        ]
        messages.append({"role": "assistant", "content": reply.content, "tool_calls": calls})
        for call_id, _name, args in reply.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call_id, "content": await add(args)})
    raise RuntimeError(f"the model was still calling tools after {max_turns} turns")


class LatencyTools:
    """The latency scenario's two tools and the clock of one run.

    Every framework wraps the same two functions (`functions()`) in its own tool type, so all
    do the same work; the functions count their calls and note when the slow one started, and
    the client calls `result_seen` and `answered` as its framework reports those moments.
    """

    def __init__(self, slow_s: float, fast_s: float) -> None:
        self._slow_s = slow_s
        self._fast_s = fast_s
        self._started = time.monotonic()
        self.run = LatencyRun()

    def start(self) -> None:
        """The run starts now: the agent is built, its first request not yet made."""
        self._started = time.monotonic()

    @property
    def started(self) -> float:
        """`time.monotonic()` at the run's start (the server's clock too, on one machine)."""
        return self._started

    def now(self) -> float:
        """Seconds since the run's start."""
        return time.monotonic() - self._started

    def result_seen(self) -> None:
        """The framework has handed over one tool result."""
        self.run.results_seen += 1
        self.run.last_result_s = self.now()

    def answered(self, output: str | None) -> None:
        """The framework has handed over the final answer."""
        self.run.final_s = self.now()
        self.run.output = output

    def functions(self) -> list[Callable[..., Awaitable[str]]]:
        """The two tools as plain async functions, documented for the schema builders."""

        async def search_flights(origin: str, destination: str) -> str:
            """Search the flights between two airports.

            Args:
                origin: IATA code of the departure airport.
                destination: IATA code of the arrival airport.
            """
            self.run.slow_tool_started_s = self.now()
            await asyncio.sleep(self._slow_s)
            return self._done(SLOW_TOOL, {"origin": origin, "destination": destination})

        async def get_weather(city: str) -> str:
            """Get the current weather in a city.

            Args:
                city: The city's name.
            """
            await asyncio.sleep(self._fast_s)
            return self._done(FAST_TOOL, {"city": city})

        return [search_flights, get_weather]

    def _done(self, name: str, arguments: dict[str, str]) -> str:
        self.run.tools_run += 1
        return tool_output(name, arguments)
