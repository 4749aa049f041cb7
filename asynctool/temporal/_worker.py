"""A worker serving agents' durable runs on a task queue, and the sandbox it runs them in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from .._agent import Agent
from ._activities import model_request, tool_call
from ._options import DurableOptions, register
from ._workflow import AgentWorkflow

__all__ = ["agent_worker", "workflow_runner"]


def workflow_runner() -> SandboxedWorkflowRunner:
    """Temporal's sandbox, with asynctool (and what it imports) passed through: imported
    once, outside it. The loop's determinism does not rest on the sandbox (see `_workflow`),
    and the workflow must read the agents this process registered."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "asynctool", "msgspec", "anyio", "aiohttp", "yarl", "multidict"
        )
    )


def agent_worker(
    client: Client,
    agents: Agent[Any] | Iterable[Agent[Any]],
    *,
    task_queue: str,
    options: DurableOptions | None = None,
    **worker_options: Any,
) -> Worker:
    """A Temporal `Worker` that serves `agents` (each under its `name`) on `task_queue`:
    their workflows and both activities. Run it with `await worker.run()` or `async with`.

    Start as many as you like, in as many processes and machines: Temporal hands each
    workflow task and activity to one of the workers polling the queue, and a run whose
    worker dies goes on on another. Every worker of a queue must serve the same agents.
    `worker_options` go to `Worker` (`max_concurrent_activities`, ...).
    """
    register(agents, options or DurableOptions())
    worker_options.setdefault("workflow_runner", workflow_runner())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AgentWorkflow],
        activities=[model_request, tool_call],
        **worker_options,
    )
