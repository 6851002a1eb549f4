"""The queue actions: submit, status, stream, result, cancel."""

from __future__ import annotations

import re
from typing import Any

from connector.errors import ActionError, HTTPStatusError, InvalidInputError
from connector.fal.app_id import AppId, check_request_id, parse_app_id
from connector.fal.follow import follow_job
from connector.fal.status import normalise_status
from connector.hookspecs import hookimpl
from connector.http.retry import ALREADY_COMPLETED, JOB_FAILED, NOT_READY, unusable_answer
from connector.manifest import manifest_actions
from connector.models import Action

STATUS_FIELDS = ("status", "queue_position", "logs", "metrics", "job_error", "job_error_type")
_NOT_READY = re.compile(r"in progress|in queue|not (yet )?(completed|finished|ready)", re.I)


def submit_headers(inputs: dict[str, Any]) -> dict[str, str]:
    """The optional submit headers, sent only when given."""
    headers = {}
    if inputs.get("priority") is not None:
        headers["X-Fal-Queue-Priority"] = inputs["priority"]
    if inputs.get("hint") is not None:
        headers["X-Fal-Runner-Hint"] = inputs["hint"]
    if inputs.get("start_timeout") is not None:
        headers["X-Fal-Request-Timeout"] = str(float(inputs["start_timeout"]))
    return headers


def submit_job(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """POST the job to the queue once (retried only where fal cannot have enqueued it)."""
    app = parse_app_id(inputs["app_id"])
    ctx.require_key()
    params = {}
    if inputs.get("webhook_url") is not None:
        params["fal_webhook"] = inputs["webhook_url"]
    if inputs.get("max_queue_length") is not None:
        params["fal_max_queue_length"] = str(int(inputs["max_queue_length"]))
    response = ctx.request(
        "POST", ctx.url("queue", "/" + app.endpoint), json=inputs["data"], params=params or None, headers=submit_headers(inputs), retry_class="billable"
    )
    body = ctx.require_fields(ctx.json(response, "submit"), "submit", "request_id")
    request_id = body["request_id"]
    try:
        # It becomes part of every later URL (status, result, cancel): an answer must not be
        # able to steer those requests to another path.
        check_request_id(request_id)
    except InvalidInputError:
        raise ActionError("invalid_response", f"submit: fal's answer has no usable 'request_id' (got {str(request_id)[:100]!r})", detail=body) from None
    base = ctx.url("queue", app.request_path(request_id))
    position = body.get("queue_position")
    return {
        "request_id": request_id,
        # fal's own URLs when it gives them; the documented owner/app form otherwise.
        "response_url": _str(body.get("response_url")) or base,
        "status_url": _str(body.get("status_url")) or base + "/status",
        "cancel_url": _str(body.get("cancel_url")) or base + "/cancel",
        "queue_position": position if isinstance(position, int) and not isinstance(position, bool) else None,
    }


def _request_of(inputs: dict[str, Any], ctx: Any) -> tuple[AppId, str]:
    """The app and request id a request-scoped call names, both checked; the key is required."""
    app = parse_app_id(inputs["app_id"])
    request_id = check_request_id(inputs["request_id"])
    ctx.require_key()
    return app, request_id


def get_status(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    app, request_id = _request_of(inputs, ctx)
    logs = bool(inputs.get("logs", False))
    response = ctx.request("GET", ctx.url("queue", app.request_path(request_id, "/status")), params={"logs": "1"} if logs else None)
    event = normalise_status(ctx.json(response, "status"))
    out = {name: event[name] for name in STATUS_FIELDS}
    if not logs:
        out["logs"] = []
    return out


def stream_status(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    app, request_id = _request_of(inputs, ctx)
    deadline_at = ctx.started + float(inputs.get("timeout", 300))
    progress = follow_job(ctx, app, request_id, logs=bool(inputs.get("logs", False)), deadline_at=deadline_at)
    return progress.fields()


def get_result(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    app, request_id = _request_of(inputs, ctx)
    try:
        response = ctx.request("GET", ctx.url("queue", app.request_path(request_id)))
    except HTTPStatusError as exc:
        outcome = result_error(exc)
        if outcome is exc:
            raise
        raise outcome from exc
    data = ctx.json(response, "result")
    if not isinstance(data, dict):
        verdict = unusable_answer("read")  # the result fetch is a read, whichever action makes it
        raise ActionError(verdict.type, f"result: expected the model output as a JSON object, got {type(data).__name__}", retryable=verdict.retryable)
    return {"data": data}


def result_error(exc: HTTPStatusError) -> ActionError:
    """A failed job's result is ``model_error``; fal's 400 "still in progress" is ``not_ready``
    (a new error, to raise from ``exc``); any other answer is ``exc`` itself."""
    code = exc.status_code or 0
    if code == 400 and _NOT_READY.search(str(exc.detail)):
        message = f"the job has not completed yet (fal answered HTTP 400: {exc.detail}); check its status and try again"
        return exc.derive(type=NOT_READY.type, retryable=NOT_READY.retryable, message=message)
    if 400 <= code < 500 and code not in (401, 403, 404, 408, 429):
        return exc.derive(type=JOB_FAILED.type, retryable=JOB_FAILED.retryable, message=f"the job failed: {exc.message}")
    return exc


_CANCEL_STATUSES = ("CANCELLATION_REQUESTED", "OK", "ALREADY_COMPLETED", "NOT_FOUND")


def cancel(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    app, request_id = _request_of(inputs, ctx)
    try:
        response = ctx.request("PUT", ctx.url("queue", app.request_path(request_id, "/cancel")), retry_class="cancel")
    except HTTPStatusError as exc:
        if exc.status_code == 400:  # fal: the job already finished (body status or a bare detail)
            raise exc.derive(type=ALREADY_COMPLETED.type, retryable=ALREADY_COMPLETED.retryable,
                             message=f"request {request_id} already completed; nothing to cancel (fetch its result instead)",
                             partial={"cancel_status": "ALREADY_COMPLETED"}) from exc
        if exc.status_code == 404:
            raise exc.derive(message=f"request {request_id} was not found under {app.app_path}; check the app_id and request_id",
                             partial={"cancel_status": "NOT_FOUND"}) from exc
        raise
    body = ctx.json(response, "cancel") if response.content else {}
    status = body.get("status") if isinstance(body, dict) else None
    if status not in _CANCEL_STATUSES:
        # Older answers carry no status: 202 means "asked the runner", 200 "removed from the queue".
        status = "CANCELLATION_REQUESTED" if response.status_code == 202 else "OK"
    if status == "ALREADY_COMPLETED":
        raise ActionError("already_completed", f"request {request_id} already completed; nothing to cancel",
                          status_code=response.status_code, partial={"cancel_status": status})
    if status == "NOT_FOUND":
        raise ActionError("not_found", f"request {request_id} was not found", status_code=response.status_code,
                          partial={"cancel_status": status})
    return {"cancel_status": status}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


HANDLERS = {
    "add_request_to_queue": submit_job,
    "get_request_status": get_status,
    "stream_request_status": stream_status,
    "get_request_response": get_result,
    "cancel_request": cancel,
}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
