"""``fal-connector run --follow``: a run's progress live on stderr.

One line per event (submitted, each status change, each new log entry, retries, cancelling at
the deadline, an upload fallback).
On a terminal a last line shows the current state and the elapsed time, redrawn in place
(``\\r``) twice a second, so a long silence (a queue, retries) still shows that time passes. In
a pipe or a file there is no such line: only the event lines, each once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from connector.fal.status import log_key
from connector.progress import progress_message

TICK = 0.5  # seconds between redraws of the elapsed-time line
CLEAR = "\r\x1b[K"  # back to the line start and erase it


def follow_inputs(action: Any, inputs: Any) -> Any:
    """``inputs`` with ``logs`` turned on when the action takes that field and the caller did
    not choose: following a run means wanting to see its logs."""
    properties = action.spec.input_schema.get("properties", {}) if action is not None else {}
    if isinstance(inputs, dict) and "logs" in properties and "logs" not in inputs:
        return {**inputs, "logs": True}
    return inputs


class Seen:
    """What has been printed already: fal repeats the state on every poll and sends a moving
    window of logs with each status, and neither should print twice."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.logs: set[Any] = set()


def event_lines(event: dict[str, Any], seen: Seen) -> list[str]:
    """The lines one event adds (none for a repeated state or an already printed log entry)."""
    prefix = f"[{event['action']}] "
    message = progress_message(event, terminal=True)
    if event["type"] != "status":
        return [] if message is None else [prefix + message]
    status = event["status"]
    line = str(message)
    lines = [prefix + line] if line != seen.status else []
    seen.status = line
    for entry in status.get("logs") or []:
        key = log_key(entry)
        if key not in seen.logs:
            seen.logs.add(key)
            lines.append(f"    log: {entry.get('message')}")
    return lines


class Follower:
    """The ``on_event`` sink for --follow; use as a context manager around the run."""

    def __init__(self, stream: TextIO, action: str, *, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self._action, self._state = action, "starting"
        self._clock = clock
        self._started = clock()
        self._seen = Seen()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Follower:
        if self.live:
            self._ticker = threading.Thread(target=self._tick, name="fal-connector-follow", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        if self._ticker is not None:
            self._ticker.join(2)
        with self._lock:
            if self.live:
                self.stream.write(CLEAR)  # the run's output follows on a clean line
                self.stream.flush()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._action = event["action"]
            if event["type"] == "status":
                self._state = event["status"]["status"]
            elif event["type"] in ("submitted", "retrying", "cancelling"):
                self._state = event["type"]
            lines = event_lines(event, self._seen)
            if self.live:
                self.stream.write(CLEAR)
            for line in lines:
                self.stream.write(line + "\n")
            self._draw()
            self.stream.flush()

    def elapsed_line(self) -> str:
        return f"[{self._action}] {self._state} · {self._clock() - self._started:.1f}s elapsed"

    def _draw(self) -> None:
        if self.live:
            self.stream.write(CLEAR + self.elapsed_line())

    def _tick(self) -> None:
        while not self._done.wait(TICK):
            with self._lock:
                if self._done.is_set():
                    return
                self._draw()
                self.stream.flush()
