"""One HTTP client per service: auth, timeouts, proxies, retries on 429/503, and error extraction."""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx

from legacy_stdio.config import RetryPolicy, ServiceConfig
from legacy_stdio.errors import ServiceError
from legacy_stdio.tls import verifying_context

log = logging.getLogger(__name__)

_RETRY_STATUSES = {429, 503}
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def error_message(service: str, response: httpx.Response) -> str:
    """The service's explanation: Jira `errorMessages` + `errors`, Confluence `message`."""
    parts: list[str] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts.extend(str(m) for m in body.get("errorMessages") or [] if m)
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts.extend(f"{field}: {text}" for field, text in errors.items())
        message = body.get("message")
        if isinstance(message, str) and message:
            parts.append(message)
    if not parts:
        text = response.text.strip()
        parts.append(text[:300] if text and not text.startswith("<") else response.reason_phrase)
    return f"{service} answered {response.status_code}: {'; '.join(parts)}"


def auth_headers(config: ServiceConfig) -> dict[str, str]:
    """A personal token is sent as Bearer (Server/DC); otherwise Basic username:api_token."""
    if config.personal_token:
        return {"Authorization": f"Bearer {config.personal_token}"}
    raw = f"{config.username}:{config.api_token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def _verify(config: ServiceConfig) -> ssl.SSLContext | bool:
    """The shared verifying context, or False when `*_SSL_VERIFY` turns verification off."""
    return verifying_context() if config.ssl_verify else False


def _mounts(config: ServiceConfig) -> dict[str, httpx.AsyncBaseTransport | None] | None:
    """Service-specific proxies (`JIRA_HTTPS_PROXY` ...), with their own no-proxy hosts."""
    proxies = config.proxies
    if not (proxies.http or proxies.https):
        return None
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for scheme, proxy in (("http://", proxies.http), ("https://", proxies.https)):
        if proxy:
            mounts[scheme] = httpx.AsyncHTTPTransport(proxy=proxy, verify=_verify(config))
    for host in proxies.no_proxy:
        mounts[f"all://{host}"] = httpx.AsyncHTTPTransport(verify=_verify(config))
    return mounts


def build_http_client(config: ServiceConfig) -> httpx.AsyncClient:
    headers = {"Accept": "application/json", "User-Agent": "mcp-jira-confluence"}
    headers.update(dict(config.custom_headers))
    headers.update(auth_headers(config))
    return httpx.AsyncClient(
        base_url=config.url,
        headers=headers,
        timeout=httpx.Timeout(config.timeout),
        verify=_verify(config),
        mounts=_mounts(config),
        trust_env=True,
    )


def retry_delay(response: httpx.Response, attempt: int, cap: float) -> float:
    """Seconds to wait before the next attempt: `Retry-After` (seconds or a date), else backoff."""
    value = response.headers.get("Retry-After", "").strip()
    delay: float | None = None
    if value:
        try:
            delay = float(value)
        except ValueError:
            try:
                delay = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                delay = None
    if delay is None:
        delay = 0.5 * 2**attempt
    return max(0.0, min(delay, cap))


class ApiClient:
    """Sends requests to one service and returns decoded JSON, raising `ServiceError` on failure."""

    def __init__(self, config: ServiceConfig, retry: RetryPolicy, client: httpx.AsyncClient) -> None:
        self.config = config
        self.retry = retry
        self.client = client

    @property
    def service(self) -> str:
        return self.config.name

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        response = await self.send(method, path, params=params, json=json)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise ServiceError(
                f"{self.service} answered {response.status_code} with a body that is not JSON",
                response.status_code,
            ) from None

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        retries = self.retry.max_retries if method in _READ_METHODS or self.retry.retry_writes else 0
        attempt = 0
        while True:
            try:
                response = await self.client.request(method, path, params=params, json=json)
            except httpx.TimeoutException:
                raise ServiceError(
                    f"{self.service} did not answer within {self.config.timeout:g}s ({method} {path})"
                ) from None
            except httpx.HTTPError as exc:
                raise ServiceError(f"{self.service} could not be reached: {type(exc).__name__}") from None
            if response.status_code in _RETRY_STATUSES and attempt < retries:
                delay = retry_delay(response, attempt, self.retry.max_wait)
                log.warning("%s %s %s answered %d; retry in %.1fs", self.service, method, path,
                            response.status_code, delay)
                attempt += 1
                await anyio.sleep(delay)
                continue
            if response.status_code >= 400:
                raise ServiceError(error_message(self.service, response), response.status_code)
            return response
