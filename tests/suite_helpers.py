"""Helpers shared across the test folders (a uniquely named module, not a conftest, so its
imports never collide with another conftest.py)."""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

# The checkout: a subprocess imports the connector from here, as the test process does.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The fake fal hosts unit tests mock with ``responses`` (nothing listens there).
BASE_URLS = {
    "queue_url": "https://queue.test",
    "run_url": "https://run.test",
    "api_url": "https://api.test/v1",
    "jwks_url": "https://rest.test/.well-known/jwks.json",
    "rest_url": "https://rest.test",
    "cdn_url": "https://cdn.test",
}


def poll(fn: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Call ``fn`` until it returns something truthy (bounded; short interval)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def record_texts(record: logging.LogRecord) -> list[str]:
    """Every text a log record carries: its message, arguments, traceback and attributes."""
    texts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info:
        texts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.exc_text:
        texts.append(record.exc_text)
    texts.extend(repr(v) for k, v in vars(record).items() if k not in ("msg", "args", "exc_info", "exc_text"))
    return texts


def subprocess_env(emulator: Any = None, **extra: str) -> dict[str, str]:
    """An environment for a subprocess (the CLI, an example script): the outer FAL_* variables
    and proxies removed, the checkout importable, and (optionally) ``emulator.env()`` added."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FAL_") and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    if emulator is not None:
        env.update(emulator.env())
    env.update(extra)
    return env
