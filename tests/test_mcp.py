"""MCP servers' tools (asynctool.mcp), against real servers: `tests/mcp_servers/tools_server.py`,
written with the SDK's MCPServer (FastMCP in SDK v1), run as a subprocess over stdio and over
streamable HTTP on 127.0.0.1. Each test asserts on what the server recorded as well as on what
came back.

Tool results: https://modelcontextprotocol.io/specification/2025-11-25/server/tools#tool-result
Cancellation: https://modelcontextprotocol.io/specification/2025-11-25/basic/utilities/cancellation
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from asynctool import ToolArgumentsError, ToolError
from asynctool.mcp import MCPServerError, MCPServerHTTP, MCPServerStdio, MCPTool
from tests.mcp_servers import SCRIPT, events, http_url, named, stdio, wait_for


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


async def test_the_listed_tools_carry_the_servers_names_descriptions_and_schemas(log: Path) -> None:
    async with stdio(log) as server:
        tools = {tool.name: tool for tool in await server.list_tools()}

    assert {"add", "forecast", "refuse", "picture", "slow", "grow"} <= set(tools)
    assert all(isinstance(tool, MCPTool) for tool in tools.values())
    add = tools["add"].definition["function"]
    assert add["description"] == "Add two integers."
    # The server's schema, in strict mode: it fits the subset (every property required).
    assert add["strict"] is True
    assert add["parameters"]["properties"] == {
        "a": {"title": "A", "type": "integer"},
        "b": {"title": "B", "type": "integer"},
    }
    assert add["parameters"]["required"] == ["a", "b"]
    assert add["parameters"]["additionalProperties"] is False
    # Optional arguments are nullable and required, as a defaulted parameter of a function tool.
    forecast = tools["forecast"].definition["function"]["parameters"]
    assert forecast["required"] == ["city", "days", "unit"]
    assert {"type": "null"} in forecast["properties"]["days"]["anyOf"]
    assert len(named(log, "started")) == 1


async def test_a_call_reaches_the_server_and_its_result_comes_back_as_text(log: Path) -> None:
    async with stdio(log) as server:
        add = next(t for t in await server.list_tools() if t.name == "add")
        result = await add.run('{"a": 2, "b": 40}')

    assert result == "42"  # the text block, which says what the structured content says
    assert named(log, "add") == [
        {"event": "add", "pid": named(log, "add")[0]["pid"], "a": 2, "b": 40}
    ]


async def test_a_null_optional_argument_is_left_out_so_the_servers_default_applies(
    log: Path,
) -> None:
    async with stdio(log) as server:
        forecast = next(t for t in await server.list_tools() if t.name == "forecast")
        result = await forecast.run('{"city": "Lyon", "days": null, "unit": "celsius"}')

    # The server's text block: its structured content, serialized by the server.
    assert json.loads(result) == {"city": "Lyon", "days": 2, "celsius": [12.5, 12.5]}
    (seen,) = named(log, "forecast")
    assert (seen["city"], seen["days"], seen["unit"]) == ("Lyon", 2, "celsius")  # days: the default


async def test_structured_content_without_a_text_block_is_sent_as_json(log: Path) -> None:
    async with stdio(log) as server:
        measurements = next(t for t in await server.list_tools() if t.name == "measurements")
        result = await measurements.run("{}")

    assert result.splitlines() == [
        '{"station":"Brest","celsius":[11.5,12.0]}',
        "[image: image/png, 100 bytes]",
    ]
    assert len(named(log, "measurements")) == 1


async def test_images_audio_and_resources_are_described_not_dumped(log: Path) -> None:
    async with stdio(log) as server:
        tools = {tool.name: tool for tool in await server.list_tools()}
        picture = await tools["picture"].run("{}")
        mixed = await tools["mixed"].run("{}")

    assert picture == "[image: image/png, 100 bytes]"
    assert mixed.splitlines() == [
        "first",
        "[audio: audio/wav, 44 bytes]",
        "[resource: file:///notes.txt, text/plain]",
        "the notes",
        "[resource: file:///data.bin, application/octet-stream, 10 bytes]",
        "[resource link: file:///big.csv (big.csv, text/csv)]",
        "last",
    ]
    assert [e["event"] for e in events(log)][1:] == ["picture", "mixed"]


async def test_an_is_error_result_raises_tool_error_with_the_servers_text(log: Path) -> None:
    async with stdio(log) as server:
        refuse = next(t for t in await server.list_tools() if t.name == "refuse")
        with pytest.raises(ToolError) as caught:
            await refuse.run('{"reason": "closed on Sundays"}')

    assert type(caught.value) is ToolError
    assert "refused: closed on Sundays" in str(caught.value)
    assert named(log, "refuse")[0]["reason"] == "closed on Sundays"


@pytest.mark.parametrize(
    ("arguments", "message", "path"),
    [
        ('{"a": "two", "b": 1}', 'add: argument `a`: expected an integer, got "two"', "$.a"),
        ('{"a": 1}', "add: missing required argument `b` (an integer)", "$.b"),
        (
            '{"a": 1, "b": 2, "c": 3}',
            "add: unknown argument `c`; the arguments are `a`, `b`",
            "$.c",
        ),
        (
            "[1, 2]",
            "add: the arguments must be one JSON object, keyed by argument name, got [1,2]",
            "$",
        ),
        ('{"a": 1,', "add: the arguments are not valid JSON", "$"),
    ],
)
async def test_bad_arguments_are_refused_before_the_call_naming_the_argument(
    log: Path, arguments: str, message: str, path: str
) -> None:
    async with stdio(log) as server:
        add = next(t for t in await server.list_tools() if t.name == "add")
        with pytest.raises(ToolArgumentsError) as caught:
            await add.run(arguments)

    assert str(caught.value).startswith(message)
    assert (caught.value.tool, caught.value.path) == ("add", path)
    assert named(log, "add") == []  # the server never saw the call


async def test_a_value_outside_an_enum_names_the_choices(log: Path) -> None:
    async with stdio(log) as server:
        forecast = next(t for t in await server.list_tools() if t.name == "forecast")
        with pytest.raises(
            ToolArgumentsError, match='expected one of "celsius", "fahrenheit", got "kelvin"'
        ):
            await forecast.run('{"city": "Oslo", "days": 1, "unit": "kelvin"}')
    assert named(log, "forecast") == []


async def test_a_prefix_renames_the_tools_and_calls_them_by_their_own_names(log: Path) -> None:
    async with stdio(log, prefix="calc") as server:
        tools = {tool.name: tool for tool in await server.list_tools()}
        assert await tools["calc_add"].run('{"a": 1, "b": 1}') == "2"
        assert await tools["calc_add"](a=3, b=4) == "7"  # a Tool is callable

    assert tools["calc_add"].definition["function"]["name"] == "calc_add"
    assert "add" not in tools
    assert [(e["a"], e["b"]) for e in named(log, "add")] == [(1, 1), (3, 4)]


async def test_a_cancelled_call_is_cancelled_on_the_server(log: Path) -> None:
    async with stdio(log) as server:
        slow = next(t for t in await server.list_tools() if t.name == "slow")
        async with anyio.create_task_group() as group:
            group.start_soon(slow.run, '{"label": "one"}')
            await wait_for(lambda: bool(named(log, "slow started")))
            group.cancel_scope.cancel()
        # The SDK sent notifications/cancelled, and the server cancelled the handler.
        await wait_for(lambda: bool(named(log, "slow cancelled")))
        # The session is still good for the next call.
        add = next(t for t in await server.list_tools() if t.name == "add")
        assert await add.run('{"a": 1, "b": 2}') == "3"
    assert named(log, "slow finished") == []


async def test_a_server_that_dies_during_a_call_fails_that_call_and_every_later_one(
    log: Path,
) -> None:
    async with stdio(log) as server:
        tools = {tool.name: tool for tool in await server.list_tools()}
        with pytest.raises(ToolError) as died:
            await tools["die"].run("{}")
        with pytest.raises(ToolError) as after:  # at once: nothing waits for a dead server
            await tools["add"].run('{"a": 1, "b": 2}')

    message = str(died.value)
    assert f"the MCP server `{sys.executable} {SCRIPT} {log}` failed the call of 'die'" in message
    assert "the server is dying on purpose" in message  # the end of its stderr
    assert "failed the call of 'add'" in str(after.value)
    assert named(log, "add") == []


async def test_a_command_that_does_not_exist_is_a_clear_error() -> None:
    server = MCPServerStdio("no-such-mcp-server-command", ["--flag"])
    with pytest.raises(MCPServerError) as caught:
        async with server:
            pass  # pragma: no cover
    assert "cannot start the MCP server `no-such-mcp-server-command --flag`" in str(caught.value)
    with pytest.raises(MCPServerError, match="not connected; enter it first"):
        server.listed_tools()


async def test_a_server_that_exits_at_start_is_reported_with_its_stderr(log: Path) -> None:
    with pytest.raises(MCPServerError) as caught:
        async with stdio(log, "--crash"):
            pass  # pragma: no cover
    message = str(caught.value)
    assert message.startswith(f"cannot start the MCP server `{sys.executable} {SCRIPT}")
    assert "cannot start: the configuration is missing" in message


async def test_env_and_cwd_reach_the_subprocess(log: Path, tmp_path: Path) -> None:
    script = tmp_path / "env_server.py"
    script.write_text(
        "import os\n"
        "from mcp.server.mcpserver import MCPServer\n"
        "app = MCPServer('env')\n"
        "@app.tool()\n"
        "def where() -> str:\n"
        "    return os.getcwd() + ' ' + os.environ['GREETING']\n"
        "app.run()\n"
    )
    folder = tmp_path / "work"
    folder.mkdir()
    async with MCPServerStdio(
        sys.executable, [str(script)], env={"GREETING": "bonjour"}, cwd=folder
    ) as server:
        (where,) = await server.list_tools()
        assert await where.run("{}") == f"{folder} bonjour"


async def test_tools_whose_names_no_api_takes_are_left_out_with_a_warning(
    log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with stdio(log, "--odd-names") as server:
        names = [tool.name for tool in server.listed_tools()]
    assert "add" in names and "has space" not in names and "x" * 65 not in names
    assert "tool 'has space' left out: a name sent to the model must be 1 to 64" in caplog.text


async def test_entering_twice_and_listing_a_dead_server_are_clear_errors(log: Path) -> None:
    server = stdio(log)
    async with server:
        assert repr(server) == f"MCPServerStdio({server.command!r}, {server.args!r}, prefix=None)"
        add = next(t for t in server.listed_tools() if t.name == "add")
        assert repr(add) == f"MCPTool(name='add', strict=True, server={server!r})"
        with pytest.raises(MCPServerError, match="is already connected"):
            await server.__aenter__()
        die = next(t for t in server.listed_tools() if t.name == "die")
        with pytest.raises(ToolError):
            await die.run("{}")
        with pytest.raises(MCPServerError, match="could not list its tools: the server closed"):
            await server.list_tools()
    with pytest.raises(MCPServerError, match="not connected"):
        await add.run('{"a": 1, "b": 2}')


async def test_cancelled_while_entering_it_leaves_nothing_connected(log: Path) -> None:
    server = stdio(log)
    with anyio.CancelScope() as scope:
        scope.cancel()
        async with server:
            pass  # pragma: no cover
    assert scope.cancelled_caught
    with pytest.raises(MCPServerError, match="not connected"):
        server.listed_tools()


def test_bad_constructor_arguments_are_refused_at_once() -> None:
    with pytest.raises(ToolError, match="args: expected a list of strings"):
        MCPServerStdio("python", "server.py")  # type: ignore[arg-type]
    with pytest.raises(ToolError, match="command: expected the program to run"):
        MCPServerStdio("")
    with pytest.raises(ToolError, match="prefix='a b'"):
        MCPServerStdio("python", prefix="a b")
    with pytest.raises(ToolError, match="url: expected an http:// or https:// URL"):
        MCPServerHTTP("127.0.0.1:8000/mcp")


# --------------------------------------------------------------------------- HTTP


async def test_over_http_the_tools_are_listed_and_called_with_the_headers_given(log: Path) -> None:
    secret = "Bearer sk-mcp-secret-0123456789"
    async with http_url(log) as url:
        server = MCPServerHTTP(url, headers={"Authorization": secret, "X-Team": "docs"})
        async with server:
            tools = {tool.name: tool for tool in await server.list_tools()}
            assert await tools["add"].run('{"a": 5, "b": 6}') == "11"
            assert await tools["headers"].run("{}") == "seen"

    (seen,) = named(log, "headers")
    assert seen["headers"]["authorization"] == secret
    assert seen["headers"]["x-team"] == "docs"
    assert secret not in repr(server) and "Authorization" in repr(server)


async def test_a_url_nothing_listens_on_is_a_clear_error_without_the_headers(
    unused_tcp_port: int,
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/mcp"
    server = MCPServerHTTP(url, headers={"Authorization": "Bearer sk-never-shown-0123456789"})
    with pytest.raises(MCPServerError) as caught:
        async with server:
            pass  # pragma: no cover
    message = str(caught.value)
    assert message.startswith(f"cannot reach the MCP server at {url}: ")
    assert "sk-never-shown" not in message and "sk-never-shown" not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


async def test_an_http_error_status_is_reported_with_what_the_server_said(log: Path) -> None:
    async with http_url(log) as url:
        wrong = url.replace("/mcp", "/not-mcp")
        with pytest.raises(MCPServerError) as caught:
            async with MCPServerHTTP(
                wrong, headers={"Authorization": "Bearer sk-hidden-0123456789"}
            ):
                pass  # pragma: no cover
    message = str(caught.value)
    assert message.startswith(f"cannot reach the MCP server at {wrong}: ")
    assert "(HTTP 404 Not Found" in message
    assert "sk-hidden" not in message


async def test_a_refusal_says_the_status_and_what_the_server_answered_not_the_token() -> None:
    token = "sk-refused-0123456789abcdef"
    seen: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        # A server that echoes the token it refuses: it must not reach the message.
        return web.Response(status=401, text=f"invalid token {token}")

    app = web.Application()
    app.router.add_route("*", "/mcp", refuse)
    async with TestServer(app, host="127.0.0.1") as local:
        url = str(local.make_url("/mcp"))
        with pytest.raises(MCPServerError) as caught:
            async with MCPServerHTTP(url, headers={"Authorization": f"Bearer {token}"}):
                pass  # pragma: no cover
    message = str(caught.value)
    assert "(HTTP 401 Unauthorized: invalid token [redacted])" in message
    assert token not in message
    assert seen and seen[0] == f"Bearer {token}"


async def test_what_the_block_raises_comes_out_as_it_is_not_in_a_group(log: Path) -> None:
    with pytest.raises(KeyError, match="raised in the block"):
        async with stdio(log):
            raise KeyError("raised in the block")
