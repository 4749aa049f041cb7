"""A paused run resumed in a process of its own, with a new client and a new agent.

`python -m tests._resume_later BASE_URL STATE_FILE KIND` loads the `PausedRun` the test saved,
decides its pending calls the way KIND says, resumes, and prints what happened as JSON. The
test imports the same tools for the run that paused.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from asynctool import (
    Agent,
    Answer,
    Approve,
    AsyncClient,
    Defer,
    Deny,
    PausedRun,
    Rewrite,
    ToolCall,
)

RAN: list[str] = []
"""Every call the tools below ran in this process, as `name(argument)`."""


async def refund(amount: int) -> str:
    """Refund part of an order.

    Args:
        amount: the amount, in euros.
    """
    RAN.append(f"refund({amount})")
    return f"refunded {amount} EUR"


async def lookup(order: int) -> str:
    """Look an order up.

    Args:
        order: the order number.
    """
    RAN.append(f"lookup({order})")
    return f"order {order}: shipped"


async def refunds_need_a_person(call: ToolCall, context: Any) -> Defer | None:
    """The hook of the run that pauses: refunds wait for a person."""
    if call.function.name == "refund":
        return Defer("refunds are approved by a person")
    return None


def agent(client: AsyncClient, **options: Any) -> Agent[str | None]:
    return Agent(client, model="m", tools=[refund, lookup], **options)


DECISIONS: dict[str, Any] = {
    "approve": {"a": Approve(), "c": Approve()},
    "deny": {"a": Deny("refunds over 100 EUR need a manager"), "c": Approve()},
    "rewrite": {"a": Rewrite({"amount": 100}), "c": Approve()},
    "answer": {"a": Answer({"queued": True, "ticket": 41}), "c": Approve()},
}


async def main(base_url: str, saved: bytes, kind: str) -> None:
    paused = PausedRun.from_json(saved)
    async with AsyncClient(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        result = await agent(client).resume(paused, DECISIONS[kind])
    print(json.dumps({"output": result.output, "ran": RAN, "turns": result.turns}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]).read_bytes(), sys.argv[3]))
