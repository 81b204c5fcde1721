"""One pass over everything the server offers, with transport-independent, comparable results.

`run_scenario(client)` takes any connected `mcp.client.client.Client` (stdio, SSE or Streamable
HTTP) of `mcp-jira-confluence` signed in as alice (`sandbox.env(ALICE)`), against a freshly reset
sandbox in either mode. It calls every tool, prompt and resource once and returns normalized
records, so two runs over different transports can be compared with `==`.

Normalization: content blocks are dumped to JSON-able dicts, and dates/times are masked, because
the sandbox seeds its data relative to the moment of reset.
"""

from __future__ import annotations

import re
from typing import Any

import mcp_types as types
from mcp.client.client import Client

_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def mask(value: Any) -> Any:
    """Dates and times replaced by a placeholder, recursively."""
    if isinstance(value, str):
        return _MOMENT.sub("<date>", value)
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    return value


def dump(model: Any) -> Any:
    return mask(model.model_dump(mode="json", by_alias=True, exclude_none=True))


def _uri_id(result: types.CallToolResult) -> str:
    for block in result.content:
        if isinstance(block, types.EmbeddedResource):
            return str(block.resource.uri).rsplit("/", 1)[1]
    raise AssertionError("the result embeds no resource")


async def run_scenario(client: Client) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []

    async def tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        result = await client.call_tool(name, arguments)
        records.append({"kind": "tool", "name": name, "arguments": arguments, "is_error": result.is_error,
                        "content": [dump(block) for block in result.content]})
        return result

    async def prompt(name: str, arguments: dict[str, str]) -> None:
        result = await client.get_prompt(name, arguments)
        records.append({"kind": "prompt", "name": name, "arguments": arguments,
                        "messages": [dump(m) for m in result.messages]})

    async def resource(uri: str) -> None:
        result = await client.read_resource(uri)
        records.append({"kind": "resource", "uri": uri, "contents": [dump(c) for c in result.contents]})

    records.append({"kind": "tools/list", "tools": [dump(t) for t in (await client.list_tools()).tools]})
    records.append({"kind": "prompts/list", "prompts": [dump(p) for p in (await client.list_prompts()).prompts]})
    records.append({"kind": "resources/templates/list",
                    "templates": [dump(t) for t in (await client.list_resource_templates()).resource_templates]})
    records.append({"kind": "resources/list",
                    "resources": [dump(r) for r in (await client.list_resources()).resources]})

    # Jira reads
    await tool("get-jira-issue", {"issue_key": "DEMO-6"})
    await tool("get-my-assigned-issues", {"max_results": 20})
    await tool("summarize-jira-issue", {"issue_key": "DEMO-9"})
    await tool("extract-confluence-links", {"issue_key": "DEMO-2"})
    await tool("get-jira-transitions", {"issue_key": "DEMO-8"})
    await tool("get-agile-boards", {})
    await tool("get-board-sprints", {"board_id": 1})
    await tool("get-daily-standup-summary", {"board_id": 1})
    await tool("get-task-assignment-recommendations", {"issue_key": "DEMO-16"})
    await tool("estimate-story-points", {"issue_key": "DEMO-19"})
    await tool("search-jira-issues", {"jql": "project = OPS ORDER BY key ASC", "max_results": 10})
    await tool("get-jira-projects", {})
    await tool("get-jira-project-versions", {"project_key": "DEMO"})
    await tool("get-jira-current-user", {})
    await tool("search-jira-users", {"query": "carol"})
    await tool("get-jira-create-fields", {"project_key": "OPS", "issue_type": "Task"})
    await tool("get-sprint-issues", {"sprint_id": 1})

    # Confluence reads
    guide = _uri_id(await tool("get-confluence-page",
                               {"title": "Deployment Guide", "space_key": "ENG", "include_history": True}))
    home = _uri_id(await tool("get-confluence-page", {"title": "Engineering Home", "space_key": "ENG",
                                                      "format": "raw"}))
    await tool("search-confluence", {"query": "rate limit", "max_results": 5})
    await tool("ask-confluence-page", {"question": "How do I deploy?", "page_id": guide})
    await tool("get-confluence-spaces", {})
    await tool("get-confluence-page-children", {"page_id": home})
    await tool("get-confluence-comments", {"page_id": guide})
    await tool("get-confluence-labels", {"page_id": guide})

    # Jira writes, on an issue the scenario creates
    created = await tool("create-jira-issue", {"project_key": "DEMO", "summary": "Scenario issue",
                                               "issue_type": "Task", "description": "Made by **the scenario**"})
    key = _uri_id(created)
    await tool("comment-jira-issue", {"issue_key": key, "comment": "First *comment*"})
    await tool("transition-jira-issue", {"issue_key": key, "transition_name": "In Progress"})
    await tool("update-jira-issue", {"issue_key": key, "priority": "Low", "labels": ["scenario"]})
    await tool("assign-jira-issue", {"issue_key": key, "assignee": "me"})
    await tool("add-jira-worklog", {"issue_key": key, "time_spent": "45m"})
    await tool("link-jira-issues", {"link_type": "Relates", "inward_issue": key, "outward_issue": "DEMO-6"})

    # Confluence writes, on a page the scenario creates
    page = _uri_id(await tool("create-confluence-page", {"space_key": "ENG", "title": "Scenario page",
                                                         "content": "# Scenario\n\nHello.", "parent_id": home}))
    await tool("update-confluence-page", {"page_id": page, "title": "Scenario page", "content": "Updated.",
                                          "version_comment": "second"})
    await tool("comment-confluence-page", {"page_id": page, "comment": "A comment"})
    await tool("add-confluence-label", {"page_id": page, "label": "scenario"})
    await tool("delete-confluence-page", {"page_id": page})

    # Prompts and resources
    await prompt("summarize-jira-issue", {"issue_key": "DEMO-6"})
    await prompt("create-jira-description", {"summary": "Add dark mode", "issue_type": "Story"})
    await prompt("summarize-confluence-page", {"page_id": guide})
    await prompt("create-confluence-content", {"title": "Runbook", "topic": "queue backlog"})
    await prompt("answer-confluence-question", {"page_id": guide, "question": "Which command deploys?"})
    await resource(f"jira://issue/{key}")
    await resource(f"confluence://page/{guide}")
    await resource(f"confluence://space/ENG/page/{guide}")
    return records
