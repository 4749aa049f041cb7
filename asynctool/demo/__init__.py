"""`python -m asynctool.demo`: an agent with tools, streaming to the terminal, offline by default.

With no configuration the demo starts asynctool's embedded OpenAI-compatible server in its own
process, with `DemoModel` (a deterministic local stand-in, not an LLM) answering, and runs an
agent with three tools against it, showing each tool call, each result and the answer as they
happen. `--base-url` and `--api-key` (or `OPENAI_BASE_URL` and `OPENAI_API_KEY`) run the same
agent against a real provider; `python -m asynctool.demo --help` lists every option.

The agent and its tools are importable, for examples and experiments; `run_example` runs each
program of `examples/`, offline unless `OPENAI_BASE_URL` is set:

```python
from asynctool.demo import build_agent

async with AsyncClient(base_url, api_key) as client:
    result = await build_agent(client, "gpt-4o-mini").run("What time is it in Tokyo?")
```
"""

from ._cli import main as main
from ._examples import run_example as run_example
from ._tools import DEFAULT_PROMPT as DEFAULT_PROMPT
from ._tools import INSTRUCTIONS as INSTRUCTIONS
from ._tools import TOOLS as TOOLS
from ._tools import build_agent as build_agent
from ._tools import find_zone as find_zone
from ._tools import get_delivery_date as get_delivery_date
from ._tools import get_local_time as get_local_time
from ._tools import get_weather as get_weather

__all__ = [
    "DEFAULT_PROMPT",
    "INSTRUCTIONS",
    "TOOLS",
    "build_agent",
    "find_zone",
    "get_delivery_date",
    "get_local_time",
    "get_weather",
    "main",
    "run_example",
]
