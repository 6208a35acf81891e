"""The upstream of the MCP proxy overhead benchmark: a stdio MCP server, built with the
official Python SDK, with one tool that returns its argument. It does no work of its own,
so what a call costs is the round trip."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Returns `text` unchanged."""
    return text


if __name__ == "__main__":
    server.run()  # stdio
