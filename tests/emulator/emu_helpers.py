"""Helpers shared by the emulator tests (a uniquely named module, not conftest, so imports
never collide with another conftest.py)."""

from __future__ import annotations

import json

import requests
from suite_helpers import poll  # noqa: F401  (re-exported for the emulator tests)


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
