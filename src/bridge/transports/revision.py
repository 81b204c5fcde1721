"""The names of MCP 2026-07-28 the bridge reads and writes, and how a request is known to be one."""

from __future__ import annotations

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
NAME_OF = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}  # binds a round to its request
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
