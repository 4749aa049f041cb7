"""Writing a run to the terminal: the prompt, each tool call and result, the answer, a summary.

The output is grouped in sections (prompt, tools, answer, summary) separated by a blank line.
Colours are used only when the stream is a terminal and `NO_COLOR` is unset; the symbols fall
back to ASCII when the stream's encoding cannot write them.

What the model and the tools wrote is shown without its control characters: a terminal runs
the escape sequences it reads, and a model's answer (or a web page a tool fetched) can carry
OSC 52 (write the clipboard), set-title, clear-screen or cursor moves that rewrite what was
shown. Only asynctool's own colours reach the terminal.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import msgspec

from .. import (
    AgentEvent,
    AssistantMessage,
    Message,
    RunResult,
    TextDelta,
    ToolCall,
    ToolCallReady,
    ToolMessage,
    ToolResult,
    UserMessage,
)

__all__ = [
    "ASCII",
    "UNICODE",
    "Console",
    "Quiet",
    "Symbols",
    "format_call",
    "printable",
    "since_last_user",
]

_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "cyan": "36"}
_RESULT_WIDTH = 160  # characters of a tool result shown; the model gets all of it
# Control sequences as ECMA-48 (and xterm's ctlseqs) frame them, removed whole so that their
# parameters do not show as litter: CSI `ESC [ params final` (colours, clear-screen, cursor
# moves); the string controls OSC `ESC ]` (set-title, OSC 52 clipboard, OSC 8 links), DCS
# `ESC P`, SOS `ESC X`, PM `ESC ^` and APC `ESC _`, up to BEL or ST (or the end of the text: a
# sequence cut between two pieces of a stream is dropped to there); the other `ESC` sequences;
# and the 8-bit C1 forms of CSI and the string controls.
_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\Z)"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x90\x98\x9d\x9e\x9f].*?(?:\x07|\x9c|\x1b\\|\Z)",
    re.DOTALL,
)
# Every control character but tab and line feed: what is left of a broken sequence, and a
# carriage return or backspace that would write over what was shown.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Symbols:
    """The marks that start the lines of each kind."""

    prompt: str
    call: str
    result: str
    sep: str
    done: str
    failed: str


UNICODE = Symbols(prompt="›", call="→", result="←", sep="·", done="✓", failed="✗")  # noqa: RUF001
ASCII = Symbols(prompt=">", call="->", result="<-", sep="|", done="done:", failed="x")


class Console:
    """Writes a run to a text stream as it happens."""

    def __init__(self, out: TextIO, *, colour: bool = False, symbols: Symbols = ASCII) -> None:
        self.out = out
        self.colour = colour
        self.symbols = symbols
        self._section: str | None = None
        self._mid_line = False

    @classmethod
    def for_stream(cls, out: TextIO, environ: Mapping[str, str]) -> Console:
        """A console with colours only on a terminal without `NO_COLOR`, and fitting symbols."""
        return cls(out, colour=wants_colour(out, environ), symbols=symbols_for(out))

    def banner(self, lines: Sequence[str]) -> None:
        """The header: its first line bold, the others dim."""
        self._enter("banner")
        for i, line in enumerate(lines):
            self._line(self._paint(printable(line), "bold" if i == 0 else "dim"))

    def prompt(self, text: str) -> None:
        """The user's message, as the run starts."""
        self._enter("prompt")
        self._line(self._paint(f"{self.symbols.prompt} {printable(text)}", "bold"))

    def input_marker(self) -> str:
        """Start a prompt section and return the mark to show where the user types."""
        self._enter("prompt")
        return f"{self.symbols.prompt} "

    def event(self, event: AgentEvent) -> None:
        """Show one event of a streaming run (the summary is written by `summary`)."""
        if isinstance(event, TextDelta):
            self.text(event.text)
        elif isinstance(event, ToolCallReady):
            self.call(event.call)
        elif isinstance(event, ToolResult):
            self.result(event.call.function.name, event.content, event.is_error, event.duration)

    def call(self, call: ToolCall) -> None:
        """A tool call about to run, with its arguments."""
        self._enter("tools")
        self._line(self._paint(f"{self.symbols.call} {printable(format_call(call))}", "cyan"))

    def result(self, name: str, content: str, is_error: bool, duration: float | None) -> None:
        """What a tool call returned (or why it failed), and how long it took when known."""
        self._enter("tools")
        mark = self.symbols.failed if is_error else self.symbols.result
        head = self._paint(f"{mark} {printable(name)}", "red" if is_error else "green")
        took = "" if duration is None else " " + self._paint(f"{duration:.2f} s", "dim")
        self._line(f"{head}{took}: {_one_line(printable(content), _RESULT_WIDTH)}")

    def text(self, piece: str) -> None:
        """A piece of the answer, written as it arrives."""
        self._answer(printable(piece))

    def transcript(self, messages: Sequence[Message]) -> None:
        """A finished run's calls, results and answer, for runs that did not stream."""
        names: dict[str, str] = {}
        for message in messages:
            if isinstance(message, AssistantMessage):
                self.text(message.content if isinstance(message.content, str) else "")
                for call in message.tool_calls or ():
                    names[call.id] = call.function.name
                    self.call(call)
            elif isinstance(message, ToolMessage):
                name = names.get(message.tool_call_id, "tool")
                content = message.content if isinstance(message.content, str) else ""
                # A transcript does not say which calls failed; the agent's error messages
                # start this way (see the default tool error handler).
                self.result(name, content, content.startswith("Error:"), None)

    def summary(self, result: RunResult[Any], elapsed: float) -> None:
        """The closing line: turns, tool calls, tokens and time."""
        self._enter("summary")
        calls = sum(isinstance(m, ToolMessage) for m in since_last_user(result.messages))
        usage = result.usage
        parts = [
            _plural(result.turns, "turn"),
            _plural(calls, "tool call"),
            f"{usage.total_tokens:,} tokens ({usage.prompt_tokens:,} prompt + "
            f"{usage.completion_tokens:,} completion)"
            if usage.total_tokens
            else "tokens not reported",
            f"{elapsed:.2f} s",
        ]
        line = f" {self.symbols.sep} ".join(parts)
        self._line(self._paint(f"{self.symbols.done} {line}", "dim"))

    def refusal(self, text: str) -> None:
        """The model declined to answer; `text` is its reason."""
        self._answer(self._paint(f"(the model refused) {printable(text)}", "red"))

    def cut(self, max_tokens: int) -> None:
        """The answer stopped at `--max-tokens`, not where the model ended it."""
        self._line(self._paint(f"(the answer was cut at --max-tokens {max_tokens})", "dim"))

    def interrupted(self) -> None:
        """Leave the terminal on a fresh line after Ctrl-C cut a line (or the input) short."""
        self._write("\n")

    def end_line(self) -> None:
        """Finish a line the answer left open, e.g. before an error is written elsewhere."""
        if self._mid_line:
            self._write("\n")
            self._mid_line = False

    def _answer(self, piece: str) -> None:
        """Write a piece of the answer that is already printable (or painted by us)."""
        if piece:
            self._enter("answer")
            self._write(piece)
            self._mid_line = not piece.endswith("\n")

    def _enter(self, section: str) -> None:
        if section == self._section:
            return
        self.end_line()
        if self._section is not None:
            self._write("\n")
        self._section = section

    def _line(self, text: str) -> None:
        self.end_line()
        self._write(text + "\n")

    def _paint(self, text: str, style: str) -> str:
        return f"\x1b[{_ANSI[style]}m{text}\x1b[0m" if self.colour else text

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


class Quiet(Console):
    """A console that writes nothing, for `--json`, whose stdout is the JSON document alone."""

    def _write(self, text: str) -> None:
        pass


def wants_colour(out: TextIO, environ: Mapping[str, str]) -> bool:
    """Colour on a terminal only, unless `NO_COLOR` is set (no-color.org) or TERM is dumb."""
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return out.isatty()


def symbols_for(out: TextIO) -> Symbols:
    """`UNICODE` when the stream's encoding can write it, else `ASCII`."""
    marks = "".join(dataclasses.astuple(UNICODE))
    try:
        marks.encode(getattr(out, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


def format_call(call: ToolCall) -> str:
    """`get_weather(location="Boston", unit="celsius")`; arguments that are not a JSON object
    are shown as they were sent."""
    raw = call.function.arguments or ""
    try:
        arguments = msgspec.json.decode(raw or "{}")
    except msgspec.DecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        return f"{call.function.name}({_one_line(raw, _RESULT_WIDTH)})"
    shown = ", ".join(f"{k}={msgspec.json.encode(v).decode()}" for k, v in arguments.items())
    return f"{call.function.name}({shown})"


def printable(text: str) -> str:
    """`text` without terminal control sequences and control characters (tab and line feed
    kept), so that what a model or a tool wrote is shown, never run by the terminal."""
    if _CONTROL.search(text) is None:  # the usual text: one scan, nothing copied
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def since_last_user(messages: Sequence[Message]) -> Sequence[Message]:
    """The messages after the last user message: what the latest run added."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, UserMessage)), default=-1)
    return messages[last + 1 :]


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
