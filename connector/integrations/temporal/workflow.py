"""``FalJobWorkflow``: submit → wait (webhook, or polling) → fetch, with a deadline that cancels at fal.

Its input is the submit action's input (``app_id``, ``data``, ``priority``, …) plus three
optional keys of its own:

- ``timeout`` (s, default 3600): the job's whole budget (the activity's schedule-to-close
  timeout). When it passes, the workflow sends fal a cancel for the ``request_id`` the activity
  heartbeated and fails with type ``timeout`` (details: ``request_id``, ``cancel_status``).
- ``webhook_wait`` (s, default 600, at most ``timeout``): how long one attempt waits for the
  webhook (start-to-close); then the next attempt polls, with the same ``request_id``.
- ``heartbeat_timeout`` (s, default none): for workers without webhooks, how soon a dead
  worker's polling attempt is retried elsewhere. Leave it unset with webhooks: an attempt
  waiting for a webhook does not heartbeat.

Cancelling the workflow cancels the job at fal too. ``fal_job`` signals the ``request_id`` to
the workflow as soon as fal accepts the job (``submitted``); the query ``fal_request`` returns it.

This module imports only the standard library and temporalio, as Temporal's workflow sandbox
wants; activities are called by name.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError, TimeoutType

FAL_JOB = "fal.fal_job"
WORKFLOW_NAME = "FalJobWorkflow"
SUBMITTED_SIGNAL = "submitted"  # fal_job -> the workflow: {"app_id", "request_id"}
CANCEL = "fal.cancel_request"
FETCH = "fal.get_request_response"
OPTIONS: dict[str, float | None] = {"timeout": 3600.0, "webhook_wait": 600.0, "heartbeat_timeout": None}
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
_SHORT_CALL = timedelta(seconds=120)


def split_options(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float | None]]:
    """(the submit input, the workflow's own options), checking each option is seconds > 0."""
    if not isinstance(job, dict):
        raise ApplicationError(f"FalJobWorkflow wants an object, got {type(job).__name__}", type="invalid_input", non_retryable=True)
    options: dict[str, float | None] = {}
    for name, default in OPTIONS.items():
        value = job.get(name, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ApplicationError(f"{name}: expected a number of seconds > 0, got {value!r}", type="invalid_input", non_retryable=True)
        options[name] = None if value is None else float(value)
    return {k: v for k, v in job.items() if k not in OPTIONS}, options


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _ids(value: Any) -> dict[str, str] | None:
    """``{"app_id", "request_id"}`` out of a heartbeat or signal payload, when it has them."""
    if isinstance(value, dict) and value.get("request_id") and value.get("app_id"):
        return {"app_id": str(value["app_id"]), "request_id": str(value["request_id"])}
    return None


@workflow.defn(name=WORKFLOW_NAME)
class FalJobWorkflow:
    def __init__(self) -> None:
        self._request: dict[str, str] | None = None

    @workflow.signal(name=SUBMITTED_SIGNAL)
    def submitted(self, ids: dict[str, Any]) -> None:
        self._request = _ids(ids) or self._request

    @workflow.query(name="fal_request")
    def fal_request(self) -> dict[str, str] | None:
        """``{"app_id", "request_id"}`` once fal has accepted the job, else None."""
        return self._request

    @workflow.run
    async def run(self, job: dict[str, Any]) -> dict[str, Any]:
        submit, options = split_options(job)
        timeout = options["timeout"] or 3600.0
        try:
            done: dict[str, Any] = await workflow.execute_activity(
                FAL_JOB, submit,
                schedule_to_close_timeout=_seconds(timeout),
                start_to_close_timeout=_seconds(min(options["webhook_wait"] or timeout, timeout)),
                heartbeat_timeout=_seconds(options["heartbeat_timeout"]),
                retry_policy=_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_CLOSE:
                heartbeat = cause.last_heartbeat_details
                raise await self._timed_out(_ids(heartbeat[-1] if heartbeat else None) or self._request, timeout) from err
            if isinstance(cause, CancelledError) and self._request is not None:
                await self._cancel(self._request)  # the workflow was cancelled: so is the job at fal
            raise
        if done.get("data") is None:  # the webhook carried no payload (fal's payload_error): fetch it
            fetched = await workflow.execute_activity(
                FETCH, {"app_id": submit.get("app_id"), "request_id": done["request_id"]},
                start_to_close_timeout=_SHORT_CALL, retry_policy=_RETRY)
            done = {**done, "data": fetched["data"]}
        return done

    async def _cancel(self, ids: dict[str, str]) -> str | None:
        """Send fal a cancel for the job; fal's answer (``cancel_status``)."""
        try:
            answer = await workflow.execute_activity(CANCEL, ids, start_to_close_timeout=_SHORT_CALL,
                                                     retry_policy=RetryPolicy(maximum_attempts=3))
            return str(answer.get("cancel_status"))
        except ActivityError as err:  # already completed, not found: the details carry the output
            details = getattr(err.cause, "details", None) or [{}]
            return details[0].get("cancel_status") if isinstance(details[0], dict) else None

    async def _timed_out(self, ids: dict[str, str] | None, timeout: float) -> ApplicationError:
        if ids is None:
            return ApplicationError(f"the fal job did not finish within {timeout:g} s and no request id was recorded, so nothing "
                                    "was cancelled (a submit whose answer was lost may still run: check fal)",
                                    {"request_id": None, "cancel_status": None}, type="timeout", non_retryable=True)
        request_id, cancel_status = ids["request_id"], await self._cancel(ids)
        return ApplicationError(
            f"fal job {request_id} did not finish within {timeout:g} s; cancel sent, fal answered {cancel_status}",
            {"request_id": request_id, "cancel_status": cancel_status}, type="timeout", non_retryable=True)
