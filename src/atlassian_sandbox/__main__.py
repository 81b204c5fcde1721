"""`atlassian-sandbox --host 127.0.0.1 --port P --mode cloud|dc`: serve the sandbox with uvicorn."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import Annotated

import anyio
import typer
import uvicorn

from atlassian_sandbox.app import build_app

log = logging.getLogger("atlassian_sandbox")


class Mode(StrEnum):
    cloud = "cloud"
    dc = "dc"


async def serve(host: str, port: int, mode: str, public_url: str) -> None:
    app = build_app(mode, public_url)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(30):
            while not server.started:
                if server.should_exit:
                    return
                await anyio.sleep(0.02)
        print(f"atlassian-sandbox ({mode}) listening on http://{host}:{port}", file=sys.stderr, flush=True)


def run(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8090,
    mode: Annotated[Mode, typer.Option(help="Emulate Jira/Confluence Cloud or Server/Data Center.")] = Mode.cloud,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="ATLASSIAN_SANDBOX_PUBLIC_URL",
            help="Base URL clients use to reach it (serverInfo, seeded links); default http://HOST:PORT.",
        ),
    ] = None,
) -> None:
    """A local stand-in for Jira and Confluence, with seeded demo data."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    base = public_url or f"http://{host}:{port}"
    if not base.startswith(("http://", "https://")):
        raise typer.BadParameter("must start with http:// or https://", param_hint="--public-url")
    anyio.run(serve, host, port, mode.value, base.rstrip("/"))


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
