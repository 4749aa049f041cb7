"""pydantic-ai with its OpenAI Chat Completions model, used as its docs show.

`Agent.iter` walks the run node by node; the model's requests are streamed (`node.stream`), and
a tool-calling node's stream yields a `FunctionToolResultEvent` for each tool result; the run's
`result.output` is the answer.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import pydantic_ai
from pydantic_ai.messages import FunctionToolResultEvent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from benchmarks.clients import API_KEY, LatencyTools
from benchmarks.scenarios import LatencyRun


def missing() -> str | None:
    """Everything used here exists in every release the bench extra allows."""
    return None


class Client:
    """An `OpenAIProvider` (and its `AsyncOpenAI`) built once; an agent per run."""

    def __init__(self, base_url: str) -> None:
        self._provider = OpenAIProvider(base_url=base_url, api_key=API_KEY)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._provider.client.close()

    async def latency(self, params: dict[str, Any], tools: LatencyTools) -> LatencyRun:
        """The scenario's conversation: its system message as instructions, its user message
        as the prompt."""
        system, user = (message["content"] for message in params["messages"])
        model = OpenAIChatModel(params["model"], provider=self._provider)
        agent = pydantic_ai.Agent(model, instructions=system, tools=tools.functions())
        tools.start()
        async with agent.iter(user) as run:
            async for node in run:
                if pydantic_ai.Agent.is_model_request_node(node):
                    async with node.stream(run.ctx) as response:
                        async for _event in response:
                            pass
                elif pydantic_ai.Agent.is_call_tools_node(node):
                    async with node.stream(run.ctx) as handled:
                        async for event in handled:
                            if isinstance(event, FunctionToolResultEvent):
                                tools.result_seen()
        assert run.result is not None
        tools.answered(run.result.output)
        return tools.run
