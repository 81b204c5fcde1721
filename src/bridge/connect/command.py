"""`bridge connect URL [OPTIONS]`: the typer command, derived from `ConnectOptions`.

Every field of `ConnectOptions` becomes a flag (its `flag`, else its name with dashes) and a
`BRIDGE_CONNECT_<NAME>` variable; the one with `argument` becomes the positional URL. A field with
`lines` takes one value per line in its variable (a header value may hold spaces and commas, so
neither of the usual splits fits); it is read here rather than by the parser.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import typing
from collections.abc import Callable
from typing import Any, Final

import typer

from bridge.config import ConfigError
from bridge.connect.options import ENV_PREFIX, ConnectOptions, validate
from bridge.flags import env_name, parameter

HELP: Final = (
    "Speak MCP over stdio to a local client, and over HTTP to the remote MCP server at URL.\n\n"
    "For a client that only starts local programs: put `bridge connect URL` where its config names "
    "the server's command. Messages pass through unchanged; when the server loses the session, a new "
    "one is opened (the handshake replayed) and the client notices nothing. Logs go to stderr only."
)

EPILOG: Final = ("Exit codes: 0 stdin closed, SIGTERM or SIGINT (the remote session is ended first); "
                 "1 the remote could not be reached or used before initialize was answered "
                 "(unreachable, TLS, 401, not an MCP server: one line on stderr says which); "
                 "2 bad options.")


def options_from(values: dict[str, Any], environ: typing.Mapping[str, str]) -> ConnectOptions:
    """The parsed values as `ConnectOptions` (enums to strings, lists to tuples, line variables read)."""
    values = {k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}
    for field in dataclasses.fields(ConnectOptions):
        if not isinstance(field.default, tuple):
            continue
        given = tuple(values.get(field.name) or ())
        if not given and field.metadata.get("lines"):
            given = tuple(line.strip() for line in environ.get(env_name(field, ENV_PREFIX), "").splitlines()
                          if line.strip())
        values[field.name] = given
    return ConnectOptions(**values)


def connect_command() -> Callable[..., None]:
    """The typer command; its parameters are `ConnectOptions`' fields."""
    hints = typing.get_type_hints(ConnectOptions)
    params = [parameter(field, hints[field.name], ENV_PREFIX) for field in dataclasses.fields(ConnectOptions)]

    def connect(**values: Any) -> None:
        options = options_from(values, os.environ)
        try:
            validated = validate(options)
        except ConfigError as exc:
            hint = "'URL'" if exc.option == "url" else f"'--{exc.option.replace('_', '-')}'"
            raise typer.BadParameter(exc.why, param_hint=hint) from None
        from bridge.connect import runner  # httpx and the relay: not needed for --help or bad options

        raise typer.Exit(runner.run(validated))

    connect.__doc__ = HELP
    connect.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    connect.__annotations__ = {p.name: p.annotation for p in params}
    return connect
