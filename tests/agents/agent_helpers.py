"""Helpers of the agent-platform tests (import as ``from agent_helpers import ...``)."""

from __future__ import annotations

from typing import Any


def sent(emulator: Any) -> list[tuple[str, str]]:
    """(method, path) of every request the emulator received."""
    return [(method, target.split("?")[0]) for method, target, _headers in list(emulator.requests_log)]


def billable_requests(emulator: Any) -> list[tuple[str, str]]:
    """Requests that could have billed: queue submits and synchronous runs (not /v1 pricing)."""
    return [(m, p) for m, p in sent(emulator) if m == "POST" and not p.startswith(("/v1/", "/storage", "/cdn"))]
