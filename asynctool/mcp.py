"""Tools from Model Context Protocol servers: `pip install 'asynctool[mcp]'`.

```python
from asynctool.mcp import MCPServerHTTP, MCPServerStdio

async with MCPServerStdio("python", ["weather_server.py"]) as weather:
    agent = Agent(client, model="gpt-4o", tools=[get_time, weather])
```

This module imports the official `mcp` SDK; `import asynctool` never imports it.
"""

from ._exceptions import MCPServerError as MCPServerError
from ._mcp import MCPServerHTTP as MCPServerHTTP
from ._mcp import MCPServerStdio as MCPServerStdio
from ._mcp import MCPTool as MCPTool

__all__ = ["MCPServerError", "MCPServerHTTP", "MCPServerStdio", "MCPTool"]
