"""Fixtures of the agent-platform tests (connector.agents, the guardrails plugin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector import Connector
from connector.testing import connector_for


@pytest.fixture
def offline() -> Iterator[Connector]:
    """A connector that sends nothing anywhere (for schema and export tests)."""
    conn = Connector(api_key="test-key-id:test-key-secret", environ={}, load_entry_points=False,
                     queue_url="https://queue.test", api_url="https://api.test/v1", run_url="https://run.test")
    yield conn
    conn.close()


@pytest.fixture
def emu_conn(fal_emulator: Any) -> Iterator[Callable[..., Connector]]:
    """``emu_conn(**options)``: a connector for the test's emulator, with extra settings."""
    made: list[Connector] = []

    def make(**options: Any) -> Connector:
        options.setdefault("load_entry_points", False)
        conn = connector_for(fal_emulator, **options)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()
