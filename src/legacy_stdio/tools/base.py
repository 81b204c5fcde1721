"""Tool declarations: parameters that make the input schema and check the arguments, and results."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from legacy_stdio.errors import BadArguments

if TYPE_CHECKING:
    from legacy_stdio.services import Services

_JSON_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # string | integer | boolean | array (of strings) | object
    description: str
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def schema(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.type == "array":
            spec["items"] = {"type": "string"}
        if self.enum:
            spec["enum"] = list(self.enum)
        if self.default is not None:
            spec["default"] = self.default
        if self.minimum is not None:
            spec["minimum"] = self.minimum
        if self.maximum is not None:
            spec["maximum"] = self.maximum
        return spec

    def coerce(self, value: Any) -> Any:
        """Check one argument; numbers and booleans given as strings are accepted."""
        if self.type == "integer" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if self.type == "boolean" and isinstance(value, str) and value.lower() in {"true", "false"}:
            value = value.lower() == "true"
        if self.type == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if self.type == "array" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        expected = _JSON_TYPES[self.type]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise BadArguments(f"Argument {self.name!r} must be of type {self.type}")
        if self.enum and value not in self.enum:
            raise BadArguments(f"Argument {self.name!r} must be one of: {', '.join(self.enum)}")
        if isinstance(value, int) and self.minimum is not None and value < self.minimum:
            raise BadArguments(f"Argument {self.name!r} must be at least {self.minimum}")
        if isinstance(value, int) and self.maximum is not None and value > self.maximum:
            raise BadArguments(f"Argument {self.name!r} must be at most {self.maximum}")
        return value


class Args:
    """Checked arguments with typed accessors (defaults already applied)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def text(self, name: str) -> str:
        value = self._values.get(name)
        if not isinstance(value, str) or not value.strip():
            raise BadArguments(f"Argument {name!r} is required")
        return value

    def opt_text(self, name: str) -> str | None:
        value = self._values.get(name)
        return value if isinstance(value, str) and value.strip() else None

    def integer(self, name: str) -> int:
        value = self._values.get(name)
        if not isinstance(value, int):
            raise BadArguments(f"Argument {name!r} is required")
        return value

    def opt_integer(self, name: str) -> int | None:
        value = self._values.get(name)
        return value if isinstance(value, int) else None

    def flag(self, name: str) -> bool:
        return bool(self._values.get(name))

    def strings(self, name: str) -> list[str] | None:
        value = self._values.get(name)
        return [str(v) for v in value] if isinstance(value, list) else None

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self._values.get(name)
        return dict(value) if isinstance(value, dict) else None

    def given(self, name: str) -> bool:
        return self._values.get(name) is not None


@dataclass(frozen=True)
class ToolResult:
    """Markdown text, and the resource (`jira://issue/KEY` ...) the text describes, if any."""

    text: str
    resource_uri: str | None = None


Handler = Callable[["Services", Args], Awaitable[ToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    params: tuple[Param, ...]
    handler: Handler
    write: bool
    one_of: tuple[tuple[str, ...], ...] = ()  # alternative required groups, e.g. page_id | title+space_key

    def input_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "additionalProperties": False,
        }
        required = [p.name for p in self.params if p.required]
        if required:
            schema["required"] = required
        return schema

    def check(self, arguments: Mapping[str, Any] | None) -> Args:
        """Arguments checked against the parameters, with defaults applied."""
        given = dict(arguments or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise BadArguments(f"Unknown argument(s) for {self.name}: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for param in self.params:
            value = given.get(param.name)
            if value is None or (isinstance(value, str) and not value.strip() and param.type == "string"):
                if param.required:
                    raise BadArguments(f"Argument {param.name!r} is required for {self.name}")
                values[param.name] = param.default
                continue
            values[param.name] = param.coerce(value)
        if self.one_of and not any(all(values.get(n) is not None for n in group) for group in self.one_of):
            choices = " or ".join(" + ".join(group) for group in self.one_of)
            raise BadArguments(f"{self.name} needs {choices}")
        return Args(values)


@dataclass
class ToolRegistry:
    """The tools one module declares, in declaration order."""

    tools: list[ToolSpec] = field(default_factory=list)

    def tool(
        self,
        name: str,
        description: str,
        *params: Param,
        write: bool = False,
        one_of: tuple[tuple[str, ...], ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.tools.append(ToolSpec(name, description, tuple(params), handler, write, one_of))
            return handler

        return register
