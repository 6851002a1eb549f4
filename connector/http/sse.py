"""A small Server-Sent Events reader for fal's status stream.

fal sends ``data: {status json}`` events and ``: ping`` comments every ~15 s. Comments are
yielded as ``KEEPALIVE`` so the caller can check its own deadline, but they are never
progress. Reads use ``read1`` so each event is seen as soon as its bytes arrive.

Time is not this reader's concern: the socket's read timeout (set when the stream was
opened) ends a stalled stream, and the exchange's deadline (``connector.http.deadline``,
armed for as long as the stream is read) cuts one that drips a line without end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from connector.errors import ActionError
from connector.http.retry import TOO_BIG
from connector.strict_json import parse_json

KEEPALIVE = object()


def iter_sse(response: requests.Response, *, max_bytes: int | None = None) -> Iterator[Any]:
    """Yield each event's parsed JSON ``data``, or ``KEEPALIVE`` for a comment line.

    One event (its lines so far) larger than ``max_bytes`` is ``invalid_response``: a line
    without an end must not grow without bound.
    """
    buffer = b""
    data: list[bytes] = []
    held = 0  # bytes of the event so far: its data lines and the unfinished line
    for chunk in _chunks(response):
        buffer += chunk
        if b"\n" in chunk:
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                line = line.rstrip(b"\r")
                if not line:
                    if data:
                        yield _parse(b"\n".join(data), response)
                        data, held = [], 0
                elif line.startswith(b":"):
                    yield KEEPALIVE
                elif line.startswith(b"data:"):
                    value = line[5:]
                    data.append(value[1:] if value.startswith(b" ") else value)
                    held += len(value)
                # event:, id:, retry: carry nothing fal uses.
        if max_bytes is not None and held + len(buffer) > max_bytes:
            raise _too_big(response, max_bytes)
    if data:  # a final event without its blank line, at a clean close
        yield _parse(b"\n".join(data), response)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    raw = response.raw
    while True:
        chunk = raw.read1(65536)
        if not chunk:
            return
        yield chunk


def _too_big(response: requests.Response, cap: int) -> ActionError:
    return ActionError(
        "invalid_response",
        f"the status stream sent an event larger than the {cap} byte limit (max_response_bytes); refused",
        status_code=response.status_code,
        retryable=TOO_BIG.retryable,
        fal_request_id=response.headers.get("x-fal-request-id"),
    )


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
