"""Assembles the MCP server `mcp-jira-confluence`: tools, prompts and resources over the services."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from legacy_stdio import __version__, prompts, resources
from legacy_stdio.errors import BadArguments, ToolFailure
from legacy_stdio.services import Services
from legacy_stdio.tools import call_tool, offered_tools, tool_definition

SERVER_NAME = "mcp-jira-confluence"
Ctx = ServerRequestContext[Any]


def _mcp_error(exc: ToolFailure) -> MCPError:
    code = types.INVALID_PARAMS if isinstance(exc, BadArguments) else types.INTERNAL_ERROR
    return MCPError(code=code, message=str(exc))


def build_server(services: Services) -> Server[Any]:
    async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool_definition(s) for s in offered_tools(services.settings)])

    async def on_call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await call_tool(services, params.name, params.arguments)

    async def list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[p.definition() for p in prompts.PROMPTS])

    async def get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        try:
            return await prompts.get_prompt(services, params.name, params.arguments)
        except ToolFailure as exc:
            raise _mcp_error(exc) from None

    async def list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=await resources.recent_resources(services))

    async def list_templates(
        ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=list(resources.TEMPLATES))

    async def read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        try:
            return await resources.read_resource(services, str(params.uri))
        except ToolFailure as exc:
            raise _mcp_error(exc) from None

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions="Jira and Confluence: read, search and edit issues and pages. Text is markdown.",
        on_list_tools=list_tools,
        on_call_tool=on_call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )
