"""How a worker runs an agent's steps as activities: timeouts and retries, and the registry
of the agents a worker process serves.

The workflow and the activities of one process read the same registry: the workflow finds
its agent's settings there (and its tools' options, to pick each call's retry policy), the
activities its client and tools. Only an agent's name goes into the history; its client,
with the API key, stays in the worker process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.common import RetryPolicy

from .._agent import Agent
from .._exceptions import InvalidRequestError

__all__ = ["DurableOptions", "Served", "names", "register", "served"]


@dataclass(frozen=True)
class DurableOptions:
    """The activity options of an agent's durable runs.

    Attributes:
        model_retry: the retry policy of a model request (every attempt sends the same
            `Idempotency-Key`); a status the client does not retry (400, 401, 404...) is not
            retried either.
        tool_retry: the retry policy of a call of an idempotent tool. A tool declared
            `@tool(idempotent=False)` gets one attempt: a call whose worker was lost is
            answered as timed out, never run twice.
        heartbeat_timeout: how long a worker may go silent while it runs a step before
            Temporal gives the step to another worker; the activities heartbeat at a third
            of it.
        margin: added to a step's own deadline (the client's total timeout, the tool's
            timeout) to make the activity's start-to-close timeout, so the step's deadline
            fires first and ends it as a plain run would.
        no_deadline: the start-to-close timeout of a step without a deadline of its own.
    """

    model_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(
            maximum_attempts=5, maximum_interval=timedelta(seconds=30)
        )
    )
    tool_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(maximum_attempts=3))
    heartbeat_timeout: timedelta = timedelta(seconds=30)
    margin: timedelta = timedelta(seconds=10)
    no_deadline: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Served:
    """An agent a worker serves, with its options."""

    agent: Agent[object]
    options: DurableOptions


_SERVED: dict[str, Served] = {}


def register(agents: Agent[object] | Iterable[Agent[object]], options: DurableOptions) -> None:
    """Serve `agents` in this process, each under its `name` (the last one given wins).

    `agent_worker` calls it; call it (as `register_agents`) before replaying a history with
    Temporal's `Replayer` in a process that runs no worker: the workflow reads its agent's
    settings from here."""
    listed = [agents] if isinstance(agents, Agent) else list(agents)
    if not listed:
        raise InvalidRequestError("agents", "give at least one Agent")
    for agent in listed:
        if not isinstance(agent, Agent):
            raise InvalidRequestError("agents", f"expected an Agent, got {type(agent).__name__}")
        if agent.sources:
            raise InvalidRequestError(
                "agents",
                f"the agent {agent.name!r} has tool sources (MCP servers); durable runs take "
                "local tools only",
            )
    names = [agent.name for agent in listed]
    if len(set(names)) != len(names):
        raise InvalidRequestError("agents", f"two agents share a name: {names}")
    for agent in listed:
        _SERVED[agent.name] = Served(agent, options)


def served(name: str) -> Served:
    """The agent registered under `name`; a clear error when this worker has none."""
    try:
        return _SERVED[name]
    except KeyError:
        raise LookupError(
            f"this worker serves no agent named {name!r} (it serves {sorted(_SERVED)})"
        ) from None


def names() -> Mapping[str, Served]:
    """Every agent served in this process, by name."""
    return dict(_SERVED)
