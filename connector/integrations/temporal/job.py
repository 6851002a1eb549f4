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
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .activities import action_activities, run_action
from .workflow import FAL_JOB, SUBMITTED_SIGNAL, WORKFLOW_NAME

log = logging.getLogger("connector.integrations.temporal")


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
        submit = dict(job)
        if self.webhook_url:
            submit["webhook_url"] = webhook_target(self.webhook_url, info)
        # Billable: refused on a retry unless the last attempt recorded that nothing was sent.
        out = await run_action(self.connector, "add_request_to_queue", submit, once_only=True)
        request_id, app_id = out["request_id"], str(job["app_id"])
        activity.heartbeat({"request_id": request_id, "app_id": app_id, "status": "IN_QUEUE"})
        await _tell_workflow(info, {"app_id": app_id, "request_id": request_id})
        if self.webhook_url:
            activity.raise_complete_async()
        return await self._follow(app_id, request_id)

    async def _follow(self, app_id: str, request_id: str) -> dict[str, Any]:
        """Poll until COMPLETED (heartbeating each status), then fetch the result."""
        ids = {"app_id": app_id, "request_id": request_id}
        while True:
            # A retryable failure raises; the retry resumes here, from the last heartbeat.
            status = await run_action(self.connector, "get_request_status", ids, once_only=False)
            activity.heartbeat({**ids, "status": status["status"]})
            if status["status"] == "COMPLETED":
                break
            await asyncio.sleep(self.poll_interval)
        if status["job_error"]:
            raise job_failed(request_id, status["job_error"], status["job_error_type"])
        result = await run_action(self.connector, "get_request_response", ids, once_only=False)
        return {"request_id": request_id, "status": "COMPLETED", "data": result["data"]}


async def _tell_workflow(info: activity.Info, ids: dict[str, str]) -> None:
    """Signal a ``FalJobWorkflow`` its job's request id, so cancelling it cancels at fal. Best
    effort: the heartbeat carries the id too (for retries and the deadline)."""
    if info.workflow_type != WORKFLOW_NAME or not info.workflow_id:
        return
    try:
        handle = activity.client().get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
        await handle.signal(SUBMITTED_SIGNAL, ids)
    except Exception as exc:  # no client (a test environment), the workflow gone: the heartbeat still has it
        log.warning("could not signal workflow %s its request id %s: %s", info.workflow_id, ids["request_id"], exc)
