"""mcp-jira-confluence: the stdio MCP server for Jira and Confluence."""

__version__ = "0.3.0"
