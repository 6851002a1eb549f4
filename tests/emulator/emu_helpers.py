"""Helpers shared by the emulator tests (a uniquely named module, not conftest, so imports
never collide with another conftest.py)."""

from __future__ import annotations

import json
import time

import requests


def poll(fn, timeout: float = 5.0, interval: float = 0.01):
    """Call ``fn`` until it returns something truthy (bounded; short interval)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def sse_events(resp: requests.Response):
    """Split an SSE body into ('data', obj) and ('comment', text) items, as received."""
    for line in resp.iter_lines():
        if not line:
            continue
        text = line.decode()
        if text.startswith(":"):
            yield "comment", text[1:].strip()
        elif text.startswith("data:"):
            yield "data", json.loads(text[5:])
