"""Assembles the sandbox: hook routes, Jira at the root, Confluence under /wiki (cloud) or /confluence."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from atlassian_sandbox import agile, confluence, hooks, jira_activity, jira_issues, jira_meta, jira_search
from atlassian_sandbox.context import Sandbox, sandbox_of
from atlassian_sandbox.errors import ApiError, error_response
from atlassian_sandbox.seeding import build_store


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    service = sandbox_of(request).service_of(request.url.path)
    return error_response(service, exc.status, exc.message, exc.errors, exc.headers)


async def not_found(request: Request, exc: Exception) -> Response:
    service = sandbox_of(request).service_of(request.url.path)
    status = getattr(exc, "status_code", 404)
    return error_response(service, status, getattr(exc, "detail", None) or "Not Found")


def build_app(mode: str, base_url: str) -> Starlette:
    box = Sandbox(mode=mode, base_url=base_url.rstrip("/"), seeder=build_store)
    # Metadata first: `/issue/createmeta` must win over `/issue/{key}`.
    routes = [
        *hooks.ROUTES,
        *jira_meta.routes(),
        *jira_search.routes(),
        *jira_issues.routes(),
        *jira_activity.routes(),
        *agile.routes(),
        *confluence.routes(box.confluence_prefix),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(hooks.SandboxMiddleware, box=box)],
        exception_handlers={ApiError: api_error, 404: not_found, 405: not_found},
    )
    app.state.sandbox = box
    return app
