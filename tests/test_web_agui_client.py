"""AG-UI's event stream read by AG-UI's own TypeScript client, under node.

tests/js/agui.mjs runs `@ag-ui/client`'s `HttpAgent`: it posts a `RunAgentInput` to a server
here on 127.0.0.1, parses the SSE, validates every event against `@ag-ui/core`'s schemas,
checks their order with `verifyEvents` (sdks/typescript/packages/client/src/verify/verify.ts)
and applies them to its messages (src/apply/default.ts); the script prints the run's result,
the event types it saw and the messages it assembled. tests/test_web.py checks the same events
with AG-UI's Python types. `@ag-ui/client` is pinned in tests/js/package-lock.json and installed
by `.ci/run`; without node or that install these tests skip.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from asynctool import Agent, AgentEvent
from asynctool.testing import call, status, text, tool_calls
from asynctool.web import agui_messages_to_chat, agui_response
from tests.conftest import Serve
from tests.test_web import broken, get_weather, play, reasoning_run

JS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (JS / "node_modules" / "@ag-ui" / "client").is_dir(),
    reason="needs node and @ag-ui/client in tests/js/node_modules (npm ci --prefix tests/js)",
)


async def run_agent(
    events: Callable[[list[dict[str, Any]]], AsyncIterator[AgentEvent]], *texts: str
) -> dict[str, Any]:
    """Serve `events(messages)` as AG-UI at 127.0.0.1 and run AG-UI's HttpAgent against it,
    a run per text ("Weather?" by default)."""
    inputs: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        run = await request.json()
        inputs.append(run)
        return await agui_response(
            request, events(run["messages"]), thread_id=run["threadId"], run_id=run["runId"]
        )

    app = web.Application()
    app.router.add_post("/agui", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/agui"
        assert NODE is not None
        process = await asyncio.create_subprocess_exec(
            NODE, str(JS / "agui.mjs"), url, *(texts or ["Weather?"]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await runner.cleanup()
    assert process.returncode == 0, err.decode()
    assert [(run["threadId"], run["runId"]) for run in inputs] == [
        ("thread-1", f"run-{i}") for i in range(1, len(inputs) + 1)
    ]
    outcome: dict[str, Any] = json.loads(out)
    return outcome


async def test_the_client_assembles_reasoning_text_calls_and_results() -> None:
    outcome = await run_agent(lambda messages: play(reasoning_run()))
    assert (
        outcome["error"] is outcome["runError"] is None and outcome["result"] == "Sunny in Boston."
    )
    user, reasoning1, turn1, failed, weather, reasoning2, turn2 = outcome["messages"]
    assert user == {"id": "user-1", "role": "user", "content": "Weather?"}
    assert (reasoning1["role"], reasoning1["content"]) == (
        "reasoning",
        "The user wants the weather.",
    )
    assert (turn1["role"], turn1["content"]) == ("assistant", "Checking.")
    assert [(c["id"], c["function"]) for c in turn1["toolCalls"]] == [
        ("call_w", {"name": "get_weather", "arguments": '{"location": "Boston"}'}),
        ("call_x", {"name": "lookup", "arguments": '{"q": "x"}'}),
    ]
    assert (failed["role"], failed["toolCallId"]) == ("tool", "call_x")  # finishing order
    assert (weather["toolCallId"], weather["content"]) == (
        "call_w",
        "Sunny, 22 degrees celsius in Boston",
    )
    assert (reasoning2["content"], turn2["content"]) == ("Now answer.", "Sunny in Boston.")
    assert outcome["events"][0] == "RUN_STARTED" and outcome["events"][-1] == "RUN_FINISHED"


async def test_the_client_assembles_a_real_run(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("get_weather", {"location": "Boston"}), call("broken", {"q": "x"})),
        text("Sunny in Boston."),
    )
    agent = Agent(client, model="m", tools=[get_weather, broken])
    outcome = await run_agent(lambda messages: agent.run_stream(messages[-1]["content"]))
    assert outcome["error"] is None and outcome["result"] == "Sunny in Boston."
    _, turn1, *results, turn2 = outcome["messages"]
    sent = server.requests[1].messages  # what the model was sent back: the same calls and results
    assert turn1["toolCalls"] == sent[-3]["tool_calls"]
    assert {r["toolCallId"]: r["content"] for r in results} == {
        m["tool_call_id"]: m["content"] for m in sent[-2:]
    }
    assert turn2 == {"id": turn2["id"], "role": "assistant", "content": "Sunny in Boston."}


async def test_the_client_reports_a_failed_run(serve: Serve) -> None:
    _, client = await serve(status(429, "Rate limit reached for sk-test"), max_retries=0)
    agent = Agent(client, model="m")
    outcome = await run_agent(lambda messages: agent.run_stream("Hi"))
    assert outcome["events"] == ["RUN_STARTED", "RUN_ERROR"]
    assert outcome["runError"] == {
        "message": "The agent run failed (RateLimitError).",
        "code": "RateLimitError",
    }
    assert "sk-test" not in json.dumps(outcome)


async def test_a_second_run_sends_the_conversation_back(serve: Serve) -> None:
    server, client = await serve(
        tool_calls(call("get_weather", {"location": "Boston"}), call("broken", {"q": "x"})),
        text("Sunny in Boston."),
        text("Sunny in Oslo too."),
    )
    agent = Agent(client, model="m", tools=[get_weather, broken])
    outcome = await run_agent(
        lambda messages: agent.run_stream(agui_messages_to_chat(messages)), "Weather?", "And Oslo?"
    )
    assert outcome["error"] is None and outcome["result"] == "Sunny in Oslo too."
    first_run, second_run = server.requests[1].messages, server.requests[2].messages
    # What the client kept of the first run is the transcript the model saw, and its answer.
    assert second_run == [*first_run, {"role": "assistant", "content": "Sunny in Boston."},
                          {"role": "user", "content": "And Oslo?"}]  # fmt: skip
