"""What a durable run stores: requests, completions, results, events and decisions as
JSON-ready values, and back (asynctool.temporal's history; a tool step's outcome in
asynctool.dbos's records too).

Temporal stores every activity's input and output, and the workflow's, in the run's history;
the SDK's default converter writes plain JSON values.
asynctool's own structs go through msgspec both ways (as `PausedRun.to_json` does), so a
completion comes back field for field.
A tool's `value` (what the function returned, before it became text) is kept when msgspec
can write it as JSON, and comes back as those JSON values (a dict for a Struct).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from ._events import (
    AgentEvent,
    RunCompleted,
    RunResult,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
    TurnCompleted,
)
from ._execute import Deny, Rewrite
from ._pause import Answer, Approve, Decision, Defer, SavedResult
from ._types import ToolCall

__all__ = [
    "ModelCall",
    "RunInput",
    "ToolCallInput",
    "ToolOutcome",
    "decision_from",
    "decision_to",
    "event_from",
    "event_to",
    "outcome_of",
    "result_from",
    "result_to",
]


@dataclass
class RunInput:
    """The workflow's input: which agent, the user's text or conversation (JSON messages),
    and the run's `deps` (JSON: it is stored in history and handed to each tool activity)."""

    agent: str
    input: str | list[dict[str, Any]]
    deps: Any = None


@dataclass
class ModelCall:
    """A model request activity's input: the request as JSON, and its `Idempotency-Key`,
    made in the workflow, so every attempt of the activity sends the same one."""

    agent: str
    request: str
    idempotency_key: str


@dataclass
class ToolCallInput:
    """A tool activity's input. `messages` is the transcript, sent only to a tool that takes a
    `ToolContext` (it is stored with every call); `decision` is set for a call that was
    deferred and then decided (`decision_to`)."""

    agent: str
    call: str
    turn: int
    deps: Any = None
    messages: str | None = None
    decision: dict[str, Any] | None = None


class ToolOutcome(msgspec.Struct, kw_only=True):
    """A tool activity's output: the result without its value, the value when it is JSON, and
    the hook's `Defer` reason when the call was deferred."""

    result: SavedResult
    value: Any = None
    deferred: bool = False
    reason: str | None = None


def tool_outcome(result: ToolResult) -> ToolOutcome:
    """What a durable tool step records of `result`: its value only when JSON can hold it."""
    try:
        value = msgspec.to_builtins(result.value)
    except TypeError:
        value = None
    deferred = result.deferred
    return ToolOutcome(
        result=SavedResult.of(result),
        value=value,
        deferred=deferred is not None,
        reason=deferred.reason if deferred is not None else None,
    )


def outcome_of(result: ToolResult) -> str:
    """`result` as a tool activity returns it."""
    return msgspec.json.encode(tool_outcome(result)).decode()


def restored(outcome: ToolOutcome) -> ToolResult:
    """The `ToolResult` a tool activity returned, with its value and `Defer`."""
    return msgspec.structs.replace(
        outcome.result.restored(),
        value=outcome.value,
        deferred=Defer(outcome.reason) if outcome.deferred else None,
    )


def decision_to(decision: Decision) -> dict[str, Any]:
    """A decision for a deferred call, as a JSON value."""
    if isinstance(decision, Approve):
        return {"approve": True}
    if isinstance(decision, Deny):
        return {"deny": decision.reason}
    if isinstance(decision, Rewrite):
        return {"rewrite": decision.arguments}
    if isinstance(decision, Answer):
        return {"answer": msgspec.to_builtins(decision.output)}
    if isinstance(decision, Defer):
        return {"defer": decision.reason}
    raise TypeError(
        f"expected Approve(), Deny(reason), Rewrite(arguments), Answer(output) or Defer(), "
        f"got {type(decision).__name__}"
    )


def decision_from(data: dict[str, Any]) -> Decision:
    """The decision `decision_to` wrote; ValueError for anything else."""
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"not a decision: {data!r}")
    ((kind, value),) = data.items()
    if kind == "approve":
        return Approve()
    if kind == "deny" and isinstance(value, str):
        return Deny(value)
    if kind == "rewrite" and isinstance(value, dict | str):
        return Rewrite(value)
    if kind == "answer":
        return Answer(value)
    if kind == "defer" and (value is None or isinstance(value, str)):
        return Defer(value)
    raise ValueError(f"not a decision: {data!r}")


_EVENTS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (ToolCallStarted, ToolCallReady, ToolResult, TurnCompleted, RunCompleted)
}


def event_to(event: AgentEvent) -> dict[str, Any]:
    """An event of the run as the workflow keeps it for its followers."""
    if isinstance(event, ToolResult):
        outcome: dict[str, Any] = msgspec.json.decode(outcome_of(event))
        return {"type": "ToolResult", "outcome": outcome}
    if isinstance(event, RunCompleted):
        return {"type": "RunCompleted", "result": result_to(event.result)}
    return {"type": type(event).__name__, "event": msgspec.to_builtins(event)}


def event_from(data: dict[str, Any]) -> AgentEvent:
    """The event `event_to` wrote."""
    kind = data["type"]
    if kind == "ToolResult":
        return restored(msgspec.convert(data["outcome"], ToolOutcome))
    if kind == "RunCompleted":
        return RunCompleted(result=result_from(data["result"]))
    event: AgentEvent = msgspec.convert(data["event"], _EVENTS[kind])
    return event


def result_to(result: RunResult[Any]) -> dict[str, Any]:
    """A run's result as the workflow returns it; the tools' values are left out."""
    encoded: dict[str, Any] = msgspec.to_builtins(
        msgspec.structs.replace(
            result, tool_results=[SavedResult.of(r) for r in result.tool_results]
        )
    )
    return encoded


def result_from(data: dict[str, Any], output_type: Any = None) -> RunResult[Any]:
    """The `RunResult` of `result_to`; its output converted to `output_type` when given."""
    result: RunResult[Any] = msgspec.convert(
        {**data, "tool_results": []}, RunResult[Any], strict=False
    )
    result.tool_results = [
        saved.restored() for saved in msgspec.convert(data["tool_results"], list[SavedResult])
    ]
    if output_type is not None and result.output is not None:
        result.output = msgspec.convert(result.output, output_type, strict=False)
    return result


def call_to(call: ToolCall) -> str:
    """A tool call as JSON."""
    return msgspec.json.encode(call).decode()
