"""The Jira and Confluence clients of one server process, opened and closed together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from legacy_stdio.config import ServiceConfig, Settings, not_configured_message
from legacy_stdio.confluence import ConfluenceClient
from legacy_stdio.errors import NotConfigured
from legacy_stdio.http import ApiClient, build_http_client
from legacy_stdio.jira import JiraClient


class Services:
    """What tools, prompts and resources use; a missing service raises a clear `NotConfigured`."""

    def __init__(self, settings: Settings, jira: JiraClient | None, confluence: ConfluenceClient | None) -> None:
        self.settings = settings
        self._jira = jira
        self._confluence = confluence

    @property
    def has_jira(self) -> bool:
        return self._jira is not None

    @property
    def has_confluence(self) -> bool:
        return self._confluence is not None

    @property
    def jira(self) -> JiraClient:
        if self._jira is None:
            raise NotConfigured(not_configured_message("Jira"))
        return self._jira

    @property
    def confluence(self) -> ConfluenceClient:
        if self._confluence is None:
            raise NotConfigured(not_configured_message("Confluence"))
        return self._confluence


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    async with AsyncExitStack() as stack:

        async def api(config: ServiceConfig) -> ApiClient:
            client = await stack.enter_async_context(build_http_client(config))
            return ApiClient(config, settings.retry, client)

        jira = (
            JiraClient(
                await api(settings.jira), settings.jira_deployment, settings.projects_filter,
                settings.search_page_size,
            )
            if settings.jira
            else None
        )
        confluence = (
            ConfluenceClient(await api(settings.confluence), settings.spaces_filter) if settings.confluence else None
        )
        yield Services(settings, jira, confluence)
