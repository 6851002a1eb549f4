"""Following a queued job to COMPLETED: the SSE status stream first, polling as the fallback.

fal's stream sends the current state first, then each change, and closes after COMPLETED.
A stream that drops or stalls is reopened (its first event is the current state, so nothing
is lost); when streaming keeps failing, or fal will not stream, we poll ``/status`` with a
growing interval. Everything stops at the caller's deadline. Each status seen is emitted as
a ``status`` event as soon as it arrives.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
import urllib3

from connector.errors import ActionError
from connector.fal.status import log_key, normalise_status
from connector.http.retry import FOLLOW_TIMED_OUT
from connector.http.sse import KEEPALIVE, iter_sse
from connector.manifest import manifest_operation
from connector.record import Record

if TYPE_CHECKING:
    from connector.operation import Operation

STREAM_REOPENS = 2  # after this many broken streams, poll instead
POLL_FIRST, POLL_MAX = 0.25, 3.0

_BROKEN = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


class JobProgress(Record):
    """Everything seen of one job so far; what the stream action returns."""

    __slots__ = _fields = ("events", "logs", "_seen_logs")
    events: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    _seen_logs: set[Any]

    def __init__(self, events: list[dict[str, Any]] | None = None, logs: list[dict[str, Any]] | None = None,
                 _seen_logs: set[Any] | None = None) -> None:
        self.events = [] if events is None else events
        self.logs = [] if logs is None else logs
        self._seen_logs = set() if _seen_logs is None else _seen_logs

    @property
    def last(self) -> dict[str, Any] | None:
        return self.events[-1] if self.events else None

    @property
    def completed(self) -> bool:
        return self.last is not None and self.last["status"] == "COMPLETED"

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        for entry in event["logs"]:
            key = log_key(entry)
            if key not in self._seen_logs:
                self._seen_logs.add(key)
                self.logs.append(entry)

    def fields(self) -> dict[str, Any]:
        last = self.last or {}
        return {
            "status": last.get("status"),
            "events": self.events,
            "logs": self.logs,
            "metrics": last.get("metrics"),
            "job_error": last.get("job_error"),
            "job_error_type": last.get("job_error_type"),
        }


def follow_job(ctx: Any, ids: Mapping[str, Any], *, logs: bool, deadline_at: float) -> JobProgress:
    """Follow the job ``ids`` names (app_id, request_id) until COMPLETED; raise ``timeout``
    (with the progress kept) at the deadline. The stream and poll requests are the declared
    stream_request_status and get_request_status operations."""
    progress = JobProgress()
    stream, poll = manifest_operation("stream_request_status"), manifest_operation("get_request_status")
    inputs = {**ids, "logs": logs}
    broken = 0
    while broken <= STREAM_REOPENS and not progress.completed and not ctx.cancelled.is_set():
        if _stream_once(ctx, stream, inputs, deadline_at, progress):
            break
        broken += 1
    if not progress.completed and not ctx.cancelled.is_set():
        _poll(ctx, poll, inputs, deadline_at, progress)
    return progress


def _stream_once(ctx: Any, stream: Operation, inputs: dict[str, Any], deadline_at: float, progress: JobProgress) -> bool:
    """One stream connection. True when it ended the following (COMPLETED, cancelled, or
    fal will not stream so polling should take over at once); False when it broke."""
    _check_deadline(ctx, deadline_at, progress)
    logs = inputs["logs"]
    try:
        response = stream.send(ctx, inputs, stream=True, deadline_at=deadline_at)
    except ActionError as exc:
        if exc.type in ("auth_error", "not_found", "missing_credentials"):
            raise
        _check_deadline(ctx, deadline_at, progress)
        return False
    try:
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            return True  # fal will not stream this: poll at once instead of reopening
        # The result fetch that follows COMPLETED must not wait for a new connection's handshakes.
        spare = ctx.http.spare_connection(str(response.url))
        spare.ensure()
        # The exchange stays armed with deadline_at while the stream is read: it cuts the socket then.
        events = iter_sse(response, max_bytes=ctx.config.max_response_bytes)
        for item in events:
            if ctx.cancelled.is_set():
                break
            if item is KEEPALIVE:
                spare.ensure()  # replaced if the server dropped it while idle
                continue  # keep-alive comments are not progress
            _record(ctx, item, logs, progress)
            if progress.completed:
                return True
            spare.ensure()
    except _BROKEN:
        pass  # dropped or stalled: reopen (or poll) below, within the deadline
    finally:
        response.close()
    if ctx.cancelled.is_set():
        return True
    _check_deadline(ctx, deadline_at, progress)
    return False


def _poll(ctx: Any, poll: Operation, inputs: dict[str, Any], deadline_at: float, progress: JobProgress) -> None:
    interval = POLL_FIRST
    while not ctx.cancelled.is_set():
        _check_deadline(ctx, deadline_at, progress)
        response = poll.send(ctx, inputs, deadline_at=deadline_at)
        _record(ctx, ctx.json(response, "status"), inputs["logs"], progress)
        if progress.completed:
            return
        remaining = deadline_at - time.monotonic()
        time.sleep(max(0.0, min(interval, remaining)))
        interval = min(interval * 1.5, POLL_MAX)


def _record(ctx: Any, body: Any, logs: bool, progress: JobProgress) -> None:
    event = normalise_status(body)
    if not logs:
        event["logs"] = []
    progress.add(event)
    ctx.emit("status", status=event)


def _check_deadline(ctx: Any, deadline_at: float, progress: JobProgress) -> None:
    if time.monotonic() < deadline_at:
        return
    last = progress.last["status"] if progress.last else "unknown"
    raise ActionError(
        FOLLOW_TIMED_OUT.type,
        f"the job did not reach COMPLETED within the timeout (last status {last}); it may still be running — "
        "check again later with the same request_id",
        retryable=FOLLOW_TIMED_OUT.retryable,
        partial=progress.fields(),
    )
