"""asynctool against a real llama.cpp `llama-server` running Gemma 3 270M (see `_llama.py`).

A 270M base model is erratic, so every prompt here is built to make it predictable: decoding
is greedy (`temperature=0`, a fixed `seed`), each conversation starts with worked examples of
the answer wanted (a tool call, a JSON object, a one-line answer), and stop strings end the
answer where the chat template ends a turn (`<|im_end|>`) or a call (`</tool_call>`). What is
asserted is what asynctool must get right whatever the model says: the shape of completions
and chunks, usage, tool calls whose arguments are JSON, the agent's transcript, errors.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from asynctool import (
    Agent,
    AssistantMessage,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ChatCompletion,
    RunCompleted,
    RunResult,
    TextDelta,
    Tool,
    ToolCallReady,
    ToolMessage,
    ToolResult,
    tool,
)
from asynctool.demo import DEFAULT_PROMPT

from ._llama import MODEL_FILE, RunningServer

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gemma-3-270m"  # llama-server serves its one model whatever the request names
GREEDY: dict[str, Any] = {"temperature": 0, "seed": 7}
END_OF_TURN = "<|im_end|>"
END_OF_CALL = "</tool_call>"

# ---------------------------------------------------------------------------------- prompts

CAPITALS: list[dict[str, Any]] = [
    {"role": "system", "content": "You answer questions in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "What is the capital of Spain?"},
    {"role": "assistant", "content": "The capital of Spain is Madrid."},
    {"role": "user", "content": "What is the capital of Italy?"},
]


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def _worked(n: int, city: str, tool: str, result: str, answer: str) -> list[Any]:
    """One worked example: a question, the tool call it needs, its result and the answer."""
    question = (
        f"What's the weather in {city}?" if tool == "get_weather" else f"What time is it in {city}?"
    )
    call_id = f"call_{n}"
    arguments = json.dumps({"city": city})
    call = {"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}
    return [
        user(question),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": result},
        {"role": "assistant", "content": answer},
    ]


# The model only calls tools after seeing it done: without examples it writes a made-up tool
# result as plain text. The Qwen2.5 template renders each example's call as a <tool_call>
# block and its result as a <tool_response>, as it will render the real ones. With two
# examples the model calls get_local_time for every question; the third, a weather question
# last, makes it choose by the question (measured on this model, greedy).
INSTRUCTIONS = "You are a weather assistant. Call a tool for every question."
WORKED_EXAMPLES: list[Any] = [
    *_worked(1, "Paris", "get_weather", "Paris: 18 °C, sunny", "It is 18 °C and sunny in Paris."),
    *_worked(2, "Lima", "get_local_time", "Lima: 09:15", "It is 09:15 in Lima."),
    *_worked(3, "Oslo", "get_weather", "Oslo: 4 °C, rain", "It is 4 °C and raining in Oslo."),
]
TOOL_DEFINITIONS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city name."}},
                "required": ["city"],
            },
        },
    }
    for name, description in [
        ("get_weather", "Get the current weather in a city."),
        ("get_local_time", "Get the local time in a city."),
    ]
]


def ask_for_a_tool(question: str) -> list[Any]:
    return [{"role": "system", "content": INSTRUCTIONS}, *WORKED_EXAMPLES, user(question)]


class City(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    country: str


JSON_EXAMPLES: list[Any] = [
    {"role": "system", "content": "You answer with JSON only."},
    user("Which city is the capital of France?"),
    {"role": "assistant", "content": '{"name": "Paris", "country": "France"}'},
    user("Which city is the capital of Japan?"),
]


async def final(stream: Any) -> tuple[ChatCompletion, int]:
    """Read a stream to its end: the assembled completion and how many chunks came."""
    chunks = 0
    async with stream:
        async for _ in stream:
            chunks += 1
        return await stream.get_final_completion(), chunks


def assert_usage_adds_up(completion: ChatCompletion) -> None:
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def assert_no_key(llama: RunningServer, text: str) -> None:
    # `assert key not in text` would print the key in the report of the failure it detects.
    leaked = llama.api_key in text
    assert not leaked, "the server's API key appears in the text"


# ------------------------------------------------------------------------ the server's setup


async def test_the_chat_template_renders_tools(llama: RunningServer) -> None:
    """The premise of the tool tests: without a template that knows tools, llama-server
    would render ChatML and leave them out of the prompt without a word."""
    body = {"messages": [user("Weather in Oslo?")], "tools": TOOL_DEFINITIONS}
    headers = {"Authorization": f"Bearer {llama.api_key}"}
    url = llama.base_url.removesuffix("/v1") + "/apply-template"
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        prompt = (await r.json())["prompt"]
    assert "<tools>" in prompt and '"name": "get_weather"' in prompt
    assert "<tool_call>" in prompt  # the format the model is asked to answer in


# ------------------------------------------------------------------------------ completions


async def test_a_plain_completion_with_usage(client: AsyncClient) -> None:
    completion = await client.chat.completions.create(
        model=MODEL, messages=CAPITALS, max_tokens=40, stop=[END_OF_TURN], **GREEDY
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"  # the stop string, well before max_tokens
    assert isinstance(choice.message.content, str) and "Rome" in choice.message.content
    assert END_OF_TURN not in choice.message.content  # a stop string is not part of the answer
    assert completion.object == "chat.completion"
    assert completion.model.endswith(MODEL_FILE)  # llama-server names the file it serves
    assert_usage_adds_up(completion)


async def test_a_streamed_completion_assembles_the_same_answer(client: AsyncClient) -> None:
    params: dict[str, Any] = {"max_tokens": 40, "stop": [END_OF_TURN], **GREEDY}
    plain = await client.chat.completions.create(model=MODEL, messages=CAPITALS, **params)
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=CAPITALS,
        stream=True,
        stream_options={"include_usage": True},
        **params,
    )
    streamed, chunks = await final(stream)
    assert chunks > 3  # token by token, not one piece
    assert streamed.object == "chat.completion"
    assert streamed.choices[0].message.content == plain.choices[0].message.content
    assert streamed.choices[0].finish_reason == "stop"
    assert streamed.usage == plain.usage  # the same prompt and answer, counted the same
    assert_usage_adds_up(streamed)


async def test_streams_back_to_back_need_no_retry(
    llama: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """llama-server closes the connection after each streamed response although it answered
    with `Keep-Alive`; the next request must not fail on the dead pooled connection, nor
    wait out a backoff, nor use up a retry (issue 13, item 7).

    No retries are allowed here, so a request that needed a counted retry fails the test;
    asynctool logs every backoff, so one that waited shows up; and llama-server logs every
    task it runs, so a request it ran twice would show up too."""
    caplog.set_level(logging.DEBUG, logger="asynctool")
    before = llama.tasks_started()
    params: dict[str, Any] = {"max_tokens": 8, "stop": [END_OF_TURN], **GREEDY}
    async with AsyncClient(llama.base_url, llama.api_key, max_retries=0) as client:
        for _ in range(5):
            stream = await client.chat.completions.create(
                model=MODEL, messages=CAPITALS, stream=True, **params
            )
            completion, _ = await final(stream)
            assert completion.choices[0].message.content
        # A plain request after a stream meets the same closed connection.
        plain = await client.chat.completions.create(model=MODEL, messages=CAPITALS, **params)
        assert plain.choices[0].message.content
    assert [r.getMessage() for r in caplog.records if "Retrying" in r.getMessage()] == []
    assert llama.tasks_started() - before == 6


# ------------------------------------------------------------------------------ tool calls

TOOL_PARAMS: dict[str, Any] = {
    "tools": TOOL_DEFINITIONS,
    # A call ends at </tool_call>: nothing the model writes after it is wanted.
    "stop": [END_OF_CALL, END_OF_TURN],
    "max_tokens": 60,
    **GREEDY,
}


def the_call(completion: ChatCompletion) -> tuple[str, Any]:
    """The one tool call of the completion: its name and its decoded arguments."""
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1, choice.message
    assert calls[0].type == "function" and calls[0].id
    return calls[0].function.name, json.loads(calls[0].function.arguments)


async def test_a_tool_call(client: AsyncClient) -> None:
    completion = await client.chat.completions.create(
        model=MODEL, messages=ask_for_a_tool("What's the weather in Cairo?"), **TOOL_PARAMS
    )
    assert the_call(completion) == ("get_weather", {"city": "Cairo"})
    assert_usage_adds_up(completion)


async def test_a_streamed_tool_call_is_the_same_call(client: AsyncClient) -> None:
    messages = ask_for_a_tool("What time is it in Berlin?")
    plain = await client.chat.completions.create(model=MODEL, messages=messages, **TOOL_PARAMS)
    stream = await client.chat.completions.create(
        model=MODEL, messages=messages, stream=True, **TOOL_PARAMS
    )
    streamed, chunks = await final(stream)
    assert chunks > 1
    assert the_call(streamed) == the_call(plain) == ("get_local_time", {"city": "Berlin"})


# ---------------------------------------------------------------------------------- agents


def weather_tools() -> tuple[list[Tool[..., Any]], list[tuple[str, str]]]:
    """The two tools, and the list of (tool, city) each call appends to."""
    calls: list[tuple[str, str]] = []

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather in a city.

        Args:
            city: The city name.
        """
        calls.append(("get_weather", city))
        return f"{city}: 21 °C, cloudy"

    @tool
    def get_local_time(city: str) -> str:
        """Get the local time in a city.

        Args:
            city: The city name.
        """
        calls.append(("get_local_time", city))
        return f"{city}: 14:30"

    return [get_weather, get_local_time], calls


def weather_agent(client: AsyncClient, tools: list[Tool[..., Any]]) -> Agent[str | None]:
    return Agent(
        client,
        model=MODEL,
        tools=tools,
        instructions=INSTRUCTIONS,
        stop=[END_OF_CALL, END_OF_TURN],
        max_tokens=60,
        **GREEDY,
    )


def assert_one_call_then_an_answer(result: RunResult[Any], call: tuple[str, str]) -> None:
    """The run's own messages: one call (the one expected), its result, the answer."""
    assert result.turns == 2
    asked, answered, last = result.messages[-3:]
    assert isinstance(asked, AssistantMessage) and asked.tool_calls is not None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in asked.tool_calls] == [
        (call[0], {"city": call[1]})
    ]
    assert isinstance(answered, ToolMessage) and answered.tool_call_id == asked.tool_calls[0].id
    assert answered.content in {f"{call[1]}: 21 °C, cloudy", f"{call[1]}: 14:30"}
    assert isinstance(last, AssistantMessage) and not last.tool_calls
    assert isinstance(result.output, str) and result.output.strip() == result.output
    assert result.output and result.output == last.content
    assert result.completion.choices[0].finish_reason == "stop"


async def test_an_agent_picks_one_of_two_tools_and_answers(
    llama: RunningServer, client: AsyncClient
) -> None:
    tools, calls = weather_tools()
    before = llama.tasks_started()
    result = await weather_agent(client, tools).run(
        [*WORKED_EXAMPLES, user("What's the weather in Cairo?")]
    )
    assert calls == [("get_weather", "Cairo")]  # the function ran, with the model's arguments
    assert_one_call_then_an_answer(result, ("get_weather", "Cairo"))
    assert llama.tasks_started() - before == 2  # one request per turn
    last = result.completion.usage
    assert last is not None and result.usage.total_tokens > last.total_tokens  # summed


async def test_an_agent_streams_the_run_it_would_return(client: AsyncClient) -> None:
    tools, calls = weather_tools()
    question = [*WORKED_EXAMPLES, user("What time is it in Berlin?")]
    plain = await weather_agent(client, tools).run(question)
    calls.clear()
    events: list[Any] = []
    async with weather_agent(client, tools).run_stream(question) as run:
        async for event in run:
            events.append(event)
    assert calls == [("get_local_time", "Berlin")]
    assert isinstance(events[-1], RunCompleted)
    result = events[-1].result
    assert_one_call_then_an_answer(result, ("get_local_time", "Berlin"))
    assert result.output == plain.output and result.usage == plain.usage
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == result.output
    ready = [e.call for e in events if isinstance(e, ToolCallReady)]
    finished = [e for e in events if isinstance(e, ToolResult)]
    assert [c.function.name for c in ready] == ["get_local_time"]
    assert [(e.call.id, e.content, e.is_error) for e in finished] == [
        (ready[0].id, "Berlin: 14:30", False)
    ]


# ------------------------------------------------------------------------ structured output


async def test_parse_with_a_json_schema(client: AsyncClient) -> None:
    completion = await client.chat.completions.parse(
        model=MODEL, messages=JSON_EXAMPLES, response_format=City, max_tokens=60, **GREEDY
    )
    message = completion.choices[0].message
    # llama-server turns the schema into a grammar, so the answer has exactly its keys.
    assert isinstance(message.parsed, City) and message.parsed.name and message.parsed.country
    assert json.loads(message.content or "") == msgspec.to_builtins(message.parsed)


async def test_an_agent_with_an_output_type(client: AsyncClient) -> None:
    agent = Agent(client, model=MODEL, output_type=City, max_tokens=60, **GREEDY)
    result = await agent.run(JSON_EXAMPLES)
    assert isinstance(result.output, City) and result.output.name and result.output.country
    assert result.turns == 1  # it parsed the first time: nothing was sent back to be fixed


async def test_json_object_mode(client: AsyncClient) -> None:
    completion = await client.chat.completions.create(
        model=MODEL,
        messages=JSON_EXAMPLES,
        response_format={"type": "json_object"},
        max_tokens=60,
        **GREEDY,
    )
    content = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(content or ""), dict)


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_wrong_key_is_an_authentication_error(llama: RunningServer, stream: bool) -> None:
    wrong = "sk-wrong-key-0123"
    async with AsyncClient(llama.base_url, wrong) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.chat.completions.create(
                model=MODEL, messages=CAPITALS, max_tokens=4, stream=stream
            )
    error = caught.value
    assert error.status_code == 401
    assert error.message == "Invalid API Key"  # llama-server's own words
    assert error.body == {
        "error": {"message": "Invalid API Key", "type": "authentication_error", "code": 401}
    }
    for shown in (str(error), repr(error), str(error.body)):
        assert wrong not in shown
        assert_no_key(llama, shown)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_prompt_longer_than_the_context_is_a_bad_request(
    client: AsyncClient, stream: bool
) -> None:
    too_long = [user("word " * 3000)]  # about 3,000 tokens; the server's context is 2,048
    with pytest.raises(BadRequestError) as caught:
        await client.chat.completions.create(
            model=MODEL, messages=too_long, max_tokens=4, stream=stream
        )
    error = caught.value
    assert error.status_code == 400
    assert "exceeds the available context size (2048 tokens)" in error.message
    assert isinstance(error.body, dict)
    details = error.body["error"]
    assert details["type"] == "exceed_context_size_error"
    assert details["n_ctx"] == 2048 and details["n_prompt_tokens"] > 2048


# ------------------------------------------------------------------------------- the demo

SUMMARY = re.compile(r"^✓ (\d+) turns? · \d+ tool calls? · [\d,]+ tokens \(", re.M)


@dataclass(frozen=True)
class Demo:
    """How a demo run ended. Not a CompletedProcess: its repr, shown when an assertion
    fails, would hold the command line and with it the key."""

    returncode: int
    stdout: str
    stderr: str


def run_demo(*args: str) -> Demo:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONIOENCODING"] = "utf-8"
    done = subprocess.run(
        [sys.executable, "-m", "asynctool.demo", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,
    )
    return Demo(done.returncode, done.stdout, done.stderr)


def test_the_demo_runs_against_llama_server(llama: RunningServer) -> None:
    before = llama.tasks_started()
    done = run_demo(
        *("--base-url", llama.base_url, "--api-key", llama.api_key),
        # A base model does not stop by itself: without these it writes until the context
        # is full and the run fails with finish_reason 'length'.
        *("--max-tokens", "48", "--stop", END_OF_TURN, "--stop", END_OF_CALL),
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert f"at {llama.base_url} (key sent as Authorization: Bearer)" in done.stdout
    summary = SUMMARY.search(done.stdout)
    assert summary, done.stdout
    assert llama.tasks_started() - before == int(summary.group(1))  # one task per turn
    assert_no_key(llama, done.stdout + done.stderr)


def test_the_demo_shows_the_servers_message_for_a_wrong_key(llama: RunningServer) -> None:
    done = run_demo("--base-url", llama.base_url, "--api-key", "sk-not-the-key")
    assert done.returncode == 1
    assert done.stdout.rstrip().endswith(DEFAULT_PROMPT)  # the banner, the question, no answer
    assert done.stderr == (
        f"python -m asynctool.demo: error: {llama.base_url} rejected the API key "
        "(HTTP 401: Invalid API Key); check --api-key or OPENAI_API_KEY, and --auth (now "
        "bearer)\n"
    )
    assert "sk-not-the-key" not in done.stdout + done.stderr
