"""Whole jobs in one action: ``subscribe`` (queue, follow, fetch) and ``run_model`` (sync).

Both are billable. ``subscribe`` never loses the request id: every failure after the submit
carries it, and at its deadline it cancels the job (so it stops billing) and says whether
fal accepted the cancel, so the caller can resume or give up by id.
"""

from __future__ import annotations

import time
from typing import Any

from connector.default_plugins.queue import submit_job
from connector.errors import ActionError
from connector.hookspecs import hookimpl
from connector.http.retry import JOB_FAILED, SUBSCRIBE_TIMED_OUT
from connector.manifest import manifest_actions, manifest_operation
from connector.models import Action
from connector.operation import perform

CANCEL_BUDGET = 10.0  # seconds a post-deadline cancel may take


def subscribe(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    from connector.fal.follow import follow_job  # here: a status call's start does not need it (nor its SSE reader)

    deadline_at = ctx.started + float(inputs.get("timeout", 600))
    # The timeout includes the submit: its answer (and any retry) must come within it.
    ctx.deadline_at = min(ctx.deadline_at, deadline_at)
    if inputs.get("request_id") is not None:  # resume: follow a job already queued, submit nothing
        request_id = resumed_request(inputs, ctx)
    else:
        submitted = submit_job(inputs, ctx, "subscribe")
        request_id = submitted["request_id"]
        ctx.emit("submitted", request_id=request_id, queue_position=submitted["queue_position"])
    ids = {"app_id": inputs["app_id"], "request_id": request_id}
    logs = bool(inputs.get("logs", False))
    progress = None
    try:
        progress = follow_job(ctx, ids, logs=logs, deadline_at=deadline_at)
        if ctx.cancelled.is_set() and not progress.completed:
            raise ActionError("cancelled", f"stopped by the caller while request {request_id} was {(progress.last or {}).get('status', 'queued')}")
        ctx.deadline_at = max(ctx.deadline_at, time.monotonic() + ctx.config.timeout)  # room to fetch
        if progress.last and progress.last["job_error"]:
            raise _job_failed(ctx, ids, progress.last)
        result = perform(manifest_operation("get_request_response"), ids, ctx)
    except ActionError as exc:
        keep: dict[str, Any] = {"request_id": request_id}
        if exc.type == "timeout" and "events" in exc.partial:
            keep.update(status=exc.partial.get("status"), logs=exc.partial.get("logs", []), metrics=exc.partial.get("metrics"))
            keep["cancelled"] = _cancel_after_deadline(ctx, ids)
            verdict = "fal accepted the cancel" if keep["cancelled"] else "the cancel was not accepted (the job may still run)"
            raise exc.derive(message=f"request {request_id} did not complete within {inputs.get('timeout', 600)} s; {verdict}",
                             retryable=SUBSCRIBE_TIMED_OUT.retryable, partial=keep) from exc
        if progress is not None and progress.completed:
            fields = progress.fields()
            keep.update(status="COMPLETED", logs=fields["logs"], metrics=fields["metrics"])
            # The job has ended: a failed one cannot be resumed, only a result fetch that broke can.
            then = "" if exc.type == "model_error" else ": the job completed, fetch its result with get_request_response"
            raise exc.derive(message=f"{exc.message} (request_id {request_id}{then})", partial=keep) from exc
        raise exc.derive(message=f"{exc.message} (request_id {request_id}: resume with get_request_status / get_request_response)",
                         partial=keep) from exc
    fields = progress.fields()
    return {"request_id": request_id, "status": "COMPLETED", "data": result["data"], "logs": fields["logs"], "metrics": fields["metrics"], "cancelled": None}


def resumed_request(inputs: dict[str, Any], ctx: Any) -> str:
    """The checked request id a resuming subscribe follows (with the key required); its data is
    not sent."""
    manifest_operation("get_request_status").path_for(inputs)  # a bad app_id or request_id fails before the key check
    ctx.require_key()
    return str(inputs["request_id"])


def _job_failed(ctx: Any, ids: dict[str, Any], last: dict[str, Any]) -> ActionError:
    """A COMPLETED job with an error: ``model_error``. The result fetch carries fal's detail
    (what was wrong with the input); the status' own error text is only the fallback, as it
    says less ("Invalid status code: 422")."""
    try:
        perform(manifest_operation("get_request_response"), ids, ctx)
    except ActionError as exc:
        if exc.type == "model_error":
            return exc
    kind = f" ({last['job_error_type']})" if last["job_error_type"] else ""
    return ActionError(JOB_FAILED.type, f"the job failed{kind}: {last['job_error']}", retryable=JOB_FAILED.retryable,
                       detail={"error": last["job_error"], "error_type": last["job_error_type"]})


def _cancel_after_deadline(ctx: Any, ids: dict[str, Any]) -> bool:
    ctx.emit("cancelling", request_id=ids["request_id"])
    ctx.deadline_at = time.monotonic() + min(CANCEL_BUDGET, ctx.config.timeout)
    try:
        return perform(manifest_operation("cancel_request"), ids, ctx)["cancel_status"] in ("OK", "CANCELLATION_REQUESTED")
    except ActionError:
        return False


def run_model(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    from connector.fal.recovery import findable_if_lost

    timeout = float(inputs.get("timeout", 300))
    # A model that rejects its input is a model_error, as the declared outcomes say.
    with findable_if_lost(inputs["app_id"]):
        response = manifest_operation("run_model").send(ctx, inputs, retry_class="billable", deadline_at=ctx.started + timeout, read_timeout=timeout)
    data = ctx.json(response, "run")
    if not isinstance(data, dict):
        raise ActionError("invalid_response", f"run: expected the model output as a JSON object, got {type(data).__name__}")
    return {"data": data}


HANDLERS = {"subscribe": subscribe, "run_model": run_model}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
