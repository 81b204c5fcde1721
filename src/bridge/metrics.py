"""Prometheus metrics of one bridge process, on a registry of its own.

Labelled children are bound once (at start-up, or once per session) so the per-message path is a
lock-protected integer add and nothing else. JSON-RPC method names come from clients, so the
latency histogram keeps the MCP methods by name and folds everything else into `other`: a client
cannot grow the label set.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

TRANSPORTS = ("sse", "streamable", "modern")  # modern: children of 2026-07-28 principals

# The methods a client may call on a server, per the MCP specification (2024-11-05 to 2025-11-25).
KNOWN_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
    }
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def method_label(method: str) -> str:
    """The histogram label for a JSON-RPC method: itself if MCP knows it, else `other`."""
    return method if method in KNOWN_METHODS else "other"


class BridgeMetrics:
    """Every metric the bridge exposes on `/metrics`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sessions_active = Gauge("bridge_sessions_active", "Sessions open now", ["transport"], registry=r)
        self.sessions_total = Counter(
            "bridge_sessions", "Sessions opened since start", ["transport"], registry=r
        )
        self.children_spawned = Counter("bridge_children_spawned", "Child processes started", registry=r)
        self.children_exited = Counter(
            "bridge_children_exited", "Child processes ended, by exit code", ["code"], registry=r
        )
        self.children_forked = Counter(
            "bridge_children_forked", "Child processes forked from the --fork-server template", registry=r
        )
        self.fork_fallbacks = Counter(
            "bridge_fork_fallbacks", "Children started by exec because the fork server was down", registry=r
        )
        self.fork_server_restarts = Counter(
            "bridge_fork_server_restarts", "Times the fork server's template exited and was restarted", registry=r
        )
        self.fork_server_up = Gauge(
            "bridge_fork_server_up", "1 while children are forked from a template, 0 while they start by exec",
            registry=r,
        )
        self.spawn_failures = Counter(
            "bridge_spawn_failures", "Child processes that could not be started", registry=r
        )
        self.traffic = Traffic()
        r.register(self.traffic)
        self.request_latency = Histogram(
            "bridge_request_duration_seconds",
            "Time from a client request entering the bridge to the child's answer leaving it",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_errors = Counter(
            "bridge_http_errors", "HTTP error answers, by status and reason", ["status", "reason"], registry=r
        )
        self.dropped = Counter(
            "bridge_messages_dropped",
            "Messages the bridge could not deliver, by reason",
            ["reason"],
            registry=r,
        )
        self.stderr_suppressed = Counter(
            "bridge_child_stderr_lines_suppressed",
            "Child stderr lines not logged by the rate limit",
            registry=r,
        )
        self.resumes = Counter(
            "bridge_resumes", "Streams resumed with Last-Event-ID", registry=r
        )
        self.resume_evicted = Counter(
            "bridge_resume_events_evicted", "Events evicted from a session's replay log (--resume-buffer)",
            registry=r,
        )
        self.resume_gaps = Counter(
            "bridge_resume_gaps", "Resumes that asked for events already evicted", registry=r
        )
        self.version_tolerated = Counter(
            "bridge_protocol_version_tolerated", "Sessions whose client sent another MCP-Protocol-Version "
            "than the one negotiated (taken as the negotiated one)", registry=r)
        self.draining = Gauge("bridge_draining", "1 while the bridge drains (takes no new session)", registry=r)
        for transport in TRANSPORTS:
            self.sessions_active.labels(transport)
            self.sessions_total.labels(transport)
        self.dropped_not_json = self.dropped.labels("not_json")
        self._latency = {m: self.request_latency.labels(m) for m in (*KNOWN_METHODS, "other")}

    def session_opened(self, transport: str) -> None:
        self.sessions_total.labels(transport).inc()
        self.sessions_active.labels(transport).inc()

    def session_closed(self, transport: str) -> None:
        self.sessions_active.labels(transport).dec()

    def child_exited(self, code: int | None) -> None:
        self.children_exited.labels("none" if code is None else str(code)).inc()

    def observe_request(self, method: str, seconds: float) -> None:
        self._latency[method_label(method)].observe(seconds)

    def http_error(self, status: int, reason: str) -> None:
        self.http_errors.labels(str(status), reason).inc()

    def render(self) -> bytes:
        """The exposition text for a scrape."""
        return generate_latest(self.registry)


class Traffic(Collector):
    """Messages and bytes pumped each way: plain integers on the per-message path, read at scrape.

    A prometheus-client Counter takes a lock and a few checks per increment; these four move on
    every message, so they are counted as attributes and exposed by this collector instead.
    """

    def __init__(self) -> None:
        self.messages_in = 0
        self.bytes_in = 0
        self.messages_out = 0
        self.bytes_out = 0

    def collect(self) -> Iterator[CounterMetricFamily]:
        messages = CounterMetricFamily("bridge_messages", "JSON-RPC messages pumped, by direction",
                                       labels=["direction"])
        messages.add_metric(["client_to_child"], self.messages_in)
        messages.add_metric(["child_to_client"], self.messages_out)
        size = CounterMetricFamily("bridge_message_bytes", "JSON-RPC message bytes pumped, by direction",
                                   labels=["direction"])
        size.add_metric(["client_to_child"], self.bytes_in)
        size.add_metric(["child_to_client"], self.bytes_out)
        yield messages
        yield size
