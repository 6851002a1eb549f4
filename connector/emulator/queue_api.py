"""The inference hosts: queue API (submit, status, status stream, result, cancel) and sync run.

Wire shapes follow fal's queue API. Status/result/cancel URLs handed out are always absolute
and built from owner/app (+ namespace) only, never from the endpoint's sub-path (§3).
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from .auth import Keys
from .faults import SSE_ACTIONS
from .jobs import COMPLETED, IN_QUEUE, Job, JobStore, QueueFull, Timeline, clock, iso
from .models import Catalogue, ModelSpec
from .outputs import Outcome, PaddedBody, run_model, timeout_outcome
from .webhooks import WebhookDispatcher
from .wire import LIFECYCLE_HEADER, Drop, Request, Response, detail, json_object, json_response

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def truthy(value: str | None) -> bool:
    """``logs`` arrives as 1/0 (docs, fal-js) or true/false (fal_client via httpx)."""
    return value is not None and value.strip().lower() in TRUE_VALUES


def outcome_response(outcome: Outcome, request_id: str) -> Response:
    body = outcome.body
    length = body.length if isinstance(body, PaddedBody) else None
    headers = {"Content-Type": "application/json", "x-fal-request-id": request_id, **outcome.headers}
    return Response(outcome.status_code, body, headers, length)


class QueueAPI:
    def __init__(self, *, store: JobStore, catalogue: Catalogue, webhooks: WebhookDispatcher,
                 base_url: Callable[[], str], keys: Keys, ping_interval: float,
                 stopping: threading.Event) -> None:
        self.store, self.catalogue, self.webhooks = store, catalogue, webhooks
        self.base_url, self.keys, self.ping_interval = base_url, keys, ping_interval
        self.stopping = stopping
        self.runs: list[dict[str, Any]] = []  # sync /run calls (endpoint_id, input), for tests

    # --- helpers ---------------------------------------------------------------------------

    def model_outcome(self, job: Job) -> Outcome:
        spec = self.catalogue.get(job.model)
        assert spec is not None
        spec = dataclasses.replace(spec, queue_seconds=job.queue_seconds, run_seconds=job.run_seconds)
        return run_model(spec, job.input, self.base_url())

    @staticmethod
    def _input(req: Request) -> dict[str, Any] | Response:
        """The body must be a JSON object; an empty body counts as ``{}``."""
        if not req.body.strip():
            return {}
        try:
            data = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            return detail(400, "Request body is not valid JSON", error_type="bad_request")
        if not isinstance(data, dict):
            return detail(422, [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}])
        return data

    @staticmethod
    def _start_timeout(req: Request) -> float | None | Response:
        """X-Fal-Request-Start-Timeout (new) wins over X-Fal-Request-Timeout (legacy)."""
        for name in ("X-Fal-Request-Start-Timeout", "X-Fal-Request-Timeout"):
            raw = req.headers.get(name)
            if raw is None:
                continue
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value <= 0.1:
                return detail(400, f"{name} must be a number of seconds > 0.1", error_type="bad_request")
            return value
        return None

    def _admit(self, req: Request, app_id: str, endpoint_id: str) -> Response | tuple[ModelSpec, dict[str, Any], float | None]:
        """What submit and run check alike, in fal's order: the key, the model, the input, the
        start timeout. The refusal, or the model, the input and the start timeout."""
        denied = self.keys.require(req)
        if denied:
            return denied
        spec = self._resolve(app_id, endpoint_id)
        if isinstance(spec, Response):
            return spec
        data = self._input(req)
        if isinstance(data, Response):
            return data
        timeout = self._start_timeout(req)
        if isinstance(timeout, Response):
            return timeout
        return spec, data, timeout

    def _resolve(self, app_id: str, endpoint_id: str) -> ModelSpec | Response:
        spec = self.catalogue.resolve(endpoint_id)
        if spec is not None and spec.app_id == app_id:
            return spec
        if self.catalogue.app_exists(app_id):
            return detail(404, f"Endpoint '{endpoint_id}' not found")
        return detail(404, f"Application '{app_id}' not found")

    def _job(self, req: Request, app_id: str, request_id: str, missing: Response | None = None) -> Job | Response:
        """The job ``request_id`` of ``app_id``, or the refusal: a bad key, or ``missing``
        (fal's "Request not found" unless the route answers otherwise)."""
        denied = self.keys.require(req)
        if denied:
            return denied
        job = self.store.get(request_id)
        if job is None or job.app_id != app_id:
            return missing or detail(404, "Request not found")
        return job

    def status_body(self, job: Job, now: float, with_logs: bool) -> tuple[int, dict[str, Any], Timeline]:
        store = self.store
        tl = store.timeline(job, now)
        body: dict[str, Any] = {"status": tl.status, "request_id": job.request_id,
                                "response_url": job.response_url, "status_url": job.status_url,
                                "cancel_url": job.cancel_url}
        if tl.status == IN_QUEUE:
            body["queue_position"] = store.queue_position(job, now)
        body["logs"] = self._logs(job, tl, now) if with_logs else None
        body["metrics"] = {}
        if tl.status == COMPLETED:
            if tl.started:
                body["metrics"] = {"inference_time": round(tl.end_at - job.start_at, 6)}
            outcome = store.outcome(job, tl)
            if not outcome.ok:
                body["error"], body["error_type"] = outcome.error, outcome.error_type
        return (200 if tl.status == COMPLETED else 202), body, tl

    def _logs(self, job: Job, tl: Timeline, now: float) -> list[dict[str, Any]]:
        logs = []
        for t, step in self.store.log_times(job, tl):
            if t > now:
                break
            level = "INFO"
            if step == 0:
                message = f"Starting inference on {job.model}"
            elif step < 4:
                message = f"Inference progress: {25 * step}%"
            else:
                outcome = self.store.outcome(job, tl)
                if tl.kind == "cancelled":
                    level, message = "WARN", "Request cancelled"
                elif outcome.ok:
                    message = f"Inference completed in {tl.end_at - job.start_at:.2f}s"
                else:
                    level, message = "ERROR", f"Request failed: {outcome.error}"
            logs.append({"message": message, "level": level, "source": "USER",
                         "timestamp": iso(job.wall + (t - job.submitted))})
        return logs

    # --- routes ----------------------------------------------------------------------------

    def submit(self, req: Request, app_id: str, endpoint_id: str) -> Response:
        admitted = self._admit(req, app_id, endpoint_id)
        if isinstance(admitted, Response):
            return admitted
        spec, data, timeout = admitted
        priority = (req.headers.get("X-Fal-Queue-Priority") or "normal").strip().lower()
        if priority not in ("normal", "low"):
            return detail(400, "X-Fal-Queue-Priority must be 'normal' or 'low'", error_type="bad_request")
        lifecycle = req.headers.get(LIFECYCLE_HEADER)
        if lifecycle is not None and json_object(lifecycle) is None:
            return detail(400, f"{LIFECYCLE_HEADER} must be a JSON object", error_type="bad_request")
        webhook = req.arg("fal_webhook")
        if webhook is not None:
            parts = urlsplit(webhook)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                return detail(400, "fal_webhook must be an http(s) URL", error_type="bad_request")
        max_len_arg = req.arg("fal_max_queue_length")
        max_len: int | None = None
        if max_len_arg is not None:
            if not max_len_arg.isdigit():
                return detail(400, "fal_max_queue_length must be a non-negative integer", error_type="bad_request")
            max_len = int(max_len_arg)
        base = f"{self.base_url()}/{app_id}/requests/"
        try:
            job = self.store.submit(
                app_id=app_id, endpoint_id=endpoint_id, model=spec.endpoint_id, data=data, priority=priority,
                queue_seconds=spec.queue_seconds, run_seconds=spec.run_seconds, start_timeout=timeout,
                webhook_url=webhook, runner_hint=req.headers.get("X-Fal-Runner-Hint"),
                headers=dict(req.headers.items()), max_queue_length=max_len,
                urls=lambda rid: (base + rid, base + rid + "/status", base + rid + "/cancel"))
        except QueueFull as full:
            return detail(429, f"Queue is full: {full.args[0]} requests queued, fal_max_queue_length={max_len}")
        if webhook:
            self.webhooks.schedule(job, job.leave_at)
        body = {"status": "IN_QUEUE", "request_id": job.request_id, "response_url": job.response_url,
                "status_url": job.status_url, "cancel_url": job.cancel_url,
                "queue_position": self.store.queue_position(job, clock()),
                "gateway_request_id": job.gateway_request_id}
        return json_response(200, body, {"x-fal-request-id": job.request_id})

    def status(self, req: Request, app_id: str, request_id: str) -> Response:
        job = self._job(req, app_id, request_id)
        if isinstance(job, Response):
            return job
        code, body, _ = self.status_body(job, clock(), truthy(req.arg("logs")))
        return json_response(code, body, {"x-fal-request-id": job.request_id})

    def result(self, req: Request, app_id: str, request_id: str) -> Response:
        job = self._job(req, app_id, request_id)
        if isinstance(job, Response):
            return job
        tl = self.store.timeline(job, clock())
        if tl.status != COMPLETED:
            return json_response(400, {"detail": "Request is still in progress"},
                                 {"x-fal-request-id": job.request_id})
        return outcome_response(self.store.outcome(job, tl), job.request_id)

    def cancel(self, req: Request, app_id: str, request_id: str) -> Response:
        job = self._job(req, app_id, request_id, missing=json_response(404, {"status": "NOT_FOUND"}))
        if isinstance(job, Response):
            return job
        code, status = self.store.cancel(job)
        if job.webhook_url and code != 400:
            self.webhooks.poke(job, clock())
        return json_response(code, {"status": status}, {"x-fal-request-id": job.request_id})

    def stream(self, req: Request, app_id: str, request_id: str) -> Response:
        job = self._job(req, app_id, request_id)
        if isinstance(job, Response):
            return job
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                   "x-fal-request-id": job.request_id}
        return Response(200, self._events(job, truthy(req.arg("logs")), req.fault), headers)

    def _events(self, job: Job, with_logs: bool, fault: Any) -> Iterator[bytes]:
        """First the current state, then one event per change, ``: ping`` while idle, and the
        end of the body after COMPLETED. Waits are event-driven: until the job's next clock
        transition, a store notification (submit/cancel) or the next ping."""
        store, ping, sent, last_key = self.store, self.ping_interval, 0, None
        last_write = clock()
        fault_at = fault.after_events if fault is not None and fault.action in SSE_ACTIONS else -1
        while True:
            if self.stopping.is_set():
                raise Drop()
            if sent == fault_at:  # the fault strikes right after its Nth event: no pings either
                if fault.action == "sse_stall":
                    self.stopping.wait(fault.stall)
                elif fault.graceful:
                    return
                raise Drop()
            now = clock()
            _, body, tl = self.status_body(job, now, with_logs)
            key = (body["status"], body.get("queue_position"), len(body["logs"] or ()))
            if key != last_key:
                yield b"data: " + json.dumps(body).encode() + b"\n\n"
                sent, last_key, last_write = sent + 1, key, clock()
                if tl.status == COMPLETED:
                    return
            now = clock()
            if now - last_write >= ping:
                yield b": ping\n\n"
                last_write = now
            store.wait(min(store.next_change(job, now), last_write + ping) - clock(), self.stopping)

    def run(self, req: Request, app_id: str, endpoint_id: str) -> Response:
        """Sync run: the model output directly, after the model's queue + run time."""
        admitted = self._admit(req, app_id, endpoint_id)
        if isinstance(admitted, Response):
            return admitted
        spec, data, timeout = admitted
        self.runs.append({"endpoint_id": endpoint_id, "input": data, "time": time.time()})
        if timeout is not None and timeout < spec.queue_seconds:
            self.stopping.wait(timeout)
            return outcome_response(timeout_outcome(), str(uuid.uuid4()))
        if self.stopping.wait(spec.queue_seconds + spec.run_seconds):
            raise Drop()
        return outcome_response(run_model(spec, data, self.base_url()), str(uuid.uuid4()))
