"""Error bodies in each service's own shape, and the JSON responses that carry them."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from atlassian_sandbox.responses import Json


class ApiError(Exception):
    """Raised by a handler; turned into the service's error body by the app's exception handler."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or HTTPStatus(status).phrase)
        self.status = status
        self.message = message
        self.errors = errors or {}
        self.headers = headers or {}


def jira_body(messages: list[str], errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {"errorMessages": messages, "errors": errors or {}}


def confluence_body(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "data": {"authorized": status not in (401, 403), "valid": True, "errors": [], "successful": False},
        "message": message,
        "reason": HTTPStatus(status).phrase,
    }


def error_body(service: str, status: int, message: str | None, errors: dict[str, str] | None = None) -> Any:
    """The body Jira or Confluence would send for this error."""
    if service == "confluence":
        text = message or "; ".join(f"{k}: {v}" for k, v in (errors or {}).items()) or HTTPStatus(status).phrase
        return confluence_body(status, text)
    return jira_body([message] if message else [], errors)


def error_response(
    service: str,
    status: int,
    message: str | None,
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Json(error_body(service, status, message, errors), status_code=status, headers=headers)
