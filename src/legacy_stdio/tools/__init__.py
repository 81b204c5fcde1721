"""All tools, which of them this configuration offers, and how a call becomes a result."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from legacy_stdio.config import Settings
from legacy_stdio.errors import BadArguments, ToolFailure
from legacy_stdio.services import Services
from legacy_stdio.tools import confluence, jira
from legacy_stdio.tools.base import ToolResult, ToolSpec

log = logging.getLogger(__name__)

ALL_TOOLS: tuple[ToolSpec, ...] = (*jira.registry.tools, *confluence.registry.tools)


def offered_tools(settings: Settings) -> list[ToolSpec]:
    """Tools after READ_ONLY_MODE (drops writes) and ENABLED_TOOLS (keeps only those named)."""
    return [
        spec for spec in ALL_TOOLS
        if not (settings.read_only and spec.write)
        and (settings.enabled_tools is None or spec.name in settings.enabled_tools)
    ]


def tool_definition(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.input_schema(),
        annotations=types.ToolAnnotations(read_only_hint=not spec.write, open_world_hint=True),
    )


def result_content(result: ToolResult) -> list[types.ContentBlock]:
    """The markdown text, and the same text as an embedded resource when it describes one."""
    content: list[types.ContentBlock] = [types.TextContent(text=result.text)]
    if result.resource_uri:
        content.append(types.EmbeddedResource(resource=types.TextResourceContents(
            uri=result.resource_uri, mime_type="text/markdown", text=result.text,
        )))
    return content


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


async def call_tool(services: Services, name: str, arguments: Mapping[str, Any] | None) -> types.CallToolResult:
    offered = {spec.name: spec for spec in offered_tools(services.settings)}
    spec = offered.get(name)
    if spec is None:
        if services.settings.read_only and any(s.name == name and s.write for s in ALL_TOOLS):
            return error_result(f"{name} changes data and READ_ONLY_MODE is on")
        return error_result(f"Unknown tool: {name}")
    try:
        result = await spec.handler(services, spec.check(arguments))
    except BadArguments as exc:
        return error_result(f"Invalid arguments: {exc}")
    except ToolFailure as exc:
        log.info("%s failed: %s", name, exc)
        return error_result(str(exc))
    return types.CallToolResult(content=result_content(result))
