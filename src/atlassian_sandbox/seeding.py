"""Builds the seeded store: Confluence first (Jira's remote links point at its pages), then Jira."""

from __future__ import annotations

from datetime import datetime

from atlassian_sandbox import seed_confluence, seed_jira
from atlassian_sandbox.store import Store


def build_store(now: datetime, confluence_base: str) -> Store:
    store = Store(now=now)
    seed_confluence.populate(store, now)
    pages = {c.title: c.id for c in store.contents.values() if c.type == "page"}
    seed_jira.populate(store, now, confluence_base, pages)
    return store
