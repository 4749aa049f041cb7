"""An MCP server for asynctool's tests, written with the SDK's MCPServer (v1's FastMCP).

Run as `python tools_server.py LOG` (stdio) or `python tools_server.py LOG --http PORT`
(streamable HTTP on 127.0.0.1). Every call it receives, with its arguments, and everything it
sees happen (a cancellation, the headers of a request) is appended to the file LOG as one JSON
line, so that the tests can assert on what the server saw, not only on what came back.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Literal

import anyio
import mcp_types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from pydantic import BaseModel

LOG = Path(sys.argv[1])
PNG = b"\x89PNG\r\n\x1a\n" + bytes(92)  # 100 bytes, a PNG by its signature

app = MCPServer("asynctool-tests")


def record(event: str, **fields: object) -> None:
    with LOG.open("a") as log:
        log.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")


class Forecast(BaseModel):
    city: str
    days: int
    celsius: list[float]


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    record("add", a=a, b=b)
    return a + b


@app.tool()
def forecast(
    city: str, days: int = 2, unit: Literal["celsius", "fahrenheit"] = "celsius"
) -> Forecast:
    """The forecast for a city, as structured content."""
    record("forecast", city=city, days=days, unit=unit)
    return Forecast(city=city, days=days, celsius=[12.5] * days)


@app.tool()
def refuse(reason: str) -> str:
    """Always fails, with the reason given."""
    record("refuse", reason=reason)
    raise ToolError(f"refused: {reason}")


@app.tool()
def picture() -> Image:
    """A small PNG image."""
    record("picture")
    return Image(data=PNG, format="png")


@app.tool(structured_output=False)
def mixed() -> list[mcp_types.ContentBlock]:
    """One block of each kind."""
    record("mixed")
    wav = base64.b64encode(bytes(44)).decode()
    return [
        mcp_types.TextContent(text="first"),
        mcp_types.AudioContent(data=wav, mime_type="audio/wav"),
        mcp_types.EmbeddedResource(
            resource=mcp_types.TextResourceContents(
                uri="file:///notes.txt", mime_type="text/plain", text="the notes"
            )
        ),
        mcp_types.EmbeddedResource(
            resource=mcp_types.BlobResourceContents(
                uri="file:///data.bin",
                mime_type="application/octet-stream",
                blob=base64.b64encode(bytes(10)).decode(),
            )
        ),
        mcp_types.ResourceLink(uri="file:///big.csv", name="big.csv", mime_type="text/csv"),
        mcp_types.TextContent(text="last"),
    ]


@app.tool()
def measurements() -> mcp_types.CallToolResult:
    """Structured content with no text block beside it, and a chart."""
    record("measurements")
    return mcp_types.CallToolResult(
        content=[
            mcp_types.ImageContent(data=base64.b64encode(PNG).decode(), mime_type="image/png")
        ],
        structured_content={"station": "Brest", "celsius": [11.5, 12.0]},
    )


@app.tool()
async def slow(label: str) -> str:
    """Waits until it is cancelled (30 s at most)."""
    record("slow started", label=label)
    try:
        await anyio.sleep(30)
    except anyio.get_cancelled_exc_class():
        record("slow cancelled", label=label)
        raise
    record("slow finished", label=label)
    return "finished"


@app.tool()
async def rendezvous(me: str, others: list[str], folder: str) -> str:
    """Leaves a mark named `me` in `folder`, then waits for the marks of `others`: it returns only
    when the others run at the same time as this call."""
    record("rendezvous", me=me)
    # Files, as the calls that meet here run in other processes; polled, for the same reason.
    Path(folder, me).touch()  # noqa: ASYNC240
    while not all(Path(folder, other).exists() for other in others):  # noqa: ASYNC110, ASYNC240
        await anyio.sleep(0.01)
    return f"{me} met {', '.join(others)}"


@app.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `extra` and tells the client that the list changed."""
    record("grow")
    app.add_tool(extra)
    await ctx.session.send_tool_list_changed()
    return "grown"


def extra(word: str) -> str:
    """Added by `grow`."""
    record("extra", word=word)
    return word.upper()


@app.tool()
def die() -> str:
    """Ends the server's process in the middle of the call."""
    record("die")
    print("the server is dying on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@app.tool()
def headers(ctx: Context) -> str:
    """The headers of the HTTP request that carried this call."""
    seen = dict(ctx.headers or {})
    record("headers", headers=seen)
    return "seen"


if __name__ == "__main__":
    if "--crash" in sys.argv:
        print("cannot start: the configuration is missing", file=sys.stderr, flush=True)
        sys.exit(2)
    if "--empty" in sys.argv:  # a server with no tools at all
        for listed in anyio.run(app.list_tools):
            app.remove_tool(listed.name)
    if "--odd-names" in sys.argv:  # names no OpenAI-compatible API takes
        app.add_tool(add, name="has space")
        app.add_tool(add, name="x" * 65)
    record("started")
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        anyio.run(lambda: app.run_streamable_http_async(host="127.0.0.1", port=port))
    else:
        app.run()
