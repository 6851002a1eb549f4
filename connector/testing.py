"""pytest fixtures for testing your own workflows against the local fal.ai emulator.

Installed as a pytest plugin (entry point ``pytest11``), so with fal-connector installed:

    def test_my_workflow(fal_connector, fal_emulator):
        out = fal_connector.run("subscribe", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}})
        assert out["success"]
        fal_emulator.faults.add("status", status=503)      # then see how the workflow copes

``fal_emulator`` is a running ``connector.emulator.Emulator`` on a free 127.0.0.1 port, new
for each test; ``fal_connector`` is a ``Connector`` pointed at it with a test key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

TEST_KEY = "emulator-key-id:emulator-key-secret"


@pytest.fixture
def fal_emulator() -> Iterator[Any]:
    """A running local fal.ai (``connector.emulator.Emulator``) on a free 127.0.0.1 port, new for
    each test and stopped after it. It requires the test key; ``.faults.add(...)`` injects
    failures, ``.env()`` gives the FAL_* variables, ``.jobs`` / ``.runs`` show what it received."""
    from connector.emulator import Emulator

    emu = Emulator(api_key=TEST_KEY).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def fal_connector(fal_emulator: Any) -> Iterator[Any]:
    """A ``Connector`` pointed at ``fal_emulator`` with its key (the process environment is
    ignored), closed after the test."""
    conn = connector_for(fal_emulator)
    try:
        yield conn
    finally:
        conn.close()


def connector_for(emulator: Any, **options: Any) -> Any:
    """A ``Connector`` configured for ``emulator`` only (the process environment is ignored)."""
    from connector import Connector

    env = emulator.env()
    kwargs = dict(
        api_key=env.get("FAL_KEY", TEST_KEY),
        queue_url=env["FAL_QUEUE_URL"], run_url=env["FAL_RUN_URL"], api_url=env["FAL_API_URL"],
        jwks_url=env["FAL_JWKS_URL"], rest_url=env["FAL_REST_URL"], cdn_url=env["FAL_CDN_URL"],
        environ={},
    )
    kwargs.update(options)
    conn = Connector(**kwargs)
    return conn
