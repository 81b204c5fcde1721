"""Jira tools: the 0.2.10 set (defects fixed) and the additions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from legacy_stdio import analysis, render
from legacy_stdio.errors import BadArguments, ServiceError
from legacy_stdio.jira import LIST_FIELDS, quote_jql
from legacy_stdio.markup import markdown_to_jira
from legacy_stdio.services import Services
from legacy_stdio.tools.base import Args, Param, ToolRegistry, ToolResult

registry = ToolRegistry()

ISSUE_KEY = Param("issue_key", "string", "Issue key, e.g. PROJ-123", required=True)
BOARD_ID = Param("board_id", "integer", "Agile board id", required=True, minimum=1)


def issue_uri(key: str) -> str:
    return f"jira://issue/{key}"


async def issue_text(svc: Services, key: str, include_comments: bool = True) -> str:
    """The markdown of one issue (what tools, prompts and resources show)."""
    issue = await svc.jira.get_issue(key)
    return render.issue_markdown(
        issue, include_comments=include_comments, points_field=await svc.jira.story_points_field()
    )


async def _issue_result(svc: Services, key: str, heading: str = "", include_comments: bool = True) -> ToolResult:
    text = await issue_text(svc, key, include_comments)
    return ToolResult(f"{heading}\n\n{text}" if heading else text, issue_uri(key))


async def _issue_list(svc: Services, title: str, jql: str, max_results: int) -> ToolResult:
    issues = await svc.jira.search(jql, max_results)
    return ToolResult(render.issue_list(title, issues, await svc.jira.story_points_field()))


# ---------------------------------------------------------------- the 0.2.10 tools


@registry.tool(
    "get-jira-issue",
    "Get a Jira issue: key fields, description (markdown) and comments.",
    ISSUE_KEY,
    Param("include_comments", "boolean", "Include the comments", default=True),
)
async def get_jira_issue(svc: Services, args: Args) -> ToolResult:
    return await _issue_result(svc, args.text("issue_key").upper(), include_comments=args.flag("include_comments"))


@registry.tool(
    "get-my-assigned-issues",
    "List the Jira issues assigned to the signed-in user, most recently updated first.",
    Param("max_results", "integer", "Maximum number of issues", default=10, minimum=1, maximum=200),
    Param("include_done", "boolean", "Include issues in a done status", default=False),
)
async def get_my_assigned_issues(svc: Services, args: Args) -> ToolResult:
    jql = "assignee = currentUser()"
    if not args.flag("include_done"):
        jql += " AND statusCategory != Done"
    return await _issue_list(svc, "My assigned issues", jql + " ORDER BY updated DESC", args.integer("max_results"))


@registry.tool(
    "summarize-jira-issue",
    "A concise summary of a Jira issue: status, people, description, recent comments and links.",
    ISSUE_KEY,
)
async def summarize_jira_issue(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    issue = await svc.jira.get_issue(key)
    return ToolResult(analysis.summarize_issue(issue), issue_uri(key))


@registry.tool(
    "extract-confluence-links",
    "Find the Confluence pages (and optionally git URLs) an issue refers to, in its text and remote links.",
    ISSUE_KEY,
    Param("include_git_urls", "boolean", "Also list GitHub/GitLab/Bitbucket URLs", default=True),
)
async def extract_confluence_links(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    issue = await svc.jira.get_issue(key)
    remote = await svc.jira.remote_links(key)
    base = svc.settings.confluence.url if svc.settings.confluence else None
    found = analysis.extract_links(issue, remote, base)
    return ToolResult(analysis.links_markdown(key, found, args.flag("include_git_urls")), issue_uri(key))


@registry.tool(
    "create-jira-issue",
    "Create a Jira issue. The description is markdown (converted to Jira wiki markup).",
    Param("project_key", "string", "Project key, e.g. PROJ", required=True),
    Param("summary", "string", "Issue summary", required=True),
    Param("issue_type", "string", "Issue type name, e.g. Task, Bug, Story", required=True),
    Param("description", "string", "Description in markdown"),
    Param("assignee", "string", "Assignee: email, username, display name or accountId"),
    Param("priority", "string", "Priority name, e.g. High"),
    Param("labels", "array", "Labels"),
    Param("parent_key", "string", "Parent issue key (for sub-tasks)"),
    write=True,
)
async def create_jira_issue(svc: Services, args: Args) -> ToolResult:
    fields: dict[str, Any] = {
        "project": {"key": args.text("project_key").upper()},
        "summary": args.text("summary"),
        "issuetype": {"name": args.text("issue_type")},
    }
    fields.update(await _edit_fields(svc, args))
    if args.opt_text("parent_key"):
        fields["parent"] = {"key": args.text("parent_key").upper()}
    if args.opt_text("assignee"):
        fields["assignee"] = await svc.jira.user_ref(args.text("assignee"))
    created = await svc.jira.create_issue(fields)
    key = str(created["key"])
    return await _issue_result(svc, key, f"Created issue **{key}**.")


async def _edit_fields(svc: Services, args: Args) -> dict[str, Any]:
    """Fields shared by create and update: description (markdown), priority, labels."""
    fields: dict[str, Any] = {}
    if args.opt_text("description") is not None:
        fields["description"] = markdown_to_jira(args.text("description"))
    if args.opt_text("priority"):
        fields["priority"] = {"name": args.text("priority")}
    labels = args.strings("labels")
    if labels is not None:
        fields["labels"] = labels
    return fields


@registry.tool(
    "comment-jira-issue",
    "Add a comment (markdown) to a Jira issue.",
    ISSUE_KEY,
    Param("comment", "string", "Comment text in markdown", required=True),
    write=True,
)
async def comment_jira_issue(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    comment = await svc.jira.add_comment(key, markdown_to_jira(args.text("comment")))
    return await _issue_result(svc, key, f"Added comment {comment.get('id')} to **{key}**.")


@registry.tool("get-jira-transitions", "List the workflow transitions available for an issue.", ISSUE_KEY)
async def get_jira_transitions(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    rows = [[t.get("id"), t.get("name"), render.user_name(t.get("to"))] for t in await svc.jira.transitions(key)]
    return ToolResult(render.listing(f"Transitions for {key}", ["ID", "Name", "To status"], rows,
                                     "No transitions available."), issue_uri(key))


@registry.tool(
    "transition-jira-issue",
    "Move an issue through its workflow, by transition name (or target status) or id.",
    ISSUE_KEY,
    Param("transition_name", "string", "Transition or target status name, e.g. Done"),
    Param("transition_id", "string", "Transition id"),
    Param("comment", "string", "Optional comment (markdown) added with the transition"),
    write=True,
    one_of=(("transition_name",), ("transition_id",)),
)
async def transition_jira_issue(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    available = await svc.jira.transitions(key)
    wanted = (args.opt_text("transition_id") or args.text("transition_name")).strip().lower()
    match = [
        t for t in available
        if wanted in {str(t.get("id")).lower(), str(t.get("name", "")).lower(),
                      str((t.get("to") or {}).get("name", "")).lower()}
    ]
    if not match:
        names = ", ".join(f"{t.get('name')} ({t.get('id')})" for t in available) or "none"
        raise BadArguments(f"No transition {wanted!r} for {key}; available: {names}")
    comment = args.opt_text("comment")
    await svc.jira.transition(key, str(match[0]["id"]), markdown_to_jira(comment) if comment else None)
    return await _issue_result(svc, key, f"Transitioned **{key}** with '{match[0].get('name')}'.", False)


@registry.tool(
    "get-agile-boards",
    "List Jira Agile boards, optionally for one project.",
    Param("project_key", "string", "Project key"),
)
async def get_agile_boards(svc: Services, args: Args) -> ToolResult:
    boards = await svc.jira.boards(args.opt_text("project_key"))
    rows = [[b.get("id"), b.get("name"), b.get("type"), (b.get("location") or {}).get("projectKey", "")]
            for b in boards]
    return ToolResult(render.listing("Agile boards", ["ID", "Name", "Type", "Project"], rows, "No boards found."))


@registry.tool(
    "get-board-sprints",
    "List the sprints of a board.",
    BOARD_ID,
    Param("state", "string", "Sprint state", enum=("active", "future", "closed")),
)
async def get_board_sprints(svc: Services, args: Args) -> ToolResult:
    board_id = args.integer("board_id")
    sprints = await svc.jira.sprints(board_id, args.opt_text("state"))
    return ToolResult(render.listing(f"Sprints of board {board_id}", analysis.SPRINT_HEADERS,
                                     [analysis.sprint_row(s) for s in sprints], "No sprints found."))


@registry.tool(
    "get-daily-standup-summary",
    "A stand-up summary of a board's active sprint (or its recent issues for Kanban): per person, "
    "what is done, in progress and to do.",
    BOARD_ID,
)
async def get_daily_standup_summary(svc: Services, args: Args) -> ToolResult:
    board_id = args.integer("board_id")
    try:
        active = await svc.jira.sprints(board_id, "active")
    except ServiceError as exc:
        if exc.status != 400:  # Kanban boards answer 400: "The board does not support sprints"
            raise
        active = []
    if active:
        sprint = active[0]
        issues = await svc.jira.sprint_issues(int(sprint["id"]), 200)
        title = f"Stand-up: {sprint.get('name')}"
        if sprint.get("goal"):
            title += f"\n\nSprint goal: {sprint['goal']}"
    else:
        issues = await svc.jira.board_issues(board_id, 100, None)
        title = f"Stand-up: board {board_id}"
    return ToolResult(analysis.standup_markdown(title, issues, await svc.jira.story_points_field()))


@registry.tool(
    "get-task-assignment-recommendations",
    "Recommend assignees for an issue from their experience with similar work and their current load.",
    ISSUE_KEY,
)
async def get_task_assignment_recommendations(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    issue = await svc.jira.get_issue(key)
    project = str(((issue.get("fields") or {}).get("project") or {}).get("key") or key.rsplit("-", 1)[0])
    candidates = await svc.jira.assignable_users(key)
    history = await svc.jira.search(f"project = {quote_jql(project)} ORDER BY updated DESC", 300,
                                    [*LIST_FIELDS, "components"])
    ranked = analysis.recommend_assignees(issue, candidates, history)
    return ToolResult(analysis.recommendations_markdown(key, ranked), issue_uri(key))


@registry.tool(
    "estimate-story-points",
    "Estimate story points from similar resolved issues of the same project and type.",
    ISSUE_KEY,
)
async def estimate_story_points(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    issue = await svc.jira.get_issue(key)
    points = await svc.jira.story_points_field()
    fields = issue.get("fields") or {}
    project = str((fields.get("project") or {}).get("key") or key.rsplit("-", 1)[0])
    jql = f"project = {quote_jql(project)}"
    issue_type = (fields.get("issuetype") or {}).get("name")
    if issue_type:
        jql += f" AND issuetype = {quote_jql(str(issue_type))}"
    similar = await svc.jira.search(jql + " ORDER BY updated DESC", 200, [*LIST_FIELDS, *(p for p in [points] if p)])
    return ToolResult(analysis.estimate_markdown(issue, similar, points), issue_uri(key))


# ---------------------------------------------------------------- additions


@registry.tool(
    "search-jira-issues",
    "Search issues with JQL, following result pages up to max_results.",
    Param("jql", "string", "JQL query, e.g. project = PROJ AND status = 'In Progress'", required=True),
    Param("max_results", "integer", "Maximum number of issues", default=20, minimum=1, maximum=1000),
)
async def search_jira_issues(svc: Services, args: Args) -> ToolResult:
    jql = args.text("jql")
    return await _issue_list(svc, f"Issues for `{jql}`", jql, args.integer("max_results"))


@registry.tool(
    "update-jira-issue",
    "Update an issue's summary, description (markdown), priority, labels, or other fields.",
    ISSUE_KEY,
    Param("summary", "string", "New summary"),
    Param("description", "string", "New description in markdown"),
    Param("priority", "string", "Priority name"),
    Param("labels", "array", "Labels (replace the current ones)"),
    Param("fields", "object", "Other fields, as Jira's REST API names them, e.g. {\"duedate\": \"2025-01-31\"}"),
    write=True,
)
async def update_jira_issue(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    fields: dict[str, Any] = dict(args.mapping("fields") or {})
    if args.opt_text("summary"):
        fields["summary"] = args.text("summary")
    fields.update(await _edit_fields(svc, args))
    if not fields:
        raise BadArguments("update-jira-issue needs at least one field to change")
    await svc.jira.update_issue(key, fields)
    return await _issue_result(svc, key, f"Updated **{key}** ({', '.join(sorted(fields))}).", False)


@registry.tool(
    "assign-jira-issue",
    "Assign an issue to a user (email, username, display name, accountId or 'me'); empty unassigns.",
    ISSUE_KEY,
    Param("assignee", "string", "Who to assign; leave empty to unassign"),
    write=True,
)
async def assign_jira_issue(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    await svc.jira.assign(key, args.opt_text("assignee"))
    return await _issue_result(svc, key, f"Assignment of **{key}** updated.", False)


@registry.tool("get-jira-projects", "List the Jira projects visible to the signed-in user.")
async def get_jira_projects(svc: Services, args: Args) -> ToolResult:
    projects = await svc.jira.projects_list()
    rows = [[p.get("key"), p.get("name"), p.get("projectTypeKey", ""), render.user_name(p.get("lead"))]
            for p in projects]
    return ToolResult(render.listing("Jira projects", ["Key", "Name", "Type", "Lead"], rows, "No projects."))


@registry.tool(
    "get-jira-project-versions",
    "List a project's versions (releases).",
    Param("project_key", "string", "Project key", required=True),
)
async def get_jira_project_versions(svc: Services, args: Args) -> ToolResult:
    project = args.text("project_key").upper()
    rows = [[v.get("id"), v.get("name"), "yes" if v.get("released") else "no", v.get("releaseDate", "—")]
            for v in await svc.jira.versions(project)]
    return ToolResult(render.listing(f"Versions of {project}", ["ID", "Name", "Released", "Release date"], rows,
                                     "No versions."))


@registry.tool("get-jira-current-user", "Who the server is signed in to Jira as.")
async def get_jira_current_user(svc: Services, args: Args) -> ToolResult:
    me = await svc.jira.myself()
    rows = [(label, me.get(field)) for label, field in (
        ("Display name", "displayName"), ("Email", "emailAddress"), ("Account ID", "accountId"),
        ("Username", "name"), ("Key", "key"), ("Time zone", "timeZone"),
    ) if me.get(field)]
    lines = [f"- **{label}**: {value}" for label, value in rows]
    return ToolResult("# Current Jira user\n\n" + "\n".join(lines))


@registry.tool(
    "search-jira-users",
    "Find Jira users by name or email.",
    Param("query", "string", "Name, username or email (part)", required=True),
    Param("max_results", "integer", "Maximum number of users", default=20, minimum=1, maximum=100),
)
async def search_jira_users(svc: Services, args: Args) -> ToolResult:
    users = await svc.jira.search_users(args.text("query"), args.integer("max_results"))
    rows = [[u.get("displayName"), u.get("emailAddress", ""), u.get("accountId") or u.get("name", ""),
             "yes" if u.get("active", True) else "no"] for u in users]
    return ToolResult(render.listing(f"Users matching '{args.text('query')}'",
                                     ["Name", "Email", "ID", "Active"], rows, "No users found."))


@registry.tool(
    "get-jira-create-fields",
    "The fields (required and optional) for creating an issue of a type in a project.",
    Param("project_key", "string", "Project key", required=True),
    Param("issue_type", "string", "Issue type name or id", required=True),
)
async def get_jira_create_fields(svc: Services, args: Args) -> ToolResult:
    project = args.text("project_key").upper()
    issue_type, fields = await svc.jira.create_fields(project, args.text("issue_type"))
    rows = [[f.get("fieldId") or f.get("key"), f.get("name"), "yes" if f.get("required") else "no",
             (f.get("schema") or {}).get("type", "")] for f in fields]
    return ToolResult(render.listing(f"Create fields for {project} {issue_type.get('name')}",
                                     ["Field", "Name", "Required", "Type"], rows, "No fields."))


def _jira_datetime(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadArguments(f"started must be an ISO date-time, e.g. 2025-01-31T09:00:00+00:00, not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000%z")


@registry.tool(
    "add-jira-worklog",
    "Log work on an issue.",
    ISSUE_KEY,
    Param("time_spent", "string", "Time in Jira format, e.g. 1h 30m", required=True),
    Param("comment", "string", "Work description (markdown)"),
    Param("started", "string", "When the work started (ISO date-time); default now"),
    write=True,
)
async def add_jira_worklog(svc: Services, args: Args) -> ToolResult:
    key = args.text("issue_key").upper()
    body: dict[str, Any] = {"timeSpent": args.text("time_spent")}
    if args.opt_text("comment"):
        body["comment"] = markdown_to_jira(args.text("comment"))
    if args.opt_text("started"):
        body["started"] = _jira_datetime(args.text("started"))
    worklog = await svc.jira.add_worklog(key, body)
    spent = worklog.get("timeSpent", args.text("time_spent"))
    return ToolResult(f"Logged {spent} on **{key}** (worklog {worklog.get('id')}).", issue_uri(key))


@registry.tool(
    "link-jira-issues",
    "Link two issues, e.g. link_type Blocks: inward_issue blocks outward_issue.",
    Param("link_type", "string", "Link type name, e.g. Blocks, Relates, Duplicate", required=True),
    Param("inward_issue", "string", "The issue on the inward side", required=True),
    Param("outward_issue", "string", "The issue on the outward side", required=True),
    Param("comment", "string", "Optional comment (markdown)"),
    write=True,
)
async def link_jira_issues(svc: Services, args: Args) -> ToolResult:
    inward, outward = args.text("inward_issue").upper(), args.text("outward_issue").upper()
    comment = args.opt_text("comment")
    await svc.jira.link_issues(args.text("link_type"), inward, outward, markdown_to_jira(comment) if comment else None)
    return await _issue_result(svc, inward, f"Linked **{inward}** and **{outward}** ({args.text('link_type')}).",
                               False)


@registry.tool(
    "get-sprint-issues",
    "List the issues of a sprint.",
    Param("sprint_id", "integer", "Sprint id", required=True, minimum=1),
    Param("max_results", "integer", "Maximum number of issues", default=50, minimum=1, maximum=500),
)
async def get_sprint_issues(svc: Services, args: Args) -> ToolResult:
    sprint_id = args.integer("sprint_id")
    issues = await svc.jira.sprint_issues(sprint_id, args.integer("max_results"))
    return ToolResult(render.issue_list(f"Issues in sprint {sprint_id}", issues, await svc.jira.story_points_field()))

