"""The demo's console writes what a model and its tools said, never what they tell a terminal.

A terminal runs the escape sequences it is sent: OSC 52 writes the clipboard, OSC 0 sets the
window title, CSI 2J clears the screen, a carriage return writes over a line. A model's answer,
its tool calls and a tool's result (a web page, a file) are text from elsewhere, so the console
drops control sequences and characters from them, and keeps only its own colours. Sequences as
ECMA-48 and xterm's ctlseqs frame them.
"""

from __future__ import annotations

import io
import re

import pytest

from asynctool import Agent, AsyncClient, tool
from asynctool.demo._render import UNICODE, Console, printable
from asynctool.testing import ModelServer, ScriptedModel, call, text, tool_calls

OSC_52 = "\x1b]52;c;SGVsbG8=\x07"  # write "Hello" to the clipboard
SET_TITLE = "\x1b]0;pwned\x1b\\"
CLEAR = "\x1b[2J\x1b[H"
# The console's own colours: SGR sequences with one number, which it alone writes.
OWN_COLOURS = re.compile(r"\x1b\[\d+m")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@tool
async def fetch_page(url: str) -> str:
    """Fetch a web page."""
    return f"<p>{CLEAR}red{OSC_52}\x9b2J\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\</p>"


def assert_only_own_colours(shown: str) -> None:
    left = CONTROL.findall(OWN_COLOURS.sub("", shown))
    assert left == [], f"control characters reached the terminal: {left}"


@pytest.mark.parametrize("stream", [True, False])
async def test_model_and_tool_text_reach_the_terminal_without_control_sequences(
    stream: bool,
) -> None:
    turns = [
        tool_calls(
            call("fetch_page", {"url": f"https://example.com/{SET_TITLE}"}),
            call(f"evil{SET_TITLE}", {f"k{CLEAR}": 1}),
        ),
        text(f"Done.{OSC_52} {CLEAR}{SET_TITLE}ok\r\nbye"),
    ]
    out = io.StringIO()
    console = Console(out, colour=True, symbols=UNICODE)
    async with ModelServer(ScriptedModel(turns)) as server:
        async with AsyncClient(base_url=server.base_url) as client:
            agent = Agent(client, model="m", tools=[fetch_page])
            if stream:
                async with agent.run_stream("go") as events:
                    async for event in events:
                        console.event(event)
            else:
                result = await agent.run("go")
                console.transcript(result.messages)
    shown = out.getvalue()
    assert_only_own_colours(shown)
    assert OWN_COLOURS.search(shown)  # the console's colours are still there
    assert "Done. ok\nbye" in OWN_COLOURS.sub("", shown)
    assert "<p>redlink</p>" in shown and "fetch_page" in shown
    assert "→ evil(k=1)" in OWN_COLOURS.sub("", shown) and "SGVsbG8" not in shown
    # What the JSON or an error message escaped is shown as text, harmless: `\u001b]0;pwned`.


def test_a_refusal_and_a_prompt_are_shown_without_control_sequences() -> None:
    out = io.StringIO()
    console = Console(out, colour=True, symbols=UNICODE)
    console.banner([f"asynctool demo at http://x/{CLEAR}"])
    console.prompt(f"hello{OSC_52}")
    console.refusal(f"I will not{SET_TITLE}\x08\x08\x08 do that")
    shown = out.getvalue()
    assert_only_own_colours(shown)
    assert "I will not do that" in shown and "hello" in shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text, tabs\tand\nlines", "plain text, tabs\tand\nlines"),
        ("é ✓ 日本語", "é ✓ 日本語"),
        (f"a{OSC_52}b", "ab"),
        ("a\x1b]0;title\x07b", "ab"),
        ("a\x9d0;title\x9cb", "ab"),  # the 8-bit OSC and ST
        ("a\x1b[38;5;196mb\x1b[0m", "ab"),
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x1b_apc\x1b\\b\x1b^pm\x1b\\c\x1bXsos\x1b\\d", "abcd"),
        ("a\x1bcb\x1b7c\x1b(0d", "abcd"),  # reset, save cursor, charset
        ("over\rwrite\x08\x7f", "overwrite"),
        ("cut at the end\x1b]52;c;SGVs", "cut at the end"),  # the next piece is plain text
        ("\x1b", ""),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_text_is_returned_as_it_is() -> None:
    line = "The weather in Boston: 13 °C, clear.\n"
    assert printable(line) is line
