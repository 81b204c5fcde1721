"""Jira's JSON shapes for users, issues, comments and the rest, as REST v2 (wiki markup) or v3 (ADF)."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from atlassian_sandbox import adf
from atlassian_sandbox.catalog import (
    FIELDS,
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    SPRINT_FIELD,
    STATUSES,
    STORY_POINTS_FIELD,
    jira_time,
)
from atlassian_sandbox.seed import USERS, User
from atlassian_sandbox.store import Comment, Issue, Project, Sprint, Store, Version, Worklog


@dataclass(frozen=True)
class Jira:
    """What rendering needs to know: the data, the mode, the base URL and the API version asked for."""

    store: Store
    mode: str
    base: str
    api: str = "2"

    @property
    def rest(self) -> str:
        return f"{self.base}/rest/api/{self.api}"

    def text(self, value: str | None) -> Any:
        return adf.from_text(value) if self.api == "3" else value

    def user(self, name: str | None) -> dict[str, Any] | None:
        user = USERS.get(name) if name else None
        return None if user is None else self.user_json(user)

    def user_json(self, user: User) -> dict[str, Any]:
        avatars = {size: f"{self.base}/secure/useravatar?size={size}&owner={user.name}" for size in
                   ("48x48", "24x24", "16x16", "32x32")}
        body: dict[str, Any] = {"emailAddress": user.email, "avatarUrls": avatars,
                                "displayName": user.display_name, "active": True, "timeZone": "Etc/UTC"}
        if self.mode == "cloud":
            return {"self": f"{self.rest}/user?accountId={user.account_id}", "accountId": user.account_id,
                    "accountType": "atlassian", **body}
        return {"self": f"{self.rest}/user?username={user.name}", "key": user.key, "name": user.name, **body}

    def status(self, name: str) -> dict[str, Any]:
        s = STATUSES[name]
        return {
            "self": f"{self.rest}/status/{s.id}",
            "description": "",
            "iconUrl": f"{self.base}/images/icons/status_generic.gif",
            "name": s.name,
            "id": s.id,
            "statusCategory": {
                "self": f"{self.rest}/statuscategory/{s.category_id}",
                "id": s.category_id,
                "key": s.category_key,
                "colorName": s.color,
                "name": s.category_name,
            },
        }

    def issuetype(self, name: str) -> dict[str, Any]:
        t = ISSUE_TYPES[name]
        return {"self": f"{self.rest}/issuetype/{t.id}", "id": t.id, "description": t.description,
                "iconUrl": f"{self.base}/images/icons/issuetypes/{t.name.lower()}.svg", "name": t.name,
                "subtask": t.subtask, "hierarchyLevel": t.hierarchy}

    def priority(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        pid = PRIORITIES[name]
        return {"self": f"{self.rest}/priority/{pid}", "iconUrl": f"{self.base}/images/icons/priorities/"
                f"{name.lower()}.svg", "name": name, "id": pid}

    def project(self, project: Project, full: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": f"{self.rest}/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": {"48x48": f"{self.base}/secure/projectavatar?pid={project.id}"},
        }
        if full:
            body.update(
                description=f"The {project.name} project.",
                lead=self.user(project.lead),
                style="classic",
                isPrivate=False,
                components=[self.component(project, c) for c in project.components],
                versions=[self.version(project, v) for v in project.versions],
                issueTypes=[self.issuetype(t) for t in ISSUE_TYPES],
            )
        return body

    def component(self, project: Project, name: str) -> dict[str, Any]:
        cid = str(10100 + project.components.index(name)) if name in project.components else "10100"
        return {"self": f"{self.rest}/component/{cid}", "id": cid, "name": name}

    def version(self, project: Project, version: Version) -> dict[str, Any]:
        body: dict[str, Any] = {"self": f"{self.rest}/version/{version.id}", "id": version.id,
                                "description": version.description, "name": version.name,
                                "archived": version.archived, "released": version.released,
                                "projectId": int(project.id)}
        if version.release_date:
            body["releaseDate"] = version.release_date
        return body

    def comment(self, issue: Issue, comment: Comment) -> dict[str, Any]:
        return {
            "self": f"{self.rest}/issue/{issue.id}/comment/{comment.id}",
            "id": comment.id,
            "author": self.user(comment.author),
            "body": self.text(comment.body),
            "updateAuthor": self.user(comment.author),
            "created": jira_time(comment.created),
            "updated": jira_time(comment.updated),
            "jsdPublic": True,
        }

    def comments_page(self, issue: Issue) -> dict[str, Any]:
        comments = [self.comment(issue, c) for c in issue.comments]
        return {"comments": comments, "self": f"{self.rest}/issue/{issue.id}/comment",
                "maxResults": len(comments), "total": len(comments), "startAt": 0}

    def worklog(self, issue: Issue, log: Worklog) -> dict[str, Any]:
        hours, rest = divmod(log.seconds, 3600)
        spent = " ".join(p for p in (f"{hours}h" if hours else "", f"{rest // 60}m" if rest // 60 else "") if p)
        return {
            "self": f"{self.rest}/issue/{issue.id}/worklog/{log.id}",
            "author": self.user(log.author),
            "updateAuthor": self.user(log.author),
            "comment": self.text(log.comment),
            "created": jira_time(log.created),
            "updated": jira_time(log.created),
            "started": jira_time(log.started),
            "timeSpent": spent or "0m",
            "timeSpentSeconds": log.seconds,
            "id": log.id,
            "issueId": str(issue.id),
        }

    def worklogs_page(self, issue: Issue) -> dict[str, Any]:
        logs = [self.worklog(issue, w) for w in issue.worklogs]
        return {"startAt": 0, "maxResults": len(logs), "total": len(logs), "worklogs": logs}

    def sprint(self, sprint: Sprint) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": sprint.id,
            "self": f"{self.base}/rest/agile/1.0/sprint/{sprint.id}",
            "state": sprint.state,
            "name": sprint.name,
            "originBoardId": sprint.board_id,
            "goal": sprint.goal,
        }
        for key, moment in (("startDate", sprint.start), ("endDate", sprint.end),
                            ("completeDate", sprint.complete)):
            if moment is not None:
                body[key] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return body

    def sprint_field(self, issue: Issue) -> Any:
        """Cloud returns sprint objects; Server/DC the legacy `Sprint@...[...]` strings."""
        sprints = [self.store.sprints[s] for s in issue.sprint_ids if s in self.store.sprints]
        if not sprints:
            return None
        if self.mode == "cloud":
            return [{**self.sprint(s), "boardId": s.board_id} for s in sprints]
        return [
            f"com.atlassian.greenhopper.service.sprint.Sprint@{s.id:x}[id={s.id},rapidViewId={s.board_id},"
            f"state={s.state.upper()},name={s.name},goal={s.goal},"
            f"startDate={jira_time(s.start) or '<null>'},endDate={jira_time(s.end) or '<null>'},"
            f"completeDate={jira_time(s.complete) or '<null>'},sequence={s.id}]"
            for s in sprints
        ]

    def issue_ref(self, issue: Issue) -> dict[str, Any]:
        """The short form used for parents, sub-tasks and links."""
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{self.rest}/issue/{issue.id}",
            "fields": {
                "summary": issue.summary,
                "status": self.status(issue.status),
                "priority": self.priority(issue.priority),
                "issuetype": self.issuetype(issue.issuetype),
            },
        }

    def issuelinks(self, issue: Issue) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for link in self.store.links:
            if issue.key not in (link.inward, link.outward):
                continue
            t = LINK_TYPES[link.type_name]
            entry: dict[str, Any] = {
                "id": link.id,
                "self": f"{self.rest}/issueLink/{link.id}",
                "type": {"id": t.id, "name": t.name, "inward": t.inward, "outward": t.outward},
            }
            # From the outward issue's side the other one is the "inwardIssue", and vice versa.
            other_key, side = (link.inward, "inwardIssue") if issue.key == link.outward else (
                link.outward, "outwardIssue")
            other = self.store.issues.get(other_key)
            if other is not None:
                entry[side] = self.issue_ref(other)
                out.append(entry)
        return out

    def field_values(self, issue: Issue) -> dict[str, Callable[[], Any]]:
        project = self.store.projects[issue.project]
        parent = self.store.issues.get(issue.parent) if issue.parent else None
        done = issue.resolutiondate is not None
        return {
            "summary": lambda: issue.summary,
            "description": lambda: self.text(issue.description),
            "status": lambda: self.status(issue.status),
            "issuetype": lambda: self.issuetype(issue.issuetype),
            "priority": lambda: self.priority(issue.priority),
            "assignee": lambda: self.user(issue.assignee),
            "reporter": lambda: self.user(issue.reporter),
            "creator": lambda: self.user(issue.reporter),
            "created": lambda: jira_time(issue.created),
            "updated": lambda: jira_time(issue.updated),
            "resolutiondate": lambda: jira_time(issue.resolutiondate),
            "resolution": lambda: {"self": f"{self.rest}/resolution/10000", "id": "10000",
                                   "description": "Work has been done on this issue.", "name": "Done"}
            if done else None,
            "labels": lambda: list(issue.labels),
            "components": lambda: [self.component(project, c) for c in issue.components],
            "fixVersions": lambda: [self.version(project, v) for v in project.versions
                                    if v.name in issue.fix_versions],
            "comment": lambda: self.comments_page(issue),
            "worklog": lambda: self.worklogs_page(issue),
            "project": lambda: self.project(project),
            "parent": lambda: self.issue_ref(parent) if parent else None,
            "subtasks": lambda: [self.issue_ref(s) for s in self.store.subtasks_of(issue.key)],
            "issuelinks": lambda: self.issuelinks(issue),
            STORY_POINTS_FIELD: lambda: issue.story_points,
            SPRINT_FIELD: lambda: self.sprint_field(issue),
        }

    def issue(self, issue: Issue, fields: str | None = None, expand: str | None = None,
              default: str = "*all") -> dict[str, Any]:
        values = self.field_values(issue)
        chosen = choose_fields(fields, default, list(values))
        rendered: dict[str, Any] = {}
        for name in chosen:
            value = values[name]()
            if name == "parent" and value is None:
                continue
            rendered[name] = value
        body: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": f"{self.rest}/issue/{issue.id}",
            "key": issue.key,
        }
        if chosen or fields is not None:
            body["fields"] = rendered
        wanted = {e.strip() for e in (expand or "").split(",") if e.strip()}
        if "changelog" in wanted:
            body["changelog"] = self.changelog(issue)
        if "names" in wanted:
            body["names"] = {f.id: f.name for f in FIELDS if f.id in rendered}
        if "renderedFields" in wanted:
            body["renderedFields"] = {
                "description": render_html(issue.description),
                "comment": {"comments": [{**self.comment(issue, c), "body": render_html(c.body)}
                                         for c in issue.comments]},
            }
        return body

    def changelog(self, issue: Issue) -> dict[str, Any]:
        histories = [
            {
                "id": change.id,
                "author": self.user(change.author),
                "created": jira_time(change.created),
                "items": [
                    {"field": i.field, "fieldtype": "jira", "from": None, "fromString": i.from_string,
                     "to": None, "toString": i.to_string}
                    for i in change.items
                ],
            }
            for change in issue.changelog
        ]
        return {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}


def render_html(text: str | None) -> str | None:
    """A plain HTML rendering of wiki text (paragraphs only): enough for `renderedFields`."""
    if text is None:
        return None
    return "".join(f"<p>{html.escape(block)}</p>" for block in text.split("\n\n") if block.strip())


def choose_fields(fields: str | None, default: str, available: list[str]) -> list[str]:
    """Which fields to render for a `fields=` parameter: names, `*all`, `*navigable`, `-name`."""
    spec = [f.strip() for f in (fields if fields is not None else default).split(",") if f.strip()]
    chosen: list[str] = []
    for item in spec:
        if item in ("*all", "*navigable"):
            navigable = [f for f in available if item == "*all" or f not in ("comment", "worklog")]
            chosen.extend(f for f in navigable if f not in chosen)
        elif item in available and item not in chosen:
            chosen.append(item)
    excluded = {item[1:] for item in spec if item.startswith("-")}
    return [f for f in chosen if f not in excluded]
