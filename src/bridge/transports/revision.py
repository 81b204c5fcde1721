"""The names of MCP 2026-07-28 the bridge reads and writes, and how a request is known to be one."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge import jsonrpc

VERSION = "2026-07-28"
ENVELOPE_PREFIX = "io.modelcontextprotocol/"
PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
SUPPORTED = [VERSION, *reversed(jsonrpc.HANDSHAKE_VERSIONS)]
LABEL = "modern"
REMOVED = frozenset({"ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                     "initialize", "notifications/roots/list_changed"})
LISTS = frozenset({"tools/list", "prompts/list", "resources/list", "resources/templates/list"})
CACHEABLE = LISTS | {"resources/read", "server/discover"}
LISTEN = "subscriptions/listen"
LOG_MESSAGE = "notifications/message"
LOG_LEVEL_KEY = "io.modelcontextprotocol/logLevel"
LEVELS = {name: rank for rank, name in enumerate(
    ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"), start=1)}
SUBSCRIPTION_KEY = "io.modelcontextprotocol/subscriptionId"
RESOURCE_UPDATED = "notifications/resources/updated"
LIST_CHANGED = {"toolsListChanged": "notifications/tools/list_changed",
                "promptsListChanged": "notifications/prompts/list_changed",
                "resourcesListChanged": "notifications/resources/list_changed"}
# The methods that name what they act on (the `Mcp-Name` header; a round's binding to its request),
# which are also the only ones that may take rounds of input.
NAME_OF = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
ROUND_METHODS = frozenset(NAME_OF)
RESOURCE_NOT_FOUND = -32002
INVALID_PARAMS = -32602
TTL_MS = 0  # what a handshake-era child lists may change at any time: immediately stale
INITIALIZE_TIMEOUT = 30.0


def is_modern(value: object, version_header: bytes | None = None) -> bool:
    """Whether a POST body is a 2026-07-28 message: its `params._meta` names a protocol version; or
    a notification sent with the 2026-07-28 header (the TypeScript client's `notifications/cancelled`)."""
    if not isinstance(value, dict):
        return False
    if "id" not in value and "method" in value and version_header == VERSION.encode():
        return True
    params = value.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and PROTOCOL_VERSION_KEY in meta


# The revision's error codes and the HTTP status each is answered with.
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022
STATUS_OF_CODE = {jsonrpc.PARSE_ERROR: 400, jsonrpc.INVALID_REQUEST: 400, INVALID_PARAMS: 400, HEADER_MISMATCH: 400,
                  -32021: 400, UNSUPPORTED_VERSION: 400, jsonrpc.METHOD_NOT_FOUND: 404}
_BASE64_HEADER = re.compile(r"=\?base64\?(?P<payload>.*)\?=")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a 2026-07-28 request is refused before anything serves it: a JSON-RPC error."""

    code: int
    message: str
    data: Any = None


def check_request(body: Mapping[str, Any], headers: Mapping[str, str]) -> Rejection | None:
    """The revision's validation ladder, first failure wins (as the `mcp` SDK's classifier has it,
    without importing the SDK on the bridge's path): the `_meta` envelope pair present (-32602);
    `MCP-Protocol-Version`, `Mcp-Method` and, on name-bearing methods, `Mcp-Name` equal to the body
    (-32020); a string version (-32602) that is served (-32022)."""
    params = body.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return Rejection(INVALID_PARAMS, f"params._meta must be an object carrying the required "
                                         f"{PROTOCOL_VERSION_KEY!r} and {CLIENT_CAPABILITIES_KEY!r} envelope keys")
    missing = [key for key in (PROTOCOL_VERSION_KEY, CLIENT_CAPABILITIES_KEY) if key not in meta]
    if missing:
        return Rejection(INVALID_PARAMS, f"params._meta is missing the required envelope key(s): {', '.join(missing)}")
    version = meta[PROTOCOL_VERSION_KEY]
    if headers.get("mcp-protocol-version") != version:
        return Rejection(HEADER_MISMATCH, "mcp-protocol-version header does not match the request envelope's "
                                          "protocol version")
    method = body.get("method")
    if headers.get("mcp-method") != method:
        return Rejection(HEADER_MISMATCH, "mcp-method header does not match the request body's method")
    name_key = NAME_OF.get(method) if isinstance(method, str) else None
    if name_key is not None and isinstance(params, dict) and params.get(name_key) is not None \
            and decode_header_value(headers.get("mcp-name")) != params.get(name_key):
        return Rejection(HEADER_MISMATCH, f"mcp-name header does not match the request body's {name_key!r} parameter")
    if not isinstance(version, str):
        return Rejection(INVALID_PARAMS, "the protocol-version envelope value must be a string")
    if version != VERSION:
        return Rejection(UNSUPPORTED_VERSION, "Unsupported protocol version",
                         {"supported": SUPPORTED, "requested": version})
    return None


def decode_header_value(value: str | None) -> str | None:
    """A header value as sent: verbatim, or the UTF-8 inside the revision's `=?base64?...?=` form
    (None for a malformed or non-canonical one, so a corrupt header never matches a body value)."""
    if value is None:
        return None
    match = _BASE64_HEADER.fullmatch(value)
    if match is None:
        return value
    payload = match["payload"]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
