"""ModelServer through a real socket: wire format, auth, recording, models, lifecycle."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from asynctool import Usage
from asynctool.testing import (
    Call,
    ModelServer,
    RecordedRequest,
    ScriptedModel,
    call,
    choices,
    refusal,
    text,
    tool_calls,
)
from asynctool.testing import __main__ as cli

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def sse_data(body: bytes) -> list[str]:
    """The `data` of each SSE event of a body that uses `\\n\\n` separators."""
    events = body.decode().split("\n\n")
    assert events[-1] == "", "the body must end with a blank line"
    return [e.removeprefix("data: ") for e in events[:-1]]


def chunks(body: bytes) -> list[dict[str, Any]]:
    data = sse_data(body)
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


async def chat(
    session: aiohttp.ClientSession, server: ModelServer, **body: Any
) -> tuple[int, CIMultiDict[str], bytes]:
    payload = {"model": "gpt-4o", "messages": USER, **body}
    async with session.post(f"{server.base_url}/chat/completions", json=payload) as resp:
        return resp.status, resp.headers.copy(), await resp.read()


async def test_non_stream_text_has_the_chat_completion_shape(
    session: aiohttp.ClientSession,
) -> None:
    async with ModelServer(ScriptedModel([text("Hello there")])) as server:
        status, headers, body = await chat(session, server)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["x-request-id"].startswith("req_")
    completion = json.loads(body)
    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-")
    assert completion["model"] == "gpt-4o"
    assert isinstance(completion["created"], int)
    [choice] = completion["choices"]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": "Hello there", "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }
    usage = completion["usage"]
    assert usage["completion_tokens"] == 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + 2


async def test_stream_text_deltas_and_done(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([text("Hello brave new world")])) as server:
        status, headers, body = await chat(session, server, stream=True)
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    events = chunks(body)
    assert {e["object"] for e in events} == {"chat.completion.chunk"}
    assert len({e["id"] for e in events}) == 1
    assert all("usage" not in e for e in events)
    deltas = [e["choices"][0]["delta"] for e in events]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert [d["content"] for d in deltas[1:-1]] == ["Hello", " brave", " new", " world"]
    assert deltas[-1] == {}
    assert [e["choices"][0]["finish_reason"] for e in events][-2:] == [None, "stop"]


async def test_usage_chunk_only_with_include_usage(session: aiohttp.ClientSession) -> None:
    model = ScriptedModel([text("one two"), text("one two")])
    async with ModelServer(model) as server:
        _, _, with_usage = await chat(
            session, server, stream=True, stream_options={"include_usage": True}
        )
        _, _, without = await chat(session, server, stream=True)
    events = chunks(with_usage)
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["completion_tokens"] == 2
    assert all(e["usage"] is None for e in events[:-1])
    assert all(e["choices"] for e in chunks(without))


async def test_n_choices_non_stream_and_interleaved_stream(session: aiohttp.ClientSession) -> None:
    model = ScriptedModel([text("a b"), text("a b")])
    async with ModelServer(model) as server:
        _, _, body = await chat(session, server, n=3)
        _, _, streamed = await chat(session, server, n=3, stream=True)
    assert [c["index"] for c in json.loads(body)["choices"]] == [0, 1, 2]
    indexes = [e["choices"][0]["index"] for e in chunks(streamed)]
    assert indexes == [0, 1, 2] * 4  # role, "a", " b", finish: one round each
    assert json.loads(body)["usage"]["completion_tokens"] == 6


async def test_distinct_choices(session: aiohttp.ClientSession) -> None:
    model = ScriptedModel([choices(text("first"), text("second one"))])
    async with ModelServer(model) as server:
        _, _, body = await chat(session, server, n=1)
    contents = [c["message"]["content"] for c in json.loads(body)["choices"]]
    assert contents == ["first", "second one"]


async def test_stream_tool_call_fragments(session: aiohttp.ClientSession) -> None:
    turn = tool_calls(
        call("get_weather", {"location": "Boston"}),
        call("get_time", '{"tz": "EST"}', id="call_fixed"),
    )
    async with ModelServer(ScriptedModel([turn])) as server:
        _, _, body = await chat(session, server, stream=True)
    events = chunks(body)
    fragments = [tc for e in events for tc in e["choices"][0]["delta"].get("tool_calls") or ()]
    openings = [f for f in fragments if "id" in f]
    assert openings == [
        {"index": 0, "id": "call_1_0_0", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}},
        {"index": 1, "id": "call_fixed", "type": "function",
         "function": {"name": "get_time", "arguments": ""}},
    ]  # fmt: skip
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    rest = [f for f in fragments if "id" not in f]
    assert all(
        set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in rest
    )
    by_index = [
        "".join(f["function"]["arguments"] for f in rest if f["index"] == i) for i in (0, 1)
    ]
    assert json.loads(by_index[0]) == {"location": "Boston"}
    assert by_index[1] == '{"tz": "EST"}'
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_non_stream_tool_calls_and_finish_override(session: aiohttp.ClientSession) -> None:
    turn = tool_calls(call("lookup", {"q": 1}), finish_reason="stop", content="Looking")
    async with ModelServer(ScriptedModel([turn])) as server:
        _, _, body = await chat(session, server)
    [choice] = json.loads(body)["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == "Looking"
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1_0_0",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q":1}'},
        }
    ]


async def test_chunk_size_refusal_reasoning_and_length(session: aiohttp.ClientSession) -> None:
    script = [
        text("abcdefg", chunk_size=3, finish_reason="length"),
        refusal("I can't help with that."),
        text("42", reasoning="Think first."),
        refusal("No."),
    ]
    async with ModelServer(ScriptedModel(script)) as server:
        _, _, sized = await chat(session, server, stream=True)
        _, _, refused = await chat(session, server, stream=True)
        _, _, reasoned = await chat(session, server, stream=True)
        _, _, refused_body = await chat(session, server)
    sized_events = chunks(sized)
    assert [e["choices"][0]["delta"].get("content") for e in sized_events[1:-1]] == [
        "abc", "def", "g"
    ]  # fmt: skip
    assert sized_events[-1]["choices"][0]["finish_reason"] == "length"
    refusal_deltas = [e["choices"][0]["delta"] for e in chunks(refused)]
    assert refusal_deltas[0] == {"role": "assistant", "refusal": ""}
    assert "".join(d.get("refusal", "") for d in refusal_deltas) == "I can't help with that."
    assert all("content" not in d for d in refusal_deltas)
    reasoning = [e["choices"][0]["delta"] for e in chunks(reasoned)]
    assert [d.get("reasoning_content") for d in reasoning[1:3]] == ["Think", " first."]
    assert reasoning[3] == {"content": "42"}
    message = json.loads(refused_body)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": None, "refusal": "No."}


async def test_logprobs_follow_the_request(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([text("a b"), text("a b"), text("c")])) as server:
        _, _, body = await chat(session, server, logprobs=True, top_logprobs=2)
        _, _, streamed = await chat(session, server, stream=True, logprobs=True)
        _, _, plain = await chat(session, server)
    content = json.loads(body)["choices"][0]["logprobs"]["content"]
    assert [t["token"] for t in content] == ["a", " b"]
    assert [len(t["top_logprobs"]) for t in content] == [2, 2]
    assert content[1]["bytes"] == list(b" b")
    streamed_lp = [e["choices"][0]["logprobs"] for e in chunks(streamed)]
    assert [lp["content"][0]["token"] for lp in streamed_lp if lp] == ["a", " b"]
    assert json.loads(plain)["choices"][0]["logprobs"] is None


async def test_usage_override_and_reasoning_tokens(session: aiohttp.ClientSession) -> None:
    usage = Usage(prompt_tokens=5, completion_tokens=7, total_tokens=12)
    script = [text("hi", usage=usage), text("x", reasoning="one two three")]
    async with ModelServer(ScriptedModel(script)) as server:
        _, _, body = await chat(session, server)
        _, _, reasoned = await chat(session, server)
    got = json.loads(body)["usage"]
    assert (got["prompt_tokens"], got["completion_tokens"], got["total_tokens"]) == (5, 7, 12)
    details = json.loads(reasoned)["usage"]["completion_tokens_details"]
    assert details["reasoning_tokens"] == 3


async def test_delay_before_the_response(session: aiohttp.ClientSession) -> None:
    loop = asyncio.get_running_loop()
    async with ModelServer(ScriptedModel([text("late", delay=0.2)])) as server:
        started = loop.time()
        status, _, _ = await chat(session, server)
    assert status == 200
    assert loop.time() - started >= 0.2


async def test_requests_are_recorded_with_request_ids(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([text("ok")]), api_key="sk-right") as server:
        async with session.post(
            f"{server.base_url}/chat/completions",
            json={"model": "m", "messages": USER},
            headers={"Authorization": "Bearer sk-right", "X-Trace": "t1"},
        ) as resp:
            request_id = resp.headers["x-request-id"]
        async with session.get(f"{server.base_url}/models") as denied:
            assert denied.status == 401
    first, second = server.requests
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.request_id) == (
        "POST",
        "/v1/chat/completions",
        request_id,
    )
    assert first.headers["x-trace"] == "t1"
    assert first.body == {"model": "m", "messages": USER}
    assert (first.model, first.messages, first.stream, first.n, first.tools) == (
        "m",
        USER,
        False,
        1,
        [],
    )
    assert json.loads(first.raw_body) == first.body
    assert (second.method, second.path, second.body, second.json) == ("GET", "/v1/models", None, {})


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk-secret"},
        {"x-api-key": "sk-secret"},
        {"x-goog-api-key": "sk-secret"},
    ],
)
async def test_each_auth_header_style_is_accepted(
    session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    async with ModelServer(ScriptedModel([text("ok")]), api_key="sk-secret") as server:
        async with session.post(
            f"{server.base_url}/chat/completions",
            json={"model": "m", "messages": USER},
            headers=headers,
        ) as resp:
            assert resp.status == 200
            assert (await resp.json())["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, None), ({"Authorization": "Bearer sk-wrong"}, "invalid_api_key"),
     ({"x-api-key": "sk-secre"}, "invalid_api_key"), ({"Authorization": "sk-secret"}, None)],
)  # fmt: skip
async def test_missing_or_wrong_key_is_a_401(
    session: aiohttp.ClientSession, headers: dict[str, str], code: str | None
) -> None:
    model = ScriptedModel([text("never sent")])
    async with ModelServer(model, api_key="sk-secret") as server:
        async with session.post(
            f"{server.base_url}/chat/completions",
            json={"model": "m", "messages": USER},
            headers=headers,
        ) as resp:
            body = await resp.json()
            assert resp.status == 401
            assert "x-request-id" in resp.headers
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert "sk-secret" not in json.dumps(body)
    assert model.remaining == 1


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"", None),
        (json.dumps({"messages": USER}).encode(), "model"),
        (json.dumps({"model": "m", "messages": []}).encode(), "messages"),
        (json.dumps({"model": "m", "messages": [{"role": "robot"}]}).encode(), "messages[0].role"),
        (json.dumps({"model": "m", "messages": [{"role": {}}]}).encode(), "messages[0].role"),
        (json.dumps({"model": "m", "messages": USER, "tool_choice": ["auto"]}).encode(),
         "tool_choice"),
        (json.dumps({"model": "m", "messages": [{"role": "tool", "content": "x"}]}).encode(),
         "messages[0].tool_call_id"),
        (json.dumps({"model": "m", "messages": USER, "n": 0}).encode(), "n"),
        (json.dumps({"model": "m", "messages": USER, "n": True}).encode(), "n"),
        (json.dumps({"model": "m", "messages": USER, "stream": "yes"}).encode(), "stream"),
        (json.dumps({"model": "m", "messages": USER, "stream_options": {}}).encode(),
         "stream_options"),
        (json.dumps({"model": "m", "messages": USER, "tools": {}}).encode(), "tools"),
        (json.dumps({"model": "m", "messages": USER, "tools": [{"type": "function"}]}).encode(),
         "tools[0].function.name"),
        (json.dumps({"model": "m", "messages": USER, "tools": [{"type": "custom", "custom": {}}]}
                    ).encode(), "tools[0].custom.name"),
        (json.dumps({"model": "m", "messages": USER, "tool_choice": "always"}).encode(),
         "tool_choice"),
        (json.dumps({"model": "m", "messages": USER, "tool_choice":
                     {"type": "function", "function": {"name": "nope"}}}).encode(), "tool_choice"),
    ],
)  # fmt: skip
async def test_malformed_bodies_are_a_400(
    session: aiohttp.ClientSession, payload: bytes, param: str | None
) -> None:
    model = ScriptedModel([text("never sent")])
    async with ModelServer(model) as server:
        async with session.post(
            f"{server.base_url}/chat/completions",
            data=payload,
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
    assert model.remaining == 1
    assert server.requests[0].raw_body == payload


@pytest.mark.parametrize(
    "choice",
    [
        # openai-python's ChatCompletionToolChoiceOptionParam: the forms that name no function
        # of `tools` are the model's to read, not the server's to refuse.
        {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
        {"type": "custom", "custom": {"name": "grammar"}},
    ],
)
async def test_tool_choices_naming_no_function_are_accepted(
    session: aiohttp.ClientSession, choice: dict[str, Any]
) -> None:
    tools = [{"type": "custom", "custom": {"name": "grammar"}}]  # a custom tool has no function
    async with ModelServer(ScriptedModel([text("ok")])) as server:
        status, _, _ = await chat(session, server, tools=tools, tool_choice=choice)
    assert status == 200


async def test_models_endpoints_and_unknown_paths(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel(), model_ids=("a", "b")) as server:
        async with session.get(f"{server.base_url}/models") as resp:
            listing = await resp.json()
            assert resp.headers["x-request-id"]
        async with session.get(f"{server.base_url}/models/b") as resp:
            one = await resp.json()
        async with session.get(f"{server.base_url}/models/zzz") as resp:
            missing = (resp.status, await resp.json())
        async with session.get(f"{server.base_url}/chat/completions") as resp:
            wrong = (resp.status, await resp.json())
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["a", "b"]
    assert one == {"id": "b", "object": "model", "created": 0, "owned_by": "asynctool"}
    assert missing[0] == 404 and missing[1]["error"]["code"] == "model_not_found"
    assert wrong[0] == 404
    assert wrong[1]["error"]["message"] == "Invalid URL (GET /v1/chat/completions)"


async def test_model_exception_is_a_500(session: aiohttp.ClientSession) -> None:
    def broken(request: RecordedRequest) -> Any:
        raise KeyError("weather")

    async with ModelServer(ScriptedModel([broken])) as server:
        status, _, body = await chat(session, server)
    assert status == 500
    assert json.loads(body)["error"]["code"] == "model_error"
    assert "KeyError" in json.loads(body)["error"]["message"]
    assert isinstance(server.errors[0], KeyError)


async def test_a_step_that_returns_no_turn_is_a_500(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([lambda request: "just text"])) as server:  # type: ignore[list-item]
        status, _, body = await chat(session, server)
    assert status == 500
    assert "must return a Reply" in json.loads(body)["error"]["message"]
    with pytest.raises(ValueError, match="at least one reply"):
        choices()


async def test_lifecycle_repr_and_urls() -> None:
    server = ModelServer(ScriptedModel(), port=0)
    assert "not started" in repr(server)
    assert server.port == 0
    await server.start()
    try:
        assert server.port > 0
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.base_url in repr(server)
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
    finally:
        await server.close()
    await server.close()  # idempotent


async def test_port_in_use_fails_cleanly() -> None:
    async with ModelServer(ScriptedModel()) as first:
        second = ModelServer(ScriptedModel(), port=first.port)
        with pytest.raises(OSError):
            await second.start()
        assert "not started" in repr(second)


def test_run_in_a_thread_until_stop() -> None:
    server = ModelServer(ScriptedModel([text("threaded")]))
    ready = threading.Event()
    thread = threading.Thread(target=server.run, kwargs={"on_ready": lambda s: ready.set()})
    thread.start()
    try:
        assert ready.wait(10)
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=10) as resp:
            assert json.load(resp)["data"][0]["id"] == "asynctool-demo"
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()
    server.stop()  # no run() going on: a no-op


def test_command_line_serves_the_demo_model() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "asynctool.testing", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("asynctool.testing: DemoModel at http://127.0.0.1:")
        base_url = line.split(" at ")[1].strip()
        request = urllib.request.Request(
            f"{base_url}/chat/completions",
            data=json.dumps(
                {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={"Content-Type": "application/json", "x-api-key": "k"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            content = json.load(resp)["choices"][0]["message"]["content"]
        assert "not an LLM" in content
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_main_parses_options_and_announces_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[ModelServer] = []

    def fake_run(self: ModelServer, *, on_ready: Any = None) -> None:
        started.append(self)
        on_ready(self)

    monkeypatch.setattr(ModelServer, "run", fake_run)
    assert cli.main(["--port", "8123", "--api-key", "k2", "--host", "127.0.0.1"]) == 0
    [server] = started
    assert (server.port, server.api_key, type(server.model).__name__) == (8123, "k2", "DemoModel")
    assert server.record is False  # a long-running server keeps no history
    assert capsys.readouterr().out == "asynctool.testing: DemoModel at http://127.0.0.1:8123/v1\n"


async def test_large_bodies_are_accepted(session: aiohttp.ClientSession) -> None:
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 3_000_000}]}
    async with ModelServer(ScriptedModel([text("ok")])) as server:
        async with session.post(
            f"{server.base_url}/chat/completions",
            data=io.BytesIO(json.dumps(big).encode()),
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 200
    assert server.requests[0].body == big


async def test_recording_can_be_turned_off(session: aiohttp.ClientSession) -> None:
    async with ModelServer(ScriptedModel([text("ok")]), record=False) as server:
        status, _, _ = await chat(session, server)
    assert status == 200
    assert server.requests == []


async def test_chunk_size_applies_to_arguments(session: aiohttp.ClientSession) -> None:
    turn = tool_calls(call("f", '{"city": "Boston"}'), chunk_size=5)
    async with ModelServer(ScriptedModel([turn])) as server:
        _, _, body = await chat(session, server, stream=True)
    fragments = [
        tc["function"]["arguments"]
        for e in chunks(body)
        for tc in e["choices"][0]["delta"].get("tool_calls") or ()
        if "id" not in tc
    ]
    assert fragments == ['{"cit', 'y": "', "Bosto", 'n"}']


def test_call_builds_json_text() -> None:
    assert call("f", {"a": [1, "x"]}) == Call(name="f", arguments='{"a":[1,"x"]}')
    assert call("f", "{bad", id="c1") == Call(name="f", arguments="{bad", id="c1")


# ------------------------------------------------------------- a script that runs out (item 22)


async def test_running_out_is_not_retried_and_counts_requests() -> None:
    from asynctool import AsyncClient, InternalServerError
    from asynctool.testing import status

    model = ScriptedModel([status(429, retry_after=0), text("one")])
    async with (
        ModelServer(model) as server,
        AsyncClient(base_url=server.base_url, max_retries=2) as client,
    ):
        first = await client.chat.completions.create(model="m", messages=USER)
        assert first.choices[0].message.content == "one"  # the 429 was retried
        with pytest.raises(InternalServerError, match="request #2 but the script") as info:
            await client.chat.completions.create(model="m", messages=USER)
    assert info.value.code == "script_exhausted"
    assert len(server.requests) == 3  # the 429, its retry, and one attempt that ran out
    assert (model.requests, model.used) == (2, 3)


async def test_running_out_is_not_retried_by_the_openai_sdk() -> None:
    import openai

    model = ScriptedModel([text("one")])
    async with (
        ModelServer(model) as server,
        openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test") as client,
    ):
        await client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
        with pytest.raises(openai.InternalServerError, match="request #2 but"):
            await client.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert len(server.requests) == 2  # max_retries=2 by default, and none was made
    assert model.requests == 2


async def test_a_client_that_retries_anyway_is_told_so(session: aiohttp.ClientSession) -> None:
    model = ScriptedModel([])
    async with ModelServer(model) as server:
        url = f"{server.base_url}/chat/completions"
        body = {"model": "m", "messages": USER}
        messages = []
        for key in ("k1", "k1", "k2"):
            async with session.post(url, json=body, headers={"Idempotency-Key": key}) as resp:
                assert (resp.status, resp.headers["x-should-retry"]) == (500, "false")
                messages.append((await resp.json())["error"]["message"])
    assert "this is request #1 but" in messages[0]
    assert "this is a retry of request #1 but" in messages[1]
    assert "this is request #2 but" in messages[2]
    assert (model.requests, model.used) == (2, 3)


def test_only_recent_idempotency_keys_are_remembered() -> None:
    from multidict import CIMultiDictProxy

    from asynctool.testing import _scripted

    model = ScriptedModel([text("ok")], cycle=True)
    for i in range(_scripted._KEYS_KEPT + 10):
        headers = CIMultiDictProxy(CIMultiDict({"Idempotency-Key": str(i)}))
        model.respond(RecordedRequest("POST", "/v1/chat/completions", headers, None, b"", ""))
    assert len(model._keys) == _scripted._KEYS_KEPT
    assert model.requests == _scripted._KEYS_KEPT + 10


async def test_a_client_that_left_before_the_headers_is_no_server_error() -> None:
    # A client that gives up while a turn's delay runs (its own timeout, a cancelled stream)
    # leaves a closed transport behind; writing the headers then fails. That is the client's
    # choice, not a server error: before, aiohttp logged "Error handling request" with its
    # traceback, which a test's log capture kept (the soak test's memory grew by it).
    from aiohttp.test_utils import make_mocked_request

    from asynctool.testing._deliver import deliver

    class GoneWriter:
        buffer_size = 0
        output_size = 0

        async def write_headers(self, status_line: str, headers: Any) -> None:
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

        def send_headers(self) -> None:
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

        def enable_chunking(self) -> None: ...

        def enable_compression(self, *args: Any, **kwargs: Any) -> None: ...

    request = make_mocked_request("POST", "/v1/chat/completions", writer=GoneWriter())
    response = await deliver(
        request, [b"data: {}\n\n"], stream=True, fault=None, closing=asyncio.Event()
    )
    assert response.status == 200  # returned, not raised into aiohttp
