"""A small MCP server for `examples/mcp_tools.py`, written with the MCP SDK's MCPServer (FastMCP
in SDK v1). It speaks MCP on stdin and stdout: `python examples/mcp_servers/weather.py`."""

from mcp.server.mcpserver import MCPServer

app = MCPServer("weather")


@app.tool()
def get_forecast(location: str) -> str:
    """Get the weather forecast for a given location (sample data).

    Args:
        location: The city, e.g. Paris.
    """
    return f"{location}: 18 °C and clear tomorrow (sample data from the MCP server)"


if __name__ == "__main__":
    app.run()
