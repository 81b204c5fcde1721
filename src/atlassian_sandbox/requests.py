"""Reading request input: JSON bodies and integer query parameters, with clear 400s."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from atlassian_sandbox.errors import ApiError


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or 400."""
    body = await json_value(request)
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


async def json_value(request: Request) -> Any:
    """The request body parsed as JSON (None when empty); 400 for invalid JSON or UTF-8."""
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"Unexpected character in the JSON body: {exc}") from exc


def int_param(request: Request, name: str, default: int, low: int = 0, high: int = 1_000_000) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"The '{name}' parameter must be an integer, not '{raw}'.") from exc
    return max(low, min(high, value))
