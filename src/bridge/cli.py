"""Entry points: `bridge run [OPTIONS] -- COMMAND [ARGS...]`, `bridge connect URL` and the
`mcp-jira-confluence-sse` preset.

The options are derived from `bridge.config.Settings`: every field is a flag and a `BRIDGE_*`
environment variable, declared once there.

The server stack (`bridge.app`: uvicorn, starlette, the security layer, metrics) is imported by
`start`, when `bridge run` runs, not here: `bridge connect`, which a local client starts for every
session, and every `--help` load only typer and the option declarations.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import logging
import shutil
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from bridge.config import ConfigError, Settings, option_fields, validate
from bridge.connect.command import EPILOG as CONNECT_EPILOG
from bridge.connect.command import connect_command
from bridge.flags import parameter

ENV_PREFIX = "BRIDGE_"

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Serve a stdio MCP server over HTTP.")


def _split(values: Sequence[str] | None, split: bool) -> tuple[str, ...]:
    """A repeatable option's values; with `split`, each may also be a comma-separated list."""
    if not split:
        return tuple(values or ())
    return tuple(item.strip() for value in values or () for item in value.split(",") if item.strip())


def _command(fields: Sequence[str] | None, fixed: dict[str, Any]) -> Any:
    """A typer command whose options are the named settings fields (all when None)."""
    hints = typing.get_type_hints(Settings)
    params = [parameter(f, hints[f.name], ENV_PREFIX) for f in option_fields() if fields is None or f.name in fields]
    if "command" not in fixed:
        params.append(
            inspect.Parameter(
                "command", inspect.Parameter.KEYWORD_ONLY, annotation=list[str],
                default=typer.Argument(..., help="The stdio MCP server to run per session (after `--`)."),
            )
        )

    def run(**values: Any) -> None:
        """Run the bridge around COMMAND: one child process per client session."""
        values = {k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}
        for f in dataclasses.fields(Settings):  # repeatable options and the argument arrive as lists
            if f.name in values and (f.name == "command" or isinstance(f.default, tuple)):
                values[f.name] = _split(values[f.name], bool(f.metadata.get("split")))
        start(Settings(**values, **fixed))

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


@app.callback()
def _group() -> None:
    """Serve a stdio MCP server over HTTP (legacy SSE and Streamable HTTP on one port)."""


app.command("run", context_settings={"allow_interspersed_args": False})(_command(None, {}))
app.command("connect", epilog=CONNECT_EPILOG)(connect_command())


def start(settings: Settings) -> None:
    """Validate once, set up logging, serve until a signal; exit 2 with the option's name on bad input."""
    import anyio  # the server stack: only when serving (see the module's docstring)

    from bridge.app import serve, uvloop_available
    from bridge.observability import setup_logging
    from bridge.security import SecurityConfigError, build_policy

    try:
        validate(settings)
    except ConfigError as exc:
        raise typer.BadParameter(exc.why, param_hint=f"'--{exc.option.replace('_', '-')}'") from None
    setup_logging(settings.log_level, settings.log_format)
    try:
        policy = build_policy(settings)
    except SecurityConfigError as exc:
        if settings.log_format == "json":  # one JSON line per problem, as the log shipper expects
            for problem in str(exc).splitlines():
                logging.getLogger("bridge").error("the security options cannot be used: %s", problem)
        else:
            typer.echo(f"Error: the security options cannot be used:\n{exc}", err=True)
        raise typer.Exit(2) from None
    anyio.run(serve, settings, policy, backend="asyncio", backend_options={"use_uvloop": uvloop_available()})


def main() -> None:
    app()


def _jira_confluence_server() -> str:
    """`mcp-jira-confluence` next to this Python, else on PATH."""
    local = Path(sys.executable).parent / "mcp-jira-confluence"
    return str(local) if local.exists() else shutil.which("mcp-jira-confluence") or "mcp-jira-confluence"


preset = typer.Typer(add_completion=False)
preset.command(help="Serve mcp-jira-confluence over SSE and Streamable HTTP.")(
    _command(None, {"command": (_jira_confluence_server(),)})
)


def sse_preset_main() -> None:
    preset()
