"""The UI message stream read by the Vercel AI SDK's own client, under node.

tests/js/chat.mjs runs `useChat`'s pipeline without React: the SDK's `AbstractChat` with its
`DefaultChatTransport` posts the conversation to a server here on 127.0.0.1, parses the SSE,
validates every chunk against the SDK's `uiMessageChunkSchema` (so a wrong chunk fails the
chat) and assembles the assistant `UIMessage`, which `validateUIMessages` checks again; the
script prints the chat's status, errors and messages. It runs with the current release and with
5.0.0, the first with this stream, whose strict schemas refuse any field they do not name. The
`ai` packages are pinned in tests/js/package-lock.json and installed by `.ci/run` (`npm ci
--prefix tests/js`); without node or that install these tests skip.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from asynctool import AgentEvent, AsyncClient
from asynctool.demo import _tools, build_agent
from asynctool.testing import DemoModel, ModelServer, ScriptedModel, call, status, text, tool_calls
from asynctool.web import ui_message_response
from tests.test_web import WEATHER, play, reasoning_run

JS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or not (JS / "node_modules" / "ai").is_dir(),
    reason="needs node and the AI SDK in tests/js/node_modules (npm ci --prefix tests/js)",
)
# The current release (tests/js/package.json pins it), and the first with the UI message stream,
# 5.0.0, whose chunk schemas were strict: a field they do not name fails the chat.
SDKS = ["ai", "ai-5.0.0"]


@pytest.fixture(params=SDKS)
def sdk(request: pytest.FixtureRequest) -> str:
    package: str = request.param
    if not (JS / "node_modules" / package).is_dir():
        pytest.skip(f"{package} is not in tests/js/node_modules (npm ci --prefix tests/js)")
    return package


@pytest.fixture(autouse=True)
def _no_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tools, "SIMULATED_LATENCY", 0.0)


async def use_chat(sdk: str, url: str, *texts: str) -> dict[str, Any]:
    """Send `texts` in turn with the chat of the AI SDK release `sdk` to `url`; what the chat
    ended with."""
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE, str(JS / "chat.mjs"), sdk, url, *texts,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    chat: dict[str, Any] = json.loads(out)
    # validateUIMessages accepted every message (5.0.0 has no validateUIMessages)
    assert chat["invalid"] == ("not validated" if sdk == "ai-5.0.0" else None), chat["invalid"]
    return chat


async def serving(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def example_app(client: AsyncClient) -> web.Application:
    path = Path(__file__).resolve().parent.parent / "examples" / "web_agent.py"
    spec = importlib.util.spec_from_file_location("example_web_agent", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: web.Application = module.make_app(build_agent(client, "m"))
    return app


def app_streaming(events: Callable[[], AsyncIterator[AgentEvent]]) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        return await ui_message_response(request, events())

    app = web.Application()
    app.router.add_post("/api/chat", chat)
    return app


async def test_use_chat_assembles_a_real_run_from_the_example_service(sdk: str) -> None:
    async with ModelServer(DemoModel()) as model, AsyncClient(model.base_url) as client:
        async for base in serving(example_app(client)):
            chat = await use_chat(sdk, f"{base}/api/chat", "What's the weather in Boston?")
    assert (chat["status"], chat["error"], chat["errors"]) == ("ready", None, [])
    user, answer = chat["messages"]
    assert user["parts"] == [{"type": "text", "text": "What's the weather in Boston?"}]
    assert model.requests[0].messages[-1]["content"] == "What's the weather in Boston?"
    assert answer["role"] == "assistant" and answer["id"].startswith("msg-")
    step1, tool_part, step2, text_part = answer["parts"]
    assert step1 == step2 == {"type": "step-start"}  # one step per model request
    # The tool part holds what the model server was sent back: the call and its result.
    sent = model.requests[1].messages
    (call,) = sent[-2]["tool_calls"]
    assert tool_part["type"] == f"tool-{call['function']['name']}" == "tool-get_weather"
    assert tool_part["toolCallId"] == call["id"] and tool_part["state"] == "output-available"
    assert tool_part["input"] == json.loads(call["function"]["arguments"]) == {"location": "Boston"}
    assert tool_part["output"] == sent[-1]["content"] and "Boston" in tool_part["output"]
    assert text_part["state"] == "done"
    assert 'get_weather(location="Boston") returned' in text_part["text"]


async def test_the_next_message_sends_the_conversation_back(sdk: str) -> None:
    # useChat posts the whole conversation, its assistant message with the tool parts as it
    # assembled them; ui_messages_to_chat (in the example's handler) makes it a transcript.
    script = ScriptedModel([
        tool_calls(call("get_weather", {"location": "Boston"}), call("get_weather", {"location": ""})),
        text("Sunny in Boston."),
        text("Sunny in Oslo too."),
    ])  # fmt: skip
    async with ModelServer(script) as model, AsyncClient(model.base_url, max_retries=0) as client:
        async for base in serving(example_app(client)):
            chat = await use_chat(sdk, f"{base}/api/chat", "Weather?", "And Oslo?")
    assert (chat["status"], chat["errors"]) == ("ready", [])
    first_run, second_run = model.requests[1].messages, model.requests[2].messages
    assert [m["role"] for m in first_run] == ["system", "user", "assistant", "tool", "tool"]
    assert second_run == [*first_run, {"role": "assistant", "content": "Sunny in Boston."},
                          {"role": "user", "content": "And Oslo?"}]  # fmt: skip


async def test_use_chat_assembles_reasoning_streamed_arguments_and_a_failed_call(sdk: str) -> None:
    async for base in serving(app_streaming(lambda: play(reasoning_run()))):
        chat = await use_chat(sdk, f"{base}/api/chat", "Weather?")
    assert (chat["status"], chat["errors"]) == ("ready", [])
    parts = chat["messages"][1]["parts"]
    assert [p["type"] for p in parts] == [
        "step-start", "reasoning", "text", "tool-get_weather", "tool-lookup",
        "step-start", "reasoning", "text",
    ]  # fmt: skip
    assert [p["text"] for p in parts if p["type"] == "reasoning"] == [
        "The user wants the weather.",
        "Now answer.",
    ]
    assert [p["text"] for p in parts if p["type"] == "text"] == ["Checking.", "Sunny in Boston."]
    weather, lookup = parts[3], parts[4]
    assert weather["toolCallId"] == WEATHER.id and weather["state"] == "output-available"
    assert weather["input"] == {"location": "Boston"}  # from the streamed deltas, then whole
    assert weather["output"] == "Sunny, 22 degrees celsius in Boston"
    assert lookup["state"] == "output-error" and lookup["input"] == {"q": "x"}
    assert lookup["errorText"] == "Error: the tool 'lookup' raised KeyError: 'x'"


async def test_use_chat_reports_a_failed_run_without_the_servers_words(sdk: str) -> None:
    failing = status(429, "Rate limit reached for sk-live-SECRET in organization org-7")
    async with ModelServer(ScriptedModel([failing])) as model:
        async with AsyncClient(model.base_url, api_key="sk-live-SECRET", max_retries=0) as client:
            async for base in serving(example_app(client)):
                chat = await use_chat(sdk, f"{base}/api/chat", "Hi")
    assert chat["status"] == "error"
    assert chat["error"] == "The agent run failed (RateLimitError)."
    assert "SECRET" not in json.dumps(chat) and "org-7" not in json.dumps(chat)


async def test_the_sdk_refuses_a_chunk_that_breaks_the_protocol(sdk: str) -> None:
    # The check the other tests rely on: a chunk the schema does not allow fails the chat.
    async def wrong(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"type":"start"}\n\n')
        await response.write(b'data: {"type":"text-delta","delta":"no id"}\n\n')
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/api/chat", wrong)
    async for base in serving(app):
        chat = await use_chat(sdk, f"{base}/api/chat", "Hi")
    assert chat["status"] == "error" and "Type validation failed" in chat["error"]


async def test_the_sdk_refuses_a_delta_for_a_part_never_started(sdk: str) -> None:
    async def unopened(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"type":"text-delta","id":"t1","delta":"orphan"}\n\n')
        return response

    app = web.Application()
    app.router.add_post("/api/chat", unopened)
    async for base in serving(app):
        chat = await use_chat(sdk, f"{base}/api/chat", "Hi")
    assert chat["status"] == "error"
    if sdk == "ai":  # 5.0.0 fails too, with a TypeError of its own
        assert 'Ensure a "text-start" chunk' in chat["error"]


async def test_finish_reason_is_for_releases_that_know_it(sdk: str) -> None:
    # Why `finish_reason` is off by default: 5.0.0's strict schema refuses the field.
    async def chat(request: web.Request) -> web.StreamResponse:
        return await ui_message_response(request, play(reasoning_run()), finish_reason=True)

    app = web.Application()
    app.router.add_post("/api/chat", chat)
    async for base in serving(app):
        outcome = await use_chat(sdk, f"{base}/api/chat", "Hi")
    if sdk == "ai-5.0.0":
        assert outcome["status"] == "error" and "finishReason" in outcome["error"]
    else:
        assert (outcome["status"], outcome["errors"]) == ("ready", [])
