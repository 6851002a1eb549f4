"""A small Server-Sent Events reader for fal's status stream.

fal sends ``data: {status json}`` events and ``: ping`` comments every ~15 s. Comments are
yielded as ``KEEPALIVE`` so the caller can check its own deadline, but they are never
progress. Reads use ``read1`` so each event is seen as soon as its bytes arrive, and the
socket's read timeout can be lowered as the caller's deadline approaches, so a stalled
stream cannot outlive it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from connector.errors import ActionError
from connector.strict_json import parse_json

KEEPALIVE = object()


def iter_sse(response: requests.Response) -> Iterator[Any]:
    """Yield each event's parsed JSON ``data``, or ``KEEPALIVE`` for a comment line."""
    buffer = b""
    data: list[bytes] = []
    for chunk in _chunks(response):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if data:
                    yield _parse(b"\n".join(data), response)
                    data = []
            elif line.startswith(b":"):
                yield KEEPALIVE
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            # event:, id:, retry: carry nothing fal uses.
    if data:  # a final event without its blank line, at a clean close
        yield _parse(b"\n".join(data), response)


def set_read_timeout(response: requests.Response, seconds: float) -> None:
    """Lower the socket read timeout of an open streaming response (best effort)."""
    conn = getattr(response.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        sock.settimeout(max(0.01, seconds))


def _chunks(response: requests.Response) -> Iterator[bytes]:
    raw = response.raw
    while True:
        chunk = raw.read1(65536)
        if not chunk:
            return
        yield chunk


def _parse(payload: bytes, response: requests.Response) -> Any:
    try:
        return parse_json(payload)
    except ValueError:
        raise ActionError(
            "invalid_response",
            "the status stream sent an event whose data is not JSON",
            status_code=response.status_code,
            fal_request_id=response.headers.get("x-fal-request-id"),
            detail=payload[:2000].decode("utf-8", "replace"),
        ) from None
