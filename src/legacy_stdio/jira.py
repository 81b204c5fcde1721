"""Jira REST client: v2 for issues (wiki markup), v3 `/search/jql` on Cloud, Agile 1.0 for boards."""

from __future__ import annotations

from typing import Any

from legacy_stdio.errors import ServiceError
from legacy_stdio.http import ApiClient
from legacy_stdio.query import narrow, split_query
from legacy_stdio.query import split_order_by as split_order_by

API = "/rest/api/2"
AGILE = "/rest/agile/1.0"

# Fields every issue listing asks for; the story points field is added once it is known.
LIST_FIELDS = [
    "summary", "status", "issuetype", "priority", "assignee", "reporter", "created", "updated",
    "resolutiondate", "labels", "project",
]
DETAIL_FIELDS = [
    *LIST_FIELDS, "description", "components", "fixVersions", "parent", "issuelinks", "comment",
    "timetracking", "duedate", "resolution",
]
_STORY_POINT_NAMES = ("story points", "story point estimate")


def quote_jql(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def restrict_jql(jql: str, projects: tuple[str, ...]) -> str:
    """Limit a JQL query to `projects` (JIRA_PROJECTS_FILTER), keeping its ORDER BY clause.

    Refuses (BadArguments) JQL with unbalanced parentheses or an unterminated string.
    """
    if not projects:
        return jql
    scope = "project in (" + ", ".join(quote_jql(p) for p in projects) + ")"
    return narrow(split_query(jql), [scope], argument="jql", language="JQL", allowed="projects")


def project_of(issue_key: str) -> str:
    return issue_key.rsplit("-", 1)[0].upper()


class JiraClient:
    """Typed operations over the Jira REST API for one signed-in user."""

    def __init__(
        self, api: ApiClient, deployment: str | None, projects: tuple[str, ...], page_size: int = 100
    ) -> None:
        self.api = api
        self.page_size = page_size
        self._deployment = deployment
        self.projects = projects
        self._story_points: str | bool | None = False  # False: not looked up yet

    # ------------------------------------------------------------------ environment

    async def is_cloud(self) -> bool:
        if self._deployment is None:
            info = await self.api.request("GET", f"{API}/serverInfo")
            kind = str((info or {}).get("deploymentType", "")).lower()
            self._deployment = "cloud" if kind == "cloud" else "server"
        return self._deployment == "cloud"

    async def story_points_field(self) -> str | None:
        """The id of the Story Points custom field, from `/field` (looked up once)."""
        if self._story_points is False:
            fields = await self.api.request("GET", f"{API}/field") or []
            found = [f for f in fields if str(f.get("name", "")).lower() in _STORY_POINT_NAMES]
            self._story_points = str(found[0]["id"]) if found else None
        return self._story_points if isinstance(self._story_points, str) else None

    async def fields(self, base: list[str]) -> list[str]:
        points = await self.story_points_field()
        return [*base, points] if points else list(base)

    def check_project(self, issue_key: str) -> None:
        """Refuse issue keys outside JIRA_PROJECTS_FILTER."""
        self.check_project_key(project_of(issue_key))

    def check_project_key(self, project: str) -> None:
        project = project.upper()
        if self.projects and project not in self.projects:
            raise ServiceError(f"Project {project} is outside JIRA_PROJECTS_FILTER ({', '.join(self.projects)})")

    # ------------------------------------------------------------------ issues

    async def get_issue(self, key: str, *, expand: str | None = None) -> dict[str, Any]:
        self.check_project(key)
        params: dict[str, Any] = {"fields": ",".join(await self.fields(DETAIL_FIELDS))}
        if expand:
            params["expand"] = expand
        issue: dict[str, Any] = await self.api.request("GET", f"{API}/issue/{key}", params=params)
        return issue

    async def search(self, jql: str, max_results: int, fields: list[str] | None = None) -> list[dict[str, Any]]:
        """Issues matching `jql`, following pages up to `max_results`."""
        jql = restrict_jql(jql, self.projects)
        wanted = ",".join(fields or await self.fields(LIST_FIELDS))
        if await self.is_cloud():
            return await self._search_cloud(jql, max_results, wanted)
        return await self._search_server(jql, max_results, wanted)

    async def _search_cloud(self, jql: str, max_results: int, fields: str) -> list[dict[str, Any]]:
        issues: list[dict[str, Any]] = []
        token: str | None = None
        while len(issues) < max_results:
            params: dict[str, Any] = {
                "jql": jql, "fields": fields, "maxResults": min(self.page_size, max_results - len(issues)),
            }
            if token:
                params["nextPageToken"] = token
            page = await self.api.request("GET", "/rest/api/3/search/jql", params=params) or {}
            issues.extend(page.get("issues") or [])
            token = page.get("nextPageToken")
            if page.get("isLast", True) or not token or not page.get("issues"):
                break
        return issues[:max_results]

    async def _search_server(self, jql: str, max_results: int, fields: str) -> list[dict[str, Any]]:
        issues: list[dict[str, Any]] = []
        while len(issues) < max_results:
            params = {
                "jql": jql, "fields": fields, "startAt": len(issues),
                "maxResults": min(self.page_size, max_results - len(issues)),
            }
            page = await self.api.request("GET", f"{API}/search", params=params) or {}
            found = page.get("issues") or []
            issues.extend(found)
            if not found or len(issues) >= int(page.get("total", 0)):
                break
        return issues[:max_results]

    async def create_issue(self, fields: dict[str, Any]) -> dict[str, Any]:
        self.check_project_key(str(fields["project"]["key"]))
        created: dict[str, Any] = await self.api.request("POST", f"{API}/issue", json={"fields": fields})
        return created

    async def update_issue(self, key: str, fields: dict[str, Any]) -> None:
        self.check_project(key)
        await self.api.request("PUT", f"{API}/issue/{key}", json={"fields": fields})

    async def add_comment(self, key: str, body: str) -> dict[str, Any]:
        self.check_project(key)
        comment: dict[str, Any] = await self.api.request(
            "POST", f"{API}/issue/{key}/comment", json={"body": body}
        )
        return comment

    async def transitions(self, key: str) -> list[dict[str, Any]]:
        self.check_project(key)
        found = await self.api.request("GET", f"{API}/issue/{key}/transitions") or {}
        return list(found.get("transitions") or [])

    async def transition(self, key: str, transition_id: str, comment: str | None = None) -> None:
        """Jira answers 204 with no body on success."""
        self.check_project(key)
        body: dict[str, Any] = {"transition": {"id": transition_id}}
        if comment:
            body["update"] = {"comment": [{"add": {"body": comment}}]}
        await self.api.request("POST", f"{API}/issue/{key}/transitions", json=body)

    async def remote_links(self, key: str) -> list[dict[str, Any]]:
        self.check_project(key)
        return list(await self.api.request("GET", f"{API}/issue/{key}/remotelink") or [])

    async def add_worklog(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        self.check_project(key)
        worklog: dict[str, Any] = await self.api.request("POST", f"{API}/issue/{key}/worklog", json=body)
        return worklog

    async def link_issues(self, link_type: str, inward: str, outward: str, comment: str | None) -> None:
        self.check_project(inward)
        self.check_project(outward)
        body: dict[str, Any] = {
            "type": {"name": link_type}, "inwardIssue": {"key": inward}, "outwardIssue": {"key": outward},
        }
        if comment:
            body["comment"] = {"body": comment}
        await self.api.request("POST", f"{API}/issueLink", json=body)

    # ------------------------------------------------------------------ people

    async def myself(self) -> dict[str, Any]:
        me: dict[str, Any] = await self.api.request("GET", f"{API}/myself")
        return me

    async def search_users(self, query: str, max_results: int = 20) -> list[dict[str, Any]]:
        key = "query" if await self.is_cloud() else "username"
        params = {key: query, "maxResults": max_results}
        return list(await self.api.request("GET", f"{API}/user/search", params=params) or [])

    async def assignable_users(self, issue_key: str) -> list[dict[str, Any]]:
        params = {"issueKey": issue_key, "maxResults": 50}
        return list(await self.api.request("GET", f"{API}/user/assignable/search", params=params) or [])

    async def user_ref(self, who: str) -> dict[str, Any]:
        """The body that names a user: `accountId` on Cloud, `name` on Server/DC."""
        cloud = await self.is_cloud()
        if who.lower() in {"me", "currentuser()", "myself"}:
            me = await self.myself()
            return {"accountId": me["accountId"]} if cloud else {"name": me["name"]}
        if cloud and "@" not in who and " " not in who and len(who) >= 20:
            return {"accountId": who}
        users = await self.search_users(who)
        wanted = who.lower()
        exact = [
            u for u in users
            if wanted in {str(u.get(f, "")).lower() for f in ("emailAddress", "displayName", "name", "key")}
        ]
        chosen = (exact or users)[:1]
        if not chosen:
            raise ServiceError(f"No Jira user matches {who!r}")
        user = chosen[0]
        return {"accountId": user["accountId"]} if cloud else {"name": user["name"]}

    async def assign(self, key: str, who: str | None) -> None:
        self.check_project(key)
        if who:
            body = await self.user_ref(who)
        else:
            body = {"accountId": None} if await self.is_cloud() else {"name": None}
        await self.api.request("PUT", f"{API}/issue/{key}/assignee", json=body)

    # ------------------------------------------------------------------ projects and metadata

    async def projects_list(self) -> list[dict[str, Any]]:
        projects = list(await self.api.request("GET", f"{API}/project") or [])
        if self.projects:
            projects = [p for p in projects if str(p.get("key", "")).upper() in self.projects]
        return projects

    async def versions(self, project_key: str) -> list[dict[str, Any]]:
        self.check_project_key(project_key)
        return list(await self.api.request("GET", f"{API}/project/{project_key}/versions") or [])

    async def create_fields(self, project_key: str, issue_type: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(issue type, its fields) from createmeta: the paged endpoints, else the older expand form."""
        self.check_project_key(project_key)
        base = f"{API}/issue/createmeta/{project_key}/issuetypes"
        try:
            listing = await self.api.request("GET", base) or {}
        except ServiceError as exc:
            if exc.status != 404:
                raise
            return await self._create_fields_legacy(project_key, issue_type)
        types = listing.get("issueTypes") or listing.get("values") or []
        chosen = _pick_issue_type(types, issue_type)
        detail = await self.api.request("GET", f"{base}/{chosen['id']}") or {}
        return chosen, list(detail.get("fields") or detail.get("values") or [])

    async def _create_fields_legacy(self, project_key: str, issue_type: str) -> tuple[
        dict[str, Any], list[dict[str, Any]]
    ]:
        params = {"projectKeys": project_key, "expand": "projects.issuetypes.fields"}
        meta = await self.api.request("GET", f"{API}/issue/createmeta", params=params) or {}
        projects = meta.get("projects") or []
        if not projects:
            raise ServiceError(f"Jira has no create metadata for project {project_key}")
        chosen = _pick_issue_type(projects[0].get("issuetypes") or [], issue_type)
        fields = chosen.get("fields") or {}
        return chosen, [{"fieldId": fid, **spec} for fid, spec in fields.items()]

    # ------------------------------------------------------------------ agile

    async def boards(self, project_key: str | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"maxResults": 50}
        if project_key:
            self.check_project_key(project_key)
            params["projectKeyOrId"] = project_key
        found = await self.api.request("GET", f"{AGILE}/board", params=params) or {}
        return list(found.get("values") or [])

    async def sprints(self, board_id: int, state: str | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"maxResults": 50}
        if state:
            params["state"] = state
        found = await self.api.request("GET", f"{AGILE}/board/{board_id}/sprint", params=params) or {}
        return list(found.get("values") or [])

    async def sprint_issues(self, sprint_id: int, max_results: int) -> list[dict[str, Any]]:
        return await self._agile_issues(f"{AGILE}/sprint/{sprint_id}/issue", max_results, None)

    async def board_issues(self, board_id: int, max_results: int, jql: str | None) -> list[dict[str, Any]]:
        return await self._agile_issues(f"{AGILE}/board/{board_id}/issue", max_results, jql)

    async def _agile_issues(self, path: str, max_results: int, jql: str | None) -> list[dict[str, Any]]:
        fields = ",".join(await self.fields(LIST_FIELDS))
        issues: list[dict[str, Any]] = []
        while len(issues) < max_results:
            params: dict[str, Any] = {
                "fields": fields, "startAt": len(issues), "maxResults": min(self.page_size, max_results - len(issues)),
            }
            if jql:
                params["jql"] = jql
            page = await self.api.request("GET", path, params=params) or {}
            found = page.get("issues") or []
            issues.extend(found)
            if not found or len(issues) >= int(page.get("total", 0)):
                break
        return issues[:max_results]


def _pick_issue_type(types: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    for candidate in types:
        if wanted.lower() in {str(candidate.get("name", "")).lower(), str(candidate.get("id", ""))}:
            return candidate
    names = ", ".join(str(t.get("name")) for t in types) or "none"
    raise ServiceError(f"Issue type {wanted!r} is not available here (available: {names})")
