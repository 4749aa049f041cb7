"""Durable agent runs on DBOS: `pip install 'asynctool[dbos]'`.

```python
from dbos import DBOS
from asynctool.dbos import DBOSAgent

durable = DBOSAgent(Agent(client, model="gpt-4o", tools=[book_flight]))  # before launch
DBOS(config={"name": "bookings", "system_database_url": "sqlite:///bookings.sqlite"})
DBOS.launch()  # inside the running loop: recovers the runs a crash left pending
result = await durable.run("Book me a flight to Oslo", workflow_id="order-7")
```

A run is a DBOS workflow whose model requests and tool calls are steps, recorded in DBOS's
database; the loop is `Agent.run`'s own. This module imports `dbos`; `import asynctool` never
imports it.
"""

from ._dbos import DBOSAgent as DBOSAgent
from ._dbos import DurableRunError as DurableRunError

__all__ = ["DBOSAgent", "DurableRunError"]
