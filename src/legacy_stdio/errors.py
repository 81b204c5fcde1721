"""Errors a tool reports to the client as `isError=true` with a readable message."""

from __future__ import annotations


class ToolFailure(Exception):
    """Anything a tool call reports back as an error result."""


class ServiceError(ToolFailure):
    """A request to Jira or Confluence failed; the message is the service's own where it gave one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotConfigured(ToolFailure):
    """The tool needs a service the environment does not configure."""


class BadArguments(ToolFailure):
    """The call's arguments do not fit the tool's input schema."""
