"""The agent of the DBOS tests, and a process that runs it as a DBOS workflow.

`python -m tests._dbos_agents MODE DATABASE BASE_URL RECORDS WORKFLOW_ID` launches DBOS on the
SQLite file DATABASE, with the agent against the model server at BASE_URL, and:

- `start`: starts the run WORKFLOW_ID and waits for it (the test kills this process);
- `start:TEXT`: the same, the run's input TEXT;
- `recover`: only launches, which recovers the runs left pending, waits for WORKFLOW_ID and
  prints its result as JSON: the transcript, and the tool results' text.

Each tool appends a line to a file of its own in the folder RECORDS as it runs (`ran`), so a
test counts the runs of a tool across processes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import msgspec
from dbos import DBOS

from asynctool import Agent, AsyncClient, ToolContext, tool
from asynctool.dbos import DBOSAgent

TASK = "Book flight OS123 and tell me the weather in Oslo"


def ran(records: Path, name: str) -> list[str]:
    """The lines tool `name` wrote, one per run, in every process."""
    path = records / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


def _record(context: ToolContext[Path], line: str) -> None:
    with (context.deps / f"{context.tool_name}.log").open("a") as log:
        log.write(line + "\n")


async def book(context: ToolContext[Path], flight: str) -> str:
    """Book a seat on a flight.

    Args:
        flight: the flight number.
    """
    _record(context, flight)
    return f"booked {flight}, seat 12A"


async def weather(context: ToolContext[Path], city: str) -> str:
    """Today's weather in a city.

    Args:
        city: the city.
    """
    _record(context, city)
    return f"sunny in {city}"


async def _charge(context: ToolContext[Path], amount: int) -> str:
    """Charge the customer's card.

    Args:
        amount: euros.
    """
    _record(context, str(amount))
    print("charging", flush=True)  # the test reads it: the call is under way
    await asyncio.Event().wait()  # the card's bank never answers: the test kills the process
    raise AssertionError("unreachable")  # pragma: no cover


# Charging twice is not the same as charging once.
charge = tool(_charge, name="charge", idempotent=False)


def agent(client: AsyncClient, **options: Any) -> Agent[str | None]:
    """The agent both the plain and the durable runs use."""
    return Agent(client, model="gpt-test", tools=[book, weather, charge], **options)


def config(database: Path) -> Any:
    """A DBOS configuration on the SQLite file `database`."""
    return {"name": "asynctool-tests", "system_database_url": f"sqlite:///{database}"}


async def main(mode: str, database: Path, base_url: str, records: Path, workflow_id: str) -> None:
    async with AsyncClient(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        durable = DBOSAgent(agent(client), deps=records)
        DBOS(config=config(database))
        DBOS.launch()  # in the running loop: the runs it recovers run on it
        try:
            if mode.startswith("start"):
                await durable.run(mode.partition(":")[2] or TASK, workflow_id=workflow_id)
                return
            result = await durable.result(workflow_id)
        finally:
            DBOS.destroy()
    sys.stdout.write(
        msgspec.json.encode(
            {
                "messages": result.messages,
                "tool_results": [r.content for r in result.tool_results],
                "output": result.output,
            }
        ).decode()
    )


if __name__ == "__main__":
    mode, database, base_url, records, workflow_id = sys.argv[1:]
    asyncio.run(main(mode, Path(database), base_url, Path(records), workflow_id))
