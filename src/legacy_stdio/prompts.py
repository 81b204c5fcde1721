"""The five prompts of 0.2.x; those about an issue or a page embed it as markdown with its comments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import mcp_types as types

from legacy_stdio.errors import BadArguments
from legacy_stdio.services import Services
from legacy_stdio.tools.confluence import page_text
from legacy_stdio.tools.jira import issue_text

Builder = Callable[[Services, Mapping[str, str]], Awaitable[str]]


@dataclass(frozen=True)
class PromptSpec:
    name: str
    description: str
    arguments: tuple[tuple[str, str, bool], ...]  # (name, description, required)
    build: Builder

    def definition(self) -> types.Prompt:
        return types.Prompt(
            name=self.name,
            description=self.description,
            arguments=[types.PromptArgument(name=n, description=d, required=r) for n, d, r in self.arguments],
        )


async def _summarize_issue(svc: Services, args: Mapping[str, str]) -> str:
    key = args["issue_key"].strip().upper()
    return (
        f"Summarize the Jira issue {key} below for a teammate: what it is about, where it stands, "
        "the decisions and open questions in its comments, and the next step.\n\n"
        + await issue_text(svc, key, include_comments=True)
    )


async def _create_description(svc: Services, args: Mapping[str, str]) -> str:
    issue_type = args.get("issue_type") or "Task"
    context = f"\n\nContext:\n{args['context']}" if args.get("context") else ""
    return (
        f"Write a Jira {issue_type} description in markdown for: {args['summary']}.{context}\n\n"
        "Use the sections: ## Background, ## Goal, ## Acceptance criteria (a checklist), ## Notes. "
        "Be concrete and brief."
    )


async def _summarize_page(svc: Services, args: Mapping[str, str]) -> str:
    return (
        "Summarize the Confluence page below: its purpose, key points, and anything the comments add or "
        "dispute.\n\n" + await page_text(svc, args["page_id"].strip(), include_comments=True)
    )


async def _create_content(svc: Services, args: Mapping[str, str]) -> str:
    topic = f" about {args['topic']}" if args.get("topic") else ""
    space = f" for the {args['space_key']} space" if args.get("space_key") else ""
    return (
        f"Write a Confluence page titled \"{args['title']}\"{topic}{space} in markdown: a short introduction, "
        "headed sections, lists and tables where they help, and code blocks with a language. "
        "It will be converted to Confluence storage format when created with create-confluence-page."
    )


async def _answer_question(svc: Services, args: Mapping[str, str]) -> str:
    return (
        f"Answer this question using only the Confluence page below (and its comments): {args['question']}\n"
        "If the page does not contain the answer, say so.\n\n"
        + await page_text(svc, args["page_id"].strip(), include_comments=True)
    )


PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec("summarize-jira-issue", "Summarize a Jira issue with its comments",
               (("issue_key", "Issue key, e.g. PROJ-123", True),), _summarize_issue),
    PromptSpec("create-jira-description", "Draft a structured Jira issue description",
               (("summary", "What the issue is about", True), ("issue_type", "Task, Bug, Story ...", False),
                ("context", "Background to include", False)), _create_description),
    PromptSpec("summarize-confluence-page", "Summarize a Confluence page with its comments",
               (("page_id", "Confluence page id", True),), _summarize_page),
    PromptSpec("create-confluence-content", "Draft content for a new Confluence page",
               (("title", "Page title", True), ("topic", "What the page covers", False),
                ("space_key", "Target space", False)), _create_content),
    PromptSpec("answer-confluence-question", "Answer a question from a Confluence page",
               (("page_id", "Confluence page id", True), ("question", "The question", True)), _answer_question),
)


async def get_prompt(svc: Services, name: str, arguments: Mapping[str, str] | None) -> types.GetPromptResult:
    spec = next((p for p in PROMPTS if p.name == name), None)
    if spec is None:
        raise BadArguments(f"Unknown prompt: {name}")
    args = {k: v for k, v in (arguments or {}).items() if isinstance(v, str) and v.strip()}
    missing = [n for n, _, required in spec.arguments if required and n not in args]
    if missing:
        raise BadArguments(f"Prompt {name} needs: {', '.join(missing)}")
    text = await spec.build(svc, args)
    return types.GetPromptResult(
        description=spec.description,
        messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
    )
