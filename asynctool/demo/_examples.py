"""`run_example`: how each program in `examples/` runs, offline unless a provider is configured."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from ..testing import DemoModel, Model, ModelServer

__all__ = ["ExampleMain", "run_example"]

ExampleMain = Callable[[str | None], Awaitable[object]]
"""An example's `main`: it takes the base URL to use, or None for the environment's."""


def run_example(main: ExampleMain, model: Model | None = None) -> None:
    """Run an example's `main(base_url)` to the end, as `python examples/<name>.py` does.

    With `OPENAI_BASE_URL` set, `main(None)` runs against that provider: its `AsyncClient` reads
    the URL and `OPENAI_API_KEY` from the environment. Otherwise an embedded model server is
    started on 127.0.0.1, answering with `model` (a `DemoModel`, a deterministic local stand-in
    for an LLM, by default), and `main(server.base_url)` runs against it.
    """
    asyncio.run(_run(main, model))


async def _run(main: ExampleMain, model: Model | None) -> None:
    if os.environ.get("OPENAI_BASE_URL"):
        await main(None)
        return
    async with ModelServer(model if model is not None else DemoModel()) as server:
        await main(server.base_url)
