"""Fixtures for the stdio server's tests: the sandbox fixtures come from tests/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
