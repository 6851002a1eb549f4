"""Request/Response values passed between the HTTP plumbing (server.py) and the route modules.

Route handlers are plain functions ``(Request) -> Response``; they never touch sockets, so
server.py alone decides how an answer is written (or broken, when a fault says so).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str  # without the query string
    target: str  # path + query, as received
    headers: Any  # http.client.HTTPMessage (case-insensitive .get)
    body: bytes
    fault: Any = None  # the FaultRule applying to this request, if any

    @functools.cached_property
    def query(self) -> dict[str, list[str]]:
        q = self.target.partition("?")[2]
        return parse_qs(q, keep_blank_values=True) if q else {}

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """Parsed body; raises ValueError on bad JSON."""
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    """``body`` is bytes, or an iterable of byte chunks; ``length`` None with an iterable means
    chunked transfer encoding (used for SSE, where every chunk is flushed on its own)."""

    status: int
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None

    def set_header(self, name: str, value: str | None) -> None:
        """Case-insensitive set; None removes."""
        for k in [k for k in self.headers if k.lower() == name.lower()]:
            del self.headers[k]
        if value is not None:
            self.headers[name] = value

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


LIFECYCLE_HEADER = "X-Fal-Object-Lifecycle-Preference"  # JSON object, on submits and uploads


def json_object(raw: str) -> dict[str, Any] | None:
    """``raw`` parsed when it is a JSON object, else None."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


def detail(status: int, message: Any, **extra: Any) -> Response:
    """fal's inference-host error body: ``{"detail": ...}`` (FastAPI style)."""
    headers = {"X-Fal-Error-Type": extra["error_type"]} if "error_type" in extra else None
    return json_response(status, {"detail": message, **extra}, headers)


class Drop(Exception):
    """Raised inside a streamed body: close the connection now, without finishing the body."""

    def __init__(self, rst: bool = False) -> None:
        super().__init__("drop connection")
        self.rst = rst
