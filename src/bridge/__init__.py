"""Serve any stdio MCP server over legacy SSE and Streamable HTTP, one child per session."""

__version__ = "0.3.0"
