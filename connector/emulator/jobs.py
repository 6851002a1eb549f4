"""The queue's job state machine.

A job's state is a pure function of its timestamps and the clock: no thread runs a job. A job
waits IN_QUEUE until ``start_at``, runs IN_PROGRESS for ``run_seconds``, then is COMPLETED.
Cancel and the caller's start timeout only cut those intervals short, and only in the future,
so every answer ever given stays consistent with later ones.

Low priority (``X-Fal-Queue-Priority: low``) "sits behind all normal-priority requests" of the
same app: a low job cannot start while a normal job of its app is queued. Its
``start_at`` is therefore recomputed whenever the app's queue changes (submit, cancel).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .outputs import Outcome, cancelled_outcome, timeout_outcome

IN_QUEUE, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"
INF = math.inf
# After CANCELLATION_REQUESTED a running job gets this long to stop (fal: "a request may still
# be executed"); a job whose run ends sooner completes normally.
CANCEL_GRACE = 0.05
clock = time.monotonic


def iso(ts: float) -> str:
    """ISO 8601 with an explicit +00:00 offset (parsable by datetime.fromisoformat on 3.10)."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="microseconds")


@dataclass(eq=False)
class Job:
    request_id: str
    gateway_request_id: str
    app_id: str  # owner/app (+ namespace): the base of status/result/cancel URLs
    endpoint_id: str  # the full id the job was submitted to
    model: str  # catalogue endpoint that serves it
    input: dict[str, Any]
    priority: str
    seq: int
    submitted: float  # clock()
    wall: float  # time.time() at submit, for log timestamps
    queue_seconds: float
    run_seconds: float
    start_at: float
    timeout_at: float = INF
    webhook_url: str | None = None
    runner_hint: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    response_url: str = ""
    status_url: str = ""
    cancel_url: str = ""
    cancelled_at: float | None = None  # cancelled while queued
    cancel_requested_at: float | None = None  # cancelled while running
    _outcome: Outcome | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        """IN_QUEUE | IN_PROGRESS | COMPLETED, now."""
        return JobStore.timeline(self, clock()).status

    @property
    def leave_at(self) -> float:
        """When the job leaves the queue (start, timeout or cancel, whichever is first)."""
        return min(self.start_at, self.timeout_at, INF if self.cancelled_at is None else self.cancelled_at)

    @property
    def queue_order(self) -> tuple[float, int, int]:
        """Who is ahead of whom: start time, then normal before low, then submit order."""
        return (self.start_at, self.priority == "low", self.seq)

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "app_id": self.app_id, "endpoint_id": self.endpoint_id,
                "status": self.state, "priority": self.priority, "input": self.input,
                "webhook_url": self.webhook_url, "runner_hint": self.runner_hint}


@dataclass
class Timeline:
    status: str
    end_at: float = INF  # when it completes (known once IN_PROGRESS)
    kind: str = ""  # "ok" | "cancelled" | "timeout" once COMPLETED
    started: bool = False


class QueueFull(Exception):
    pass


class JobStore:
    """All jobs, indexed by id and by app; ``changed`` is notified on every submit/cancel so
    status streams wake up immediately instead of polling."""

    def __init__(self, run_model: Callable[[Job], Outcome]) -> None:
        self._lock = threading.Lock()
        self.changed = threading.Condition(self._lock)
        self._run_model = run_model
        self._jobs: dict[str, Job] = {}
        self._order: list[Job] = []
        self._queued: dict[str, list[Job]] = {}  # per app: jobs that may still be queued
        self._seq = 0

    # --- reading ---------------------------------------------------------------------------

    def get(self, request_id: str) -> Job | None:
        return self._jobs.get(request_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._order)

    @staticmethod
    def timeline(job: Job, now: float) -> Timeline:
        leave = job.leave_at
        if now < leave:
            return Timeline(IN_QUEUE)
        if leave < job.start_at:  # left the queue without ever running
            kind = "cancelled" if leave == job.cancelled_at else "timeout"
            return Timeline(COMPLETED, leave, kind)
        end, kind = job.start_at + job.run_seconds, "ok"
        if job.cancel_requested_at is not None and job.cancel_requested_at + CANCEL_GRACE < end:
            end, kind = job.cancel_requested_at + CANCEL_GRACE, "cancelled"
        return Timeline(IN_PROGRESS if now < end else COMPLETED, end, kind, True)

    def outcome(self, job: Job, tl: Timeline) -> Outcome:
        """The result of a COMPLETED job (computed once; a model is deterministic)."""
        if tl.kind == "cancelled":
            return cancelled_outcome()
        if tl.kind == "timeout":
            return timeout_outcome()
        if job._outcome is None:
            job._outcome = self._run_model(job)
        return job._outcome

    def queue_position(self, job: Job, now: float) -> int:
        """Jobs of the same app still queued that will start before this one."""
        with self._lock:
            me = job.queue_order
            return sum(1 for k in self._prune(job.app_id, now) if k is not job and k.queue_order < me)

    def next_change(self, job: Job, now: float) -> float:
        """The next instant at which this job's status body can change by the clock alone
        (its own transitions, log lines, or a job ahead of it leaving the queue)."""
        tl = self.timeline(job, now)
        if tl.status == IN_QUEUE:
            with self._lock:
                ahead = [k.leave_at for k in self._prune(job.app_id, now) if k is not job]
            return min([job.leave_at] + [t for t in ahead if t > now])
        if tl.status == IN_PROGRESS:
            later = [t for t, _ in self.log_times(job, tl) if t > now]
            return min(later + [tl.end_at])
        return INF

    @staticmethod
    def log_times(job: Job, tl: Timeline) -> list[tuple[float, int]]:
        """(time, step) of the log lines of a job that started: one per quarter of the run,
        then one at completion (step 4)."""
        if not tl.started:
            return []
        times = [(job.start_at + job.run_seconds * k / 4, k) for k in range(4)]
        return [(t, k) for t, k in times if t < tl.end_at] + [(tl.end_at, 4)]

    # --- writing ---------------------------------------------------------------------------

    def submit(self, *, app_id: str, endpoint_id: str, model: str, data: dict[str, Any], priority: str,
               queue_seconds: float, run_seconds: float, start_timeout: float | None,
               webhook_url: str | None, runner_hint: str | None, headers: dict[str, str],
               max_queue_length: int | None, urls: Callable[[str], tuple[str, str, str]]) -> Job:
        now = clock()
        with self._lock:
            queued = self._prune(app_id, now)
            if max_queue_length is not None and len(queued) >= max_queue_length:
                raise QueueFull(len(queued))
            self._seq += 1
            rid = str(uuid.uuid4())
            job = Job(rid, str(uuid.uuid4()), app_id, endpoint_id, model, data, priority, self._seq,
                      now, time.time(), queue_seconds, run_seconds, start_at=now + queue_seconds,
                      timeout_at=INF if start_timeout is None else now + start_timeout,
                      webhook_url=webhook_url, runner_hint=runner_hint, headers=headers)
            job.response_url, job.status_url, job.cancel_url = urls(rid)
            self._jobs[rid] = job
            self._order.append(job)
            queued.append(job)
            self._reschedule_low(app_id, now)
            self.changed.notify_all()
        return job

    def cancel(self, job: Job) -> tuple[int, str]:
        """(HTTP status, cancel status), as fal's cancel endpoint answers (2026 enum)."""
        now = clock()
        with self._lock:
            tl = self.timeline(job, now)
            if tl.status == IN_QUEUE:
                job.cancelled_at = now
                self._reschedule_low(job.app_id, now)
                result = (200, "OK")
            elif tl.status == IN_PROGRESS:
                if job.cancel_requested_at is None:
                    job.cancel_requested_at = now
                result = (202, "CANCELLATION_REQUESTED")
            else:
                result = (400, "ALREADY_COMPLETED")
            self.changed.notify_all()
        return result

    def notify(self) -> None:
        with self._lock:
            self.changed.notify_all()

    def wait(self, timeout: float, stopping: threading.Event) -> None:
        """Sleep until ``timeout`` passes, any job changes or the emulator stops. ``stopping``
        is checked under the lock that notify() takes, so a stop is never missed."""
        if timeout <= 0:
            return
        with self._lock:
            if not stopping.is_set():
                self.changed.wait(timeout)

    # --- internals (call with the lock held) -----------------------------------------------

    def _prune(self, app_id: str, now: float) -> list[Job]:
        """The app's queued jobs at ``now``; drops the ones that left (they never come back)."""
        queued = self._queued.setdefault(app_id, [])
        if any(k.leave_at <= now for k in queued):
            queued[:] = [k for k in queued if k.leave_at > now]
        return queued

    def _reschedule_low(self, app_id: str, now: float) -> None:
        """Push each still-queued low job past every normal job of its app queued meanwhile.
        A low job is queued at ``now``, so its start is >= now and only jobs queued at >= now
        (all in the list) can block it."""
        queued = self._prune(app_id, now)
        normal = [k for k in queued if k.priority != "low"]
        for low in (k for k in queued if k.priority == "low"):
            t = max(low.submitted + low.queue_seconds, now)
            while True:
                blockers = [k.leave_at for k in normal if k.submitted <= t < k.leave_at]
                if not blockers:
                    break
                t = max(blockers)
            low.start_at = t
