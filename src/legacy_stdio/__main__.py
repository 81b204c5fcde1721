"""`mcp-jira-confluence`: serve MCP over stdio. Stdout carries protocol messages only; logs go to stderr."""

from __future__ import annotations

import logging
import os
import sys

import anyio
from mcp.server.stdio import stdio_server

from legacy_stdio.config import ConfigError, Settings, load_settings
from legacy_stdio.server import build_server
from legacy_stdio.services import open_services

log = logging.getLogger("legacy_stdio")


class RedactSecrets(logging.Filter):
    """Defence in depth: replace any configured secret that would reach a log line."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def configure_logging(settings: Settings | None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if settings is not None:
        secrets = tuple(s for c in (settings.jira, settings.confluence) if c for s in c.secrets)
        handler.addFilter(RedactSecrets(secrets))
    level = os.environ.get("MCP_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


async def serve(settings: Settings) -> None:
    async with open_services(settings) as services:
        server = build_server(services)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> None:
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        configure_logging(None)
        log.error("configuration error: %s", exc)
        sys.exit(2)
    configure_logging(settings)
    log.info(
        "mcp-jira-confluence starting (jira: %s, confluence: %s, read-only: %s)",
        settings.jira.url if settings.jira else "not configured",
        settings.confluence.url if settings.confluence else "not configured",
        settings.read_only,
    )
    anyio.run(serve, settings)


if __name__ == "__main__":
    main()
