"""A process running durable runs on DBOS for tests/test_dbos.py: `python -m tests._dbos_worker
DATABASE RUN_ID`. It launches DBOS on the SQLite file (which recovers the runs an earlier
process left), starts the run RUN_ID of the `booking` agent unless it exists, and prints its
result as JSON. With ASYNCTOOL_TEST_HOLD set, its second model request waits forever (see
`_temporal_agents.booking`): the test kills it there.
"""

from __future__ import annotations

import asyncio
import json
import sys

from dbos import DBOS, SetWorkflowID

from asynctool.dbos import agent_run, register_agents

from ._temporal_agents import booking


async def main(database: str, run_id: str) -> None:
    agent = booking()
    register_agents(agent)
    DBOS(config={"name": "asynctool-test", "system_database_url": f"sqlite:///{database}"})
    DBOS.launch()
    try:
        with SetWorkflowID(run_id):  # a workflow id is started once: this finds the run
            handle = await DBOS.start_workflow_async(agent_run, "booking", "Book Oslo")
        print(json.dumps(await handle.get_result()), flush=True)
    finally:
        DBOS.destroy()
        await agent.client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
