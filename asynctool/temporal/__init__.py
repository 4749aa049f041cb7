"""Durable agent runs on Temporal: `pip install 'asynctool[temporal]'`.

A run is a workflow (`AgentWorkflow`) whose model requests and tool calls are activities;
the loop inside it is `Agent.run`'s own. Workers serve agents (`agent_worker`, or
`python -m asynctool.temporal worker`); any process starts and follows runs
(`DurableAgent`, `DurableRun`). See the README's "Durable runs (Temporal)".

`import asynctool` never imports this module, nor temporalio.
"""

from .._durable import RunInput
from ._activities import model_request, tool_call
from ._client import DurableAgent, DurableRun
from ._options import DurableOptions
from ._options import register as register_agents
from ._worker import agent_worker, workflow_runner
from ._workflow import AgentWorkflow

__all__ = [
    "AgentWorkflow",
    "DurableAgent",
    "DurableOptions",
    "DurableRun",
    "RunInput",
    "agent_worker",
    "model_request",
    "register_agents",
    "tool_call",
    "workflow_runner",
]
