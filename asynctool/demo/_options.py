"""The demo's command line: what it accepts, and the settings it resolves to.

Without a base URL (`--base-url` or `OPENAI_BASE_URL`) the demo runs against its embedded
model server; with one it talks to that provider, with the key from `--api-key` or
`OPENAI_API_KEY`. A key alone is not enough to leave the machine: a stray `OPENAI_API_KEY` in
the environment never turns the offline demo into a paid request.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ._tools import DEFAULT_PROMPT

__all__ = ["PROG", "AuthStyle", "Settings", "build_parser", "parse_settings"]

PROG = "python -m asynctool.demo"
AuthStyle = Literal["bearer", "x-api-key", "x-goog-api-key"]
EMBEDDED_MODEL = "asynctool-demo"
PROVIDER_MODEL = "gpt-4o-mini"

_EPILOG = f"""\
examples:
  {PROG}
  {PROG} --prompt "What time is it in Tokyo?"
  {PROG} --interactive
  {PROG} --base-url https://api.openai.com/v1 --api-key "$OPENAI_API_KEY"
  {PROG} --base-url https://api.example.com/v1 --api-key KEY --auth x-api-key --model NAME
  {PROG} --base-url http://127.0.0.1:8080/v1 --max-tokens 200 --stop '<|im_end|>'
  {PROG} --mcp "python examples/mcp_servers/weather.py" --prompt "Weather in Paris?"
"""
_MAX_STOPS = 4  # the API's limit on `stop` sequences


@dataclass(frozen=True, slots=True)
class Settings:
    """What one invocation of the demo does.

    Attributes:
        prompt: the first user message; `None` in interactive mode without `--prompt`.
        model: the model name sent with each request.
        base_url: the provider's API root; `None` runs the embedded model server.
        api_key: the key sent to `base_url` (never to the embedded server).
        auth: how the key is sent.
        stream: stream the answers as they are written.
        interactive: keep a conversation going, one line of stdin per message.
        json: print the transcript as JSON instead of the live view.
        max_tokens: the most tokens each answer may have; `None` leaves it to the model.
        stop: strings that end an answer where they appear (not included in it).
        mcp: MCP servers to start, each a command split into its words; their tools join
            the demo's own.
    """

    prompt: str | None
    model: str
    base_url: str | None = None
    api_key: str | None = None
    auth: AuthStyle = "bearer"
    stream: bool = True
    interactive: bool = False
    json: bool = False
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    mcp: tuple[tuple[str, ...], ...] = ()

    @property
    def embedded(self) -> bool:
        """Whether the demo runs its own local model server."""
        return self.base_url is None

    def agent_options(self) -> dict[str, Any]:
        """The `Agent` keywords these settings add: request fields sent with every turn."""
        options: dict[str, Any] = {}
        if self.max_tokens is not None:
            options["max_tokens"] = self.max_tokens
            # An answer cut at a limit the user set is the answer they asked for: it is shown,
            # said to be cut, and the run succeeds (by default `length` fails a run).
            options["accept_finish_reasons"] = {"length"}
        if self.stop:
            options["stop"] = list(self.stop)
        return options


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m asynctool.demo`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="An asynctool agent with tools, streaming to the terminal.\n"
        "Offline by default: a local stand-in model (not an LLM) answers, in this process.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--prompt", type=_text, help=f'the message to send (default: "{DEFAULT_PROMPT}")')
    add("--model", type=_text, help=f"model name (or OPENAI_MODEL; default: {PROVIDER_MODEL})")
    add("--base-url", type=_url, help="an OpenAI-compatible API root (or OPENAI_BASE_URL)")
    add("--api-key", type=_text, help="the provider's API key (or OPENAI_API_KEY)")
    add("--auth", choices=get_args(AuthStyle), default="bearer", help="how to send the key")
    add("--no-stream", action="store_true", help="wait for whole answers instead of streaming")
    add("--max-tokens", type=_positive, metavar="N", help="the most tokens per answer")
    add(
        "--stop",
        type=_stop,
        action="append",
        default=[],
        metavar="STR",
        help=f"end an answer where STR appears (repeatable, up to {_MAX_STOPS})",
    )
    add(
        "--mcp",
        type=_command,
        action="append",
        default=[],
        metavar="COMMAND",
        help="start an MCP server with this command (stdio) and give the agent its tools; "
        "repeatable; needs pip install 'asynctool[mcp]'",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--interactive", "-i", action="store_true", help="chat, line by line")
    mode.add_argument("--json", action="store_true", help="print the transcript as JSON")
    return parser


def parse_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    """Parse the command line; a bad option exits with status 2 and a usage line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    base_url = args.base_url or environ.get("OPENAI_BASE_URL") or None
    if base_url is None and args.api_key is not None:
        parser.error(
            "--api-key needs --base-url (or OPENAI_BASE_URL); without one the demo "
            "runs its embedded model, which takes no key"
        )
    if len(args.stop) > _MAX_STOPS:
        parser.error(f"--stop: at most {_MAX_STOPS} stop strings, got {len(args.stop)}")
    default_model = EMBEDDED_MODEL if base_url is None else PROVIDER_MODEL
    return Settings(
        prompt=args.prompt if args.prompt or args.interactive else DEFAULT_PROMPT,
        model=args.model or environ.get("OPENAI_MODEL") or default_model,
        base_url=base_url,
        api_key=None if base_url is None else args.api_key or environ.get("OPENAI_API_KEY"),
        auth=args.auth,
        stream=not args.no_stream,
        interactive=args.interactive,
        json=args.json,
        max_tokens=args.max_tokens,
        stop=tuple(args.stop),
        mcp=tuple(args.mcp),
    )


def _text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _stop(value: str) -> str:
    # Unlike other text options, blank is fine ("\n\n" is a common stop); empty is not.
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _command(value: str) -> tuple[str, ...]:
    try:
        words = tuple(shlex.split(value))
    except ValueError as exc:  # an unclosed quote
        raise argparse.ArgumentTypeError(f"cannot split {value!r} into words: {exc}") from exc
    if not words:
        raise argparse.ArgumentTypeError("must not be empty")
    return words


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return number


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")
