"""MCP servers in `Agent(tools=[...])`: a scripted model (asynctool.testing's server) calling
tools of real MCP servers (`tests/mcp_servers/tools_server.py`, subprocesses on stdio and on
streamable HTTP), with the requests the model received and what each server saw asserted on.

List changes: https://modelcontextprotocol.io/specification/2025-11-25/server/tools#list-changed-notification
Cancellation: https://modelcontextprotocol.io/specification/2025-11-25/basic/utilities/cancellation
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from asynctool import (
    Agent,
    Approve,
    Defer,
    Deny,
    PausedRun,
    ToolCall,
    ToolCallReady,
    ToolContext,
    ToolDefinitionError,
    ToolMessage,
    tool,
)
from asynctool.mcp import MCPServerError
from asynctool.testing import call, text, tool_calls
from tests.conftest import Serve
from tests.mcp_servers import http, http_url, named, stdio, wait_for


def names(request: Any) -> list[str]:
    return [t["function"]["name"] for t in request.json.get("tools", [])]


def tool_messages(messages: list[Any]) -> dict[str, str]:
    return {m.tool_call_id: m.content for m in messages if isinstance(m, ToolMessage)}


async def test_calls_across_two_servers_and_a_local_tool_run_in_one_turn_concurrently(
    serve: Serve, tmp_path: Path
) -> None:
    folder = str(tmp_path)
    marks = ["north", "south", "local"]

    @tool
    async def local_rendezvous(me: str) -> str:
        """Waits for the two servers' calls to have started."""
        (tmp_path / me).touch()
        await wait_for(lambda: all((tmp_path / m).exists() for m in marks))
        return f"{me} met the others"

    # Each call returns only once all three have started: run one after the other, the
    # first would never return (and the tool timeout would fail the test).
    def meet(name: str, me: str, id: str) -> Any:
        others = [m for m in marks if m != me]
        return call(name, {"me": me, "others": others, "folder": folder}, id=id)

    server, client = await serve(
        tool_calls(
            meet("n_rendezvous", "north", "c1"),
            meet("s_rendezvous", "south", "c2"),
            call("local_rendezvous", {"me": "local"}, id="c3"),
        ),
        text("All three met."),
    )
    north_log, south_log = tmp_path / "north.log", tmp_path / "south.log"
    async with stdio(north_log, prefix="n") as north, stdio(south_log, prefix="s") as south:
        agent = Agent(client, model="m", tools=[north, local_rendezvous, south], tool_timeout=15)
        result = await agent.run("Meet.")

    assert result.output == "All three met."
    first = server.requests[0]
    assert "n_add" in names(first) and "s_add" in names(first)
    assert names(first).index("local_rendezvous") < names(first).index("n_add")  # local first
    assert tool_messages(result.messages) == {
        "c1": "north met south, local",
        "c2": "south met north, local",
        "c3": "local met the others",
    }
    assert [e["me"] for e in named(north_log, "rendezvous")] == ["north"]
    assert [e["me"] for e in named(south_log, "rendezvous")] == ["south"]


async def test_an_is_error_result_is_an_error_tool_message_the_model_reads(
    serve: Serve, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    server, client = await serve(
        tool_calls(call("refuse", {"reason": "no stock"}, id="c1")),
        text("Sorry."),
    )
    async with stdio(log) as mcp:
        result = await Agent(client, model="m", tools=[mcp]).run("Buy.")

    (outcome,) = result.tool_results
    assert outcome.is_error
    assert outcome.content == "Error: Error executing tool refuse: refused: no stock."
    assert server.requests[1].messages[-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": outcome.content,
    }
    assert named(log, "refuse")[0]["reason"] == "no stock"


async def test_bad_arguments_go_back_to_the_model_and_the_server_never_sees_them(
    serve: Serve, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    _, client = await serve(
        tool_calls(call("add", {"a": "one", "b": 2}, id="c1")),
        tool_calls(call("add", {"a": 1, "b": 2}, id="c2")),
        text("3"),
    )
    async with stdio(log) as mcp:
        result = await Agent(client, model="m", tools=[mcp]).run("1+2?")

    assert tool_messages(result.messages) == {
        "c1": 'Error: add: argument `a`: expected an integer, got "one". '
        "Call add again with corrected arguments.",
        "c2": "3",
    }
    assert [(e["a"], e["b"]) for e in named(log, "add")] == [(1, 2)]


async def test_a_list_change_is_seen_before_the_next_request(serve: Serve, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server, client = await serve(
        tool_calls(call("grow", {}, id="c1")),
        tool_calls(call("extra", {"word": "hello"}, id="c2")),
        text("HELLO"),
    )
    async with stdio(log) as mcp:
        result = await Agent(client, model="m", tools=[mcp]).run("Grow, then shout.")

    first, second, _ = server.requests
    assert "extra" not in names(first)
    assert "extra" in names(second)  # the server said its list changed, during the call
    assert tool_messages(result.messages)["c2"] == "HELLO"
    assert named(log, "extra")[0]["word"] == "hello"


async def test_two_servers_with_the_same_tool_names_need_a_prefix(
    serve: Serve, tmp_path: Path
) -> None:
    _, client = await serve()
    async with stdio(tmp_path / "a.log") as one, stdio(tmp_path / "b.log") as two:
        agent = Agent(client, model="m", tools=[one, two])
        with pytest.raises(ToolDefinitionError) as caught:
            await agent.run("Hi.")
        assert "two tools are named 'add'" in str(caught.value)
        assert "prefix=" in str(caught.value)

        @tool
        def add(a: int, b: int) -> int:
            """A local add."""
            return a + b

        with pytest.raises(ToolDefinitionError, match="'add': a tool given to the agent and one"):
            Agent(client, model="m", tools=[add, one]).run_stream("Hi.")


async def test_before_tool_call_and_tool_timeout_apply_to_mcp_tools(
    serve: Serve, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    asked: list[str] = []

    async def approve(call: ToolCall, context: ToolContext[Any]) -> Deny | None:
        asked.append(call.function.name)
        return Deny("Not today.") if call.function.name == "add" else None

    _, client = await serve(
        tool_calls(call("add", {"a": 1, "b": 2}, id="c1"), call("slow", {"label": "x"}, id="c2")),
        text("Done."),
    )
    async with stdio(log) as mcp:
        # Long enough for the call to reach the server on a loaded machine, so that the server
        # has a call to cancel; the test is about that, not about how long it took.
        agent = Agent(client, model="m", tools=[mcp], before_tool_call=approve, tool_timeout=1)
        result = await agent.run("Go.")
        # The timeout cancelled the call on the server too (notifications/cancelled).
        await wait_for(lambda: bool(named(log, "slow cancelled")))

    assert sorted(asked) == ["add", "slow"]
    assert tool_messages(result.messages) == {
        "c1": "Not today.",
        "c2": "Error: the tool 'slow' did not finish within 1s.",
    }
    assert named(log, "add") == []
    assert named(log, "slow finished") == []


async def test_leaving_a_streamed_run_early_cancels_the_call_on_the_server(
    serve: Serve, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    _, client = await serve(tool_calls(call("slow", {"label": "left"}, id="c1")), text("never"))
    async with stdio(log) as mcp:
        agent = Agent(client, model="m", tools=[mcp])
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def leave_once_started() -> None:
                    await wait_for(lambda: bool(named(log, "slow started")))
                    scope.cancel()

                group.start_soon(leave_once_started)
                async with agent.run_stream("Wait.") as events:
                    async for event in events:
                        assert not isinstance(event, ToolMessage)
        await wait_for(lambda: bool(named(log, "slow cancelled")))
        transcript = events.messages

    assert scope.cancelled_caught
    # Every call in the transcript is answered, so it can be sent again as it is.
    assert isinstance(transcript[-1], ToolMessage) and transcript[-1].tool_call_id == "c1"
    assert "cancelled" in transcript[-1].content
    assert named(log, "slow finished") == []


async def test_a_server_that_dies_mid_run_becomes_an_error_tool_message(
    serve: Serve, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    server, client = await serve(
        tool_calls(call("die", {}, id="c1")),
        tool_calls(call("add", {"a": 1, "b": 1}, id="c2")),
        text("The calculator is gone."),
    )
    async with stdio(log) as mcp:
        result = await Agent(client, model="m", tools=[mcp]).run("Die, then add.")

    messages = tool_messages(result.messages)
    assert messages["c1"].startswith("Error: the MCP server `")
    assert "failed the call of 'die'" in messages["c1"]
    assert "the server is dying on purpose" in messages["c1"]
    assert "failed the call of 'add'" in messages["c2"]
    assert result.output == "The calculator is gone."
    assert server.requests[2].messages[-1]["tool_call_id"] == "c2"
    assert named(log, "add") == []


async def test_a_server_with_no_tools_sends_no_tools_and_no_tool_choice(
    serve: Serve, tmp_path: Path
) -> None:
    server, client = await serve(text("Nothing to call."))
    async with stdio(tmp_path / "server.log", "--empty") as mcp:
        agent = Agent(client, model="m", tools=[mcp], tool_choice="auto")
        result = await agent.run("Hi.")
    assert result.output == "Nothing to call."
    assert "tools" not in server.requests[0].json
    assert "tool_choice" not in server.requests[0].json


async def test_a_server_not_entered_is_a_clear_error_when_the_run_starts(
    serve: Serve, tmp_path: Path
) -> None:
    _, client = await serve()
    agent = Agent(client, model="m", tools=[stdio(tmp_path / "server.log")])
    with pytest.raises(MCPServerError, match=r"is not connected; enter it first \(`async with"):
        await agent.run("Hi.")


async def test_an_http_server_in_an_agent(serve: Serve, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server, client = await serve(
        tool_calls(
            call("docs_add", {"a": 20, "b": 22}, id="c1"), call("docs_headers", {}, id="c2")
        ),
        text("42"),
    )
    async with http_url(log) as url:
        async with http(
            url, headers={"Authorization": "Bearer sk-docs-0123456789"}, prefix="docs"
        ) as mcp:
            events = []
            async with Agent(client, model="m", tools=[mcp]).run_stream("Add.") as stream:
                async for event in stream:
                    events.append(event)

    assert [e.call.id for e in events if isinstance(e, ToolCallReady)] == ["c1", "c2"]
    assert tool_messages(stream.messages)["c1"] == "42"
    assert named(log, "headers")[0]["headers"]["authorization"] == "Bearer sk-docs-0123456789"
    assert "docs_add" in names(server.requests[0])


async def test_a_deferred_mcp_call_runs_on_the_server_when_resumed(
    serve: Serve, tmp_path: Path
) -> None:
    # The resumed run's decided calls go through the run's own registry, which holds the
    # server's tools (they are not the agent's local ones).
    log = tmp_path / "server.log"

    async def later(call: ToolCall, context: ToolContext[Any]) -> Defer | None:
        return Defer("a person adds numbers here")

    server, client = await serve(tool_calls(call("add", {"a": 2, "b": 3}, id="c1")), text("5"))
    async with stdio(log) as mcp:
        agent = Agent(client, model="m", tools=[mcp], before_tool_call=later)
        paused = (await agent.run("2+3?")).paused
        assert paused is not None and named(log, "add") == []
        saved = PausedRun.from_json(paused.to_json())
        result = await agent.resume(saved, {"c1": Approve()})

    assert result.output == "5"
    assert [(e["a"], e["b"]) for e in named(log, "add")] == [(2, 3)]
    assert server.requests[1].messages[-1] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
