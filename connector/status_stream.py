"""What ``Connector.stream()`` returns: the status events as they arrive, then the output.

Iterating never raises. A stream that cannot start (an unknown action, one that does not stream,
bad input) or that fails (a wrong request id, fal unreachable) simply ends, so a loop over it
could silently do nothing; ``.output`` makes the reason reachable: once the loop has ended it is
the action's output object, exactly what ``run()`` would have returned. A failed output is also
logged as a warning on the ``connector`` logger when the loop ends.

The action runs on a worker thread started by the first ``next()``. The worker holds no reference
to the ``StatusStream``, so a consumer that stops early (``break``) lets it be collected, and that
asks the worker to stop.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from connector.context import EventSink

log = logging.getLogger("connector")

_END = object()

# The action itself, given the sink for its events and the flag that asks it to stop.
Work = Callable[[EventSink, threading.Event], dict[str, Any]]


class StatusStream(Iterator[dict[str, Any]]):
    """Iterate for the status events; ``.output`` is the final output once the loop has ended."""

    def __init__(self, work: Work | None, *, name: str = "", output: dict[str, Any] | None = None) -> None:
        self._work = work  # None: nothing to run, ``output`` is already known
        self._name = name
        self._result: list[dict[str, Any]] = [] if output is None else [output]  # shared with the worker
        self._events: queue.Queue[Any] = queue.Queue()
        self._cancelled = threading.Event()
        self._started = False
        self._ended = False

    @property
    def output(self) -> dict[str, Any] | None:
        """The action's output object (``success``, ``error``, ``failure``, …); None until the
        action has finished (for a stream stopped early, it may stay None a while)."""
        return self._result[0] if self._result else None

    def __iter__(self) -> StatusStream:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._ended:
            raise StopIteration
        if self._work is None:
            self._end()
            raise StopIteration
        if not self._started:
            self._start(self._work)
        item = self._events.get()
        if item is _END:
            self._end()
            raise StopIteration
        event: dict[str, Any] = item
        return event

    def close(self) -> None:
        """Stop early: the action is asked to stop; no more events are yielded."""
        self._ended = True
        self._cancelled.set()

    def __del__(self) -> None:
        self._cancelled.set()  # the consumer dropped the stream: let the worker wind down

    def _start(self, work: Work) -> None:
        self._started = True
        events, result, cancelled = self._events, self._result, self._cancelled  # not self: see above

        def on_event(event: dict[str, Any]) -> None:
            if event["type"] == "status":
                events.put(event["status"])

        def run() -> None:
            try:
                result.append(work(on_event, cancelled))
            finally:
                events.put(_END)

        threading.Thread(target=run, name=f"fal-connector-stream-{self._name}", daemon=True).start()

    def _end(self) -> None:
        self._ended = True
        output = self.output
        if output is not None and not output.get("success"):
            failure = output.get("failure") or {}
            log.warning("Connector.stream() ended without success: %s: %s", failure.get("type"), output.get("error"))
