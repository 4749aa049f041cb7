"""openai-agents (the OpenAI Agents SDK) on Chat Completions, used as its docs show.

`Runner.run_streamed` with an `OpenAIChatCompletionsModel` whose `AsyncOpenAI` points at the
benchmark server; each `tool_output` run item is a tool result handed over, and the run's
`final_output` the answer. Tracing is off: it would export spans to OpenAI's servers.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import agents
import openai

from benchmarks.clients import API_KEY, LatencyTools
from benchmarks.scenarios import LatencyRun

agents.set_tracing_disabled(True)


def missing() -> str | None:
    """Everything used here exists in every release the bench extra allows."""
    return None


class Client:
    """An `AsyncOpenAI` for the model, built once; an agent per run."""

    def __init__(self, base_url: str) -> None:
        self._openai = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._openai.close()

    async def latency(self, params: dict[str, Any], tools: LatencyTools) -> LatencyRun:
        """The scenario's conversation: its system message as instructions, its user message
        as input."""
        system, user = (message["content"] for message in params["messages"])
        model = agents.OpenAIChatCompletionsModel(model=params["model"], openai_client=self._openai)
        agent: agents.Agent[None] = agents.Agent(
            name="assistant",
            instructions=system,
            model=model,
            tools=[agents.function_tool(function) for function in tools.functions()],
        )
        config = agents.RunConfig(tracing_disabled=True)
        tools.start()
        result = agents.Runner.run_streamed(agent, user, run_config=config)
        async for event in result.stream_events():
            if isinstance(event, agents.RunItemStreamEvent) and event.name == "tool_output":
                tools.result_seen()
        tools.answered(result.final_output)
        return tools.run
