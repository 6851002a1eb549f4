"""Answers that never finish: the hostile servers a deadline must hold against.

Each replaces a worked answer (the job exists, as after a real submit), and keeps going
until the client goes away, the emulator stops, or ``SLOW_LIMIT`` seconds pass:

* ``drip``: the answer's status and headers, then a body that never ends: ``size`` bytes of
  whitespace (which JSON allows) every ``interval`` seconds.
* ``drip_headers``: the status line, then a header line that grows by ``size`` bytes every
  ``interval`` seconds and never ends (written by server.py: it is not a body).
* ``headers_then_stall``: the answer's status and headers (its real length), then silence for
  ``stall`` seconds, then a cut.
* ``endless_line``: an event stream whose first line never ends: ``data: `` then ``size``
  bytes every ``interval`` seconds, no newline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from .faults import FaultRule
from .wire import Drop, Response

SLOW_BODY_ACTIONS = frozenset({"drip", "headers_then_stall", "endless_line"})
SLOW_LIMIT = 60.0  # seconds: a client that never leaves does not keep a thread forever


def ticks(rule: FaultRule, stopping: threading.Event) -> Iterator[None]:
    """One tick per ``rule.interval`` until the limit or the emulator stops (then a cut)."""
    ends = time.monotonic() + SLOW_LIMIT
    while time.monotonic() < ends:
        yield None
        if stopping.wait(rule.interval):
            break
    raise Drop()


def slow_body(rule: FaultRule, resp: Response, stopping: threading.Event) -> Response:
    keep = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
    step = max(rule.size, 1)
    if rule.action == "headers_then_stall":
        length = len(resp.body) if isinstance(resp.body, (bytes, bytearray)) else (resp.length or 1 << 20)

        def stall() -> Iterator[bytes]:
            stopping.wait(rule.stall)
            raise Drop()
            yield b""  # a generator: nothing is written before the stall

        return Response(resp.status, stall(), keep, length)
    if rule.action == "endless_line":
        headers = {**keep, "Content-Type": "text/event-stream"}
        return Response(200, (b"data: " if i == 0 else b"x" * step for i, _ in enumerate(ticks(rule, stopping))), headers)
    return Response(resp.status, (b" " * step for _ in ticks(rule, stopping)), keep)  # drip: chunked


def drip_headers(send: Callable[[bytes], object], rule: FaultRule, stopping: threading.Event) -> None:
    """Write (with the handler's ``wfile.write``) a status line, then one header line,
    ``size`` bytes per tick, that never ends."""
    send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Drip: ")
    for _ in ticks(rule, stopping):
        send(b"a" * max(rule.size, 1))
