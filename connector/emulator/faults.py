"""Fault injection rules: what the next matching request(s) get instead of a normal answer.

A rule names a route (see ROUTES), optionally narrowed by ``app_id`` and a ``path`` substring.
The first rule that matches and has uses left applies; ``times`` counts down (None = forever).
How each kind is applied lives in server.py; this module only stores and matches rules.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

ROUTES = frozenset({
    "submit", "status", "stream", "result", "cancel", "run", "models", "pricing", "estimate",
    "jwks", "storage_token", "upload", "upload_initiate", "multipart", "file",
    "requests", "usage", "analytics", "billing_events", "billing", "payloads", "workflows", "sign", "*",
})
# Connection faults: no response at all. *_before skip the work; *_after do it first.
CONNECTION_ACTIONS = frozenset({"drop_before", "drop_after", "reset", "reset_after"})
# Body faults: the work is done, then a broken 200 replaces the answer.
BODY_ACTIONS = frozenset({"invalid_json", "html", "empty", "short_body", "big_body"})
SSE_ACTIONS = frozenset({"sse_drop", "sse_stall"})
# Slow faults: the work is done, then an answer that never finishes (see slow.py).
SLOW_ACTIONS = frozenset({"drip", "drip_headers", "headers_then_stall", "endless_line"})
ACTIONS = CONNECTION_ACTIONS | BODY_ACTIONS | SSE_ACTIONS | SLOW_ACTIONS
EXTRA_KEYS = frozenset({"app_id", "path", "ingress", "after_events", "stall", "size", "graceful", "interval"})

_ids = itertools.count(1)


@dataclass(eq=False)
class FaultRule:
    route: str
    status: int | None = None
    headers: dict[str, str | None] | None = None
    body: Any = None
    delay: float = 0.0
    action: str | None = None
    times: int | None = 1
    app_id: str | None = None  # owner/app or a full endpoint id (prefix match on endpoint)
    path: str | None = None  # substring of the request's path+query
    ingress: bool = False  # nginx-style HTML error without x-fal-request-id (default 502)
    after_events: int = 1  # sse_drop / sse_stall: data events sent before the fault
    stall: float = 5.0  # sse_stall, headers_then_stall: seconds of silence before the close
    size: int = 0  # big_body: body size in bytes; slow faults: bytes per interval (at least 1)
    interval: float = 0.5  # slow faults: seconds between two writes
    graceful: bool = False  # sse_drop: end the chunked body properly instead of cutting it
    hits: int = 0
    id: int = field(default_factory=lambda: next(_ids))

    def matches(self, route: str, app_id: str | None, endpoint_id: str | None, path: str) -> bool:
        if self.route != "*" and self.route != route:
            return False
        if self.app_id is not None:
            ep = endpoint_id or ""
            if not (self.app_id == app_id or self.app_id == ep or ep.startswith(self.app_id + "/")):
                return False
        return self.path is None or self.path in path

    @property
    def drops_request_id(self) -> bool:
        """fal_client tells ingress errors apart by the missing x-fal-request-id header."""
        if self.ingress:
            return True
        return any(k.lower() == "x-fal-request-id" and v is None for k, v in (self.headers or {}).items())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(d["body"], bytes):
            d["body"] = d["body"].decode("utf-8", "replace")
        return d


class Faults:
    """Thread-safe rule list; ``emu.faults``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, route: str, *, status: int | None = None, headers: dict[str, Any] | None = None,
            body: Any = None, delay: float = 0.0, action: str | None = None,
            times: int | None = 1, **extra: Any) -> FaultRule:
        if route not in ROUTES:
            raise ValueError(f"unknown fault route {route!r}; one of {sorted(ROUTES)}")
        if action is not None and action not in ACTIONS:
            raise ValueError(f"unknown fault action {action!r}; one of {sorted(ACTIONS)}")
        unknown = set(extra) - EXTRA_KEYS
        if unknown:
            raise TypeError(f"unknown fault option(s) {sorted(unknown)}; allowed {sorted(EXTRA_KEYS)}")
        if times is not None and (type(times) is not int or times < 1):
            raise ValueError("times must be an integer >= 1 or None (forever)")
        if status is not None and (type(status) is not int or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        if not isinstance(delay, (int, float)) or delay < 0:
            raise ValueError("delay must be a number >= 0")
        if action == "big_body" and (type(extra.get("size")) is not int or extra["size"] < 2):
            raise ValueError("big_body needs size=N (bytes, >= 2)")
        if "interval" in extra and (not isinstance(extra["interval"], (int, float)) or not extra["interval"] > 0):
            raise ValueError("interval must be a number of seconds > 0")
        rule = FaultRule(route, status, headers, body, float(delay), action, times, **extra)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> int:
        with self._lock:
            n = len(self._rules)
            self._rules.clear()
        return n

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def match(self, route: str | None, app_id: str | None, endpoint_id: str | None,
              path: str) -> FaultRule | None:
        """Take one use of the first matching rule (rules used up are removed)."""
        if not self._rules or route is None:  # the hot path: no rules, no lock
            return None
        with self._lock:
            for rule in self._rules:
                if rule.matches(route, app_id, endpoint_id, path):
                    rule.hits += 1
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None
