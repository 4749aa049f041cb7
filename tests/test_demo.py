"""`python -m asynctool.demo`: end to end in subprocesses, and its pieces in-process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import runpy
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
import pytest

import asynctool
from asynctool import (
    APIConnectionError,
    APITimeoutError,
    AssistantMessage,
    AuthenticationError,
    FunctionCall,
    InternalServerError,
    MaxTurnsExceeded,
    NotFoundError,
    RunResult,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolCallReady,
    ToolMessage,
    ToolResult,
    Usage,
    UserMessage,
)
from asynctool.demo import _cli, _stdin, _tools, find_zone, main
from asynctool.demo._options import PROG, Settings, parse_settings
from asynctool.demo._render import ASCII, UNICODE, Console, Quiet, format_call, wants_colour
from asynctool.testing import (
    NOTICE,
    DemoModel,
    ModelServer,
    ScriptedModel,
    refusal,
    status,
    text,
)

ROOT = Path(__file__).resolve().parent.parent
DURATION = r"\d+\.\d\d s"
TOKENS = r"[\d,]+ tokens \([\d,]+ prompt \+ [\d,]+ completion\)"
SUMMARY = re.compile(rf"2 turns \S 2 tool calls \S {TOKENS} \S {DURATION}$", re.M)


@pytest.fixture(autouse=True)
def _no_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_tools, "SIMULATED_LATENCY", 0.0)


# --------------------------------------------------------------------------- subprocess runs


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def served_in_thread(server: ModelServer) -> Iterator[str]:
    """Serve from a thread of this process, so that subprocesses can reach it."""
    ready = threading.Event()
    thread = threading.Thread(target=server.run, kwargs={"on_ready": lambda _: ready.set()})
    thread.start()
    try:
        assert ready.wait(10), "the server did not start"
        yield server.base_url
    finally:
        server.stop()
        thread.join(10)


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONIOENCODING"] = "utf-8"  # the same output whatever the machine's locale
    return env


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    """Every subprocess run of the demo, started together so that the file stays quick."""
    with served_in_thread(ModelServer(DemoModel(), api_key="right")) as keyed_url:
        plans: dict[str, tuple[list[str], str]] = {
            "default": ([], ""),
            "no_stream": (["--no-stream"], ""),
            "json": (["--json"], ""),
            "interactive": (["-i"], "When will order_777 arrive?\nWhat time is it in Tokyo?\n"),
            "bad_option": (["--auth", "basic"], ""),
            "unreachable": (["--base-url", "http://127.0.0.1:9/v1", "--api-key", "x"], ""),
            "bad_key": (["--base-url", keyed_url, "--api-key", "wrong-key-123"], ""),
        }
        started = {
            name: subprocess.Popen(
                [sys.executable, "-m", "asynctool.demo", *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                cwd=ROOT,
                env=_clean_env(),
            )
            for name, (args, _) in plans.items()
        }
        results = {}
        for name, process in started.items():
            out, err = process.communicate(plans[name][1], timeout=60)
            results[name] = Run(process.returncode, out, err)
        return results


def test_default_run_shows_calls_results_answer_and_summary(runs: dict[str, Run]) -> None:
    run = runs["default"]
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    assert "not an LLM" in out.split("\n\n")[0]  # the banner says what answers
    assert "When will order_12345 arrive, and what's the weather in Boston?" in out
    assert 'get_delivery_date(order_id="order_12345")' in out
    assert 'get_weather(location="Boston")' in out
    assert re.search(rf"get_delivery_date {DURATION}: Order order_12345 is in transit", out)
    assert re.search(rf"get_weather {DURATION}: Boston: -?\d+ °C", out)
    assert "Here is what the tools returned:" in out and NOTICE in out
    assert SUMMARY.search(out), out
    assert "\x1b[" not in out  # not a terminal: no colours


def test_no_stream_shows_the_same_without_durations(runs: dict[str, Run]) -> None:
    run = runs["no_stream"]
    assert run.returncode == 0, run.stderr
    assert 'get_weather(location="Boston")' in run.stdout
    assert re.search(r"get_weather: Boston: -?\d+ °C", run.stdout)
    assert NOTICE in run.stdout
    assert SUMMARY.search(run.stdout)


def test_json_prints_the_transcript_alone(runs: dict[str, Run]) -> None:
    run = runs["json"]
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    roles = [m["role"] for m in report["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant"]
    calls = report["messages"][2]["tool_calls"]
    assert [m["tool_call_id"] for m in report["messages"][3:5]] == [c["id"] for c in calls]
    assert report["output"] == report["messages"][-1]["content"]
    assert report["embedded"] is True and report["turns"] == 2
    assert report["usage"]["total_tokens"] > 0
    messages = msgspec.json.encode(report["messages"])
    assert len(msgspec.json.decode(messages, type=list[asynctool.Message])) == 6


def test_interactive_keeps_a_conversation_until_eof(runs: dict[str, Run]) -> None:
    run = runs["interactive"]
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert out.index("When will order_777 arrive?") < out.index("What time is it in Tokyo?")
    assert 'get_delivery_date(order_id="order_777")' in out
    assert 'get_local_time(city="Tokyo")' in out and "(Asia/Tokyo, UTC+09:00)" in out
    one_call = rf"^\S+ 2 turns \S 1 tool call \S {TOKENS} \S {DURATION}$"
    assert len(re.findall(one_call, out, re.M)) == 2


def test_a_bad_option_exits_2_with_one_error_line(runs: dict[str, Run]) -> None:
    run = runs["bad_option"]
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("usage: python -m asynctool.demo")
    assert [line for line in lines if "error:" in line] == [lines[-1]]
    assert lines[-1].startswith(f"{PROG}: error: ")


def test_an_unreachable_server_is_one_line(runs: dict[str, Run]) -> None:
    run = runs["unreachable"]
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"{PROG}: error: cannot reach http://127.0.0.1:9/v1: ")


def test_a_rejected_key_is_one_line_without_the_key(runs: dict[str, Run]) -> None:
    run = runs["bad_key"]
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "rejected the API key (HTTP 401: Incorrect API key provided.)" in run.stderr
    assert "wrong-key-123" not in run.stderr + run.stdout


# --------------------------------------------------------------------------- main(), in-process


def run_main(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ={}, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_main_in_process_streams_with_ascii_marks() -> None:
    code, out, err = run_main("--prompt", "What time is it in Tokyo and New York?")
    assert (code, err) == (0, "")
    assert '-> get_local_time(city="Tokyo")' in out
    assert re.search(rf"<- get_local_time {DURATION}: It is \d\d:\d\d on \w+ .*New York", out)
    assert re.search(r"^done: 2 turns \| 2 tool calls \| ", out, re.M)


def test_main_in_process_without_streaming() -> None:
    code, out, _ = run_main("--no-stream", "--prompt", "Where is my package order_55?")
    assert code == 0
    assert "<- get_delivery_date: Order order_55" in out
    assert "1 tool call |" in out


def test_main_in_process_json() -> None:
    code, out, _ = run_main("--json", "--prompt", "hello")
    assert code == 0
    report = json.loads(out)
    assert report["turns"] == 1 and report["output"].endswith(NOTICE)


WEATHER_SERVER = ROOT / "examples" / "mcp_servers" / "weather.py"


def test_mcp_starts_the_server_and_its_tools_join_the_demos() -> None:
    command = f"{sys.executable} {WEATHER_SERVER}"
    code, out, err = run_main(
        "--json", "--mcp", command, "--prompt", "What is the forecast for Lyon?"
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    calls = [c["function"] for m in report["messages"] for c in m.get("tool_calls") or []]
    assert {"name": "get_forecast", "arguments": '{"location":"Lyon"}'} in calls
    tool_messages = [m["content"] for m in report["messages"] if m["role"] == "tool"]
    assert "Lyon: 18 °C and clear tomorrow (sample data from the MCP server)" in tool_messages


def test_mcp_shows_the_servers_tools_in_the_banner() -> None:
    code, out, _ = run_main("--mcp", f"{sys.executable} {WEATHER_SERVER}", "--prompt", "hello")
    assert code == 0
    assert f"MCP: the MCP server `{sys.executable} {WEATHER_SERVER}`, with get_forecast." in out


def test_mcp_with_a_command_that_cannot_start_is_one_error_line() -> None:
    code, _, err = run_main("--mcp", "no-such-mcp-command --port 1", "--prompt", "hello")
    assert code == 1
    assert err.startswith(
        f"{PROG}: error: cannot start the MCP server `no-such-mcp-command --port 1`: "
    )
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_mcp_without_the_sdk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asynctool.mcp", None)  # as if the extra were missing
    code, _, err = run_main("--mcp", "python server.py", "--prompt", "hello")
    assert code == 1
    assert "--mcp needs the MCP SDK" in err and "pip install 'asynctool[mcp]'" in err


def test_mcp_refuses_a_command_that_is_not_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_settings(["--mcp", "python 'unclosed"], {})
    assert exited.value.code == 2
    assert "--mcp: cannot split" in capsys.readouterr().err


def test_chat_skips_blank_lines_and_stops_at_exit() -> None:
    code, out, _ = run_main(
        "-i",
        "--prompt",
        "Where is order_1?",
        stdin="\n  \nWhat's the weather in Oslo?\nexit\nnot sent\n",
    )
    assert code == 0
    assert out.count("done: ") == 2
    assert 'get_weather(location="Oslo")' in out and "not sent" not in out


async def test_chat_sends_the_conversation_so_far() -> None:
    async with ModelServer(DemoModel()) as server:
        argv = ["-i", "--base-url", server.base_url, "--model", "m"]
        lines = "Where is order_9?\nWhat's the weather in Rome?\n"
        code, out, _ = await anyio.to_thread.run_sync(lambda: run_main(*argv, stdin=lines))
    assert code == 0
    last = server.requests[-1].messages
    assert [m["role"] for m in last[:5]] == ["system", "user", "assistant", "tool", "assistant"]
    assert last[1]["content"] == "Where is order_9?"
    assert last[5] == {"role": "user", "content": "What's the weather in Rome?"}
    assert "m at " + server.base_url + " (no API key)" in out


async def test_provider_key_and_auth_style_are_used() -> None:
    async with ModelServer(DemoModel(), api_key="k-123") as server:
        argv = ["--base-url", server.base_url, "--api-key", "k-123", "--auth", "x-api-key"]
        code, out, err = await anyio.to_thread.run_sync(lambda: run_main(*argv))
    assert (code, err) == (0, "")
    assert "gpt-4o-mini at" in out and "(key sent as x-api-key)" in out
    assert server.requests[0].headers["x-api-key"] == "k-123"
    assert "Authorization" not in server.requests[0].headers


async def test_a_refusal_is_shown() -> None:
    async with ModelServer(ScriptedModel([refusal("I can't help with that.")] * 2)) as server:
        for extra in ([], ["--no-stream"]):
            argv = ["--base-url", server.base_url, *extra]
            code, out, _ = await anyio.to_thread.run_sync(run_main, *argv)
            assert code == 0
            assert "\n\n(the model refused) I can't help with that.\n\ndone: 1 turn" in out


async def test_a_server_error_is_one_line_in_process() -> None:
    async with ModelServer(DemoModel(), api_key="right") as server:
        argv = ["--base-url", server.base_url, "--api-key", "wrong"]
        code, _, err = await anyio.to_thread.run_sync(run_main, *argv)
    assert code == 1
    assert err.startswith(f"{PROG}: error: {server.base_url} rejected the API key")
    assert err.endswith("\n") and err.count("\n") == 1


async def test_a_server_error_is_shown_without_its_terminal_sequences() -> None:
    # A server's error text reaches the error line; an OSC 52 clipboard write or a title change
    # in it must be shown as text, never run by the terminal.
    hostile = "No such model \x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned\x07\x1b[2J here"
    async with ModelServer(ScriptedModel([status(404, hostile)])) as server:
        code, _, err = await anyio.to_thread.run_sync(run_main, "--base-url", server.base_url)
    assert code == 1
    assert "No such model  here" in err
    assert "\x1b" not in err and "\x07" not in err


async def test_max_tokens_and_stop_go_with_every_request() -> None:
    async with ModelServer(DemoModel()) as server:
        argv = ["--base-url", server.base_url, "--max-tokens", "64"]
        argv += ["--stop", "<|im_end|>", "--stop", "\n\n"]
        code, out, err = await anyio.to_thread.run_sync(run_main, *argv)
    assert (code, err) == (0, ""), err
    assert len(server.requests) == 2  # the tool turn and the answer: both carry the options
    for request in server.requests:
        assert request.json["max_tokens"] == 64
        assert request.json["stop"] == ["<|im_end|>", "\n\n"]
    assert "cut at" not in out  # DemoModel ends its answers itself


async def test_without_the_options_no_limit_or_stop_is_sent() -> None:
    async with ModelServer(DemoModel()) as server:
        code, _, _ = await anyio.to_thread.run_sync(run_main, "--base-url", server.base_url)
    assert code == 0
    assert all("max_tokens" not in r.json and "stop" not in r.json for r in server.requests)


async def test_an_answer_cut_at_max_tokens_is_shown_and_said_to_be_cut() -> None:
    cut = text("The order is on its way and", finish_reason="length")
    async with ModelServer(ScriptedModel([cut, cut])) as server:
        for extra in ([], ["--no-stream"]):
            argv = ["--base-url", server.base_url, "--max-tokens", "7", *extra]
            code, out, err = await anyio.to_thread.run_sync(run_main, *argv)
            assert (code, err) == (0, "")
            assert "The order is on its way and\n(the answer was cut at --max-tokens 7)\n" in out
            assert "done: 1 turn" in out


async def test_a_cut_answer_without_max_tokens_is_an_error() -> None:
    cut = text("The order is", finish_reason="length")
    async with ModelServer(ScriptedModel([cut])) as server:
        code, _, err = await anyio.to_thread.run_sync(run_main, "--base-url", server.base_url)
    assert code == 1 and err.count("\n") == 1
    assert "length" in err


async def test_json_says_how_the_answer_ended() -> None:
    cut = text("Partly", finish_reason="length")
    async with ModelServer(ScriptedModel([cut])) as server:
        argv = ["--json", "--base-url", server.base_url, "--max-tokens", "3"]
        code, out, _ = await anyio.to_thread.run_sync(run_main, *argv)
    assert code == 0
    report = json.loads(out)
    assert (report["finish_reason"], report["output"]) == ("length", "Partly")
    assert "cut at" not in out  # stdout is the JSON document alone


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(coroutine: Any) -> None:
        coroutine.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli.asyncio, "run", interrupted)
    code, out, err = run_main()
    assert (code, out, err) == (130, "\n", "")


# --------------------------------------------------------------------------- the pieces


def test_describe_error() -> None:
    remote = Settings(prompt="p", model="m", base_url="https://api.example/v1", auth="x-api-key")
    auth = AuthenticationError("Bad key.", status_code=401, request_id="req_7")
    assert _cli.describe_error(auth, remote) == (
        "https://api.example/v1 rejected the API key (HTTP 401: Bad key.); check --api-key "
        "or OPENAI_API_KEY, and --auth (now x-api-key) (request id: req_7)"
    )
    missing = NotFoundError("No such model", status_code=404)
    assert "HTTP 404 (No such model); check --base-url and --model" in _cli.describe_error(
        missing, remote
    )
    busy = InternalServerError("Overloaded\n  try later", status_code=503)
    assert _cli.describe_error(busy, remote).endswith("answered HTTP 503: Overloaded try later")
    slow = APITimeoutError("Timed out after 5 s")
    assert _cli.describe_error(slow, remote).endswith("did not answer in time: Timed out after 5 s")
    local = Settings(prompt="p", model="m")
    down = APIConnectionError("Connection error: refused")
    assert _cli.describe_error(down, local) == "cannot reach the embedded model server: refused"
    long = MaxTurnsExceeded("x" * 1000)
    assert len(_cli.describe_error(long, local)) == 400
    assert _cli.describe_error(OSError(), local) == "OSError"


def test_settings_from_options_and_environment() -> None:
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_MODEL": "my-model"}
    local = parse_settings([], env)
    assert local.embedded and local.api_key is None  # the key never goes to the local server
    assert local.prompt == _tools.DEFAULT_PROMPT and local.model == "my-model"
    remote = parse_settings(["--no-stream"], {**env, "OPENAI_BASE_URL": "https://x.test/v1/"})
    assert remote.base_url == "https://x.test/v1/" and remote.api_key == "sk-env"
    assert not remote.stream
    assert parse_settings(["--base-url", "http://h/v1/"], {}).model == "gpt-4o-mini"
    assert parse_settings(["--base-url", "http://h/v1/"], {}).base_url == "http://h/v1"
    assert parse_settings(["-i"], {}).prompt is None
    limited = parse_settings(["--max-tokens", "50", "--stop", "\n", "--stop", "END"], {})
    assert (limited.max_tokens, limited.stop) == (50, ("\n", "END"))
    assert limited.agent_options() == {
        "max_tokens": 50,
        "accept_finish_reasons": {"length"},
        "stop": ["\n", "END"],
    }
    assert local.agent_options() == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["--prompt", " "],
        ["--base-url", "ftp://x"],
        ["--interactive", "--json"],
        ["--api-key", "k"],
        ["--auth", "basic"],
        ["--max-tokens", "0"],
        ["--max-tokens", "ten"],
        ["--stop", ""],
        ["--stop", "a", "--stop", "b", "--stop", "c", "--stop", "d", "--stop", "e"],
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        parse_settings(argv, {})
    assert exit.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"{PROG}: error: ")


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_colours_only_on_a_terminal_without_no_color() -> None:
    assert wants_colour(_Terminal(), {})
    assert not wants_colour(_Terminal(), {"NO_COLOR": "1"})
    assert not wants_colour(_Terminal(), {"TERM": "dumb"})
    assert not wants_colour(io.StringIO(), {})
    terminal = _Terminal()
    console = Console.for_stream(terminal, {})
    assert console.colour and console.symbols is UNICODE
    console.prompt("hi")
    assert terminal.getvalue() == f"\x1b[1m{UNICODE.prompt} hi\x1b[0m\n"


def test_symbols_fall_back_to_ascii() -> None:
    latin = io.TextIOWrapper(io.BytesIO(), encoding="latin-1")
    assert Console.for_stream(latin, {}).symbols is ASCII
    latin.detach()


def test_format_call() -> None:
    def call(arguments: str) -> ToolCall:
        return ToolCall(id="c", function=FunctionCall(name="f", arguments=arguments))

    assert format_call(call('{"a": 1, "b": "x"}')) == 'f(a=1, b="x")'
    assert format_call(call("")) == "f()"
    assert format_call(call("[1, 2]")) == "f([1, 2])"
    assert format_call(call('{"a": ')) == 'f({"a":)'


def test_console_sections_errors_and_transcript() -> None:
    out = io.StringIO()
    console = Console(out)
    call = ToolCall(id="c1", function=FunctionCall(name="f", arguments="{}"))
    console.event(TextDelta(text="Let me look.", turn=1))
    console.event(ToolCallReady(call=call, turn=1))
    console.event(ToolResult(call=call, content="Error: boom", is_error=True, duration=0.5, turn=1))
    console.text("")
    console.transcript(
        [
            AssistantMessage(tool_calls=[call]),
            SystemMessage(content="not shown"),
            ToolMessage(content="Error: no", tool_call_id="c1"),
            ToolMessage(content="fine", tool_call_id="other"),
            AssistantMessage(content="Done."),
        ]
    )
    result = RunResult(
        output="Done.", messages=[UserMessage(content="q")], usage=Usage(), turns=1, completion=None
    )
    console.summary(result, 1.5)  # type: ignore[arg-type]
    assert out.getvalue() == (
        "Let me look.\n\n-> f()\nx f 0.50 s: Error: boom\n-> f()\nx f: Error: no\n<- tool: fine\n\n"
        "Done.\n\ndone: 1 turn | 0 tool calls | tokens not reported | 1.50 s\n"
    )


def test_quiet_writes_nothing() -> None:
    out = io.StringIO()
    quiet = Quiet(out)
    quiet.banner(["a", "b"])
    quiet.prompt("x")
    quiet.interrupted()
    assert out.getvalue() == ""


async def test_read_line_from_a_pipe() -> None:
    out = io.StringIO()
    stdin = io.StringIO("first\r\n\nlast")
    lines = [await _stdin.read_line(stdin, Console(out)) for _ in range(4)]
    assert lines == ["first", "", "last", None]
    assert out.getvalue() == "> first\n> last\n"


async def test_read_line_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    answers = iter(["typed", EOFError()])

    def fake_input(marker: str) -> str:
        assert marker == "> "
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(sys, "stdin", terminal)
    monkeypatch.setattr("builtins.input", fake_input)
    console = Console(io.StringIO())
    assert await _stdin.read_line(terminal, console) == "typed"
    assert await _stdin.read_line(terminal, console) is None


async def test_read_line_errors_and_cancellation() -> None:
    class Broken(io.StringIO):
        def readline(self, size: int | None = -1) -> str:
            raise OSError("stdin is gone")

    with pytest.raises(OSError, match="stdin is gone"):
        await _stdin.read_line(Broken(), Console(io.StringIO()))

    release = threading.Event()

    class Slow(io.StringIO):
        def readline(self, size: int | None = -1) -> str:
            release.wait(5)
            return "late\n"

    task = asyncio.ensure_future(_stdin.read_line(Slow(), Console(io.StringIO())))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await asyncio.sleep(0.1)  # the thread's late line is dropped, not set on a done future


async def test_tools() -> None:
    assert find_zone("Tokyo").key == "Asia/Tokyo"
    assert find_zone("New York, NY").key == "America/New_York"
    assert find_zone("boston").key == "America/New_York"
    assert find_zone("Europe/Paris").key == "Europe/Paris"
    assert find_zone("UTC").key == "UTC"
    with pytest.raises(ValueError, match="no time zone is known for 'Atlantis'"):
        find_zone("Atlantis")
    now = await _tools.get_local_time.run('{"city": "Kolkata"}')
    assert re.fullmatch(
        r"It is \d\d:\d\d on \w+ \d\d \w+ in Kolkata \(Asia/Kolkata, UTC\+05:30\)\.", now
    )
    assert "UTC-" in await _tools.get_local_time.run('{"city": "Los Angeles"}')
    celsius = await _tools.get_weather.run('{"location": "Oslo"}')
    fahrenheit = await _tools.get_weather.run('{"location": "Oslo", "unit": "fahrenheit"}')
    c = int(re.findall(r"(-?\d+) °C", celsius)[0])
    assert f"{round(c * 9 / 5 + 32)} °F" in fahrenheit
    assert celsius == await _tools.get_weather.run('{"location": "Oslo"}')  # stable
    delivery = await _tools.get_delivery_date.run('{"order_id": "A1"}')
    assert delivery.startswith("Order A1 is in transit, expected on ")


def test_python_dash_m_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["asynctool.demo", "--json", "--prompt", "hello"])
    with pytest.raises(SystemExit) as exit:
        runpy.run_module("asynctool.demo", run_name="__main__")
    assert exit.value.code == 0
    assert json.loads(capsys.readouterr().out)["turns"] == 1
