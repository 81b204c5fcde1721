"""Typer parameters derived from declared options: one builder for `bridge run` and `bridge connect`.

A field's metadata says how it is offered: `help`, `flag` (else the name with dashes), `choices`,
`min`/`max`, `negatable` (a `--no-` form), `argument` (positional), `lines` (its variable holds one
value per line, read by the command rather than the parser). Each option is also the environment
variable `<prefix><NAME>`.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer


def choices_enum(name: str, choices: Sequence[str]) -> type[enum.Enum]:
    """Typer offers fixed choices through an Enum; its values are the plain strings."""
    return enum.Enum(name, [(c, c) for c in choices], type=str)  # type: ignore[return-value]


def flag_name(field: dataclasses.Field[Any]) -> str:
    """The flag of a field (without dashes): its own `flag`, else the field name."""
    return str(field.metadata.get("flag") or field.name.replace("_", "-"))


def env_name(field: dataclasses.Field[Any], prefix: str) -> str:
    return prefix + field.name.upper()


def parameter(field: dataclasses.Field[Any], hint: Any, prefix: str) -> inspect.Parameter:
    """The typer parameter for one declared field."""
    meta = field.metadata
    kind = inspect.Parameter.KEYWORD_ONLY
    if meta.get("argument"):
        argument = typer.Argument(..., envvar=env_name(field, prefix), help=meta["help"], show_default=False,
                                  metavar=field.name.upper())
        return inspect.Parameter(field.name, kind, default=argument, annotation=hint)
    flag = "--" + flag_name(field)
    extra: dict[str, Any] = {}
    annotation: Any = hint
    default: Any = field.default
    help_text = str(meta["help"])
    decls = [f"{flag}/--no-{flag[2:]}"] if hint is bool and meta.get("negatable") else [flag]
    if "choices" in meta:
        annotation = choices_enum(field.name, meta["choices"])
        default = annotation(default)
        extra["case_sensitive"] = False
    elif hint == tuple[str, ...]:
        annotation, default = list[str] | None, None
    elif hint == Path | None:
        annotation = Path | None
    for bound in ("min", "max"):
        if bound in meta:
            extra[bound] = meta[bound]
    if meta.get("lines"):
        help_text += f" Variable {env_name(field, prefix)}: one per line."
    else:
        extra["envvar"] = env_name(field, prefix)
    option = typer.Option(default, *decls, help=help_text, **extra)
    return inspect.Parameter(field.name, kind, default=option, annotation=annotation)
