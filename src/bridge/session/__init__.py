"""Sessions: the exchange table (JSON-RPC routing, no I/O), a session (a task group of pumps around
one child, one stdin writer), and the registry (limits, lookup, lifetime, shutdown)."""

from bridge.session.exchanges import Exchange, ExchangeTable
from bridge.session.registry import Registry, Unavailable
from bridge.session.session import ChildNotReading, Session, SessionEnded

__all__ = ["ChildNotReading", "Exchange", "ExchangeTable", "Registry", "Session", "SessionEnded", "Unavailable"]
