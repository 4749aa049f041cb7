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
| `asynctool-agent` | `asynctool.Agent` (only the agent scenario) |
| `asynctool-otel` | `asynctool`, with `opentelemetry-api` importable and no SDK configured |
| `asynctool-otel-sdk` | `asynctool`, with an OpenTelemetry SDK recording into memory |

The agent scenario drives `floor`, `openai` and `asynctool` through one hand-written loop
(`manual_agent`), so the difference between `asynctool-agent` and `asynctool` there is the
cost of the `Agent` machinery alone.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

from benchmarks.scenarios import Tally

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
_IMPLEMENTATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "floor": ("floor", {"readline": False}),
    "floor-readline": ("floor", {"readline": True}),
    "openai": ("openai_sdk", {"helper": False}),
    "openai-helper": ("openai_sdk", {"helper": True}),
    "asynctool": ("asynctool_client", {"mode": "iterate"}),
    "asynctool-final": ("asynctool_client", {"mode": "final"}),
    "asynctool-agent": ("asynctool_client", {"mode": "agent"}),
    "asynctool-otel": ("asynctool_client", {"mode": "iterate", "otel": "api"}),
    "asynctool-otel-sdk": ("asynctool_client", {"mode": "iterate", "otel": "sdk"}),
}
NAMES = tuple(_IMPLEMENTATIONS)


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
        return f"cannot import: {type(exc).__name__}: {exc}"
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
