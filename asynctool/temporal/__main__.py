"""`python -m asynctool.temporal worker --task-queue Q module:factory [module:factory ...]`.

Each `module:factory` names a function (no arguments) that returns an `Agent`, or a list of
them, built in this process: its client reads the API key from this process's environment.
The worker serves them until it is stopped (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from .._agent import Agent
from ._options import DurableOptions
from ._worker import agent_worker


def _agents(spec: str) -> list[Agent[Any]]:
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"expected module:factory, got {spec!r}")
    made = getattr(importlib.import_module(module_name), attr)()
    return [made] if isinstance(made, Agent) else list(made)


async def _serve(args: argparse.Namespace) -> None:
    agents = [agent for spec in args.factories for agent in _agents(spec)]
    client = await Client.connect(args.address, namespace=args.namespace)
    options = DurableOptions(heartbeat_timeout=timedelta(seconds=args.heartbeat_timeout))
    worker = agent_worker(client, agents, task_queue=args.task_queue, options=options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker:
            print(f"serving {[a.name for a in agents]} on {args.task_queue!r}", flush=True)
            await stop.wait()
    finally:
        for agent in agents:
            await agent.client.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m asynctool.temporal")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="serve agents' durable runs on a task queue")
    worker.add_argument("--task-queue", required=True)
    worker.add_argument("--address", default="127.0.0.1:7233")
    worker.add_argument("--namespace", default="default")
    worker.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=30.0,
        help="seconds a step may go silent before another worker gets it (default 30)",
    )
    worker.add_argument("factories", nargs="+", metavar="module:factory")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
