"""``fal.fal_job``: one whole fal job as one activity that holds no worker slot while fal works.

With a ``webhook_url`` (the public address of the receiver in ``receiver.py``) the activity
submits with a webhook naming its workflow, run and activity, records the ``request_id`` as its
heartbeat and calls ``activity.raise_complete_async()``: the worker slot is free at once, and the
receiver completes the activity when fal delivers the result.

Without one, or on any retry (the webhook never came before the attempt's start-to-close
timeout, or the worker died), it polls the status, heartbeating each answer with the same
``request_id``, then fetches the result. A retry resumes from ``heartbeat_details`` and never
submits again; a retry with no ``request_id`` recorded fails as ``outcome_unknown`` unless the
previous attempt recorded that nothing was sent.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .activities import NOT_SENT, action_activities, failure_error, outcome_unknown
from .workflow import FAL_JOB


def job_failed(request_id: str, error: str | None, error_type: str | None, body: Any = None) -> ApplicationError:
    """The typed, non-retryable error of a job that fal ran and that failed (or was cancelled)."""
    message = f"fal job {request_id} failed: {error or 'no error given'}"
    details = {"success": False, "request_id": request_id, "error": message,
               "failure": {"type": "model_error", "retryable": False, "fal_request_id": request_id,
                           "detail": body, "job_error_type": error_type}}
    return ApplicationError(message, details, type="model_error", non_retryable=True)


def webhook_target(base_url: str, info: activity.Info) -> str:
    """``base_url`` with the workflow id, run id and activity id added to its query."""
    scheme, netloc, path, query, fragment = urlsplit(base_url)
    names = {"workflow_id": info.workflow_id or "", "run_id": info.workflow_run_id or "", "activity_id": info.activity_id}
    return urlunsplit((scheme, netloc, path, urlencode([*parse_qsl(query), *names.items()]), fragment))


class FalActivities:
    """The activities to register on a worker: every action (``fal.<id>``) plus ``fal.fal_job``.

        acts = FalActivities(Connector(), webhook_url="https://hooks.example.com/fal")
        Worker(client, task_queue="fal", activities=acts.all(), workflows=[FalJobWorkflow])
    """

    def __init__(self, connector: Any, *, webhook_url: str | None = None, poll_interval: float = 1.0) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll_interval!r}")
        self.connector = connector
        self.webhook_url = webhook_url
        self.poll_interval = poll_interval

    def all(self) -> list[Any]:
        return [*action_activities(self.connector), self.fal_job]

    @activity.defn(name=FAL_JOB)
    async def fal_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Submit ``job`` (the submit action's input) and return ``{request_id, status, data}``."""
        info = activity.info()
        last = info.heartbeat_details[-1] if info.heartbeat_details else None
        if isinstance(last, dict) and last.get("request_id"):
            return await self._follow(str(last["app_id"]), str(last["request_id"]))
        if info.attempt > 1 and last != NOT_SENT:
            raise outcome_unknown("fal_job submit")
        submit = dict(job)
        if self.webhook_url:
            submit["webhook_url"] = webhook_target(self.webhook_url, info)
        out = await self._run("add_request_to_queue", submit)
        if not out["success"]:
            if (out.get("failure") or {}).get("retryable"):
                activity.heartbeat(NOT_SENT)
            raise failure_error(out)
        request_id, app_id = out["request_id"], str(job["app_id"])
        activity.heartbeat({"request_id": request_id, "app_id": app_id, "status": "IN_QUEUE"})
        if self.webhook_url:
            activity.raise_complete_async()
        return await self._follow(app_id, request_id)

    async def _follow(self, app_id: str, request_id: str) -> dict[str, Any]:
        """Poll until COMPLETED (heartbeating each status), then fetch the result."""
        ids = {"app_id": app_id, "request_id": request_id}
        while True:
            status = await self._run("get_request_status", ids)
            if not status["success"]:
                raise failure_error(status)  # retryable ones resume here from the last heartbeat
            activity.heartbeat({**ids, "status": status["status"]})
            if status["status"] == "COMPLETED":
                break
            await asyncio.sleep(self.poll_interval)
        if status["job_error"]:
            raise job_failed(request_id, status["job_error"], status["job_error_type"])
        result = await self._run("get_request_response", ids)
        if not result["success"]:
            raise failure_error(result)
        return {"request_id": request_id, "status": "COMPLETED", "data": result["data"]}

    async def _run(self, action: str, inputs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await asyncio.to_thread(self.connector.run, action, inputs)
        return out
