"""Approval later: a run stops for a person, is saved to a file, and goes on with a new client.

`before_tool_call` answers `Defer(reason)` for the calls a person must approve: the run ends
after the turn's other calls, with `result.pending` listing those that wait and
`result.paused` the whole state, which `to_json()` saves. Later, maybe in another process
(a Slack button, a web form approved tomorrow), `PausedRun.from_json` loads it and
`agent.resume(paused, decisions)` goes on, one decision per call: `Approve()`,
`Deny(reason)`, `Rewrite(arguments)` or `Answer(output)`.
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import asynctool
from asynctool import Approve, Defer, PausedRun
from asynctool.demo import build_agent, run_example

MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")


async def ask_a_person(call: asynctool.ToolCall, context: Any) -> Defer | None:
    if call.function.name == "get_delivery_date":
        return Defer("order details are shown only once a person agrees")
    return None


async def main(base_url: str | None = None, path: Path | None = None) -> Any:
    path = path or Path(tempfile.gettempdir()) / "asynctool-paused-run.json"
    async with asynctool.AsyncClient(base_url) as client:
        agent = build_agent(client, MODEL, before_tool_call=ask_a_person)
        result = await agent.run("When will order_12345 arrive?")
    for pending in result.pending:
        call = pending.call.function
        print(f"Waiting for a person: {call.name}({call.arguments}), {pending.reason}")
    assert result.paused is not None
    path.write_bytes(result.paused.to_json())

    # Later, maybe in another process: load the run, decide, and go on with a new client.
    paused = PausedRun.from_json(path.read_bytes())
    decisions = {pending.call.id: Approve() for pending in paused.pending}
    async with asynctool.AsyncClient(base_url) as client:
        done = await build_agent(client, MODEL).resume(paused, decisions)
    print(f"Approved {len(decisions)} call(s) after {done.turns} turns; the answer:\n{done.output}")
    return done


if __name__ == "__main__":
    run_example(main)
